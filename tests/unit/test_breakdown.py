"""Where a profiled step's time goes: categories, parts, the thread axis, on a real step."""

import pytest
import torch

from lab1.config import ProfileSchedule
from lab1.measure.breakdown import OP_CATEGORIES, OUTSIDE_LABELS, OUTSIDE_OPS, PARTS, category
from lab1.measure.profiling import profile_config
from lab1.rundir import RunPaths
from lab1.schemas import OP_STATS_SCHEMA, PHASES, TIME_SPLIT_SCHEMA, read_parquet

# The profiled steps are the subject here, not the timed ones: each block timed once.
SMALL = ProfileSchedule(wait=0, warmup=1, active=2, throughput_steps=3, min_block_s=0)


def _profile(info, tmp_path, batch_size, threads=None):
    paths = RunPaths(tmp_path / "run")
    return profile_config(
        info.path,
        "mnist",
        "cpu",
        batch_size,
        paths,
        "test-run",
        SMALL,
        seed=1,
        lr=1.0,
        threads=threads,
    )


@pytest.mark.parametrize(
    ("name", "part", "expected"),
    [
        ("aten::mkldnn_convolution", "forward", "convolution"),
        ("aten::convolution_backward", "backward", "convolution"),
        ("aten::addmm", "forward", "matmul"),
        ("aten::max_pool2d_with_indices", "forward", "pooling"),
        ("aten::bernoulli_", "forward", "dropout RNG"),
        ("aten::nll_loss_forward", "loss", "loss"),
        ("aten::mul_", "optimizer", "optimizer update"),
        ("aten::mul", "forward", "elementwise/activation"),
        ("aten::view", "forward", "data movement/indexing"),
        ("autograd::engine::evaluate_function: AddmmBackward0", "backward", "other"),
    ],
)
def test_operators_fall_into_their_categories(name, part, expected):
    assert category(name, part) == expected


def test_shares_of_a_real_step_sum_to_one_and_no_operator_time_is_lost(tiny_dataset, tmp_path):
    result = _profile(tiny_dataset, tmp_path, 4)
    split = read_parquet(result["time_split"], TIME_SPLIT_SCHEMA)
    sums = split.groupby(["phase", "split"])["share"].sum()
    assert sums.to_numpy() == pytest.approx(1.0, abs=0.005)
    assert (split["us_per_step"] >= 0).all()
    train = split[split["phase"] == "train_step"].set_index(["split", "name"])["us_per_step"]
    for part in PARTS:  # every labelled part of the train step took time
        assert train[("part", part)] > 0
    assert set(split[split["split"] == "category"]["name"]) == {*OP_CATEGORIES, OUTSIDE_OPS}
    assert set(split[split["split"] == "part"]["name"]) == {*PARTS, OUTSIDE_LABELS}
    # The categories hold the operators' self time as the op table has it: nothing dropped,
    # nothing counted twice (the split's step time was not raised to fit the operators).
    ops = read_parquet(result["op_stats"], OP_STATS_SCHEMA)
    ops = ops[(ops["kind"] == "op") & (ops["phase"] == "train_step")]
    in_categories = train.loc["category"].drop(OUTSIDE_OPS).sum()
    assert in_categories == pytest.approx(ops["self_cpu_us"].sum() / SMALL.active, rel=1e-6)
    assert train[("category", OUTSIDE_OPS)] > 0
    for phase in PHASES:
        assert split[(split["phase"] == phase) & (split["name"] == "matmul")]["share"].gt(0).all()


def test_the_thread_count_is_part_of_the_config(tiny_dataset, tmp_path):
    before = torch.get_num_threads()
    results = [_profile(tiny_dataset, tmp_path, 2, threads=t) for t in (1, 2)]
    assert [r["threads"] for r in results] == [1, 2]
    assert results[0]["op_stats"] != results[1]["op_stats"]
    for r, t in zip(results, (1, 2), strict=True):
        assert f"_t{t}_" in r["op_stats"]
        assert {row["threads"] for row in r["throughput"]} == {t}
        assert {row["num_threads"] for row in r["throughput"]} == {t}
        assert set(read_parquet(r["op_stats"], OP_STATS_SCHEMA)["threads"]) == {t}
    assert torch.get_num_threads() == before  # restored afterwards


class _Event:
    """The fields of a torch.profiler FunctionEvent that lab1.measure.breakdown reads."""

    def __init__(self, name, thread, start, end, parent=None, device_us=0.0, fwd_thread=0):
        from types import SimpleNamespace

        self.name, self.thread, self.fwd_thread = name, thread, fwd_thread
        self.time_range = SimpleNamespace(start=start, end=end)
        self.cpu_parent = parent
        self.is_user_annotation = not name.startswith(("aten::", "autograd::"))
        self.device_type = torch.autograd.DeviceType.CPU
        self.self_device_time_total = device_us
        self.self_cpu_time_total = 0.0


def _gpu_step_with_backward_on_autograds_thread() -> list[_Event]:
    """One GPU train step as the profiler records it (µs): the step's labels and forward ops on
    thread 1; backward's ops on autograd's device thread 2, under autograd::engine roots with no
    parent on thread 1 (the profiler links parents within a thread only), inside the span of
    thread 1's backward label; and a root of another step, at 150 µs, outside every label."""
    step = _Event("train_step", 1, 0, 100)
    fwd = _Event("forward", 1, 0, 30, step)
    loss = _Event("loss", 1, 30, 35, step)
    bwd = _Event("backward", 1, 35, 80, step)
    opt = _Event("optimizer", 1, 80, 100, step)
    conv = _Event("autograd::engine::evaluate_function: ConvolutionBackward0", 2, 40, 60, None)
    acc = _Event("autograd::engine::evaluate_function: AccumulateGrad", 2, 61, 62, None)
    late = _Event("autograd::engine::evaluate_function: AddmmBackward0", 2, 150, 160, None)
    return [
        *(step, fwd, loss, bwd, opt, conv, acc, late),
        _Event("aten::cudnn_convolution", 1, 1, 20, fwd, device_us=10.0),
        _Event("aten::nll_loss_forward", 1, 31, 33, loss, device_us=2.0),
        _Event("aten::convolution_backward", 2, 41, 59, conv, device_us=20.0, fwd_thread=1),
        _Event("aten::add_", 2, 61, 62, acc, device_us=1.0, fwd_thread=1),
        _Event("aten::mm", 2, 151, 159, late, device_us=7.0, fwd_thread=1),
        _Event("aten::_foreach_add_", 1, 81, 99, opt, device_us=5.0),
    ]


def test_gpu_backward_on_autograds_own_thread_is_counted_as_backward():
    """On CUDA, backward runs on autograd's device thread; its ops must count as the
    step's backward (20 + 1 µs of kernels here), not as time outside any label, and the op of
    another step (7 µs at 150 µs) must not count at all."""
    from lab1.measure.breakdown import time_split

    split = time_split(
        _gpu_step_with_backward_on_autograds_thread(), "train_step", "self_device", 100.0
    )
    assert split["part"] == {
        "forward": 10.0,
        "loss": 2.0,
        "backward": 21.0,
        "optimizer": 5.0,
        OUTSIDE_LABELS: 62.0,  # 100 µs of wall time, 38 µs of it in labelled kernels
    }
    cats = {k: v for k, v in split["category"].items() if v}
    assert cats == {
        "convolution": 30.0,
        "loss": 2.0,
        "elementwise/activation": 1.0,
        "optimizer update": 5.0,
        OUTSIDE_OPS: 62.0,
    }
