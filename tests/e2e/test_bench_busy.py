"""benchmarks/bench_busy.py: its tiny mode runs lab1's real profile beside its real load and
prints its tables, the load is gone afterwards, and the target is judged as the issue states
it. No speed is asserted: the numbers are the benchmark's to report."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab1.host import machine

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))  # spread.py, as the benchmark imports it


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "bench_busy", ROOT / "benchmarks" / "bench_busy.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_busy"] = module
    spec.loader.exec_module(module)
    return module


def _running(pid: int, mark: str) -> bool:
    """Whether ``pid`` is still a load process (its command line carries ``mark``)."""
    try:
        return mark.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _rows(table: list[str], head: list[str]) -> list[list[str]]:
    """The rows under a printed table's header (split on runs of 2+ spaces), up to a blank."""
    start = next(i for i, line in enumerate(table) if line.split() == " ".join(head).split())
    rows = []
    for line in table[start + 2 :]:
        if not line.strip():
            break
        rows.append(line.split())
    return rows


def test_the_tiny_mode_prints_each_way_and_leaves_no_load_running(
    bench, capsys, tmp_path, monkeypatch
):
    monkeypatch.setenv("LAB1_LOCK_DIR", str(tmp_path / "locks"))  # no other run's lock to wait
    code = bench.main(["--dry-run", "--threads", "1", "--batch-size", "8"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0  # without --check a missed target is printed, not an exit status
    assert out[1].startswith(f"machine: {machine.cpu_model()}, {machine.logical_cores()} logical")
    measured = _rows(out, bench.MEASURED_HEAD)
    # One repeat, one thread count: each way once, in the first repeat's order.
    assert [(r[0], r[1], r[2]) for r in measured] == [
        ("1", "quiet", "1"),
        ("1", "re-measured", "1"),
        ("1", "control", "1"),
    ]
    control = measured[2]
    assert control[7] == "1" and control[9] == "0.0"  # tries 1: one attempt, no wait
    # A dry run's schedule: 2 timed steps, so 2 blocks, both its number's (one attempt).
    assert control[8] == "2/2"
    assert all(1 <= int(r[7]) <= 3 for r in measured)  # lab1's default tries bound the rest
    summary = _rows(out, bench.SUMMARY_HEAD)
    # "re-measured" and "control" rows; "× quiet (range)" is "v (lo–hi)", split in two.
    assert [r[:2] for r in summary] == [["1", "quiet"], ["1", "re-measured"], ["1", "control"]]
    assert summary[0][3:5] == ["1.00", "(1.00–1.00)"]  # quiet over itself
    [target] = [line for line in out if "thread(s): re-measured train step" in line]
    assert target.split()[0] == ("PASS" if summary[1][-1] == "yes" else "FAIL")
    # Two loaded ways, each its own load of one loop per logical core, all gone now.
    [pids_line] = [line for line in out if line.startswith("load processes ")]
    pids = [int(p) for p in pids_line.removeprefix("load processes ").split(":")[0].split()]
    assert len(pids) == 2 * machine.logical_cores()
    assert [p for p in pids if _running(p, bench.LOAD_MARK)] == []


def test_a_load_process_ends_by_itself_at_its_deadline(bench):
    """The loop's own bound, for a benchmark that is killed before its finally runs."""
    t0 = time.time()
    args = [str(t0), "0.2", "0.2", str(t0 + 1.0)]  # busy 0.2 s, asleep 0.2 s, for 1 s
    proc = subprocess.Popen([sys.executable, "-c", bench.LOAD_LOOP, bench.LOAD_MARK, *args])
    try:
        assert proc.wait(timeout=60) == 0  # long after its deadline on any machine
    finally:
        proc.kill()
        proc.wait()


def _measured(way: str, repeat: int, images_per_s: float) -> dict:
    return {"way": way, "threads": 2, "repeat": repeat, "images_per_s": images_per_s,
            "other_cores": 0.0, "contended": False, "reliable": True, "attempts": 1,
            "blocks": "5/5", "waited_s": 0.0, "seconds": 1.0}  # fmt: skip


@pytest.mark.parametrize(
    ("remeasured", "ok"),
    [
        # Per-repeat ratios 0.9, 0.9, 0.8: median 0.9, within 20 %.
        ((90.0, 99.0, 72.0), True),
        # 0.8, 0.8, 0.8: exactly 20 % below quiet is still within.
        ((80.0, 88.0, 72.0), True),
        # 0.7, 1.0, 0.7: median 0.7, outside.
        ((70.0, 110.0, 63.0), False),
    ],
)
def test_the_target_is_the_median_paired_ratio_within_20_percent(
    bench, capsys, monkeypatch, remeasured, ok
):
    quiet = (100.0, 110.0, 90.0)
    measured = [_measured("quiet", i + 1, q) for i, q in enumerate(quiet)]
    measured += [_measured("re-measured", i + 1, r) for i, r in enumerate(remeasured)]
    measured += [_measured("control", i + 1, 30.0) for i in range(3)]
    monkeypatch.setattr(bench, "run", lambda args: (measured, []))
    assert bench.main(["--check"]) == (0 if ok else 1)
    assert bench.main([]) == 0  # reported, never an exit status, without --check
    out = capsys.readouterr().out
    assert ("PASS  2 thread(s)" in out) is ok and ("FAIL  2 thread(s)" in out) is not ok
