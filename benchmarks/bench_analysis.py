"""Benchmark: the seconds the system view adds to the default flow's profiling.

    .venv/bin/python benchmarks/bench_analysis.py            # cpu, the default flow's settings
    .venv/bin/python benchmarks/bench_analysis.py --json out.json

What the default flow now does beyond profiling each batch size once at torch's thread count,
each part timed as the flow runs it, on the offline dataset (the embedded MNIST subset):

* ``limits``: lab1.measure.limits.measure_limits at each thread count of ``--cpu-threads 1 all``;
* ``ladder``: lab1.measure.stepmodel.time_ladder over 1 … 256 at the most threads;
* ``one_thread_configs``: the extra configs of the thread axis, profile_config at 1 thread for
  batch 1, 16 and 64 with the default schedule (none on a 1-CPU machine: 1 = all there);
* ``compare``: the new tables built from those (time split, step model, roofline, FLOP columns).

Target (reported, never asserted): ≤ 15 s in all on 2 CPU cores. Run it under the shared CPU
lock on a shared machine; prints the machine (CPU model and flags) with the numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script, from anywhere, without installing lab1
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from lab1.atomic import write_json  # noqa: E402
from lab1.compare.within import combine_and_compare  # noqa: E402
from lab1.config import LAB_BATCH_SIZES as BATCH_SIZES  # noqa: E402
from lab1.config import LADDER, ProfileSchedule  # noqa: E402
from lab1.host.machine import cpu_flags, cpu_model  # noqa: E402
from lab1.host.threads import available_cpus, resolve_threads  # noqa: E402
from lab1.measure.limits import measure_limits  # noqa: E402
from lab1.measure.profiling import profile_config  # noqa: E402
from lab1.measure.stepmodel import time_ladder  # noqa: E402
from lab1.run.data import prepare_dataset  # noqa: E402
from lab1.rundir import RunPaths  # noqa: E402
from lab1.schemas import LIMITS_SCHEMA, STEP_TIMES_SCHEMA, write_parquet  # noqa: E402

TARGET_S = 15.0
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def _timed(fn) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn()
    return out, round(time.perf_counter() - start, 2)


def run(work: Path) -> dict:
    info = prepare_dataset("mnist", work / "no-data", work / "decoded")  # the offline subset
    paths = RunPaths(work / "run")
    counts = resolve_threads(["1", "all"], "cpu")
    seconds: dict[str, float] = {"limits": 0.0, "one_thread_configs": 0.0}
    for t in counts:
        rows, s = _timed(lambda t=t: measure_limits("cpu", t, "bench"))
        write_parquet(rows, LIMITS_SCHEMA, paths.limits_part("cpu", t))
        seconds["limits"] += s
    for t in counts:  # the all-threads configs run in the flow anyway: only 1 thread is extra
        for bs in BATCH_SIZES:
            result, s = _timed(
                lambda t=t, bs=bs: profile_config(
                    info.path,
                    "mnist",
                    "cpu",
                    bs,
                    paths,
                    "bench",
                    ProfileSchedule(),
                    seed=1,
                    lr=1.0,
                    threads=t,
                )
            )
            write_json(paths.profile_result("cpu", "fp32", bs, t), result)
            if t == 1 and len(counts) > 1:
                seconds["one_thread_configs"] += s
    ladder, seconds["ladder"] = _timed(
        lambda: time_ladder(info.path, "mnist", "cpu", max(counts), "bench", seed=1, lr=1.0)
    )
    write_parquet(ladder, STEP_TIMES_SCHEMA, paths.ladder_part("cpu", max(counts)))
    _, seconds["compare"] = _timed(lambda: combine_and_compare(paths, "bench"))
    total = round(sum(v for k, v in seconds.items() if k != "compare"), 2)
    return {
        "machine": {
            "cpu": cpu_model(),
            "flags": sorted((cpu_flags() or set()) & set(FLAGS)),
            "cpus": available_cpus(),
            "torch": torch.__version__,
        },
        "ladder_sizes": list(LADDER),
        "seconds": seconds,
        "added_s": total,
        "note": "compare's time includes the tables the flow always built (op_stats, top10)",
        "target_s": TARGET_S,
        "within_target": total <= TARGET_S,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = run(Path(tmp))
    print(json.dumps(result, indent=2))
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
