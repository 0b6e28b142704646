"""A run held against the class's runs on the same CPU or GPU model (checks.like_class): the
median, the MAD and the modified z-score worked out by hand for small lists."""

from __future__ import annotations

import pytest

from lab1.classroom import checks
from lab1.classroom.classreport import like_class_text

CPU, GPU = "Test CPU 9000", "NVIDIA H100"


def row(value: float, hardware: str = CPU, device: str = "cpu", bs: int = 64) -> dict:
    return {
        "hardware": hardware,
        "device": device,
        "precision": "fp32",
        "threads": 16,
        "batch_size": bs,
        "phase": "train_step",
        "images_per_s": value,
    }


def test_a_run_three_times_the_class_median_is_far_with_both_numbers():
    # 80, 100, 110, 130, 300: median 110; |x − 110| = 30, 10, 0, 20, 190 → MAD 20 (over the
    # floor 11); modified z of 300 = 0.6745 × 190 / 20 = 6.41; of 80 = 0.6745 × −30 / 20 = −1.01.
    values = {"ann": 80.0, "bo": 100.0, "cy": 110.0, "di": 130.0, "mal": 300.0}
    got = checks.like_class({s: [row(v)] for s, v in values.items()})
    assert [s for s, like in got.items() if like.passed is False] == ["mal"]
    assert all(got[s].passed is True for s in ("ann", "bo", "cy", "di"))
    (far,) = got["mal"].far
    assert (far.images_per_s, far.median, far.runs) == (300.0, 110.0, 5)
    assert far.z == pytest.approx(0.6745 * 190 / 20)
    assert checks.modified_z(80.0, list(values.values())) == pytest.approx(-0.6745 * 30 / 20)
    assert like_class_text(got["mal"], "en") == (
        "cpu · 16 threads · batch 64, train_step, on Test CPU 9000: 300 images/s against the "
        "class's median 110 there (5 runs; modified z +6.4, beyond ±3.5)"
    )
    assert like_class_text(got["mal"], "zh") == (
        "Test CPU 9000 上的 CPU · 16 线程 · 批大小 64，训练步：300 图像/秒，全班在该硬件上的"
        "中位数为 110（5 次运行；修正 z 值 +6.4，超出 ±3.5）"
    )
    assert like_class_text(got["ann"], "en") == (
        "like the class's runs on Test CPU 9000 (1 configuration judged)"
    )


def test_a_run_a_third_of_the_class_is_far_too():
    # 90, 100, 110, 120, 36: median 100; |x − 100| = 10, 0, 10, 20, 64 → MAD 10;
    # modified z of 36 = 0.6745 × −64 / 10 = −4.32.
    values = {"ann": 90.0, "bo": 100.0, "cy": 110.0, "di": 120.0, "mal": 36.0}
    got = checks.like_class({s: [row(v)] for s, v in values.items()})
    assert [s for s, like in got.items() if like.far] == ["mal"]
    assert got["mal"].far[0].z == pytest.approx(-0.6745 * 64 / 10)


def test_runs_that_agree_exactly_judge_with_a_mad_of_a_tenth_of_the_median():
    # 100, 100, 100, 100, x: median 100, MAD 0 → taken as 10 (MIN_MAD_SHARE × 100);
    # x = 160: z = 0.6745 × 60 / 10 = 4.05, far; x = 130: z = 2.02, not far.
    for x, far in ((160.0, True), (130.0, False)):
        rows = {s: [row(100.0)] for s in ("a", "b", "c", "d")} | {"x": [row(x)]}
        got = checks.like_class(rows)["x"]
        assert bool(got.far) is far, x
        assert checks.modified_z(x, [100.0] * 4 + [x]) == pytest.approx(0.6745 * (x - 100) / 10)


def test_fewer_than_three_runs_on_a_model_cannot_be_judged():
    # Three runs on the CPU (judged), two of them with the GPU as well (too few there).
    rows = {
        "ann": [row(100.0), row(5000.0, GPU, "cuda")],
        "bo": [row(110.0), row(5200.0, GPU, "cuda:1")],  # cuda:1 is the same kind of device
        "cy": [row(105.0)],
    }
    got = checks.like_class(rows)
    assert got["ann"].passed is True  # judged on the CPU; the GPU could not be
    assert like_class_text(got["ann"], "en") == (
        "cannot judge: only 2 runs on NVIDIA H100; "
        "like the class's runs on Test CPU 9000 (1 configuration judged)"
    )
    alone = checks.like_class({"ann": [row(100.0)], "bo": [row(300.0, "Other CPU")]})
    assert alone["ann"].passed is None and alone["bo"].passed is None
    assert like_class_text(alone["bo"], "en") == "cannot judge: only 1 run on Other CPU"
    assert like_class_text(alone["bo"], "zh") == "无法评判：Other CPU 上只有 1 次运行"


def test_three_runs_of_a_model_in_different_configurations_cannot_judge_each_other():
    rows = {s: [row(100.0, bs=bs)] for s, bs in (("a", 16), ("b", 64), ("c", 256))}
    got = checks.like_class(rows)
    assert got["a"].passed is None
    assert like_class_text(got["a"], "en") == (
        "cannot judge: only 1 run of the same configuration on Test CPU 9000"
    )


def test_a_class_check_not_judged_is_nothing_to_measure_again():
    unjudged = [
        checks.Check(checks.LIKE_CLASS, None, "cannot judge: only 1 run on X"),
        checks.Check("plausibility.peak", None, "not judged: measured while …"),
    ]
    assert [c.name for c in checks.to_measure_again(unjudged)] == ["plausibility.peak"]
