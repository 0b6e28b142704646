"""The machine's limits: real microbenchmarks, and bf16 skipped (never faked) where absent."""

import math

import pytest
import torch
from machines import cpu_has_native_bf16_here, describe

from lab1.measure import limits
from lab1.schemas import LIMITS_SCHEMA, to_arrow


@pytest.fixture(scope="module")
def cpu_rows():
    return limits.measure_limits("cpu", 1, "r")


def test_microbenchmarks_return_positive_finite_values(cpu_rows):
    to_arrow(cpu_rows, LIMITS_SCHEMA)
    got = {(r["dtype"], r["what"]): r for r in cpu_rows}
    for key, unit in [
        (("float32", "matmul_peak"), "GFLOP/s"),
        (("float32", "memory_bandwidth"), "GB/s"),
        (("float32", "dispatch_floor"), "µs"),
    ]:
        value = got[key]["value"]
        assert got[key]["unit"] == unit and math.isfinite(value) and value > 0
        assert got[key]["threads"] == 1 and got[key]["device"] == "cpu"
    # Orders of magnitude any CPU of the last decade is within: a unit slip would leave them.
    assert 1 < got[("float32", "matmul_peak")]["value"] < 10_000
    assert 0.5 < got[("float32", "memory_bandwidth")]["value"] < 1_000
    assert 0.05 < got[("float32", "dispatch_floor")]["value"] < 1_000


def test_bf16_is_measured_only_where_native(cpu_rows):
    """This machine's flags as the test reads them (/proc/cpuinfo, or the session's
    description): a number where bf16 is native, none where it is absent or unknown."""
    bf16 = next(r for r in cpu_rows if r["dtype"] == "bfloat16")
    native = cpu_has_native_bf16_here()
    if native:
        assert math.isfinite(bf16["value"]) and 1 < bf16["value"] < 100_000
    else:
        assert bf16["value"] is None
        assert bf16["note"].startswith("not supported" if native is False else "not measured")


def test_a_cpu_without_native_bf16_gets_no_number(monkeypatch):
    describe(monkeypatch, "intel-laptop")
    measured = []
    monkeypatch.setattr(
        limits, "matmul_gflops", lambda dev, dtype, n, b: measured.append(dtype) or (1.0, [1.0])
    )
    monkeypatch.setattr(limits, "copy_gbps", lambda dev, nbytes, b: (1.0, [1.0]))
    rows = limits.measure_limits("cpu", 1, "r")
    bf16 = next(r for r in rows if r["dtype"] == "bfloat16")
    assert bf16["value"] is None and "amx_bf16" in bf16["note"]
    assert measured == [torch.float32]  # no emulated bf16 run at all


def test_a_dry_runs_limits_multiply_and_copy_an_eighth_and_a_64th(monkeypatch):
    # The CPU's sizes are 2048×2048 and 512 MiB (lab1.host.devices.TRAITS); a dry run's
    # schedule divides them by 8 and 64: 256×256 matrices, an 8 MiB copy.
    from lab1.config import DRY_RUN_SCHEDULE, ProfileSchedule

    describe(monkeypatch, "intel-laptop")  # no native bf16: one matmul per measurement
    sizes = []
    monkeypatch.setattr(
        limits, "matmul_gflops", lambda dev, dtype, n, b: sizes.append(n) or (1.0, [1.0])
    )
    monkeypatch.setattr(limits, "copy_gbps", lambda dev, n, b: sizes.append(n) or (1.0, [1.0]))
    notes = {
        divisor: [r["note"] for r in limits.measure_limits("cpu", 1, "r", divisor=divisor)]
        for divisor in (ProfileSchedule().limits_divisor, DRY_RUN_SCHEDULE.limits_divisor)
    }
    assert sizes == [2048, 512 << 20, 256, 8 << 20]
    assert notes[1][0] == "2048×2048 torch.mm, best repetition"
    assert notes[8][0] == "256×256 torch.mm, best repetition"
    assert "copy of 8 MiB, read + write, best repetition" in notes[8]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_limits_use_device_time():
    rows = limits.measure_limits("cuda", torch.get_num_threads(), "r")
    fp32 = next(r for r in rows if r["what"] == "matmul_peak" and r["dtype"] == "float32")
    assert fp32["value"] > 100  # any CUDA GPU torch supports beats 100 GFLOP/s


def test_gpu_timings_record_their_events_on_the_measured_gpu(monkeypatch):
    """CUDA events with no stream are recorded on the current device's stream, which
    is cuda:0 unless the code selects another; timing work on cuda:1 from cuda:0's stream
    measures nothing of it. torch.cuda is replaced by a stand-in that knows which device is
    current (tests/fake_cuda.py): no GPU is needed, and none is touched."""
    from fake_cuda import FakeCuda

    fake = FakeCuda(current=0).install(monkeypatch)
    ran_on = []
    seconds = limits._timer(torch.device("cuda:1"))(lambda: ran_on.append(fake.current))
    assert seconds == pytest.approx(1e-3)  # the stand-in's 1 ms, in seconds
    assert fake.devices("event") == [1, 1]
    assert fake.devices("record") == [1, 1]
    assert ran_on == [1]
    assert fake.current == 0  # the caller's device is selected again afterwards


def test_a_gpu_with_tf32_convolutions_gets_a_tf32_matmul_peak(monkeypatch):
    """Where fp32 convolutions run in TF32 (described through lab1.host.precision's seam:
    this CPU has none), the limits add a "tfloat32" matmul peak measured with cuBLAS's TF32
    flag on, and leave the flag as it was."""
    flags = []

    def gflops(dev, dtype, n, budget):
        flags.append((dtype, torch.backends.cuda.matmul.allow_tf32))
        value = 100.0 if not torch.backends.cuda.matmul.allow_tf32 else 400.0
        return value, [value]

    monkeypatch.setattr(limits, "tf32_math", lambda dev: (True, False))
    monkeypatch.setattr(limits, "matmul_gflops", gflops)
    monkeypatch.setattr(limits, "copy_gbps", lambda *a: (1.0, [1.0]))
    monkeypatch.setattr(limits, "dispatch_us", lambda *a: (1.0, [1.0]))
    before = torch.backends.cuda.matmul.allow_tf32
    rows = limits.measure_limits("cpu", 1, "r")
    got = {r["dtype"]: r["value"] for r in rows if r["what"] == "matmul_peak"}
    assert got["float32"] == 100.0 and got["tfloat32"] == 400.0
    assert (torch.float32, True) in flags and (torch.float32, False) in flags
    assert torch.backends.cuda.matmul.allow_tf32 == before
