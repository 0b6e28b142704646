"""profile_config on the tiny dataset: tables, traces, throughput, and the batch-size guard."""

import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from lab1.compare.within import top_ops
from lab1.config import Lab1Config, ProfileSchedule
from lab1.errors import ConfigError
from lab1.measure import profiling
from lab1.measure.profiling import batch_indices, check_batch, profile_config
from lab1.measure.remeasure import TimedBlock
from lab1.rundir import RunPaths, device_tag
from lab1.schemas import OP_STATS_SCHEMA, PHASES, read_parquet
from tasks.profile import profile

# A few steps each: the whole file runs in seconds on 2 cores.
SMALL = {"wait": 1, "warmup": 1, "active": 2, "throughput_steps": 3}
RECIPE = {"seed": Lab1Config.seed, "lr": Lab1Config.lr}  # the dataclass defaults


def _profile(info, tmp_path, batch_size, device="cpu", seed=RECIPE["seed"]):
    return profile_config(
        info.path,
        "mnist",
        device,
        batch_size,
        RunPaths(tmp_path / "run"),
        "test-run",
        ProfileSchedule(**SMALL),
        seed=seed,
        lr=RECIPE["lr"],
    )


def _first_input_batch(op_stats, phase, op, arg):
    """The leading dimension of input ``arg`` of every recorded call shape of ``op``."""
    rows = op_stats[(op_stats["phase"] == phase) & (op_stats["op_name"] == op)]
    return {json.loads(s)[arg][0] for s in rows["input_shapes"]}


def test_profile_writes_op_stats_traces_and_throughput(tiny_dataset, tmp_path, monkeypatch, caplog):
    timed = []

    def eight_ms_per_step(step, batches, batch_size, dev, warmup, min_block_s):
        """The real timing loop runs; the clock says 8 ms per step, so the throughput row's
        numbers are known by hand: 4 images / 8 ms = 500 images/s, 2,000 µs per image."""
        real_time_steps(step, batches, batch_size, dev, warmup, min_block_s)
        timed.append((type(step).__name__, batch_size, min_block_s))
        return [TimedBlock(0.008, 0.016, 0.0, steps=2)] * 5  # 10 steps timed

    real_time_steps = profiling.time_steps
    monkeypatch.setattr(profiling, "time_steps", eight_ms_per_step)
    with caplog.at_level("INFO", logger="lab1.measure.profiling"):
        result = _profile(tiny_dataset, tmp_path, 4)
    # The schedule's shortest block reaches the timing (ProfileSchedule's default: 50 ms).
    assert sorted(timed) == [("InferenceStep", 4, 0.05), ("TrainStep", 4, 0.05)]
    # The log names the config as the report does (lab1.identity), every axis spelled out:
    # two thread counts of one batch size never read alike.
    [threads] = {r["threads"] for r in result["throughput"]}
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("profile ")]
    plural = "thread" if threads == 1 else "threads"
    assert [s.split(" (profiled")[0] for s in said] == [
        f"profile cpu · {threads} {plural} · batch 4 {phase}: 8.00 ms/step, 500 images/s, "
        "2000.0 µs/sample"
        for phase in ("train_step", "inference")
    ]
    assert len(json.dumps(result)) < 5_000  # paths and numbers, never tensors
    assert pq.read_schema(result["op_stats"]).equals(OP_STATS_SCHEMA, check_metadata=True)
    op_stats = read_parquet(result["op_stats"], OP_STATS_SCHEMA)
    ops = op_stats[op_stats["kind"] == "op"]
    assert set(ops["phase"]) == set(PHASES)
    assert (op_stats["active_steps"] == SMALL["active"]).all()
    assert (op_stats["batch_size"] == 4).all() and (op_stats["device"] == "cpu").all()
    assert ops.groupby("phase")["self_cpu_us"].sum().gt(0).all()
    # The forward pass runs once per step: conv2d is called twice (two layers) per step.
    conv_calls = ops[ops["op_name"] == "aten::conv2d"].groupby("phase")["calls"].sum()
    assert conv_calls.to_dict() == {p: 2 * SMALL["active"] for p in PHASES}
    assert ops[ops["op_name"] == "aten::addmm"]["flops"].gt(0).all()
    assert "aten::convolution_backward" in set(ops[ops["phase"] == "train_step"]["op_name"])
    assert "aten::convolution_backward" not in set(ops[ops["phase"] == "inference"]["op_name"])
    # The labels of the phases are annotations, kept apart from the operators.
    labels = set(op_stats[op_stats["kind"] == "annotation"]["op_name"])
    assert {"train_step", "inference", "forward", "backward"} <= labels

    top10 = top_ops(op_stats)
    assert top10.groupby("phase").size().to_dict() == {p: 10 for p in PHASES}
    assert set(top10["sort_key"]) == {"self_cpu"}  # no device time on the CPU

    for phase, path in result["traces"].items():
        traces = tmp_path / "run" / "profiles" / "traces"
        tag = f"cpu_fp32_t{result['threads']}_bs4"
        assert Path(path) == traces / tag / f"{phase}.pt.trace.json.gz"
        # gzip round-trips to the profiler's Chrome trace JSON: its steps, phase label, ops.
        with gzip.open(path, "rt") as f:
            events = json.load(f)["traceEvents"]
        names = {e.get("name") for e in events}
        assert phase in names and any(str(n).startswith("ProfilerStep#") for n in names)
        assert "aten::conv2d" in names and "[memory]" in names
    traces = tmp_path / "run" / "profiles" / "traces"
    assert sorted(p.name for p in traces.iterdir()) == [f"cpu_fp32_t{result['threads']}_bs4"]

    rows = {r["phase"]: r for r in result["throughput"]}
    assert set(rows) == set(PHASES)
    for r in rows.values():
        assert r["throughput_steps"] == 10  # the steps its blocks timed: 5 × 2
        assert (r["blocks_used"], r["blocks_timed"]) == (5, 5)
        assert r["images_per_s"] == pytest.approx(500.0)
        assert r["ms_per_step"] == pytest.approx(8.0)
        assert r["us_per_sample"] == pytest.approx(2000.0)
        # The overhead is the profiled step over the 8 ms unprofiled one.
        assert r["profiler_overhead"] == pytest.approx(r["profiled_ms_per_step"] / 8.0)
        assert r["peak_memory_bytes"] > 0 and "profiler" in r["peak_memory_source"]
        assert r["num_threads"] == torch.get_num_threads() >= 1
        assert r["num_interop_threads"] >= 1


@pytest.mark.parametrize("batch_size", [1, 4])
def test_the_profiled_batch_is_the_configured_size(tiny_dataset, tmp_path, batch_size):
    """Fails if a config profiled one image (or anything but batch_size images) per step."""
    result = _profile(tiny_dataset, tmp_path, batch_size)
    op_stats = read_parquet(result["op_stats"], OP_STATS_SCHEMA)
    for phase in PHASES:
        # conv1's input (N,1,28,28) and conv2's (N,32,26,26); fc1's input (N,9216), fc2's (N,128)
        assert _first_input_batch(op_stats, phase, "aten::conv2d", 0) == {batch_size}
        assert _first_input_batch(op_stats, phase, "aten::addmm", 1) == {batch_size}


def test_the_guard_refuses_a_batch_of_another_size(tiny_dataset, tmp_path, monkeypatch):
    x, y = torch.zeros(1, 1, 28, 28), torch.zeros(1, dtype=torch.long)
    check_batch(x, y, 1)
    with pytest.raises(RuntimeError, match="1 images / 1 labels, configured batch size is 4"):
        check_batch(x, y, 4)

    # A bug that fed single images into the loops is caught before the model runs.
    def one_image(n, batch_size, steps, generator):
        return torch.randperm(n, generator=generator)[:steps].view(steps, 1)

    monkeypatch.setattr(profiling, "batch_indices", one_image)
    with pytest.raises(RuntimeError, match="configured batch size is 4"):
        _profile(tiny_dataset, tmp_path, 4)


@pytest.mark.parametrize("kwargs", [{"active": 0}, {"throughput_steps": 0}, {"wait": -1}])
def test_bad_schedules_are_refused(kwargs):
    with pytest.raises(ConfigError, match="profiling needs"):
        ProfileSchedule(**{**SMALL, **kwargs})


def test_a_bad_batch_size_is_refused_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="profiling needs a batch size"):
        profile_config(
            "missing.pt",
            "mnist",
            "cpu",
            0,
            RunPaths(tmp_path),
            "r",
            ProfileSchedule(**SMALL),
            **RECIPE,
        )
    assert not any(tmp_path.iterdir())


def test_the_run_seed_reaches_profiling_and_is_recorded(tiny_dataset, tmp_path):
    """--seed used to stop at training: profiling always drew seed 1's batches."""
    one = _profile(tiny_dataset, tmp_path / "a", 4, seed=1)
    seven = _profile(tiny_dataset, tmp_path / "b", 4, seed=7)
    assert (one["seed"], seven["seed"]) == (1, 7) and one["lr"] == seven["lr"] == RECIPE["lr"]
    assert one["first_batch"] != seven["first_batch"]
    assert _profile(tiny_dataset, tmp_path / "c", 4, seed=7)["first_batch"] == seven["first_batch"]


def test_batch_indices_cycle_a_small_dataset_with_a_seeded_order():
    idx = batch_indices(10, 4, 7, torch.Generator().manual_seed(1))
    assert idx.shape == (7, 4)
    flat = idx.flatten()
    for start in (0, 10):  # each run of 10 indices is a permutation of the dataset
        assert sorted(flat[start : start + 10].tolist()) == list(range(10))
    again = batch_indices(10, 4, 7, torch.Generator().manual_seed(1))
    assert torch.equal(idx, again)
    # A batch larger than the dataset repeats images rather than shrinking.
    assert batch_indices(3, 8, 2, torch.Generator().manual_seed(0)).shape == (2, 8)


def test_device_tags_are_file_safe():
    assert [device_tag(d) for d in ("cpu", "cuda", "cuda:1", "mps")] == [
        "cpu",
        "cuda",
        "cuda1",
        "mps",
    ]


def test_peak_memory_is_the_running_sum_of_allocations(tmp_path):
    def mem(ts, nbytes, device_type=0):
        return {"name": "[memory]", "ts": ts, "args": {"Bytes": nbytes, "Device Type": device_type}}

    events = [mem(3, -50), mem(1, 100), mem(2, 30), mem(4, 70), mem(5, 999, device_type=1)]
    path = tmp_path / "trace.json.gz"
    with gzip.open(path, "wt") as f:
        json.dump({"traceEvents": [*events, {"name": "aten::mm", "ts": 0}]}, f)
    assert profiling._trace_peak_bytes(path) == 150  # 100, 130, 80, 150


def test_profile_task_returns_the_library_result(tiny_dataset, tmp_path):
    result = profile.fn(
        tiny_dataset.path, "mnist", "cpu", 2, str(tmp_path / "run"), "task-run", SMALL, **RECIPE
    )
    assert result["batch_size"] == 2 and result["run_id"] == "task-run"
    assert [r["phase"] for r in result["throughput"]] == list(PHASES)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_profile_records_kernels_device_time_and_peak_memory(tiny_dataset, tmp_path):
    result = _profile(tiny_dataset, tmp_path, 8, device="cuda")
    op_stats = read_parquet(result["op_stats"], OP_STATS_SCHEMA)
    assert (op_stats["kind"] == "kernel").any()
    ops = op_stats[op_stats["kind"] == "op"]
    assert ops.groupby("phase")["self_device_us"].sum().gt(0).all()
    for phase in PHASES:
        assert _first_input_batch(op_stats, phase, "aten::conv2d", 0) == {8}
    top10 = top_ops(op_stats)
    assert top10.groupby(["phase", "sort_key"]).size().to_dict() == {
        (p, k): 10 for p in PHASES for k in ("self_cpu", "self_device")
    }
    for r in result["throughput"]:
        assert r["peak_memory_bytes"] > 0 and "cuda" in r["peak_memory_source"]


def test_profile_task_runs_in_a_flow_named_after_its_config(
    prefect_harness, tiny_dataset, tmp_path
):
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    @flow(name="profile-task-test")
    def one_config():
        return profile(
            tiny_dataset.path,
            "mnist",
            "cpu",
            2,
            str(tmp_path),
            "flow-run",
            SMALL,
            **RECIPE,
            threads=1,
        )

    state = one_config(return_state=True)
    assert state.is_completed() and state.result()["batch_size"] == 2
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
            )
        )
    assert [r.name for r in runs] == ["profile-cpu-fp32-t1-bs2"]


def test_the_profilers_own_synchronisation_is_named_and_never_ranked():
    """The cudaDeviceSynchronize lab1.measure.profiling issues around every profiled GPU step
    topped the GPU top-10 by self CPU time; it is the profiler's, not an operator of the step."""
    from types import SimpleNamespace

    import pandas as pd

    from lab1.compare.within import top_ops
    from lab1.measure.profiling import _kind

    cpu = torch.autograd.DeviceType.CPU
    sync = SimpleNamespace(key="cudaDeviceSynchronize", is_user_annotation=False, device_type=cpu)
    conv = SimpleNamespace(key="aten::cudnn_convolution", is_user_annotation=False, device_type=cpu)
    assert [_kind(sync), _kind(conv)] == ["profiler_sync", "op"]

    base = {"run_id": "r", "machine_id": "m", "device": "cuda", "precision": "fp32", "threads": 1}
    rows = [
        {**base, "kind": k, "op_name": n, "self_cpu_us": us, "self_device_us": 0.0}
        for k, n, us in [("profiler_sync", "cudaDeviceSynchronize", 900.0), ("op", "aten::mm", 5.0)]
    ]
    stats = pd.DataFrame(rows).assign(batch_size=1, phase="train_step", active_steps=1)
    for col in ("calls", "cpu_total_us", "device_total_us", "flops"):
        stats[col] = 0
    for col in ("self_cpu_memory_bytes", "cpu_memory_bytes"):
        stats[col] = 0
    for col in ("self_device_memory_bytes", "device_memory_bytes", "input_shapes"):
        stats[col] = 0 if "bytes" in col else "[]"
    from lab1.schemas import CONFIG_COLUMNS

    for col in CONFIG_COLUMNS:
        if col not in stats:
            stats[col] = "x"  # the config's other columns: one config here
    ranked = top_ops(stats)
    assert set(ranked["op_name"]) == {"aten::mm"}


def test_gpu_peak_memory_leaves_out_what_was_resident_before_the_steps(monkeypatch):
    """CPU peak memory is the steps' own allocations (the profiler trace's net
    allocations); on CUDA the allocator's peak also held the dataset and the model, resident
    before the steps. Described through torch.cuda's counters: 1,500 B peak, 1,000 B resident."""
    from lab1.measure.profiling import _peak_memory

    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda dev=None: 1500)
    peak, source = _peak_memory(torch.device("cuda:1"), None, resident=1000)
    assert peak == 500
    assert "less what was resident" in source
