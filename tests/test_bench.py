"""Smoke tests of benchmarks/bench_train.py and scripts/gpu_check.py on tiny data (no timings)."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from lab1.data import export_idx, load_tensors, normalized_images, prepare_dataset
from lab1.devices import bf16_missing

ROOT = Path(__file__).resolve().parents[1]


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
    assert r["ratio"]["lab1"] > 0
    table = bench.format_table([r])
    assert "reference img/s" in table and table.splitlines()[-1].split()[:2] == ["cpu", "4"]
    flow = {"returncode": 0, "total_s": 100.0, "overhead_s": 30.0}
    targets = bench.check_targets([{**r, "batch_size": 64, "ratio": {"lab1": 1.3}}], flow)
    assert [t["ok"] for t in targets] == [True, True, False]


def test_bf16_targets_gate_on_the_reference_in_its_own_process(bench):
    row = {
        "device": "cpu",
        "batch_size": 64,
        "images_per_s": {"reference": 800.0, "lab1": 1000.0, "lab1-bf16": 1700.0},
        "ratio": {"lab1": 1.25, "lab1-bf16": 2.2},  # paired, allocator tuned for both
        "paths": [{"path": "lab1-bf16", "ratio_vs_reference_own_process": 1.9}],
        "ratio_bf16_vs_fp32": 1.7,
    }
    got = {t["target"]: t["ok"] for t in bench.check_targets([row], None)}
    assert got == {
        "cpu batch 64: lab1 fp32 ≥ 1.2× reference": True,
        "cpu batch 64: lab1 bf16 ≥ 2.0× reference (own process)": False,
        "cpu batch 64: lab1 bf16 ≥ 1.0× lab1 fp32": True,
    }


@pytest.mark.skipif(bf16_missing("cpu") is not None, reason=f"{bf16_missing('cpu')}")
def test_bench_times_bf16_and_the_reference_in_its_own_process(bench, tensors, tmp_path):
    root = tmp_path / "idx"
    export_idx(tensors, root)
    r = bench.bench_config(tensors, root, "cpu", 4, steps=2, repeats=2, warmup=1, workers=0)
    assert {p["path"]: p["precision"] for p in r["paths"]}["lab1-bf16"] == "bf16"
    assert len(r["reference_own_process_blocks"]) == 2 and r["ratio_bf16_vs_fp32"] > 0
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
        for t in bench.check_targets([], None, [{**row, "ratio_profile_vs_training": v}])
    ]
    assert got == [True, False]
