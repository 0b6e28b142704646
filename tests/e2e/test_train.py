import platform

import pytest
import torch
from conftest import small_recipe
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lab1.host.threads import available_cpus
from lab1.run.data import load_tensors, normalized_images
from lab1.run.model import Net
from lab1.run.train import evaluate, train_and_log

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

TAGS = {
    "Loss/train",
    "Accuracy/train",
    "Loss/test",
    "Accuracy/test",
    "LR",
    "Throughput/train_images_per_s",
}


def test_loss_is_per_sample_whatever_the_batch_size(tiny_dataset):
    t = load_tensors(tiny_dataset.path)
    x = normalized_images(t["test_images"], "mnist", torch.device("cpu"))
    torch.manual_seed(0)
    model = Net()
    results = [evaluate(model, x, t["test_labels"], bs) for bs in (1, 7, 50)]
    for loss, acc in results[1:]:
        assert abs(loss - results[0][0]) < 1e-5 and acc == results[0][1]


def test_training_logs_every_tag_and_checkpoints(tiny_dataset, tmp_path):
    summary = train_and_log(
        tiny_dataset.path,
        "cpu",
        tmp_path / "tb",
        tmp_path / "ck",
        small_recipe(tiny_dataset.checksum),
        3,
    )
    assert summary["epochs_completed"] == 3
    hist = summary["history"]
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert [h["lr"] for h in hist] == [1.0, 0.7, 0.7 * 0.7]
    assert summary["test_accuracy"] > 0.5  # the synthetic classes are easy
    # The newest two (the default keep_checkpoints), each with its checksum record.
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == [
        "epoch_2.json",
        "epoch_2.pt",
        "epoch_3.json",
        "epoch_3.pt",
    ]
    state = torch.load(tmp_path / "ck" / "epoch_3.pt", weights_only=True)
    assert {"model", "optimizer", "scheduler", "epoch", "rng", "recipe"} <= set(state)
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    assert set(acc.Tags()["scalars"]) >= TAGS
    assert [e.step for e in acc.Scalars("Loss/train")] == [1, 2, 3]
    for tag in ("Accuracy/train", "Accuracy/test"):
        assert all(0.0 <= e.value <= 1.0 for e in acc.Scalars(tag))


def test_resume_gives_the_same_result_as_an_uninterrupted_run(tiny_dataset, tmp_path):
    recipe = small_recipe(tiny_dataset.checksum)
    full = train_and_log(tiny_dataset.path, "cpu", tmp_path / "a", tmp_path / "ca", recipe, 3)
    train_and_log(tiny_dataset.path, "cpu", tmp_path / "b", tmp_path / "cb", recipe, 1)
    resumed = train_and_log(tiny_dataset.path, "cpu", tmp_path / "b", tmp_path / "cb", recipe, 3)
    assert resumed["resumed_from_epoch"] == 1
    # Same RNG streams, same data order, same kernels on one CPU: bit-identical (the times,
    # and the machine's load during them, are the machine's, not the recipe's).
    timing = ("images_per_s", "train_seconds", "other_cores", "contended")
    assert resumed["history"] == [
        {**h, **{k: r[k] for k in timing}}
        for h, r in zip(full["history"], resumed["history"], strict=True)
    ]


def test_resume_refuses_a_different_recipe(tiny_dataset, tmp_path):
    import pytest

    from lab1.errors import ResumeError

    train_and_log(
        tiny_dataset.path,
        "cpu",
        tmp_path / "b",
        tmp_path / "c",
        small_recipe(tiny_dataset.checksum),
        1,
    )
    with pytest.raises(ResumeError, match=r"cannot resume .*batch_size 16 \(now 32\)"):
        train_and_log(
            tiny_dataset.path,
            "cpu",
            tmp_path / "b",
            tmp_path / "c",
            small_recipe(tiny_dataset.checksum, 32),
            2,
        )


def test_dry_run_limits_batches(tiny_dataset, tmp_path):
    import torch.nn.functional as F

    summary = train_and_log(
        tiny_dataset.path,
        "cpu",
        tmp_path / "tb",
        tmp_path / "ck",
        small_recipe(tiny_dataset.checksum),  # batch 16, test batch 25
        1,
        max_train_batches=2,
        max_test_batches=1,
    )
    state = torch.load(tmp_path / "ck" / "epoch_1.pt", weights_only=True)
    # Adadelta counts its steps per parameter: 2 batches, not the 13 of 200 images at 16.
    assert [int(s["step"]) for s in state["optimizer"]["state"].values()] == [2] * 8
    # The test loss is over the first 25 test images only (one batch), not all 50.
    model = Net()
    model.load_state_dict(state["model"])
    model.eval()
    t = load_tensors(tiny_dataset.path)
    x = normalized_images(t["test_images"], "mnist", torch.device("cpu"))
    with torch.no_grad():
        first = F.nll_loss(model(x[:25]), t["test_labels"][:25]).item()
        every = F.nll_loss(model(x), t["test_labels"]).item()
    assert summary["test_loss"] == pytest.approx(first, rel=1e-5)
    assert every != pytest.approx(first, rel=1e-3)  # the two are told apart


# --------------------------------------------------------------------------- fast path


def test_channels_last_steps_match_the_default_layout(tiny_dataset):
    """Two recipe steps in each memory format: same losses and weights within float tolerance.

    Dropout is off (eval mode): its masks are drawn in memory order, so they would differ.
    """
    from lab1.run.train import setup_training

    tensors = load_tensors(tiny_dataset.path)
    runs = {}
    for cl in (False, True):
        t = setup_training(tensors, "mnist", "cpu", 16, 1.0, 0.7, 1, channels_last=cl)
        assert t.channels_last is cl
        assert t.model.conv2.weight.is_contiguous(memory_format=torch.channels_last) is cl
        t.model.eval()
        idx = torch.arange(32).view(2, 16)
        losses = [t.step(t.x_train, t.y_train, i).item() for i in idx]
        runs[cl] = (losses, [p.detach().clone() for p in t.model.parameters()])
    assert runs[False][0] == pytest.approx(runs[True][0], rel=1e-4, abs=1e-5)
    for a, b in zip(runs[False][1], runs[True][1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_channels_last_run_trains_and_reports_it(tiny_dataset, tmp_path):
    summary = train_and_log(
        tiny_dataset.path,
        "cpu",
        tmp_path / "tb",
        tmp_path / "ck",
        small_recipe(tiny_dataset.checksum),
        2,
        channels_last=True,
    )
    assert summary["execution"] == {
        "device": "cpu",
        "precision": "fp32",
        "channels_last": True,
        "mode": "eager",
        "heap_kept_mapped": GLIBC,
        "threads": available_cpus(),  # training runs at every CPU it may use
        "cudnn_benchmark": False,
        "tf32_convolutions": False,  # no TF32 on a CPU
        "tf32_matmuls": False,
    }
    assert summary["test_accuracy"] > 0.5


def test_auto_channels_last_is_on_for_cuda_and_measured_for_cpu():
    from lab1.host.precision import use_channels_last

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    # As measured (README, Mixed precision): on for CUDA; on CPU for bf16 only.
    assert use_channels_last(cuda, "fp32") is True and use_channels_last(cuda, "bf16") is True
    assert use_channels_last(cpu, "fp32") is False and use_channels_last(cpu, "bf16") is True
    assert use_channels_last(torch.device("mps"), "fp32") is False
    # An explicit request wins either way.
    assert use_channels_last(cuda, "fp32", False) is False
    assert use_channels_last(cpu, "fp32", True) is True


def test_heap_is_kept_mapped_once_per_process_where_glibc_is():
    from lab1.host.allocator import keep_heap_mapped

    assert keep_heap_mapped() is GLIBC
    assert keep_heap_mapped() is GLIBC  # idempotent: the first outcome is remembered


HEAP_CYCLE = """
import resource, sys
from lab1.host.allocator import keep_heap_mapped
tuned = keep_heap_mapped() if sys.argv[1] == "tuned" else None
def cycle():
    bufs = [bytearray(10 << 20) for _ in range(3)]  # 30 MB live, zero-filled: pages touched
    del bufs
cycle(); cycle()  # glibc's dynamic mmap/trim thresholds settle
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    cycle()
print(tuned, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_kept_heap_stops_the_page_faults_of_repeated_large_temporaries():
    """Ten cycles of 3 x 10 MB allocated and freed: untuned glibc trims or unmaps them and
    faults them back in (at least one 10 MB buffer, 2,560 pages, per cycle); kept mapped,
    they are reused without a fault. Each case in a fresh process: the setting is process-wide.
    Measured on the AMD EPYC dev machine: 50,880 faults untuned, 0 kept."""
    import subprocess
    import sys

    def faults(mode: str) -> tuple[str, int]:
        out = subprocess.run(
            [sys.executable, "-c", HEAP_CYCLE, mode], capture_output=True, text=True, check=True
        ).stdout.split()
        return out[0], int(out[1])

    assert faults("tuned") == ("True", 0)
    kind, untuned = faults("untuned")
    assert kind == "None" and untuned >= 10 * 2560


def test_cuda_graph_without_cuda_trains_eagerly_and_identically(tiny_dataset, tmp_path):
    recipe = small_recipe(tiny_dataset.checksum)
    plain = train_and_log(tiny_dataset.path, "cpu", tmp_path / "a", tmp_path / "ca", recipe, 1)
    asked = train_and_log(
        tiny_dataset.path, "cpu", tmp_path / "b", tmp_path / "cb", recipe, 1, cuda_graph=True
    )
    assert asked["execution"]["mode"] == "eager"
    assert asked["test_loss"] == plain["test_loss"]
    assert asked["train_loss"] == plain["train_loss"]


def test_optimizer_state_loads_in_the_current_step_kind():
    """A checkpoint from a graphed (capturable, foreach) run resumes into an eager optimizer."""
    from lab1.run.step import make_optimizer
    from lab1.run.train import _load_optimizer

    torch.manual_seed(0)
    model = Net()
    saved = make_optimizer(model, 1.0).state_dict()
    saved["param_groups"][0].update(capturable=True, foreach=True)
    eager = make_optimizer(model, 1.0)
    _load_optimizer(eager, saved)
    assert eager.param_groups[0]["capturable"] is False
    assert eager.param_groups[0]["foreach"] is None


def test_graphed_step_falls_back_to_eager_when_capture_fails(tiny_dataset, monkeypatch, caplog):
    """The graphed step's control flow, without a GPU: capture raises, training goes on eagerly
    with exactly the eager result, and the param groups keep their float learning rates."""
    from lab1.run import step, train

    def refuse(*args, **kwargs):
        raise RuntimeError("capture refused")

    monkeypatch.setattr(torch.cuda, "graph", refuse)
    monkeypatch.setattr(torch.cuda, "CUDAGraph", lambda: None)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *args: None)
    monkeypatch.setattr(step.GraphedStep, "_side_stream_step", step.TrainStep._eager)
    tensors = load_tensors(tiny_dataset.path)
    results = []
    for graphed in (False, True):
        t = train.setup_training(tensors, "mnist", "cpu", 16, 1.0, 0.7, 1)
        if graphed:  # the eager optimizer: a capturable one refuses to step on the CPU
            t.step = step.GraphedStep(t.model, t.optimizer, t.device, 16)
        results.append(t.train_epoch(16, 1, 0)[:3])
    assert results[1] == results[0]
    assert t.step.mode == "cuda_graph-failed-eager"
    assert t.step.warm_steps == step.GraphedStep.WARMUP
    assert all(type(g["lr"]) is float for g in t.optimizer.param_groups)
    assert "CUDA graph capture failed" in caplog.text


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_graph_step_is_captured_and_matches_eager_accuracy(tiny_dataset, tmp_path):
    recipe = small_recipe(tiny_dataset.checksum)
    eager = train_and_log(tiny_dataset.path, "cuda", tmp_path / "a", tmp_path / "ca", recipe, 3)
    graph = train_and_log(
        tiny_dataset.path, "cuda", tmp_path / "b", tmp_path / "cb", recipe, 3, cuda_graph=True
    )
    assert graph["execution"] == {
        "device": "cuda",
        "precision": "fp32",
        "channels_last": True,  # the measured default on CUDA
        "mode": "cuda_graph",  # captured, not fallen back to eager
        "heap_kept_mapped": None,  # a CPU-only setting: not applied to a GPU step
        "threads": torch.get_num_threads(),  # a GPU run keeps the process's own count
        "cudnn_benchmark": True,
        # PyTorch's defaults, asked of torch here: TF32 convolutions from Ampere (8.0) on,
        # matmuls in full fp32
        "tf32_convolutions": torch.cuda.get_device_capability()[0] >= 8
        and torch.backends.cudnn.allow_tf32,
        "tf32_matmuls": torch.cuda.get_device_capability()[0] >= 8
        and torch.backends.cuda.matmul.allow_tf32,
    }
    assert [h["lr"] for h in graph["history"]] == [h["lr"] for h in eager["history"]]
    assert abs(graph["test_accuracy"] - eager["test_accuracy"]) <= 0.05
    # The graphed run's checkpoint resumes eagerly: the optimizer state crosses step kinds.
    resumed = train_and_log(tiny_dataset.path, "cuda", tmp_path / "b", tmp_path / "cb", recipe, 4)
    assert resumed["resumed_from_epoch"] == 3 and resumed["execution"]["mode"] == "eager"


def test_each_epoch_records_the_load_it_trained_beside(tiny_dataset, tmp_path, monkeypatch):
    """Training is never repeated for a busy machine: each epoch says how busy it was. A
    recorded load stands in for /proc/stat: others ran 1.5 CPU-seconds per second of the
    epoch window beside training's threads on a described 2-core machine."""
    from dataclasses import replace
    from types import SimpleNamespace

    from machines import MACHINES, describe

    from lab1.host import exclusive

    describe(monkeypatch, replace(MACHINES["xeon-amx"], logical_cores=2))
    clock = iter(range(0, 1000, 2))  # each window: 2 s of wall time
    busy = iter(range(0, 3000, 3))  # 3 CPU-seconds of others per window
    monkeypatch.setattr(exclusive, "time", SimpleNamespace(time=lambda: float(next(clock))))
    monkeypatch.setattr(exclusive, "busy_seconds", lambda: float(next(busy)))
    monkeypatch.setattr(exclusive, "own_seconds", lambda: 0.0)
    recipe = small_recipe(tiny_dataset.checksum)
    out = train_and_log(tiny_dataset.path, "cpu", tmp_path / "tb", tmp_path / "ck", recipe, 2)
    # 3 s over 2 s: 1.5 other cores, beside training's threads (all of this process's) on 2
    # cores: more than 2.25 whatever those threads are: disturbed.
    assert [(h["other_cores"], h["contended"]) for h in out["history"]] == [(1.5, True)] * 2
