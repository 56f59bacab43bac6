"""A GPU run, prepared to the last command: install, sampler chunk sizes, default and paper-scale
runs, one JSON file of what was measured (docs/performance.md, "A GPU run, prepared").

Steps, each a child process with its own timeout (a failing or timed-out step is recorded and
the others still run; the exit code is 1 if any step failed):

- ``install``: ``pip install -e '.[cuda12]'`` (or ``cuda13``, by the driver's CUDA version from
  ``nvidia-smi``; ``--cuda`` or ``BAYESCORTEX_CUDA`` override), skipped when jax already sees a
  GPU (``--install always`` forces it; ``never`` skips it);
- ``gibbs``: ``bench_gibbs.py --trials 1024,4096,16384,65536 --neurons 256 --json``;
- ``default``: ``bayescortex run redundancy``;
- ``full``: ``bayescortex run redundancy --full``.

Each step's wall time, peak host RSS (``wait4``), peak GPU memory (``nvidia-smi`` polled every
second; jax's preallocation is off so the figure is what was used), compile time where the step
reports it; for the runs the criteria counts and every effect from the run folder.

    bash benchmarks/gpu_check.sh --out gpu_check.json            # on the GPU machine
    bash benchmarks/gpu_check.sh --dry-run --out dry.json        # CPU, tiny sizes, no install
    bash benchmarks/gpu_check.sh --steps full,gibbs --out x.json # chosen steps, in that order
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

SCHEMA = "bayescortex.gpu_check/1"
ROOT = Path(__file__).resolve().parent.parent
STEPS = ("gibbs", "default", "full")
TIMEOUTS = {"install": 180.0, "gibbs": 150.0, "default": 180.0, "full": 480.0}
"""Seconds per step on a GPU (the whole check is also bounded by ``--budget``)."""
DRY_TIMEOUTS = {"install": 60.0, "gibbs": 300.0, "default": 600.0, "full": 600.0}
GPU_CHUNKS = "1024,4096,16384,65536"
DRY_CHUNKS = "64,128"
TINY = (
    "--seeds 1 --sessions 1 --neurons 16 --units 8 --trials-per-session 32 --record-trials 24 "
    "--subset-size 8 --subsets 8 --bootstrap 8 --bootstrap-subsets 4 --network-steps 20 "
    "--network-hidden 16"
).split()
MIN_STEP_SECONDS = 20.0
"""A step is skipped when less than this is left of the budget."""
ENV_RECORDED = (
    "XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_FLAGS",
    "JAX_PLATFORMS", "JAX_NUM_CPU_DEVICES", "BAYESCORTEX_COMPILE_CACHE", "CUDA_VISIBLE_DEVICES",
)  # fmt: skip


def nvidia_smi(*query: str) -> list[list[str]] | None:
    """Rows of ``nvidia-smi --query-gpu=...`` (None: no nvidia-smi, or it failed)."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={','.join(query)}", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return [[c.strip() for c in line.split(",")] for line in out.stdout.splitlines() if line]


def cuda_version() -> str | None:
    """The driver's CUDA version from ``nvidia-smi``'s header (``CUDA Version: 12.4``)."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"CUDA Version:\s*([0-9.]+)", out)
    return match.group(1) if match else None


def choose_extra(flag: str | None, version: str | None) -> str:
    """``cuda12`` or ``cuda13``: the flag, else ``BAYESCORTEX_CUDA``, else by the driver's CUDA
    version (13 or newer: ``cuda13``), else ``cuda12``."""
    choice = flag or os.environ.get("BAYESCORTEX_CUDA")
    if choice:
        choice = choice.removeprefix("cuda")
        if choice not in ("12", "13"):
            raise SystemExit(f"gpu_check: --cuda/BAYESCORTEX_CUDA must be 12 or 13, not {choice}")
        return f"cuda{choice}"
    try:
        return "cuda13" if version and int(version.split(".")[0]) >= 13 else "cuda12"
    except ValueError:
        return "cuda12"


class GpuMemoryPoller:
    """Largest ``memory.used`` (MiB, summed over GPUs) seen by ``nvidia-smi`` every ``period``
    seconds while active; None without nvidia-smi."""

    def __init__(self, period: float = 1.0):
        self.period, self.peak, self._stop = period, None, threading.Event()
        self.available = nvidia_smi("memory.used") is not None
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _sample(self) -> None:
        rows = nvidia_smi("memory.used")
        if rows:
            used = sum(float(r[0]) for r in rows)
            self.peak = used if self.peak is None else max(self.peak, used)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.period)

    def __enter__(self):
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self.available:
            self._thread.join()
            self._sample()


def run_step(name, command, timeout, logs: Path, env) -> dict:
    """Run ``command`` in a new session; record exit code, wall time, peak RSS, GPU memory."""
    logs.mkdir(parents=True, exist_ok=True)
    out_path, err_path = logs / f"{name}.stdout.txt", logs / f"{name}.stderr.txt"
    step = blank(name, command, "failed")
    step.update(timeout_seconds=round(timeout, 1), stdout_log=str(out_path),
                stderr_log=str(err_path))  # fmt: skip
    before = nvidia_smi("memory.used")
    if before:
        step["gpu_memory_before_mib"] = sum(float(r[0]) for r in before)
    print(f"gpu_check: {name}: {' '.join(step['command'])} (timeout {timeout:.0f} s)", flush=True)
    t0 = time.perf_counter()
    with open(out_path, "w") as out, open(err_path, "w") as err, GpuMemoryPoller() as gpu:
        try:
            proc = subprocess.Popen(
                step["command"], stdout=out, stderr=err, cwd=ROOT, env=env,
                start_new_session=True,
            )  # fmt: skip
        except OSError as e:
            err.write(f"gpu_check: could not start: {e}\n")
            proc = None
        status, usage = None, None
        while proc is not None:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - t0 > timeout:
                step["timed_out"] = True
                kill_group(proc.pid, signal.SIGTERM)
                try:
                    _, status, usage = wait4_within(proc.pid, 15.0)
                except TimeoutError:
                    kill_group(proc.pid, signal.SIGKILL)
                    _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.2)
    step["wall_seconds"] = round(time.perf_counter() - t0, 2)
    if proc is not None:
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        step["exit_code"] = proc.returncode
        step["peak_host_rss_mib"] = round(usage.ru_maxrss / 1024, 1)  # KiB on Linux
    step["peak_gpu_memory_mib"] = gpu.peak
    step["stderr_tail"] = err_path.read_text(errors="replace")[-3000:]
    step["status"] = (
        "timeout" if step["timed_out"] else "ok" if step["exit_code"] == 0 else "failed"
    )
    print(f"gpu_check: {name}: {step['status']} in {step['wall_seconds']:.0f} s", flush=True)
    return step


def kill_group(pid: int, sig: int) -> None:
    """Signal the step's own process group (it was started in a new session)."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def wait4_within(pid: int, seconds: float):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        got = os.wait4(pid, os.WNOHANG)
        if got[0]:
            return got
        time.sleep(0.2)
    raise TimeoutError


def blank(name: str, command, status: str, reason: str | None = None) -> dict:
    """A step's record, every key of the schema present."""
    return {
        "name": name, "command": [str(c) for c in command], "status": status,
        "reason": reason, "exit_code": None, "timed_out": False, "timeout_seconds": None,
        "wall_seconds": None, "compile_seconds": None, "peak_host_rss_mib": None,
        "gpu_memory_before_mib": None, "peak_gpu_memory_mib": None, "stdout_log": None,
        "stderr_log": None, "stderr_tail": "", "result": None,
    }  # fmt: skip


def skipped(name: str, command, reason: str) -> dict:
    return blank(name, command, "skipped", reason)


PROBE = """
import json, platform, jax, jaxlib
d = jax.devices()
print(json.dumps({"jax_version": jax.__version__, "jaxlib_version": jaxlib.__version__,
    "jax_backend": jax.default_backend(),
    "jax_devices": [{"id": x.id, "platform": x.platform, "kind": x.device_kind} for x in d]}))
"""


def probe_jax(env) -> dict:
    """jax's version, backend and devices, from a fresh process (after any install)."""
    try:
        out = subprocess.run(
            [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=180
        )
    except subprocess.TimeoutExpired:
        return {"jax_error": "probe timed out after 180 s"}
    if out.returncode != 0:
        return {"jax_error": out.stderr.strip()[-2000:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine_info(extra: str | None, version: str | None, env: dict) -> dict:
    gpus = nvidia_smi("name", "driver_version", "memory.total") or []
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "gpus": [
            {"name": g[0], "driver_version": g[1], "memory_total_mib": float(g[2])} for g in gpus
        ],
        "cuda_version": version,
        "cuda_extra": extra,
        "git_commit": commit or None,
        "env": {k: env.get(k) for k in ENV_RECORDED},
    }


def gibbs_result(step: dict) -> None:
    """Rows of ``bench_gibbs.py --json`` (as far as it got)."""
    rows, head = [], None
    for line in Path(step["stdout_log"]).read_text(errors="replace").splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get("kind") == "throughput":
            rows.append({k: v for k, v in obj.items() if k != "kind"})
        elif isinstance(obj, dict) and obj.get("kind") == "machine":
            head = obj
    step["result"] = {
        "backend": head and head["backend"],
        "matmul_gflops": head and head["matmul_gflops"],
        "sweeps_per_trial": head and head["sweeps"],
        "rows": rows,
    }
    if rows:
        step["compile_seconds"] = round(sum(r["compile_seconds"] for r in rows), 2)


def run_result(step: dict, run_dir: Path) -> None:
    """Criteria counts, timings and effects of a ``bayescortex run`` folder."""
    result = {"run_dir": str(run_dir), "run_id": run_dir.name, "criteria": None,
              "wall_time_line": None, "attrs": None, "effects": None}  # fmt: skip
    step["result"] = result
    summary = run_dir / "summary.txt"
    if summary.exists():
        text = summary.read_text(errors="replace")
        marks = re.findall(r"^\s*\[(PASS|FAIL|n/a )\]", text, flags=re.M)
        result["criteria"] = {
            "pass": marks.count("PASS"), "fail": marks.count("FAIL"), "na": marks.count("n/a ")
        }  # fmt: skip
        line = next((ln for ln in text.splitlines() if ln.startswith("wall time:")), None)
        result["wall_time_line"] = line
    nc = run_dir / "results.nc"
    if not nc.exists():
        return
    try:
        import xarray as xr

        with xr.open_dataset(nc) as ds:
            keys = ("simulation_seconds", "simulation_compile_seconds", "analysis_seconds",
                    "trials_simulated", "compile_cache_hits", "backend", "placement")  # fmt: skip
            attrs = {k: _plain(ds.attrs[k]) for k in keys if k in ds.attrs}
            if "effect_value" in ds:
                result["effects"] = {
                    str(name): [_plain(ds[v].sel(effect=name).item()) for v in
                                ("effect_value", "effect_low", "effect_high")]
                    for name in ds.effect.values
                }  # fmt: skip
    except Exception as e:  # a broken file is recorded, the check goes on
        result["read_error"] = f"{type(e).__name__}: {e}"
        return
    result["attrs"] = attrs
    if "simulation_compile_seconds" in attrs:
        step["compile_seconds"] = round(attrs["simulation_compile_seconds"], 2)
    if attrs.get("trials_simulated"):
        run = attrs["simulation_seconds"] - attrs["simulation_compile_seconds"]
        attrs["ms_per_trial"] = 1e3 * run / attrs["trials_simulated"]


def _plain(x):
    """A JSON-able Python scalar; NaN and infinities as None."""
    x = x.item() if hasattr(x, "item") else x
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return None
    return x


def bayescortex_command() -> list[str]:
    script = Path(sys.executable).parent / "bayescortex"
    if script.exists():
        return [str(script)]
    found = shutil.which("bayescortex")
    return [found] if found else [sys.executable, "-m", "bayescortex.experiments.cli"]


def parse_timeouts(text: str | None, base: dict) -> dict:
    timeouts = dict(base)
    for item in (text or "").split(","):
        if item:
            name, _, seconds = item.partition("=")
            if name not in timeouts:
                raise SystemExit(f"gpu_check: --timeouts: unknown step {name!r}")
            timeouts[name] = float(seconds)
    return timeouts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu_check.json", help="the JSON file written")
    parser.add_argument("--workdir", help="run folders and logs (default: <out>_runs/)")
    parser.add_argument("--steps", default=",".join(STEPS), help="comma-separated, run in order")
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, no install")
    parser.add_argument("--install", choices=("auto", "always", "never"), default="auto")
    parser.add_argument("--cuda", choices=("12", "13"), help="CUDA extra (default: by driver)")
    parser.add_argument("--find-links", help="install offline from wheels in this folder")
    parser.add_argument("--budget", type=float, help="seconds for all steps (600; dry: 1800)")
    parser.add_argument("--timeouts", help="per step, e.g. full=420,gibbs=120")
    parser.add_argument("--chunks", help=f"bench_gibbs trials per batch (GPU: {GPU_CHUNKS})")
    parser.add_argument("--neurons", type=int, default=256, help="N_x of the gibbs step")
    parser.add_argument("--preallocate", action="store_true", help="keep jax's preallocation")
    parser.add_argument("--allow-cpu", action="store_true", help="run the steps without a GPU")
    parser.add_argument(
        "--split-cpu", action="store_true", help="dry run: keep the runs' 2 host devices"
    )
    args = parser.parse_args(argv)
    if args.budget is None:
        args.budget = 1800.0 if args.dry_run else 600.0

    steps = [s for s in args.steps.split(",") if s]
    unknown = set(steps) - set(STEPS)
    if unknown or not steps:
        parser.error(f"--steps: choose from {','.join(STEPS)}, got {args.steps!r}")
    out = Path(args.out).resolve()
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    workdir = Path(args.workdir).resolve() if args.workdir else out.with_name(out.stem + "_runs")
    logs = workdir / "logs"
    timeouts = parse_timeouts(args.timeouts, DRY_TIMEOUTS if args.dry_run else TIMEOUTS)
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
    if not args.preallocate:
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"  # nvidia-smi then shows what is used
    chosen = "JAX_NUM_CPU_DEVICES" in env or "host_platform_device_count" in env.get(
        "XLA_FLAGS", ""
    )
    if args.dry_run and not (args.split_cpu or chosen):
        # On a loaded CPU the 2-host-device recording can abort (XLA's 40 s rendezvous timeout
        # of a collective permute, one device thread starved): the dry run checks the harness.
        env["JAX_NUM_CPU_DEVICES"] = "1"
    t_start = time.perf_counter()
    version = cuda_version()
    extra = choose_extra(args.cuda, version)  # recorded in a dry run too, not installed
    report = {
        "schema": SCHEMA,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "argv": sys.argv[1:] if argv is None else list(argv),
        "dry_run": args.dry_run,
        "ok": False,
        "budget_seconds": args.budget,
        "wall_seconds": None,
        "workdir": str(workdir),
        "machine": machine_info(extra, version, env),
        "steps": {},
        "failed_steps": [],
    }

    def left() -> float:
        return args.budget - (time.perf_counter() - t_start)

    def write() -> None:
        report["wall_seconds"] = round(time.perf_counter() - t_start, 2)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")

    # 1. install (GPU only), then what jax sees
    jax_info = probe_jax(env)
    has_gpu = jax_info.get("jax_backend") == "gpu"
    pip = [sys.executable, "-m", "pip", "install", "-e", f".[{extra}]"]
    if args.find_links:
        pip += ["--no-index", "--find-links", args.find_links]
    if args.dry_run or args.install == "never":
        report["steps"]["install"] = skipped("install", pip, "dry run" if args.dry_run else
                                             "--install never")  # fmt: skip
    elif has_gpu and args.install == "auto":
        report["steps"]["install"] = skipped("install", pip, "jax already sees a GPU")
    else:
        report["steps"]["install"] = run_step(
            "install", pip, min(timeouts["install"], left()), logs, env
        )
        jax_info = probe_jax(env)
        has_gpu = jax_info.get("jax_backend") == "gpu"
    report["machine"].update(jax_info)
    write()

    # 2.-3. the measured steps
    chunks = args.chunks or (DRY_CHUNKS if args.dry_run else GPU_CHUNKS)
    gibbs = [sys.executable, str(ROOT / "benchmarks" / "bench_gibbs.py"), "--trials", chunks]
    gibbs += ["--json", *(["--quick"] if args.dry_run else ["--neurons", str(args.neurons)])]
    tiny = TINY if args.dry_run else []
    commands = {
        "gibbs": gibbs,
        "default": [*bayescortex_command(), "run", "redundancy", *tiny],
        "full": [*bayescortex_command(), "run", "redundancy", "--full", *tiny],
    }
    for name in steps:
        command = list(commands[name])
        run_dir = None
        if name != "gibbs":
            run_id = f"gpu-check-{name}-{stamp}"
            run_dir = workdir / "redundancy" / run_id
            command += ["--output", str(workdir), "--run-id", run_id]
        if not (has_gpu or args.dry_run or args.allow_cpu):
            step = skipped(name, command, "jax sees no GPU (--allow-cpu runs it anyway)")
        elif left() < MIN_STEP_SECONDS:
            step = skipped(name, command, f"budget of {args.budget:.0f} s spent")
        else:
            step = run_step(name, command, min(timeouts[name], left()), logs, env)
            if name == "gibbs":
                gibbs_result(step)
            else:
                run_result(step, run_dir)
        report["steps"][name] = step
        write()

    failed = [n for n, s in report["steps"].items() if s["status"] in ("failed", "timeout")]
    failed += [n for n in steps if report["steps"][n]["status"] == "skipped"]
    report["ok"] = not failed
    report["failed_steps"] = failed
    write()
    print(f"gpu_check: wrote {out}; {'all steps ok' if not failed else f'failed: {failed}'}")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
