"""Benchmark: what measuring on a busy machine costs a run on a quiet one, as two revisions'
``make run`` side by side.

    .venv/bin/python benchmarks/bench_quiet_cost.py                     # BEFORE vs HEAD, A B B A
    .venv/bin/python benchmarks/bench_quiet_cost.py --repeats 2 --args "--epochs 2"
    .venv/bin/python benchmarks/bench_quiet_cost.py --args "--epochs 1 --dry-run"   # a trial

Each revision (``--before``, default ``3c158df~1``: the tree before lab1 measured disturbed
numbers again; ``--after``, default ``HEAD``, as committed) is checked out into a temporary
``git worktree`` (removed in a finally), and its own ``flows/lab1_flow.py --offline --run-name
NAME --runs-dir TMP`` (what ``make run`` runs, ``--args`` appended) runs with this interpreter
and ``PYTHONPATH`` set to that worktree, so each revision runs its own code on the same
packages. The runs take turns in ``--order`` (default ``ABBA``: A is BEFORE, B is AFTER),
``--repeats`` times over, so load that drifts over minutes falls on both alike.

It prints the machine (CPU model and flags) and the date, then for each run its wall time, its
status, its test accuracy and loss (the same training gives the same numbers) and the cores
other programs used meanwhile (``/proc/stat`` less this process and its children:
lab1.host.exclusive), with the AFTER run's own account of its measurements (the
manifest's ``measurements``: how many were disturbed or measured again). Then AFTER/BEFORE of
the wall time per pair (the k-th A with the k-th B) and, per configuration of
``compare/comparison.parquet`` (device, precision, threads, batch size, phase), each revision's
images/s, AFTER/BEFORE (median of the pairs' ratios, with their range: benchmarks/spread.py)
and each revision's own spread between its runs, (max − min) / median: "within noise" when the
ratio is no further from 1 than the larger of the two spreads (unknown with one run of each).
Nothing is asserted; the numbers go to the maintainers' performance log.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script, from anywhere, without installing lab1
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # spread.py beside it

import pandas as pd  # noqa: E402
from spread import cell, ratio_of  # noqa: E402

from lab1.host.exclusive import busy_seconds, own_seconds  # noqa: E402
from lab1.host.machine import cpu_flags, cpu_model, logical_cores  # noqa: E402
from lab1.reliability import relative_spread  # noqa: E402

BEFORE = "3c158df~1"  # the tree before lab1 recorded and re-measured disturbed numbers
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")  # as bench_analysis.py
CONFIG = ["device", "precision", "threads", "batch_size", "phase"]
NAMES = {"A": "BEFORE", "B": "AFTER"}


class BenchError(Exception):
    """A bad revision or option: one line, exit 2."""


def _git(*args: str) -> str:
    proc = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        said = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
        raise BenchError(f"git {' '.join(args)}: {said[-1]}")
    return proc.stdout.strip()


def commit_of(rev: str) -> str:
    try:
        return _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except BenchError:
        raise BenchError(f"{rev!r} is not a commit of {ROOT}") from None


def others_cpu_s() -> tuple[float | None, float]:
    """(CPU seconds every process has run, this process's and its waited children's)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return busy_seconds(), own_seconds() + children.ru_utime + children.ru_stime


def run_flow(tree: Path, runs: Path, name: str, extra: list[str], timeout_s: float) -> dict:
    """One ``make run`` of the revision checked out at ``tree``: wall time, the cores other
    programs used meanwhile, and what the run wrote."""
    cmd = [sys.executable, "flows/lab1_flow.py", "--offline", "--run-name", name]
    cmd += ["--runs-dir", str(runs), *extra]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    (busy0, mine0), start = others_cpu_s(), time.perf_counter()
    # Its own session: on a timeout or Ctrl-C the flow's temporary Prefect server goes too.
    proc = subprocess.Popen(
        cmd,
        cwd=tree,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
        rc, tail = proc.returncode, "\n".join((err or out).strip().splitlines()[-5:])
    except subprocess.TimeoutExpired:
        rc, tail = None, f"timed out after {timeout_s:g} s"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    wall = time.perf_counter() - start
    busy1, mine1 = others_cpu_s()
    others = None
    if busy0 is not None and busy1 is not None:
        others = max(0.0, (busy1 - busy0) - (mine1 - mine0)) / wall
    folder = runs / name
    manifest = folder / "manifest.json"
    # Another revision's manifest: read as data, not through this tree's schema (BEFORE's
    # has no measurements, and a failed run may have written none).
    manifest = json.loads(manifest.read_text()) if manifest.is_file() else {}
    training = manifest.get("training") or {}
    table = folder / "compare" / "comparison.parquet"
    return {
        "name": name,
        "returncode": rc,
        "error": None if rc == 0 else tail,
        "wall_s": wall,
        "others_cores": others,
        "status": manifest.get("status"),
        "measurements": (manifest.get("comparison") or {}).get("measurements"),
        # The training's result: the same computation before and after gives the same numbers.
        "test_accuracy": training.get("test_accuracy"),
        "test_loss": training.get("test_loss"),
        "comparison": pd.read_parquet(table) if table.is_file() else None,
    }


def speeds(runs: list[dict]) -> pd.DataFrame:
    """images/s per configuration (rows) and run (columns, by name)."""
    frames = [
        r["comparison"].set_index(CONFIG)["images_per_s"].rename(r["name"])
        for r in runs
        if r["comparison"] is not None
    ]
    return pd.concat(frames, axis=1) if frames else pd.DataFrame()


def pairs(runs: list[dict]) -> list[tuple[dict, dict]]:
    """The k-th BEFORE run with the k-th AFTER run, in the order they ran."""
    before = [r for r in runs if r["rev"] == "A"]
    after = [r for r in runs if r["rev"] == "B"]
    return list(zip(before, after, strict=True))


def spread_of(values: list[float]) -> float | None:
    return relative_spread(values) if len(values) > 1 else None


def noise_verdict(ratio: dict, spreads: list[float | None]) -> str:
    """Within noise: the ratio no further from 1 than the larger same-revision spread."""
    if None in spreads:
        return "unknown (one run each)"
    return "yes" if abs(ratio["value"] - 1) <= max(spreads) else "no"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _table(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))

    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, rows)])


def _measured(m: dict | None) -> str:
    if not m:
        return "-"
    most = m["max_other_cores"]
    return (
        f"{m['disturbed']} of {m['total']} disturbed, {m['measured_again']} measured again, "
        f"{m['unreliable']} unreliable; most others' cores {'-' if most is None else most}"
    )


def runs_table(runs: list[dict]) -> str:
    head = [
        "run",
        "revision",
        "wall s",
        "status",
        "test accuracy",
        "test loss",
        "others' cores",
        "its measurements",
    ]
    rows = [
        [
            r["name"],
            NAMES[r["rev"]],
            f"{r['wall_s']:.1f}",
            str(r["status"]) if r["returncode"] == 0 else f"FAILED (rc {r['returncode']})",
            "-" if r.get("test_accuracy") is None else f"{100 * r['test_accuracy']:.2f} %",
            "-" if r.get("test_loss") is None else f"{r['test_loss']:.6f}",
            "unknown" if r["others_cores"] is None else f"{r['others_cores']:.2f}",
            _measured(r["measurements"]),
        ]
        for r in runs
    ]
    return _table(head, rows)


def wall_lines(runs: list[dict]) -> list[str]:
    done = [(a, b) for a, b in pairs(runs) if a["returncode"] == 0 and b["returncode"] == 0]
    if not done:
        return ["wall time: no pair of finished runs"]
    out = [
        f"wall AFTER/BEFORE, {a['name']} vs {b['name']}: {b['wall_s'] / a['wall_s']:.3f}"
        for a, b in done
    ]
    ratio = ratio_of([b["wall_s"] for a, b in done], [a["wall_s"] for a, b in done], paired=True)
    finished = [r for r in runs if r["returncode"] == 0]
    spreads = [spread_of([r["wall_s"] for r in finished if r["rev"] == v]) for v in "AB"]
    out.append(
        f"wall AFTER/BEFORE: {cell(ratio)}; same-revision spread BEFORE {_pct(spreads[0])}, "
        f"AFTER {_pct(spreads[1])}; within noise: {noise_verdict(ratio, spreads)}"
    )
    return out


def profile_table(runs: list[dict]) -> str:
    table = speeds(runs)
    done = [
        (a["name"], b["name"])
        for a, b in pairs(runs)
        if a["comparison"] is not None and b["comparison"] is not None
    ]
    if table.empty or not done:
        return "profile: no pair of runs with a comparison table"
    head = ["device", "precision", "threads", "batch", "phase", "BEFORE img/s", "AFTER img/s",
            "AFTER/BEFORE", "spread BEFORE", "spread AFTER", "within noise"]  # fmt: skip
    rows = []
    for config, speed in table.iterrows():
        both = [(speed[a], speed[b]) for a, b in done if pd.notna(speed[a]) and pd.notna(speed[b])]
        if not both:
            continue  # a configuration only one revision profiles
        before, after = [x for x, _ in both], [y for _, y in both]
        ratio = ratio_of(after, before, paired=True)
        spreads = [spread_of(before), spread_of(after)]
        rows.append(
            [
                *map(str, config),
                " ".join(f"{x:,.0f}" for x in before),
                " ".join(f"{y:,.0f}" for y in after),
                cell(ratio),
                _pct(spreads[0]),
                _pct(spreads[1]),
                noise_verdict(ratio, spreads),
            ]
        )
    return _table(head, rows)


def machine_line() -> str:
    flags = cpu_flags()
    shown = "unknown" if flags is None else " ".join(f for f in FLAGS if f in flags) or "none of"
    return (
        f"machine: {cpu_model()}, {logical_cores()} logical cores, flags: {shown} "
        f"({', '.join(FLAGS)} looked for)"
    )


def bench(args: argparse.Namespace) -> list[dict]:
    """Every run, in order, each revision in its own temporary worktree."""
    revs = {"A": commit_of(args.before), "B": commit_of(args.after)}
    print(
        f"BEFORE (A) = {args.before} = {revs['A'][:10]}; AFTER (B) = {args.after} = "
        f"{revs['B'][:10]}; order {args.order} × {args.repeats}; args: {args.args or '-'}"
    )
    runs = []
    with tempfile.TemporaryDirectory(prefix="lab1-quiet-cost-") as tmp:
        work = Path(tmp)
        trees: dict[str, Path] = {}
        try:
            for v, commit in revs.items():
                trees[v] = work / NAMES[v].lower()
                _git("worktree", "add", "--detach", str(trees[v]), commit)
            for i, v in enumerate(args.order * args.repeats, 1):
                name = f"{i:02d}-{NAMES[v].lower()}"
                print(f"run {name} …", flush=True)
                r = run_flow(trees[v], work / "runs", name, shlex.split(args.args), args.timeout_s)
                runs.append({**r, "rev": v})
                if r["error"]:
                    print(f"run {name} failed: {r['error']}", flush=True)
        finally:
            remove_trees(list(trees.values()))
    return runs


def remove_trees(trees: list[Path]) -> None:
    """Every temporary worktree gone and unregistered, even where one removal fails (then
    its folder goes with the temporary directory and ``prune`` forgets it)."""
    for tree in trees:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
            capture_output=True,
        )
    subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], capture_output=True)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python benchmarks/bench_quiet_cost.py",
        description="Two revisions' make run side by side: wall time and profile numbers.",
    )
    p.add_argument("--before", default=BEFORE, help=f"revision A (default: {BEFORE})")
    p.add_argument("--after", default="HEAD", help="revision B, as committed (default: HEAD)")
    p.add_argument("--order", default="ABBA", help="the turns of A and B (default: ABBA)")
    p.add_argument("--repeats", type=int, default=1, help="times the order runs (default: 1)")
    p.add_argument(
        "--args",
        default="",
        help='passed on to each make run, e.g. "--epochs 1 --dry-run" (one option alone: '
        "--args=--dry-run)",
    )
    p.add_argument("--timeout-s", type=float, default=3600.0, help="per run (default: 3600)")
    return p


def _stop(signum: int, _frame) -> None:
    raise SystemExit(128 + signum)  # the finally blocks run: the run's group, the worktrees


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    order = args.order
    if not order or set(order) - {"A", "B"} or order.count("A") != order.count("B"):
        print(
            f"error: --order takes as many A as B and nothing else, got {order!r}", file=sys.stderr
        )
        return 2
    if args.repeats < 1 or args.timeout_s <= 0:
        print("error: --repeats must be >= 1 and --timeout-s > 0", file=sys.stderr)
        return 2
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        print(f"bench_quiet_cost {datetime.now().astimezone().isoformat(timespec='seconds')}")
        print(machine_line())
        runs = bench(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
    print()
    print(runs_table(runs))
    print()
    print("\n".join(wall_lines(runs)))
    print()
    print(profile_table(runs))
    return 0 if all(r["returncode"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
