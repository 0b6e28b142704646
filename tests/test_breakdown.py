"""Where a profiled step's time goes: categories, parts, the thread axis, on a real step."""

import pytest
import torch

from lab1.breakdown import OP_CATEGORIES, OUTSIDE_LABELS, OUTSIDE_OPS, PARTS, category
from lab1.config import ProfileSchedule
from lab1.profiling import profile_config
from lab1.rundir import RunPaths
from lab1.tables import OP_STATS_SCHEMA, PHASES, TIME_SPLIT_SCHEMA, read_parquet

SMALL = ProfileSchedule(wait=0, warmup=1, active=2, throughput_steps=3)


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
