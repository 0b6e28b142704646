"""The one table of device traits: cpu's and cuda's rows as the docs state them, and a new kind
of device described by one row reaching profiling's basis, the comparison, the layout,
precision support and the limits without any other change."""

import pandas as pd
import pytest
import torch

from lab1.compare import within
from lab1.host import devices
from lab1.host.devices import DeviceTraits, traits
from lab1.host.precision import use_channels_last
from lab1.measure import limits


def test_cpu_and_cuda_traits_are_the_documented_ones():
    """Written out by hand from docs/maintainers/architecture.md and the measurements: device
    time on a GPU, CPU time on a CPU; CUDA graphs and TF32 on CUDA only; channels_last always
    on CUDA, on the CPU for bf16 only (bench_channels_last); bf16 decided by the CPU's flags
    and the GPU's capability; the limits' sizes beyond each one's caches."""
    cpu, cuda = traits("cpu"), traits("cuda:1")
    assert (cpu.kind, cuda.kind) == ("cpu", "cuda")
    assert (cpu.time_basis, cuda.time_basis) == ("self_cpu", "self_device")
    assert (cpu.profiler_activity, cuda.profiler_activity) == (None, "CUDA")
    assert cpu.traced and cuda.traced
    assert (cpu.event_timer, cuda.event_timer) == (False, True)
    assert (cpu.cuda_graphs, cuda.cuda_graphs) == (False, True)
    assert dict(cpu.channels_last) == {"fp32": False, "bf16": True}
    assert dict(cuda.channels_last) == {"fp32": True, "bf16": True}
    assert (cpu.tf32, cuda.tf32) == (False, True)
    assert (cpu.allocator_peak, cuda.allocator_peak) == (False, True)
    assert (cpu.cudnn_benchmark, cuda.cudnn_benchmark) == (False, True)
    assert (cpu.heap_kept_mapped, cuda.heap_kept_mapped) == (True, False)
    assert (cpu.gpu, cuda.gpu) == (False, True)
    assert (cpu.matmul_n, cuda.matmul_n) == (2048, 8192)
    assert (cpu.copy_bytes, cuda.copy_bytes) == (512 * 2**20, 2 * 2**30)
    assert cpu.bf16_missing is not None and cuda.bf16_missing is not None


def test_mps_runs_untraced_and_an_unknown_kind_is_measured_like_the_cpu():
    mps, xpu = traits("mps"), traits("xpu:0")
    assert (mps.traced, mps.time_basis, mps.name) == (False, "self_cpu", "Apple MPS")
    assert (xpu.kind, xpu.time_basis, xpu.traced, xpu.bf16_missing) == (
        "xpu",
        "self_cpu",
        True,
        None,
    )
    assert devices.bf16_missing("xpu") == "bf16 training is supported on cpu and cuda only, not xpu"
    # A name from someone else's table is split, never handed to torch.device.
    assert traits("cuda:not a number").time_basis == "self_device"


def _op_stats(device: str) -> pd.DataFrame:
    """Two operators: 30 % / 70 % of the CPU time, 90 % / 10 % of the device time."""
    base = {
        "run_id": "r",
        "torch_version": "2.x",
        "machine_id": "0123456789ab",
        "device": device,
        "device_name": "Test",
        "precision": "fp32",
        "threads": 2,
        "batch_size": 4,
        "phase": "train_step",
        "active_steps": 2,
        "kind": "op",
        "input_shapes": "[]",
        "calls": 2,
        "self_cpu_memory_bytes": 0,
        "cpu_memory_bytes": 0,
        "self_device_memory_bytes": 0,
        "device_memory_bytes": 0,
        "flops": 0,
    }
    rows = [
        {**base, "op_name": "aten::a", "self_cpu_us": 30.0, "self_device_us": 90.0},
        {**base, "op_name": "aten::b", "self_cpu_us": 70.0, "self_device_us": 10.0},
    ]
    for r in rows:
        r["cpu_total_us"], r["device_total_us"] = r["self_cpu_us"], r["self_device_us"]
    return pd.DataFrame(rows)


@pytest.fixture
def accelerator(monkeypatch):
    """A kind of device lab1 has never heard of, described by one row of the table."""
    synced = []
    row = DeviceTraits(
        kind="xpu",
        name="Test accelerator",
        time_basis="self_device",
        profiler_activity="XPU",
        traced=True,
        synchronize=synced.append,
        event_timer=False,
        cuda_graphs=False,
        channels_last={"fp32": True, "bf16": False},
        bf16_missing=lambda dev: "no bf16 units",
        tf32=False,
        allocator_peak=False,
        cudnn_benchmark=False,
        heap_kept_mapped=False,
        gpu=False,
        matmul_n=64,
        copy_bytes=3 << 20,
    )
    monkeypatch.setattr(devices, "TRAITS", {**devices.TRAITS, "xpu": row})
    return synced


def test_a_new_device_kind_needs_only_its_row_in_the_table(accelerator, monkeypatch):
    devices.synchronize("xpu:0")
    assert accelerator == [torch.device("xpu:0")]
    assert devices.device_name("xpu") == "Test accelerator"
    assert devices.bf16_missing("xpu") == "no bf16 units"
    assert use_channels_last(torch.device("xpu"), "fp32") is True
    assert use_channels_last(torch.device("xpu"), "bf16") is False
    # The comparison ranks and shares by device time: aten::a has 90 % of it (30 % of CPU time).
    assert within.share_basis("xpu:0") == "self_device"
    shares = within.op_shares(_op_stats("xpu")).set_index("op_name")
    assert shares.loc["aten::a", "share"] == pytest.approx(0.9)
    assert (shares["share_basis"] == "self_device").all()
    top = within.top_ops(_op_stats("xpu"))
    assert sorted(set(top["sort_key"])) == ["self_cpu", "self_device"]
    # The limits take their sizes and the bf16 note from the row (the kernels faked: no xpu here).
    sizes = []
    monkeypatch.setattr(limits, "matmul_gflops", lambda d, t, n, b: sizes.append(n) or (1.0, [1.0]))
    monkeypatch.setattr(
        limits, "copy_gbps", lambda d, nbytes, b: sizes.append(nbytes) or (1.0, [1.0])
    )
    monkeypatch.setattr(limits, "dispatch_us", lambda d: (1.0, [1.0]))
    rows = {(r["dtype"], r["what"]): r for r in limits.measure_limits("xpu", 1, "r")}
    assert sizes == [64, 3 << 20]
    assert rows[("float32", "matmul_peak")]["note"].startswith("64×64 torch.mm")
    assert rows[("float32", "memory_bandwidth")]["note"].startswith("copy of 3 MiB")
    assert rows[("bfloat16", "matmul_peak")]["note"] == "not supported: no bf16 units"
    assert rows[("bfloat16", "matmul_peak")]["value"] is None


def test_without_its_row_the_same_kind_is_measured_by_cpu_time():
    shares = within.op_shares(_op_stats("xpu")).set_index("op_name")
    assert shares.loc["aten::a", "share"] == pytest.approx(0.3)
    assert set(within.top_ops(_op_stats("xpu"))["sort_key"]) == {"self_cpu"}
