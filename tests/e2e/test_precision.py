"""Mixed precision: validation, the native-bf16 check, autocast in the step and the profile,
the resume contract, and the bf16 path through the flow. The bf16 path runs on every machine:
where the CPU only emulates bf16 the test opens lab1's gate by describing a machine that has it
(tests/machines.py): torch then runs the same bf16 code, slower. Only speed waits for native
hardware, and that is the benchmark's (benchmarks/bench_precision.py), not a test's."""

import gzip
import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import small_recipe
from machines import (
    MACHINES,
    cpu_has_native_bf16_here,
    describe,
    native_bf16,
    this_machine,
    with_bf16,
)

from lab1.config import Lab1Config, ProfileSchedule
from lab1.errors import ConfigError, DeviceError, ResumeError
from lab1.host.devices import bf16_missing, check_precision
from lab1.host.machine import Gpu
from lab1.host.threads import available_cpus
from lab1.measure.profiling import profile_config
from lab1.run.data import load_tensors
from lab1.run.train import recipe_mismatch, setup_training, train_and_log
from lab1.rundir import RunPaths
from lab1.schemas import OP_STATS_SCHEMA, read_parquet

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"precision": "fp16"}, "--precision must be one of fp32, bf16, got 'fp16'"),
        ({"profile_precisions": ("fp64",)}, "--profile-precisions must be among fp32, bf16"),
        ({"profile_precisions": ("bf16", "bf16")}, "--profile-precisions has duplicates"),
        ({"precision": "bf16", "cuda_graph": True}, "--cuda-graph does not support --precision"),
    ],
)
def test_bad_precisions_explain_themselves(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Lab1Config(**kwargs)


def test_profiled_precisions_default_to_the_trained_one_plus_fp32():
    assert Lab1Config().precision == "fp32"  # the reference recipe
    assert Lab1Config().precisions_to_profile == ("fp32",)
    assert Lab1Config(precision="bf16").precisions_to_profile == ("fp32", "bf16")
    chosen = Lab1Config(precision="bf16", profile_precisions=("bf16",))
    assert chosen.precisions_to_profile == ("bf16",)


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_bf16_is_accepted_exactly_where_the_described_cpu_has_it(monkeypatch, name):
    m = describe(monkeypatch, name)
    check_precision("cpu", {"fp32"})  # fp32 needs nothing, anywhere
    native = native_bf16(m)
    if native:
        assert bf16_missing("cpu") is None
        check_precision("cpu", {"fp32", "bf16"})
        return
    with pytest.raises(DeviceError, match="--precision bf16 on cpu: ") as err:
        check_precision("cpu", {"fp32", "bf16"})
    if native is None:  # a Mac: no flags to read, so undetermined, not "lacks"
        assert "could not determine whether this CPU has native bf16" in str(err.value)
    else:
        assert "this CPU has neither amx_bf16 nor avx512_bf16" in str(err.value)
    assert "cpu and cuda only" in bf16_missing("mps")


def test_cli_refuses_bf16_in_one_line_before_anything_runs(monkeypatch, tmp_path, capsys):
    from flows.lab1_flow import main

    describe(monkeypatch, "intel-laptop")  # AVX2 only: no bf16 flag
    runs = tmp_path / "runs"
    rc = main(["--offline", "--devices", "cpu", "--precision", "bf16", "--runs-dir", str(runs)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith("error: --precision bf16 on cpu: this CPU has neither amx_bf16")
    assert not runs.exists()


def test_the_bf16_gate_follows_this_machines_own_flags():
    """This machine's flags as the test reads /proc/cpuinfo itself (or the session's
    description): what a student here gets, accepted or refused, on every machine."""
    native = cpu_has_native_bf16_here()
    if native:
        check_precision("cpu", {"bf16"})
        return
    with pytest.raises(DeviceError) as err:
        check_precision("cpu", {"bf16"})
    expected = "no native bf16" if native is False else "could not determine"
    assert expected in str(err.value)


# --------------------------------------------------------------------------- training


def test_bf16_step_autocasts_the_forward_and_keeps_fp32_state(tiny_dataset):
    t = setup_training(
        load_tensors(tiny_dataset.path), "mnist", "cpu", 16, 1.0, 0.7, 1, precision="bf16"
    )
    seen = []
    t.model.fc2.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    loss = t.step(t.x_train, t.y_train, torch.arange(16))
    assert seen == [torch.bfloat16]  # fc2 ran in bf16
    assert loss.dtype == torch.float32  # the loss is computed in fp32
    assert all(p.dtype == torch.float32 for p in t.model.parameters())
    state = [s for p in t.optimizer.state.values() for s in p.values() if s.dim() > 0]
    assert state and all(s.dtype == torch.float32 for s in state)
    assert torch.isfinite(loss)


def test_resume_with_another_precision_is_refused(tiny_dataset, tmp_path):
    args = (tiny_dataset.path, "cpu", tmp_path / "tb", tmp_path / "ck")
    fp32 = small_recipe(tiny_dataset.checksum)
    bf16 = small_recipe(tiny_dataset.checksum, precision="bf16")
    train_and_log(*args, fp32, 1, max_train_batches=2)
    with pytest.raises(ResumeError, match=r"precision 'fp32' \(now 'bf16'\)"):
        train_and_log(*args, bf16, 2, max_train_batches=2)
    done = train_and_log(*args, fp32, 2, max_train_batches=2)
    assert done["resumed_from_epoch"] == 1


def test_bf16_resume_gives_the_same_result_as_an_uninterrupted_bf16_run(tiny_dataset, tmp_path):
    """Resume in bf16: the checkpoint keeps fp32 weights and optimizer state and the bf16
    recipe; the resumed epochs replay the uninterrupted run's bit for bit (one CPU, one
    kernel choice, the same RNG streams)."""
    bf16 = small_recipe(tiny_dataset.checksum, precision="bf16")
    run = lambda tag, epochs: train_and_log(  # noqa: E731
        tiny_dataset.path,
        "cpu",
        tmp_path / tag,
        tmp_path / f"c{tag}",
        bf16,
        epochs,
        max_train_batches=4,
    )
    full = run("a", 2)
    run("b", 1)
    resumed = run("b", 2)
    assert resumed["resumed_from_epoch"] == 1
    assert resumed["execution"]["precision"] == "bf16"
    ckpt = torch.load(tmp_path / "cb" / "epoch_2.pt", weights_only=True)
    assert ckpt["recipe"]["precision"] == "bf16"
    assert all(t.dtype == torch.float32 for t in ckpt["model"].values() if t.is_floating_point())
    # Speed and the machine's load are the machine's, not the recipe's.
    timing = ("images_per_s", "train_seconds", "other_cores", "contended")
    strip = lambda h: {k: v for k, v in h.items() if k not in timing}  # noqa: E731
    assert [strip(h) for h in resumed["history"]] == [strip(h) for h in full["history"]]


def test_checkpoints_from_before_precision_count_as_fp32(tiny_dataset):
    fp32 = small_recipe(tiny_dataset.checksum)
    old = {k: v for k, v in vars(fp32).items() if k != "precision"}
    assert recipe_mismatch(old, fp32) is None
    bf16 = small_recipe(tiny_dataset.checksum, precision="bf16")
    assert recipe_mismatch(old, bf16) == "precision 'fp32' (now 'bf16')"


# --------------------------------------------------------------------------- profiling


def test_profiled_bf16_step_runs_bf16_kernels(tiny_dataset, tmp_path):
    small = ProfileSchedule(wait=0, warmup=1, active=1, throughput_steps=2)
    result = profile_config(
        tiny_dataset.path,
        "mnist",
        "cpu",
        4,
        RunPaths(tmp_path),
        "r",
        small,
        seed=1,
        lr=1.0,
        precision="bf16",
    )
    op_stats = read_parquet(result["op_stats"], OP_STATS_SCHEMA)
    assert set(op_stats["precision"]) == {"bf16"}
    train = op_stats[(op_stats["phase"] == "train_step") & (op_stats["kind"] == "op")]
    # autocast's casts: conv1's fp32 weight (32,1,3,3) copied to bf16, and their backward.
    casts = train[train["op_name"] == "aten::_to_copy"]["input_shapes"].map(json.loads)
    assert any(shapes[0] == [32, 1, 3, 3] for shapes in casts)
    assert "ToCopyBackward0" in set(train["op_name"])
    # The trace records input dtypes: the convolutions and matmuls read bf16.
    for phase, path in result["traces"].items():
        with gzip.open(path, "rt") as f:
            events = json.load(f)["traceEvents"]
        kinds = {
            e["name"]: e["args"]["Input type"][:2]
            for e in events
            if e.get("name") in ("aten::mkldnn_convolution", "aten::addmm")
        }
        assert kinds and all(t == ["c10::BFloat16"] * 2 for t in kinds.values()), (phase, kinds)


# --------------------------------------------------------------------------- the flow


def test_bf16_dry_run_flow_trains_in_bf16_and_compares_with_fp32(
    prefect_harness, tiny_data_dir, tmp_path, monkeypatch
):
    """The whole bf16 path through the flow: training, checkpoints, profiling, the comparison
    and the report's fp32-vs-bf16 section. The gate is opened by describing this machine with
    AVX512-BF16 (on a CPU without it torch emulates bf16: the same code, slower)."""
    from flows.lab1_flow import lab1_pipeline

    describe(monkeypatch, with_bf16(this_machine()))
    runs = tmp_path / "runs"
    lab1_pipeline(
        data_dir=str(tiny_data_dir),
        offline=True,
        runs_dir=str(runs),
        run_name="bf",
        dry_run=True,
        devices=("cpu",),
        batch_sizes=(2,),
        precision="bf16",
    )
    run = runs / "bf"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    assert manifest["parameters"]["precision"] == "bf16"
    assert manifest["training"]["execution"]["precision"] == "bf16"
    ckpt = torch.load(run / "checkpoints" / "epoch_2.pt", weights_only=True)
    assert ckpt["recipe"]["precision"] == "bf16"
    comparison = pd.read_parquet(run / "compare" / "comparison.parquet")
    assert sorted(comparison["precision"].unique()) == ["bf16", "fp32"]
    # Each bf16 row's speed-up is its images/s over its fp32 twin's (same batch and phase).
    keys = ["device", "threads", "batch_size", "phase"]
    pairs = comparison[comparison["precision"] == "bf16"].merge(
        comparison[comparison["precision"] == "fp32"], on=keys, suffixes=("", "_fp32")
    )
    # batch 2 × (train_step, inference) × the thread axis's counts (1 and all of this
    # process's CPUs, the default --threads 1 all)
    assert len(pairs) == 2 * len({1, available_cpus()})
    assert pairs["speedup_vs_fp32"].tolist() == pytest.approx(
        (pairs["images_per_s"] / pairs["images_per_s_fp32"]).tolist()
    )
    assert manifest["report"]["report_html"] == str(run / "report.html")
    assert (
        "Each bf16 config (torch.autocast) beside the fp32 one" in (run / "report.md").read_text()
    )


def _describe_gpus(monkeypatch, *capabilities: str) -> None:
    """A GPU machine described through lab1.host.machine's seam: cuda:i has ``capabilities[i]``."""
    gpus = tuple(Gpu(f"GPU {c}", 16 << 30, c) for c in capabilities)
    describe(monkeypatch, replace(MACHINES["h100-server"], gpus=gpus))


@pytest.mark.parametrize(
    ("capability", "cudnn_tf32", "matmul_tf32", "expected"),
    [
        ("8.0", True, False, (True, False)),  # PyTorch's defaults on an A100 / H100
        ("9.0", False, False, (False, False)),  # TF32 convolutions turned off
        ("9.0", True, True, (True, True)),
        ("7.5", True, True, (False, False)),  # a T4 has no TF32, whatever the flags say
    ],
)
def test_tf32_follows_pytorchs_settings_on_the_gpu_that_runs(
    monkeypatch, capability, cudnn_tf32, matmul_tf32, expected
):
    from lab1.host.precision import tf32_math

    # cuda:0 is the other kind of GPU: the answer must be cuda:1's own.
    other = "7.5" if capability != "7.5" else "9.0"
    _describe_gpus(monkeypatch, other, capability)
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:  # process-wide flags (cuBLAS's is a property monkeypatch cannot save): set, restored
        torch.backends.cudnn.allow_tf32 = cudnn_tf32
        torch.backends.cuda.matmul.allow_tf32 = matmul_tf32
        got = tf32_math(torch.device("cuda:1"))
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before
    assert got == expected
    assert tf32_math(torch.device("cpu")) == (False, False)


@pytest.mark.parametrize("tf32", [(True, False), (False, False)])
def test_the_execution_record_says_whether_convolutions_ran_in_tf32(monkeypatch, tf32):
    """The Execution that build_steps returns carries what tf32_math says of its device (the
    CUDA answer is described through the seam; the steps themselves are built on the CPU)."""
    from lab1.run import step

    monkeypatch.setattr(step, "tf32_math", lambda dev: tf32)
    e = step.build_steps("cpu", "fp32", lr=1.0, seed=1, threads=1).execution
    assert (e.tf32_convolutions, e.tf32_matmuls) == tf32
    assert step.Execution(**e.to_dict()) == e  # what the manifest writes reads back


def test_bf16_support_is_asked_of_the_gpu_that_runs_not_device_0(monkeypatch):
    """Torch.cuda.is_bf16_supported() answers for the current device (cuda:0); a
    machine with an A100 as cuda:0 and a T4 as cuda:1 must refuse bf16 on cuda:1 only."""
    _describe_gpus(monkeypatch, "8.0", "7.5")
    assert bf16_missing("cuda:0") is None
    assert bf16_missing("cuda:1") == "GPU 7.5 has no native bf16 (it needs compute capability 8.0+)"
    assert bf16_missing("cuda:2") == "no GPU cuda:2 here (2 visible)"
    _describe_gpus(monkeypatch)  # a machine without GPUs
    assert bf16_missing("cuda") == "no CUDA GPU is visible to torch"
