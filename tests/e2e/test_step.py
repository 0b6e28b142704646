"""One step: a profile measures the step training ran, whatever ran before in the process."""

import gzip
import json
import os
import platform
import subprocess
import sys

import pytest
import torch
from conftest import small_recipe

from lab1.host.threads import available_cpus
from lab1.run.train import train_and_log

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# A Prefect worker's process: it imports lab1 and profiles one config, nothing trained before.
WORKER = """
import json, sys
from lab1.config import ProfileSchedule
from lab1.measure.profiling import profile_config
from lab1.rundir import RunPaths

data, run, precision, threads = sys.argv[1:]
schedule = ProfileSchedule(wait=0, warmup=1, active=1, throughput_steps=2)
r = profile_config(data, "mnist", "cpu", 4, RunPaths(run), "fresh", schedule, seed=1, lr=1.0,
                   precision=precision, threads=int(threads))
print(json.dumps({"execution": r["execution"], "trace": r["traces"]["train_step"]}))
"""


def _conv2_inputs(trace: str) -> set[tuple]:
    """(strides, dtype) of conv2's input (4,32,26,26) in every recorded convolution."""
    with gzip.open(trace, "rt") as f:
        events = json.load(f)["traceEvents"]
    return {
        (tuple(e["args"]["Input Strides"][0]), e["args"]["Input type"][0])
        for e in events
        if e.get("name") == "aten::convolution" and e["args"]["Input Dims"][0] == [4, 32, 26, 26]
    }


# By hand: (4,32,26,26) is 21,632 values per image; NCHW strides (21632, 676, 26, 1), NHWC
# (channels_last) strides (21632, 1, 832, 32). CPU bf16 runs NHWC (measured on AMX), fp32 NCHW.
LAYOUT = {False: (21632, 676, 26, 1), True: (21632, 1, 832, 32)}
DTYPE = {"fp32": "float", "bf16": "c10::BFloat16"}


@pytest.mark.parametrize(("precision", "channels_last"), [("fp32", False), ("bf16", True)])
def test_a_worker_profiles_exactly_the_step_training_ran(
    tiny_dataset, tmp_path, precision, channels_last
):
    """bf16 runs here whether or not the CPU has it natively: the settings are checked, not
    the speed (the flow itself never profiles emulated bf16)."""
    trained = train_and_log(
        tiny_dataset.path,
        "cpu",
        tmp_path / "tb",
        tmp_path / "ck",
        small_recipe(tiny_dataset.checksum, precision=precision),
        1,
        max_train_batches=2,
        max_test_batches=1,
    )["execution"]
    threads = available_cpus()  # training's thread count: the profiled "all" config
    args = [tiny_dataset.path, str(tmp_path / "run"), precision, str(threads)]
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, *args],
        capture_output=True,
        text=True,
        env=os.environ,
        check=True,
    )
    worker = json.loads(proc.stdout.splitlines()[-1])
    expected = {
        "device": "cpu",
        "precision": precision,
        "channels_last": channels_last,
        "mode": "eager",
        "heap_kept_mapped": GLIBC,  # applied by the step itself, no training before it
        "threads": threads,
        "cudnn_benchmark": False,
        "tf32_convolutions": False,  # no TF32 on a CPU
        "tf32_matmuls": False,
    }
    assert trained == expected
    assert worker["execution"] == expected
    # What the profiler saw, not what was recorded: the layout and autocast of conv2's input.
    assert _conv2_inputs(worker["trace"]) == {(LAYOUT[channels_last], DTYPE[precision])}


def test_unprofiled_steps_carry_no_labels(tiny_dataset):
    """The phase labels cost a dispatcher call each: a step outside the profiler has none."""
    import torch
    from torch.profiler import profile

    from lab1.run.data import load_tensors
    from lab1.run.step import build_steps

    s = build_steps("cpu", "fp32", lr=1.0, seed=1, threads=1)
    x = s.images(load_tensors(tiny_dataset.path)["train_images"], "mnist")
    y = load_tensors(tiny_dataset.path)["train_labels"]
    idx = torch.arange(4)
    names = {}
    for labelled in (False, True):
        s.train.labelled = labelled
        with profile() as prof:
            s.train(x, y, idx)
        names[labelled] = {e.name for e in prof.events()}
    parts = {"optimizer", "forward", "loss", "backward"}
    assert parts <= names[True] and not parts & names[False]


def _graphed_step_on(device: str, monkeypatch):
    """A GraphedStep for ``device`` with no GPU behind it: its model, optimizer and body are
    stand-ins, so only its own handling of devices, streams and the capture runs."""
    from types import SimpleNamespace

    from lab1.run.step import GraphedStep

    step = GraphedStep.__new__(GraphedStep)
    step.optimizer = SimpleNamespace(param_groups=[{"lr": 1.0}], zero_grad=lambda **kw: None)
    step._lrs = [torch.tensor(1.0)]
    step._idx = torch.zeros(2, dtype=torch.long)
    step.batch_size, step.failed, step.graph = 2, False, None
    x = SimpleNamespace(device=torch.device(device))
    return step, x


def test_the_graph_is_captured_on_the_training_gpu_not_the_current_one(monkeypatch):
    """Torch.cuda.graph captures on a stream made on the *current* device (cuda:0,
    and kept class-wide after the first capture); the step trains on cuda:1. The warm-up side
    stream and the capture must both be on cuda:1. torch.cuda is a stand-in here
    (tests/fake_cuda.py), with an earlier capture on cuda:0 having made the default stream."""
    from fake_cuda import FakeCuda, FakeStream

    fake = FakeCuda(current=0, default_capture_stream=FakeStream(0)).install(monkeypatch)
    step, x = _graphed_step_on("cuda:1", monkeypatch)
    ran_on = []

    def body(x, y, idx):
        ran_on.append(fake.current)
        return torch.tensor(0.5)

    monkeypatch.setattr(step, "_body", body)
    monkeypatch.setattr(step, "_eager", body)
    step._side_stream_step(x, x, step._idx)
    assert step._capture(x, x) is True
    assert fake.devices("stream") and set(fake.devices("stream")) == {1}
    assert fake.devices("graph") == [1]
    assert fake.devices("capture") == [1]
    assert ran_on == [1, 1]  # the warm-up step and the captured body, both on cuda:1
    assert fake.current == 0
