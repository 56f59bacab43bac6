"""griffe extension: render the project's docstrings (reST-flavoured plain text) as Markdown.

The docstrings are written for ``help()`` and doctest: ``>>>`` examples, Sphinx roles such as
:func:`name`, and ``::`` literal blocks. This extension fences the doctest examples, reduces
roles to code spans and ends ``::`` paragraphs with one colon, so mkdocstrings renders them
as code rather than as block quotes and broken links.
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|obj|exc):`~?([^`]+)`")


def markdown(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    in_fence = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        if not in_fence and line.lstrip().startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}```pycon")
            while i < len(lines) and lines[i].strip():
                out.append(lines[i])
                i += 1
            out.append(f"{indent}```")
            continue
        if not in_fence:
            line = ROLE.sub(r"`\1`", line)
            if line.rstrip().endswith("::") and not line.strip() == "::":
                line = line.rstrip()[:-1]
        out.append(line)
        i += 1
    return "\n".join(out)


class MarkdownDocstrings(griffe.Extension):
    def on_object(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
