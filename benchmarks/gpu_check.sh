#!/usr/bin/env bash
# A GPU run, prepared (docs/performance.md): install the CUDA extra, time the sampler's chunk
# sizes, the default and the paper-scale run; one JSON file. Flags: benchmarks/gpu_check.py.
#   bash benchmarks/gpu_check.sh --out gpu_check.json
#   bash benchmarks/gpu_check.sh --dry-run --out gpu_check_dry.json   # CPU, tiny sizes
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec "${PYTHON:-python3}" benchmarks/gpu_check.py "$@"
