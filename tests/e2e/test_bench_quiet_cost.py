"""benchmarks/bench_quiet_cost.py: each revision runs in its own temporary worktree, gone
afterwards whatever the runs did, and the printed ratios against the same revision's spread
are the ones worked out by hand. The full-length runs are the benchmark's to report."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lab1.host import machine

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))  # spread.py, as the benchmark imports it


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "bench_quiet_cost", ROOT / "benchmarks" / "bench_quiet_cost.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_quiet_cost"] = module
    spec.loader.exec_module(module)
    return module


def _worktrees() -> set[str]:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "list", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        line.removeprefix("worktree ") for line in out.splitlines() if line.startswith("worktree ")
    }


def _run_lines(out: list[str]) -> list[list[str]]:
    """The runs table's rows (each starts with the run's name: 01-before, 02-after, …)."""
    return [line.split() for line in out if line.split()[:1] and line.split()[0][:2].isdigit()]


def test_each_revision_runs_in_a_worktree_that_is_gone_afterwards(bench, capsys):
    # An option make run refuses: each run fails in its parser, in seconds, but only after
    # the worktrees were made and each revision's own flows/lab1_flow.py ran in its own.
    before = _worktrees()
    code = bench.main(["--before", "HEAD", "--after", "HEAD", "--args=--no-such-option"])
    out = capsys.readouterr().out.splitlines()
    assert code == 1  # a run failed
    assert out[1].startswith(f"machine: {machine.cpu_model()}, {machine.logical_cores()} logical")
    runs = _run_lines(out)
    # ABBA: BEFORE, AFTER, AFTER, BEFORE; each failed with make run's status for a bad option.
    assert [r[:2] for r in runs] == [["01-before", "BEFORE"], ["02-after", "AFTER"],
                                     ["03-after", "AFTER"], ["04-before", "BEFORE"]]  # fmt: skip
    assert [r[3:6] for r in runs] == [["FAILED", "(rc", "2)"]] * 4
    assert any("--no-such-option" in line for line in out)  # the run's own refusal, shown
    assert _worktrees() == before


def test_an_interrupted_benchmark_leaves_no_worktree(bench, monkeypatch):
    before = _worktrees()
    made = []

    def interrupted(tree, *args):
        made.append(tree)
        raise KeyboardInterrupt

    monkeypatch.setattr(bench, "run_flow", interrupted)
    args = bench.build_parser().parse_args(["--before", "HEAD", "--after", "HEAD"])
    with pytest.raises(KeyboardInterrupt):
        bench.bench(args)
    assert len(made) == 1 and made[0].parent.name.startswith("lab1-quiet-cost-")
    assert not made[0].exists()
    assert _worktrees() == before


def test_a_revision_that_is_not_a_commit_is_one_line(bench, capsys):
    before = _worktrees()
    assert bench.main(["--before", "no-such-revision"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: 'no-such-revision' is not a commit")
    assert _worktrees() == before


def _finished(name: str, wall_s: float, speeds: dict) -> dict:
    rows = [("cpu", "fp32", 1, bs, "train_step", v) for bs, v in speeds.items()]
    table = pd.DataFrame(rows, columns=[*["device", "precision", "threads", "batch_size"],
                                        "phase", "images_per_s"])  # fmt: skip
    return {"name": name, "rev": "A" if name.endswith("before") else "B", "returncode": 0,
            "error": None, "wall_s": wall_s, "others_cores": 0.0, "status": "completed",
            "measurements": None, "comparison": table}  # fmt: skip


# ABBA: the pairs are (01-before, 02-after) and (04-before, 03-after).
RUNS = [
    _finished("01-before", 10.0, {16: 100.0, 64: 100.0}),
    _finished("02-after", 11.0, {16: 96.0, 64: 80.0}),
    _finished("03-after", 12.0, {16: 99.0, 64: 80.0}),
    _finished("04-before", 10.0, {16: 110.0, 64: 100.0}),
]


def test_the_ratio_is_paired_and_held_against_the_same_revisions_spread(bench):
    rows = {
        r[3]: r[5:] for r in (line.split() for line in bench.profile_table(RUNS).splitlines()[2:])
    }
    # Batch 16: 96/100 = 0.96 and 99/110 = 0.90, median 0.93: 0.07 from 1, under BEFORE's
    # own spread between its runs, (110 − 100) / 105 = 9.5 %, though over AFTER's,
    # (99 − 96) / 97.5 = 3.1 %: the larger one is the noise.
    assert rows["16"] == ["100", "110", "96", "99", "0.93", "(0.90–0.96)", "9.5%", "3.1%", "yes"]
    # Batch 64: 0.80 in both pairs, and neither revision moved between its runs: not noise.
    assert rows["64"] == ["100", "100", "80", "80", "0.80", "(0.80–0.80)", "0.0%", "0.0%", "no"]
    wall = bench.wall_lines(RUNS)
    assert wall[:2] == ["wall AFTER/BEFORE, 01-before vs 02-after: 1.100",
                        "wall AFTER/BEFORE, 04-before vs 03-after: 1.200"]  # fmt: skip
    # 1.15 (1.10–1.20); BEFORE 10, 10: 0 %; AFTER 11, 12: 1 / 11.5 = 8.7 %; 0.15 > 8.7 %.
    assert wall[2] == (
        "wall AFTER/BEFORE: 1.15 (1.10–1.20); same-revision spread BEFORE 0.0%, AFTER 8.7%; "
        "within noise: no"
    )


def test_one_run_of_each_cannot_say_what_noise_is(bench):
    rows = [r.split() for r in bench.profile_table(RUNS[:2]).splitlines()[2:]]
    # No spread without a second run of a revision: "-" for each, and no verdict.
    assert [r[-6:] for r in rows] == [["-", "-", "unknown", "(one", "run", "each)"]] * 2


@pytest.mark.parametrize("order", ["", "AAB", "ABC"])
def test_an_order_without_as_many_a_as_b_is_one_line(bench, capsys, order):
    before = _worktrees()
    assert bench.main(["--order", order]) == 2
    err = capsys.readouterr().err
    assert err == f"error: --order takes as many A as B and nothing else, got {order!r}\n"
    assert _worktrees() == before


FAKE_FLOW = """
import argparse, json, pathlib
p = argparse.ArgumentParser()
p.add_argument("--offline", action="store_true")
p.add_argument("--run-name")
p.add_argument("--runs-dir")
args = p.parse_args()
run = pathlib.Path(args.runs_dir) / args.run_name
run.mkdir(parents=True)
measurements = {"total": 10, "disturbed": 3, "unreliable": 4, "unknown": 0,
                "measured_again": 2, "max_other_cores": 1.2, "logical_cores": 2}
manifest = {"status": "completed", "comparison": {"measurements": measurements},
            "training": {"test_accuracy": 0.975, "test_loss": 0.0861234567}}
(run / "manifest.json").write_text(json.dumps(manifest))
"""


def test_a_runs_own_account_of_its_measurements_is_read_from_its_manifest(bench, tmp_path):
    # A stand-in for a revision's flows/lab1_flow.py that writes a manifest as lab1 does.
    tree = tmp_path / "tree"
    (tree / "flows").mkdir(parents=True)
    (tree / "flows" / "lab1_flow.py").write_text(FAKE_FLOW)
    run = bench.run_flow(tree, tmp_path / "runs", "02-after", [], timeout_s=60)
    assert (run["returncode"], run["status"], run["comparison"]) == (0, "completed", None)
    [row] = bench.runs_table([{**run, "rev": "B"}]).splitlines()[2:]
    assert row.endswith("3 of 10 disturbed, 2 measured again, 4 unreliable; most others' cores 1.2")
    # The training's result, to compare before and after: its own cells, in this order.
    cells = re.split(r"\s{2,}", row)
    assert cells[cells.index("completed") + 1 : cells.index("completed") + 3] == [
        "97.50 %",
        "0.086123",
    ]
