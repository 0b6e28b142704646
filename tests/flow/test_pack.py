"""Packing a run (lab1/classroom/pack.py, flows/pack_flow.py): one zip of results and their words,
with every file's SHA-256; the manifest's own record of its tables."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from classruns import handed_in_run

from lab1.classroom.pack import pack_run
from lab1.errors import PackError
from lab1.run.manifest import read_manifest, update_manifest
from lab1.rundir import TABLES, RunPaths

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    run = handed_in_run(tmp_path_factory.mktemp("pack") / "runs" / "alice-run")
    paths = RunPaths(run)
    # What a run also holds and a pack must not: weights, checkpoints, traces, the dataset.
    for p in (
        paths.model_weights,
        paths.checkpoint(1),
        paths.exported_program,
        paths.trace("cpu", "fp32", 16, 1, "train_step"),
        paths.data / "mnist.pt",
    ):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"not for the pack")
    paths.run_log.write_text("log line\n")
    (paths.tensorboard).mkdir(exist_ok=True)
    (paths.tensorboard / "events.out.tfevents.1.host").write_bytes(b"\x00events")
    return run


def test_the_manifest_records_each_tables_sha256_as_written(run):
    recorded = read_manifest(RunPaths(run)).comparison.table_sha256
    on_disk = {
        name: hashlib.sha256((run / rel).read_bytes()).hexdigest()
        for name, rel in TABLES.items()
        if (run / rel).is_file()
    }
    assert {"comparison", "op_stats", "top10"} <= set(on_disk)
    assert recorded == on_disk


def test_pack_holds_results_and_words_with_their_sha256_and_no_weights(run, tmp_path):
    out = pack_run(run, tmp_path / "alice.lab1.zip")
    with zipfile.ZipFile(out["pack"]) as z:
        names = set(z.namelist())
        index = json.loads(z.read("pack.json"))
        for name, rec in index["files"].items():
            assert rec["sha256"] == hashlib.sha256((run / name).read_bytes()).hexdigest()
    assert names == set(index["files"]) | {"pack.json"}
    for must in (
        "manifest.json",
        "report.md",
        "report.html",
        "run.log",
        "compare/comparison.parquet",
        "profiles/op_stats.parquet",
        "compare/throughput.png",
        "graph/layers.json",
        "tensorboard/events.out.tfevents.1.host",
    ):
        assert must in names, must
    assert any(n.startswith("figures/") and n.endswith(".png") for n in names)
    for never in ("model.pt", "checkpoints/", "graph/model.pt2", "profiles/traces/", "data/"):
        assert not any(n == never or n.startswith(never) for n in names), never
    assert index["pack_version"] == 1 and index["run_id"] == "alice-run"
    assert out["bytes"] == Path(out["pack"]).stat().st_size < 5 * 2**20


def test_pack_refuses_an_unfinished_run_and_a_taken_name(run, tmp_path):
    taken = tmp_path / "taken.lab1.zip"
    taken.write_bytes(b"x")
    with pytest.raises(PackError, match="already exists"):
        pack_run(run, taken)
    with pytest.raises(PackError, match=r"ends in \.lab1\.zip"):
        pack_run(run, tmp_path / "alice.zip")
    other = shutil.copytree(run, tmp_path / "runs" / "half")
    update_manifest(RunPaths(other), status="failed")
    with pytest.raises(PackError, match="is failed, not completed"):
        pack_run(other, tmp_path / "half.lab1.zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs", "taken.lab1.zip"]


def test_pack_cli_bad_input_is_one_error_line_exit_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "flows/pack_flow.py", str(tmp_path / "nope")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: no run directory")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_pack_cli_prints_the_zip_last(run, tmp_path):
    out = tmp_path / "cli.lab1.zip"
    proc = subprocess.run(
        [sys.executable, "flows/pack_flow.py", str(run), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == str(out.resolve())
    assert zipfile.ZipFile(out).testzip() is None
