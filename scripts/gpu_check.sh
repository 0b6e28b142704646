#!/usr/bin/env bash
# GPU verification of lab1: every check (training eager / CUDA graph / bf16, resume both ways,
# profiling at batch 1/16/64, the CPU-vs-GPU comparison, the benchmark, the flow end to end)
# with one PASS / FAIL / SKIP line per result, summarised as JSON. Offline on the device.
#
#   scripts/gpu_check.sh --prepare .gpu-check            # here: data + wheels to copy to the GPU host
#   scripts/gpu_check.sh --prepared .gpu-check --quick --deadline 360   # on the GPU host
#   scripts/gpu_check.sh --cpu-rehearsal                 # here: every check on the CPU (~2 min)
#
# Every option, the checks and their H100 estimates: scripts/gpu_check.sh --help.
# PYTHON picks the interpreter (default: the repo's .venv if present, else python3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
exec "$PYTHON" "$ROOT/scripts/gpu_check.py" "$@"
