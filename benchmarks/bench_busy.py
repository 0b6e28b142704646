"""Benchmark: the profile's train step on a machine whose load comes and goes, measured again
as lab1 does, against the same step on a quiet machine.

    .venv/bin/python benchmarks/bench_busy.py                     # load 3 s on, 3 s off
    .venv/bin/python benchmarks/bench_busy.py --on-s 5 --off-s 2 --repeats 5 --check
    .venv/bin/python benchmarks/bench_busy.py --dry-run           # seconds: shape, not speed

In one process, on the offline dataset (the embedded MNIST subset), it profiles one
configuration (cpu, fp32, batch 64, at each of ``--threads``) through lab1's own path,
``lab1.measure.profiling.profile_config`` (which measures a disturbed phase again through
``lab1.measure.remeasure``), three ways, repeat after repeat:

* ``quiet``: no load from the benchmark (what other programs do meanwhile is recorded, and the
  row says so);
* ``re-measured``: beside a load, lab1's default ``--measure-tries`` and ``--quiet-wait-s``
  (``Lab1Config``);
* ``control``: the same load, measured once (tries 1): what lab1 would have stated without
  measuring again.

The load is one busy-loop process per logical core, all busy ``--on-s`` seconds, then asleep
``--off-s`` seconds, over and over from the moment they start. A fresh load is started for each
loaded way, so each starts disturbed, and killed after it (in a finally); each loop also ends by
itself after ``--load-max-s`` seconds, whatever happens to this process. The ways take turns,
reversed every other repeat (quiet, re-measured, control, then control, re-measured, quiet).

It prints the machine (CPU model and flags) and the date, each measurement (the train step's
profiler-off images/s, the other cores, contended and reliable of its number, the attempts
used, the timed blocks its number is the median of out of all it timed, and the seconds the
configuration took, waiting included) and, per thread count, each
way's median images/s with its ratio to quiet: the median over repeats of the ratio of the two
measurements of one repeat, with their range (benchmarks/spread.py). Target (the issue's): the
re-measured train step within 20 % of quiet's at batch 64, printed PASS or FAIL per thread
count; ``--check`` makes a FAIL exit with status 1.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script, from anywhere, without installing lab1
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # spread.py beside it

import torch  # noqa: E402
from spread import cell, ratio_of  # noqa: E402

from lab1.config import DRY_RUN_SCHEDULE, Lab1Config, ProfileSchedule  # noqa: E402
from lab1.host.machine import cpu_flags, cpu_model, logical_cores  # noqa: E402
from lab1.host.threads import resolve_threads  # noqa: E402
from lab1.measure.profiling import profile_config  # noqa: E402
from lab1.run.data import prepare_dataset  # noqa: E402
from lab1.rundir import RunPaths  # noqa: E402

_DEFAULTS = Lab1Config(run_name="bench")  # lab1's defaults, never restated here
WAYS = ("quiet", "re-measured", "control")
WITHIN = 0.20  # the target: re-measured within 20 % of quiet
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")  # as bench_analysis.py
# The marker in each load process's command line: the test finds any left running by it.
LOAD_MARK = "lab1-bench-busy-load"
# One loop per logical core: busy for on_s, asleep for off_s, from t0 until end (unix seconds).
LOAD_LOOP = """
import sys, time
t0, on, off, end = map(float, sys.argv[2:6])
while (now := time.time()) < end:
    into = (now - t0) % (on + off)
    if into < on:
        stop = min(now + on - into, end)
        while time.time() < stop:
            pass
    else:
        time.sleep(min(on + off - into, end - now))
"""


@contextmanager
def busy_load(on_s: float, off_s: float, max_s: float, started: list[int]) -> Iterator[None]:
    """One busy loop per logical core (on ``on_s``, off ``off_s``), each ending by itself after
    ``max_s`` seconds and killed on leaving; their pids are appended to ``started``."""
    t0 = time.time()
    args = [str(t0), str(on_s), str(off_s), str(t0 + max_s)]
    procs = []
    try:
        for _ in range(logical_cores() or 1):
            procs.append(subprocess.Popen([sys.executable, "-c", LOAD_LOOP, LOAD_MARK, *args]))
            started.append(procs[-1].pid)
        time.sleep(0.3)  # running before the measurement starts
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def measure(
    way: str, data_path: str, run_dir: Path, threads: int, args: argparse.Namespace, load_pids: list
) -> dict:
    """One way's profile of the configuration into ``run_dir``: its train step's row."""
    tries, wait = (1, 0.0) if way == "control" else (args.tries, args.quiet_wait_s)
    paths = RunPaths(run_dir)
    load = (
        nullcontext()
        if way == "quiet"
        else busy_load(args.on_s, args.off_s, args.load_max_s, load_pids)
    )
    with load:
        result = profile_config(
            data_path,
            "mnist",
            "cpu",
            args.batch_size,
            paths,
            "bench-busy",
            args.schedule,
            seed=_DEFAULTS.seed,
            lr=_DEFAULTS.lr,
            threads=threads,
            tries=tries,
            quiet_wait_s=wait,
        )
    [row] = [r for r in result["throughput"] if r["phase"] == "train_step"]
    waited = sum(a["waited_s"] for a in result["attempts"] if a["name"] == "train_step")
    return {
        "way": way,
        "threads": threads,
        "images_per_s": row["images_per_s"],
        "other_cores": row["other_cores"],
        "contended": row["contended"],
        "reliable": row["reliable"],
        "attempts": row["attempts"],
        "blocks": f"{row['blocks_used']}/{row['blocks_timed']}",
        "waited_s": waited,
        "seconds": result["seconds"],
    }


def summarize(measured: list[dict], threads: int) -> list[dict]:
    """Each way's median images/s at ``threads`` and its ratio to quiet, paired by repeat."""
    by_way = {
        w: [m["images_per_s"] for m in measured if m["way"] == w and m["threads"] == threads]
        for w in WAYS
    }
    return [
        {
            "way": w,
            "threads": threads,
            "images_per_s": statistics.median(speeds),
            "ratio": ratio_of(speeds, by_way["quiet"], paired=True),
        }
        for w, speeds in by_way.items()
    ]


def within(ratio: float) -> bool:
    """Whether a ratio to quiet is within WITHIN of 1 (0.8 and 1.2 are: as printed)."""
    return round(abs(ratio - 1), 6) <= WITHIN


def verdict(summary: list[dict]) -> dict:
    """The target for one thread count: re-measured within WITHIN of quiet."""
    [r] = [s for s in summary if s["way"] == "re-measured"]
    ratio = r["ratio"]
    return {
        "threads": r["threads"],
        "ratio": ratio,
        "ok": within(ratio["value"]),
    }


def _table(head: list[str], rows: list[list[str]]) -> str:
    # At least as wide as the widest way, so that rows printed one by one line up.
    least = max(len(w) for w in WAYS)
    widths = [max(least, *(len(x) for x in col)) for col in zip(head, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))

    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, rows)])


def _cores(x: float | None) -> str:
    return "unknown" if x is None else f"{x:.2f}"


MEASURED_HEAD = ["threads", "way", "repeat", "images/s", "other cores", "contended", "reliable",
                 "attempts", "blocks used", "waited s", "seconds"]  # fmt: skip
SUMMARY_HEAD = ["threads", "way", "images/s (median)", "× quiet (range)", "within 20 %"]


def measured_table(measured: list[dict]) -> str:
    rows = [
        [
            str(m["threads"]),
            m["way"],
            str(m["repeat"]),
            f"{m['images_per_s']:,.0f}",
            _cores(m["other_cores"]),
            str(m["contended"]),
            str(m["reliable"]),
            str(m["attempts"]),
            m["blocks"],
            f"{m['waited_s']:.1f}",
            f"{m['seconds']:.1f}",
        ]
        for m in measured
    ]
    return _table(MEASURED_HEAD, rows)


def summary_table(summaries: list[dict]) -> str:
    rows = [
        [
            str(s["threads"]),
            s["way"],
            f"{s['images_per_s']:,.0f}",
            cell(s["ratio"]),
            "-" if s["way"] == "quiet" else ("yes" if within(s["ratio"]["value"]) else "no"),
        ]
        for s in summaries
    ]
    return _table(SUMMARY_HEAD, rows)


def machine_line() -> str:
    flags = cpu_flags()
    shown = "unknown" if flags is None else " ".join(f for f in FLAGS if f in flags) or "none of"
    return (
        f"machine: {cpu_model()}, {logical_cores()} logical cores, flags: {shown} "
        f"({', '.join(FLAGS)} looked for); torch {torch.__version__}"
    )


def run(args: argparse.Namespace) -> tuple[list[dict], list[int]]:
    """Every measurement, ways taking turns within each repeat, and the load's pids."""
    measured: list[dict] = []
    load_pids: list[int] = []
    counts = resolve_threads(args.threads, "cpu")
    with tempfile.TemporaryDirectory(prefix="lab1-bench-busy-") as tmp:
        work = Path(tmp)
        info = prepare_dataset("mnist", work / "no-data", work / "decoded")  # the offline subset
        print(_table(MEASURED_HEAD, []), flush=True)  # the header; a row per measurement
        for repeat in range(1, args.repeats + 1):
            ways = WAYS if repeat % 2 else WAYS[::-1]
            for threads in counts:
                for way in ways:
                    folder = work / f"{way}-t{threads}-r{repeat}"
                    m = measure(way, info.path, folder, threads, args, load_pids)
                    m["repeat"] = repeat
                    print(measured_table([m]).splitlines()[2], flush=True)
                    measured.append(m)
    return measured, load_pids


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python benchmarks/bench_busy.py",
        description="The re-measured train step beside a load that comes and goes, against quiet.",
    )
    p.add_argument("--on-s", type=float, help="seconds the load is busy (default: 3)")
    p.add_argument("--off-s", type=float, help="seconds the load sleeps (default: 3)")
    p.add_argument("--repeats", type=int, help="turns of the three ways (default: 3)")
    p.add_argument(
        "--threads",
        nargs="+",
        default=["all", "1"],
        help="CPU thread counts to profile at: integers or 'all' (default: all 1)",
    )
    p.add_argument("--batch-size", type=int, default=64, help="(default: 64)")
    p.add_argument(
        "--tries", type=int, default=_DEFAULTS.measure_tries, help="lab1's --measure-tries"
    )
    p.add_argument(
        "--quiet-wait-s",
        type=float,
        help=f"lab1's --quiet-wait-s (default: {_DEFAULTS.quiet_wait_s:g})",
    )
    p.add_argument(
        "--load-max-s",
        type=float,
        default=120.0,
        help="each load process ends by itself this long after it started, whatever happens "
        "to the benchmark (default: 120; one measurement takes seconds)",
    )
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="seconds, not minutes: lab1's dry-run schedule, 1 repeat, load 0.5 s on / 0.5 s off, "
        "2 s of waiting (its numbers show the shape, never a speed)",
    )
    return p


def parse(argv: list[str] | None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    dry = args.dry_run
    for name, normal, small in (
        ("on_s", 3.0, 0.5),
        ("off_s", 3.0, 0.5),
        ("repeats", 3, 1),
        ("quiet_wait_s", _DEFAULTS.quiet_wait_s, 2.0),
    ):
        if getattr(args, name) is None:
            setattr(args, name, small if dry else normal)
    args.schedule = DRY_RUN_SCHEDULE if dry else ProfileSchedule()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if min(args.on_s, args.off_s, args.load_max_s) <= 0 or min(args.repeats, args.tries) < 1:
        print(
            "error: --on-s, --off-s and --load-max-s must be > 0, --repeats and --tries >= 1",
            file=sys.stderr,
        )
        return 2
    print(f"bench_busy {datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(machine_line())
    print(
        f"load: every logical core busy {args.on_s:g} s, then asleep {args.off_s:g} s; "
        f"re-measured with tries {args.tries}, quiet wait {args.quiet_wait_s:g} s; "
        f"control: tries 1; cpu fp32 batch {args.batch_size}, train step"
        + (" (dry run: numbers show the shape only)" if args.dry_run else "")
    )
    print()
    started = time.perf_counter()
    measured, load_pids = run(args)
    counts = list(dict.fromkeys(m["threads"] for m in measured))
    summaries = {t: summarize(measured, t) for t in counts}
    print()
    print(summary_table([s for t in counts for s in summaries[t]]))
    print()
    verdicts = [verdict(summaries[t]) for t in counts]
    for v in verdicts:
        r = v["ratio"]
        note = "" if r["reliable"] else "; its repeats disagree: rerun with more --repeats"
        print(
            f"{'PASS' if v['ok'] else 'FAIL'}  {v['threads']} thread(s): re-measured train step "
            f"{r['value']:.2f}× quiet's (repeats {r['min']:.2f}–{r['max']:.2f}), target within "
            f"{WITHIN:.0%}{note}"
        )
    quiet = [m for m in measured if m["way"] == "quiet"]
    if disturbed := sum(m["contended"] is not False for m in quiet):
        print(
            f"note: {disturbed} of {len(quiet)} quiet measurements were disturbed by other "
            "programs (or their load is unknown): the reference itself was not quiet"
        )
    print(f"load processes {' '.join(map(str, load_pids))}: stopped")
    print(f"total {time.perf_counter() - started:.0f} s")
    return 1 if args.check and not all(v["ok"] for v in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
