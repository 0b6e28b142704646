"""Smoke tests of benchmarks/bench_train.py and scripts/gpu_check.py on tiny data (no timings)."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from machines import describe, this_machine, with_bf16

from lab1.run.data import export_idx, load_tensors, normalized_images, prepare_dataset

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))  # spread.py, as the benchmarks import it


def _sure(value: float) -> dict:
    """A reliable ratio of ``value`` (spread 5 %), as spread.ratio_of returns one."""
    return {"value": value, "min": value * 0.97, "max": value * 1.02, "spread": 0.05,
            "reliable": True, "blocks": 5}  # fmt: skip


def _load(name: str, path: Path):
    """A script as a module (benchmarks/ and scripts/ are not packages)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _load("bench_train", ROOT / "benchmarks" / "bench_train.py")


@pytest.fixture
def tensors(tiny_dataset):
    return load_tensors(tiny_dataset.path)


def test_reference_loader_sees_the_same_normalized_images(bench, tensors, tmp_path):
    root = tmp_path / "idx"
    export_idx(tensors, root)
    dataset = bench.reference_loader(root, 4, "cpu", workers=0).dataset
    x = normalized_images(tensors["train_images"][:3], "mnist", torch.device("cpu"))
    for i in range(3):
        image, label = dataset[i]  # per-sample PIL → ToTensor → Normalize
        torch.testing.assert_close(image, x[i], rtol=0, atol=1e-6)
        assert label == int(tensors["train_labels"][i])


def test_each_path_runs_two_steps(bench, tensors, tmp_path):
    root = tmp_path / "idx"
    export_idx(tensors, root)
    images, seconds = bench.reference_runner(root, "cpu", 8, workers=0)(2)
    assert images == 16 and seconds > 0
    run, training = bench.lab1_runner(tensors, "cpu", 8)
    images, seconds = run(2)
    assert images == 16 and seconds > 0
    assert training.step.mode == "eager"


def test_lab1_steps_cross_epoch_boundaries(bench, tensors):
    run, _ = bench.lab1_runner(tensors, "cpu", 64)  # 200 images: 4 batches per epoch, last 8
    images, _ = run(6)
    assert images == 200 + 2 * 64


def test_bench_config_table_and_targets(bench, tensors, tmp_path):
    root = tmp_path / "idx"
    export_idx(tensors, root)
    r = bench.bench_config(
        tensors,
        root,
        "cpu",
        4,
        steps=2,
        repeats=2,
        warmup=1,
        workers=1,
        precisions=("fp32",),
        own_process=False,
    )
    assert set(r["images_per_s"]) == {"reference", "lab1"}
    assert {p["path"]: p["precision"] for p in r["paths"]} == {"reference": "fp32", "lab1": "fp32"}
    assert all(len(v) == 2 for v in r["blocks_images_per_s"].values())
    # The ratio is the median of the two per-repeat ratios, its range their min and max.
    blocks = r["blocks_images_per_s"]
    per_repeat = [b / a for a, b in zip(blocks["reference"], blocks["lab1"], strict=True)]
    lab1 = r["ratio"]["lab1"]
    assert lab1["value"] == pytest.approx(sum(per_repeat) / 2, rel=2e-3)
    assert (lab1["min"], lab1["max"]) == pytest.approx((min(per_repeat), max(per_repeat)), 2e-3)
    table = bench.format_table([r])
    assert "reference img/s" in table and table.splitlines()[2].split()[:2] == ["cpu", "4"]
    flow = {"returncode": 0, "total_s": 100.0, "overhead_s": 30.0}
    sure = {"value": 1.3, "min": 1.25, "max": 1.35, "spread": 0.077, "reliable": True}
    targets = bench.check_targets([{**r, "batch_size": 64, "ratio": {"lab1": sure}}], flow)
    assert [t["ok"] for t in targets] == [True, True, False]
    unsure = {**sure, "min": 0.9, "max": 1.8, "spread": 0.69, "reliable": False}
    [judged, *_] = bench.check_targets([{**r, "batch_size": 64, "ratio": {"lab1": unsure}}], flow)
    assert judged["ok"] is None and judged["note"] == "unreliable: blocks spread 69% (> 20%)"


def test_a_ratio_carries_its_spread_and_is_unreliable_past_20_percent():
    from spread import cell, ratio_of

    # Paired: per-repeat ratios 1.1, 1.2, 1.3 → median 1.2, spread 0.2 / 1.2 = 16.7 %.
    r = ratio_of([110.0, 240.0, 130.0], [100.0, 200.0, 100.0], paired=True)
    assert r == {
        "value": 1.2, "min": 1.1, "max": 1.3, "spread": 0.167, "reliable": True, "blocks": 3,
    }  # fmt: skip
    assert cell(r) == "1.20 (1.10–1.30)"
    # Per-repeat 1.0, 1.3, 1.0 → median 1.0, spread 30 %: unreliable, and the cell says so.
    r = ratio_of([100.0, 130.0, 100.0], [100.0, 100.0, 100.0], paired=True)
    assert (r["value"], r["spread"], r["reliable"]) == (1.0, 0.3, False)
    assert cell(r) == "1.00 (1.00–1.30) !"
    # Exactly 20 % is still reliable: per-repeat 0.9, 1.0, 1.1.
    assert ratio_of([90.0, 100.0, 110.0], [100.0] * 3, paired=True)["reliable"] is True
    # Unpaired: the own-process blocks once seen on a Xeon (batch 16) against a steady path.
    own = [154.6, 196.4, 92.0, 388.7, 1019.4]
    r = ratio_of([1500.0, 1480.0, 1490.0, 1510.0, 1500.0], own, paired=False)
    assert r["value"] == pytest.approx(1500.0 / 196.4, rel=5e-4)  # 7.637: the median's ratio
    assert r["spread"] == pytest.approx((1019.4 - 92.0) / 196.4, abs=1e-3)  # 472 %
    assert (r["min"], r["max"]) == pytest.approx((1480.0 / 1019.4, 1510.0 / 92.0), rel=5e-4)
    assert r["reliable"] is False


def test_bf16_targets_gate_on_the_reference_in_its_own_process(bench):
    row = {
        "device": "cpu",
        "batch_size": 64,
        "images_per_s": {"reference": 800.0, "lab1": 1000.0, "lab1-bf16": 1700.0},
        # paired, allocator tuned for both
        "ratio": {"lab1": _sure(1.25), "lab1-bf16": _sure(2.2)},
        "paths": [{"path": "lab1-bf16", "ratio_vs_reference_own_process": _sure(1.9)}],
        "ratio_bf16_vs_fp32": _sure(1.7),
    }
    got = {t["target"]: t["ok"] for t in bench.check_targets([row], None)}
    assert got == {
        "cpu batch 64: lab1 fp32 ≥ 1.2× reference": True,
        "cpu batch 64: lab1 bf16 ≥ 2.0× reference (own process)": False,
        "cpu batch 64: lab1 bf16 ≥ 1.0× lab1 fp32": True,
    }


def test_bench_times_bf16_and_the_reference_in_its_own_process(
    bench, tensors, tmp_path, monkeypatch
):
    """The bf16 path of the benchmark on every machine: the gate is opened by describing this
    machine with AVX512-BF16 (emulated where absent: the same code; only the speed differs, and
    the speed is what the benchmark itself reports, not this test)."""
    describe(monkeypatch, with_bf16(this_machine()))
    root = tmp_path / "idx"
    export_idx(tensors, root)
    r = bench.bench_config(tensors, root, "cpu", 4, steps=2, repeats=2, warmup=1, workers=0)
    assert {p["path"]: p["precision"] for p in r["paths"]}["lab1-bf16"] == "bf16"
    assert len(r["reference_own_process_blocks"]) == 2
    bf16 = r["blocks_images_per_s"]["lab1-bf16"]
    per_repeat = sorted(b / a for a, b in zip(r["blocks_images_per_s"]["lab1"], bf16, strict=True))
    assert (r["ratio_bf16_vs_fp32"]["min"], r["ratio_bf16_vs_fp32"]["max"]) == pytest.approx(
        (per_repeat[0], per_repeat[-1]), rel=2e-3
    )
    own = next(p for p in r["paths"] if p["path"] == "lab1-bf16")["ratio_vs_reference_own_process"]
    assert own["blocks"] == 2 and own["reliable"] == (own["spread"] <= 0.2)
    assert "lab1-bf16 img/s" in bench.format_table([r])


def test_gpu_check_script_loads_and_prepares_carryable_data(tmp_path):
    gpu_check = _load("gpu_check", ROOT / "scripts" / "gpu_check.py")
    folder = gpu_check.export_data(tmp_path / "gpu-data")  # --prepare DIR's DIR/data
    info = prepare_dataset("mnist", tmp_path / "gpu-data", tmp_path / "decoded")
    assert folder.is_dir() and (info.source, info.train_size) == ("local", 4000)


def test_profile_vs_training_compares_the_same_step(bench, tiny_dataset, tmp_path):
    r = bench.profile_vs_training(tiny_dataset.path, tmp_path, "cpu", "fp32", 16, 2, 2)
    assert r["same_execution"] and r["profiled_execution"]["threads"] == r["threads"]
    # Two epochs: the steady state is the second epoch alone.
    assert r["training_steady_images_per_s"] == r["training_epochs_images_per_s"][1]
    row = {"device": "cpu", "precision": "fp32", "batch_size": 64, "same_execution": True}
    got = [
        t["ok"]
        for v in (0.95, 1.2)
        for t in bench.check_targets([], None, [{**row, "ratio_profile_vs_training": _sure(v)}])
    ]
    assert got == [True, False]
    unsure = {**_sure(1.0), "spread": 0.35, "reliable": False}
    [t] = bench.check_targets([], None, [{**row, "ratio_profile_vs_training": unsure}])
    assert t["ok"] is None  # not judged: the epochs disagree too much for a verdict
