"""The machine's limits, measured: what a step on this device and thread count could reach.

Three short microbenchmarks, on the device and thread count the profiling uses:

* ``matmul_peak``: dense square matmul GFLOP/s (2·n³ FLOPs per product), best of the
  repetitions that fit the time budget, in float32 and, where the device has native support,
  bfloat16 (elsewhere a row with no value and the reason: never an emulated number); on a GPU
  whose fp32 convolutions run in TF32 (lab1.host.precision.tf32_math) also "tfloat32", the peak
  those fp32 configs are held against (lab1.measure.analysis.matmul_peaks);
* ``memory_bandwidth``: GB/s of a large tensor copy (read + write = 2 × its bytes), larger
  than the last-level cache so it measures DRAM, not cache;
* ``dispatch_floor``: µs per call of a one-element in-place add: the framework's fixed cost per
  operator (Python → dispatcher → kernel), which no small op can beat.

GPU timings use CUDA events (device time); CPU timings use perf_counter. Budget: about 1 s per
device × thread count (the issue's ≤ 3 s per device covers both thread counts).

Each measurement records how sure it is: the other programs' cores while it ran, the spread of
its repetitions, and its attempts: one that others disturbed is measured again after waiting
for a quiet machine (lab1.measure.remeasure), and the least disturbed attempt is kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from lab1 import interrupt
from lab1.host.devices import bf16_missing, synchronize, traits
from lab1.host.environment import measured_on
from lab1.host.exclusive import MachineLoad
from lab1.host.machine import cpu_flags
from lab1.host.precision import tf32_math
from lab1.host.threads import using_threads
from lab1.measure.remeasure import Patience, attempt_records, measure_until_quiet, sureness

DISPATCH_CALLS = 2000
BUDGET_S = 0.25  # per matmul dtype and for the copy


def bf16_support(dev: torch.device) -> str | None:
    """None where bfloat16 matmuls run natively here, else why not (the row's note)."""
    if traits(dev).bf16_missing is not None:
        missing = bf16_missing(str(dev))
        if missing is None:
            return None
        # Without the CPU's flags (no /proc/cpuinfo) support is unknown, not absent.
        unknown = dev.type == "cpu" and cpu_flags() is None
        return f"{'not measured' if unknown else 'not supported'}: {missing}"
    return f"not supported: no bfloat16 check for {dev.type}"


def _timer(dev: torch.device) -> Callable[[Callable[[], None]], float]:
    """Seconds one call of ``fn`` takes: CUDA events on a GPU, perf_counter elsewhere."""
    if traits(dev).event_timer:

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


def _repetitions(
    fn: Callable[[], None], dev: torch.device, budget_s: float, min_reps: int = 3
) -> list[float]:
    """Seconds of each repetition that fits in ``budget_s`` (after one warm-up call): the
    fastest is the limit, their spread says how sure it is."""
    timed = _timer(dev)
    timed(fn)
    reps: list[float] = []
    while len(reps) < min_reps or sum(reps) < budget_s:
        reps.append(timed(fn))
    return reps


# A limit's value and the same quantity from each repetition (for its spread).
Timed = tuple[float, list[float]]


def matmul_gflops(dev: torch.device, dtype: torch.dtype, n: int, budget_s: float) -> Timed:
    a = torch.randn(n, n, device=dev).to(dtype)  # (n, n)
    b = torch.randn(n, n, device=dev).to(dtype)
    out = torch.empty(n, n, device=dev, dtype=dtype)
    reps = _repetitions(lambda: torch.mm(a, b, out=out), dev, budget_s)
    return 2 * n**3 / min(reps) / 1e9, [2 * n**3 / s / 1e9 for s in reps]


def tf32_matmul_gflops(dev: torch.device, n: int, budget_s: float) -> Timed:
    """The fp32 matmul peak with TF32 allowed (cuBLAS's flag, set for the measurement only):
    the peak an fp32 step whose convolutions run in TF32 is held against."""
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        return matmul_gflops(dev, torch.float32, n, budget_s)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def copy_gbps(dev: torch.device, nbytes: int, budget_s: float) -> Timed:
    src = torch.ones(nbytes // 4, device=dev)  # float32; ones: pages really mapped
    dst = torch.empty_like(src)
    reps = _repetitions(lambda: dst.copy_(src), dev, budget_s)
    return 2 * nbytes / min(reps) / 1e9, [2 * nbytes / s / 1e9 for s in reps]


def dispatch_us(dev: torch.device, calls: int = DISPATCH_CALLS) -> Timed:
    """µs per tiny operator: ``calls`` one-element adds back to back, best of 3 blocks."""
    x = torch.zeros(1, device=dev)

    def block() -> None:
        for _ in range(calls):
            x.add_(1.0)

    reps = [1e6 * s / calls for s in _repetitions(block, dev, budget_s=0.0, min_reps=3)]
    return min(reps), reps


def measure_limits(
    device: str,
    threads: int,
    run_id: str,
    *,
    tries: int = 1,
    quiet_wait_s: float = 0.0,
    attempts: list[dict] | None = None,
    divisor: int = 1,
) -> list[dict]:
    """The LIMITS_SCHEMA rows of one device at ``threads`` CPU threads. A measurement other
    programs disturbed is measured again (up to ``tries`` in all, waiting at most
    ``quiet_wait_s`` for the device × threads: lab1.measure.remeasure); every attempt is appended to
    ``attempts`` where given. ``divisor`` (a dry run's ProfileSchedule.limits_divisor) divides
    the matrix side and, squared, the copy: sizes that fit in the caches, for a quick check."""
    dev = torch.device(device)
    n, nbytes = traits(dev).matmul_n, traits(dev).copy_bytes  # beyond the caches
    n, nbytes = n // divisor, nbytes // divisor**2
    base = {"run_id": run_id, **measured_on(device), "threads": threads}
    patience = Patience(tries, quiet_wait_s)
    rows = []

    def add(dtype: str, what: str, unit: str, note: str, fn: Callable[[], Timed] | None) -> None:
        row = {**base, "dtype": dtype, "what": what, "unit": unit, "note": note}
        if fn is None:  # not supported here: no value, no timing to be sure of
            rows.append({**row, "value": None})
            return

        def attempt() -> tuple[Timed, MachineLoad]:
            interrupt.check()
            with MachineLoad.measure(threads) as load:
                timed = fn()
            return timed, load

        (value, reps), load, tried = measure_until_quiet(
            attempt, patience, what=f"limit {what} {dtype} on {device} at {threads} thread(s)"
        )
        rows.append({**row, "value": value, **sureness(load, reps, len(tried))})
        if attempts is not None:
            attempts.extend(
                attempt_records(
                    tried,
                    kind="limits",
                    device=device,
                    precision=None,
                    threads=threads,
                    batch_size=None,
                    name=f"{what} {dtype}",
                )
            )

    with using_threads(threads), torch.no_grad():
        best = f"{n}×{n} torch.mm, best repetition"
        add(
            "float32",
            "matmul_peak",
            "GFLOP/s",
            best,
            lambda: matmul_gflops(dev, torch.float32, n, BUDGET_S),
        )
        if tf32_math(dev)[0]:  # fp32 configs' convolutions run in TF32 here (PyTorch's default)
            note = f"{n}×{n} torch.mm with TF32 allowed (fp32 convolutions run in TF32 here)"
            add(
                "tfloat32",
                "matmul_peak",
                "GFLOP/s",
                note,
                lambda: tf32_matmul_gflops(dev, n, BUDGET_S),
            )
        why_not = bf16_support(dev)
        bf16 = None if why_not else (lambda: matmul_gflops(dev, torch.bfloat16, n, BUDGET_S))
        add("bfloat16", "matmul_peak", "GFLOP/s", why_not or best, bf16)
        copy = f"copy of {nbytes >> 20} MiB, read + write, best repetition"
        add("float32", "memory_bandwidth", "GB/s", copy, lambda: copy_gbps(dev, nbytes, BUDGET_S))
        calls = f"one-element add_, {DISPATCH_CALLS} calls back to back"
        add("float32", "dispatch_floor", "µs", calls, lambda: dispatch_us(dev))
    return rows
