"""The machine's limits, measured: what a step on this device and thread count could reach.

Three short microbenchmarks, on the device and thread count the profiling uses:

* ``matmul_peak``: dense square matmul GFLOP/s (2·n³ FLOPs per product), best of the
  repetitions that fit the time budget, in float32 and, where the device has native support,
  bfloat16 (elsewhere a row with no value and the reason: never an emulated number); on a GPU
  whose fp32 convolutions run in TF32 (lab1.precision.tf32_math) also "tfloat32", the peak
  those fp32 configs are held against (lab1.analysis.matmul_peaks);
* ``memory_bandwidth``: GB/s of a large tensor copy (read + write = 2 × its bytes), larger
  than the last-level cache so it measures DRAM, not cache;
* ``dispatch_floor``: µs per call of a one-element in-place add: the framework's fixed cost per
  operator (Python → dispatcher → kernel), which no small op can beat.

GPU timings use CUDA events (device time); CPU timings use perf_counter. Budget: about 1 s per
device × thread count (the issue's ≤ 3 s per device covers both thread counts).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from lab1.devices import bf16_missing, synchronize
from lab1.environment import measured_on
from lab1.machine import cpu_flags
from lab1.precision import tf32_math
from lab1.threads import using_threads

MATMUL_N = {"cpu": 2048, "cuda": 8192}  # 17 / 1,100 GFLOP per product (1024 underrates 2 threads)
COPY_BYTES = {"cpu": 512 << 20, "cuda": 2 << 30}  # beyond a 300 MiB L3 / a GPU's L2
DISPATCH_CALLS = 2000
BUDGET_S = 0.25  # per matmul dtype and for the copy


def bf16_support(dev: torch.device) -> str | None:
    """None where bfloat16 matmuls run natively here, else why not (the row's note)."""
    if dev.type in ("cuda", "cpu"):
        missing = bf16_missing(str(dev))
        if missing is None:
            return None
        # Without the CPU's flags (no /proc/cpuinfo) support is unknown, not absent.
        unknown = dev.type == "cpu" and cpu_flags() is None
        return f"{'not measured' if unknown else 'not supported'}: {missing}"
    return f"not supported: no bfloat16 check for {dev.type}"


def _timer(dev: torch.device) -> Callable[[Callable[[], None]], float]:
    """Seconds one call of ``fn`` takes: CUDA events on a GPU, perf_counter elsewhere."""
    if dev.type == "cuda":

        def timed(fn: Callable[[], None]) -> float:
            # Events made and recorded with dev selected: on its current stream, not cuda:0's.
            with torch.cuda.device(dev):
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3

        return timed

    def wall(fn: Callable[[], None]) -> float:
        synchronize(dev)
        start = time.perf_counter()
        fn()
        synchronize(dev)
        return time.perf_counter() - start

    return wall


def _best(fn: Callable[[], None], dev: torch.device, budget_s: float, min_reps: int = 3) -> float:
    """The fastest of the repetitions that fit in ``budget_s`` (after one warm-up call)."""
    timed = _timer(dev)
    timed(fn)
    best, spent, reps = float("inf"), 0.0, 0
    while reps < min_reps or spent < budget_s:
        s = timed(fn)
        best, spent, reps = min(best, s), spent + s, reps + 1
    return best


def matmul_gflops(dev: torch.device, dtype: torch.dtype, n: int, budget_s: float) -> float:
    a = torch.randn(n, n, device=dev).to(dtype)  # (n, n)
    b = torch.randn(n, n, device=dev).to(dtype)
    out = torch.empty(n, n, device=dev, dtype=dtype)
    seconds = _best(lambda: torch.mm(a, b, out=out), dev, budget_s)
    return 2 * n**3 / seconds / 1e9


def tf32_matmul_gflops(dev: torch.device, n: int, budget_s: float) -> float:
    """The fp32 matmul peak with TF32 allowed (cuBLAS's flag, set for the measurement only):
    the peak an fp32 step whose convolutions run in TF32 is held against."""
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        return matmul_gflops(dev, torch.float32, n, budget_s)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def copy_gbps(dev: torch.device, nbytes: int, budget_s: float) -> float:
    src = torch.ones(nbytes // 4, device=dev)  # float32; ones: pages really mapped
    dst = torch.empty_like(src)
    seconds = _best(lambda: dst.copy_(src), dev, budget_s)
    return 2 * nbytes / seconds / 1e9


def dispatch_us(dev: torch.device, calls: int = DISPATCH_CALLS) -> float:
    """µs per tiny operator: ``calls`` one-element adds back to back, best of 3 blocks."""
    x = torch.zeros(1, device=dev)

    def block() -> None:
        for _ in range(calls):
            x.add_(1.0)

    return 1e6 * _best(block, dev, budget_s=0.0, min_reps=3) / calls


def _row(base: dict, dtype: str, what: str, value: float | None, unit: str, note: str) -> dict:
    return {**base, "dtype": dtype, "what": what, "value": value, "unit": unit, "note": note}


def measure_limits(device: str, threads: int, run_id: str) -> list[dict]:
    """The LIMITS_SCHEMA rows of one device at ``threads`` CPU threads."""
    dev = torch.device(device)
    kind = "cuda" if dev.type == "cuda" else "cpu"
    n, nbytes = MATMUL_N[kind], COPY_BYTES[kind]
    base = {"run_id": run_id, **measured_on(device), "threads": threads}
    with using_threads(threads), torch.no_grad():
        rows = [
            _row(
                base,
                "float32",
                "matmul_peak",
                matmul_gflops(dev, torch.float32, n, BUDGET_S),
                "GFLOP/s",
                f"{n}×{n} torch.mm, best repetition",
            )
        ]
        if tf32_math(dev)[0]:  # fp32 configs' convolutions run in TF32 here (PyTorch's default)
            note = f"{n}×{n} torch.mm with TF32 allowed (fp32 convolutions run in TF32 here)"
            tf32 = tf32_matmul_gflops(dev, n, BUDGET_S)
            rows.append(_row(base, "tfloat32", "matmul_peak", tf32, "GFLOP/s", note))
        why_not = bf16_support(dev)
        bf16 = None if why_not else matmul_gflops(dev, torch.bfloat16, n, BUDGET_S)
        note = why_not or f"{n}×{n} torch.mm, best repetition"
        rows.append(_row(base, "bfloat16", "matmul_peak", bf16, "GFLOP/s", note))
        gbps = copy_gbps(dev, nbytes, BUDGET_S)
        rows.append(
            _row(
                base,
                "float32",
                "memory_bandwidth",
                gbps,
                "GB/s",
                f"copy of {nbytes >> 20} MiB, read + write, best repetition",
            )
        )
        rows.append(
            _row(
                base,
                "float32",
                "dispatch_floor",
                dispatch_us(dev),
                "µs",
                f"one-element add_, {DISPATCH_CALLS} calls back to back",
            )
        )
    return rows
