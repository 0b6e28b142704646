"""A run directory made before lab1's packages moved (tests/fixtures/run-main-1ae2276: a
``--dry-run`` of commit 1ae2276, trimmed to what a pack carries) still compares with a run made
by today's code, and still packs and opens as a submission: the run directory's contract and
the manifest's schema are what other people's files depend on."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import small_recipe, write_mnist_layout
from rundirs import start_run

from lab1.atomic import write_json
from lab1.classroom import checks
from lab1.classroom.pack import pack_run
from lab1.classroom.submission import open_submission
from lab1.compare import crossrun
from lab1.compare.within import combine_and_compare
from lab1.config import DRY_RUN_SCHEDULE
from lab1.host.environment import capture_environment
from lab1.measure.profiling import profile_config
from lab1.run import data
from lab1.run.manifest import read_manifest, update_manifest
from lab1.run.train import train_and_log
from lab1.rundir import RunPaths

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "run-main-1ae2276"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """The old run (copied: nothing may write into the fixture) and a tiny run made now: 1
    epoch of 3 batches, the CPU profiled at batch 16 on 1 thread, a config the old run has."""
    root = tmp_path_factory.mktemp("fixture")
    runs = root / "runs"
    shutil.copytree(FIXTURE, runs / "before")
    write_mnist_layout(root / "datasets")
    run = start_run(
        runs / "after",
        parameters={"epochs": 1, "dry_run": True, "batch_sizes": [16], "cpu_threads": ["1"]},
        devices={"resolved": ["cpu"], "training": "cpu"},
        environment=capture_environment(),
    )
    info = data.prepare_dataset("mnist", root / "datasets", run.data)
    recipe = small_recipe(info.checksum, 16)
    trained = train_and_log(info.path, "cpu", run.tensorboard, run.checkpoints, recipe, 1, 10, 3, 1)
    result = profile_config(
        info.path, "mnist", "cpu", 16, run, "after", DRY_RUN_SCHEDULE, seed=1, lr=1.0, threads=1
    )
    write_json(run.profile_result("cpu", "fp32", 16, 1), result)
    combine_and_compare(run, "after")
    update_manifest(run, dataset=info.to_dict(), training=trained, status="completed")
    return runs


def test_the_fixture_is_a_completed_dry_run_of_the_old_tree():
    m = read_manifest(RunPaths(FIXTURE))
    assert (m.run_id, m.status, m.parameters.dry_run) == ("main-dry", "completed", True)


def test_a_run_from_before_the_move_compares_with_one_made_now(runs):
    plan = crossrun.check(
        crossrun.locate([str(runs / "before"), "after"], runs), runs, name="before-vs-after"
    )
    written = crossrun.write_tables(plan)
    table = pd.read_parquet(written["comparison"])
    # Both runs' rows are there; the shared config (cpu fp32, 1 thread, batch 16) of the new run
    # meets the old run's row as its baseline, so its speed-up is a number.
    assert set(table["run_id"]) == {"main-dry", "after"}
    shared = table[(table["run_id"] == "after") & (table["batch_size"] == 16)]
    assert len(shared) == 2 and shared["speedup_vs_baseline"].notna().all()


def test_a_run_from_before_the_move_packs_and_opens_as_a_submission(tmp_path):
    run = tmp_path / "before"
    shutil.copytree(FIXTURE, run)
    (tmp_path / "class").mkdir()
    packed = pack_run(run, tmp_path / "class" / "alice.lab1.zip")
    sub = open_submission("alice", Path(packed["pack"]), tmp_path / "class")
    results = checks.run_checks(sub)
    failed = {c.name for c in results if not c.passed}
    # Never refused: its structure and integrity hold as the old tree wrote them. It says it
    # is a dry run (not the lab's result), and its timings were measured on a busy machine
    # (its rows are contended), so they are not judged: accepted.
    assert checks.verdict(results)[0] == "accepted"
    assert {c.name for c in results if c.passed is None} == {
        "plausibility.peak",
        "plausibility.profiled_vs_trained",
    }
    assert not failed & {c.name for c in checks.structure(sub) + checks.integrity(sub)}
