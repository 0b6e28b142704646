"""Benchmark: the class view (flows/class_flow.py) over a class of N submissions.

    .venv/bin/python benchmarks/bench_class.py                 # 300 submissions from 3 runs
    .venv/bin/python benchmarks/bench_class.py --runs runs/a runs/b --students 300

A class is built from a few runs (``--runs``: finished run directories, e.g. from make run;
default: three small synthetic-but-real runs made with the tests' helper, tests/classruns.py),
each packed once with lab1.classroom.pack, then copied to one pack per student with the student's
own
run id in its manifest (pack.json redone to match): every pack opens and is checked in full.
Students built from one run share its tables, so the copies check flags them: the class view
does all of its work for them too.

It then runs the real command, ``python flows/class_flow.py CLASS --runs-dir TMP`` (its own
temporary Prefect server included), and prints the wall time, the command's peak RSS, and
the same for a tenth of the class (memory must not grow with the class: one submission per
worker is in memory at a time). Target (reported, never asserted): 300 submissions ≤ 90 s on
2 CPU cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "tests"):
    if str(p) not in sys.path:  # run as a script, from anywhere, without installing lab1
        sys.path.insert(0, str(p))

from lab1.classroom.pack import pack_run  # noqa: E402
from lab1.host.machine import cpu_model  # noqa: E402


def student_pack(base: Path, out: Path, run_id: str) -> None:
    """``base`` with the manifest's run_id changed and pack.json's record of it redone."""
    with zipfile.ZipFile(base) as z:
        members = {n: z.read(n) for n in z.namelist()}
    manifest = json.loads(members["manifest.json"])
    manifest["run_id"] = run_id
    members["manifest.json"] = json.dumps(manifest).encode()
    index = json.loads(members["pack.json"])
    index["files"]["manifest.json"] = {
        "sha256": hashlib.sha256(members["manifest.json"]).hexdigest(),
        "bytes": len(members["manifest.json"]),
    }
    members["pack.json"] = json.dumps(index).encode()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in members.items():
            z.writestr(n, data)


def build_class(packs: list[Path], students: int, folder: Path) -> None:
    folder.mkdir()
    for i in range(students):
        student_pack(packs[i % len(packs)], folder / f"s{i:04d}.lab1.zip", f"run-of-s{i:04d}")


def time_class_view(folder: Path, runs_dir: Path, name: str) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of the real command in a fresh process."""
    cmd = [sys.executable, str(ROOT / "flows" / "class_flow.py"), str(folder)]
    cmd += ["--runs-dir", str(runs_dir), "--name", name]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"class_flow failed:\n{proc.stderr[-3000:]}")
    print(proc.stdout.strip().splitlines()[-3])
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
    return wall, rss


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", nargs="*", default=[], help="finished run directories to copy")
    ap.add_argument("--students", type=int, default=300)
    ap.add_argument("--json", help="write the numbers here too")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lab1-bench-class-") as tmp:
        tmp = Path(tmp)
        runs = [Path(r) for r in args.runs]
        if not runs:
            from classruns import handed_in_run

            runs = [handed_in_run(tmp / "made" / f"run-{i}") for i in range(3)]
        small = max(1, args.students // 10)
        packs = [pack_run(r, tmp / f"base-{i}.lab1.zip")["pack"] for i, r in enumerate(runs)]
        packs = [Path(p) for p in packs]
        build_class(packs, args.students, tmp / "class")
        build_class(packs, small, tmp / "small")
        # The small class first: RUSAGE_CHILDREN's peak is the largest child's so far.
        small_wall, small_rss = time_class_view(tmp / "small", tmp / "out", "small")
        wall, rss = time_class_view(tmp / "class", tmp / "out", "class")
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{cpu_model()} ({os.cpu_count()} CPUs, {platform.machine()})",
        "students": args.students,
        "seconds": round(wall, 1),
        "per_submission_ms": round(1000 * wall / args.students, 1),
        "peak_rss_mib": round(rss, 0),
        "small_class": small,
        "small_seconds": round(small_wall, 1),
        "small_peak_rss_mib": round(small_rss, 0),
        "target_s": 90,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
