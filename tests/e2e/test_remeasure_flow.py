"""Re-measuring a finished run (flows/remeasure_flow.py): refusals in one line, and a real
dry run profiled again in place."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from rundirs import start_run

from lab1.host.exclusive import device_lock
from lab1.run.manifest import update_manifest

ROOT = Path(__file__).resolve().parents[2]


def _main(capsys, *args: str) -> tuple[int, str]:
    from flows.remeasure_flow import main

    code = main(list(args))
    return code, capsys.readouterr().err


def _profiled_run(tmp_path: Path, status: str):
    """A run's manifest as the flow leaves it once training is done: its devices and dataset
    (an empty stand-in file), with ``status``."""
    paths = start_run(tmp_path / "run")
    data = tmp_path / "mnist.pt"
    data.write_bytes(b"")
    dataset = {
        "name": "mnist",
        "source": "local",
        "location": str(tmp_path),
        "train_size": 200,
        "test_size": 50,
        "checksum": "ab",
        "full": False,
        "path": str(data),
    }
    devices = {"resolved": ["cpu"], "training": "cpu"}
    update_manifest(paths, status=status, dataset=dataset, devices=devices)
    return paths


def test_an_unfinished_run_is_refused_in_one_line(tmp_path, capsys):
    paths = _profiled_run(tmp_path, "interrupted")  # trained, stopped before its report
    code, err = _main(capsys, str(paths.root))
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: {paths.root} is not a finished run (status interrupted)")
    assert not (tmp_path / ".run.remeasure").exists()


def test_a_device_another_lab1_process_profiles_is_refused_without_waiting(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("LAB1_LOCK_DIR", str(tmp_path / "locks"))
    paths = _profiled_run(tmp_path, "completed")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with device_lock("cpu", "run other"):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        held.wait(30)
        code, err = _main(capsys, str(paths.root))
    finally:
        release.set()
        holder.join()
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: cpu is being profiled by run other (pid ")
    assert json.loads(paths.manifest.read_text())["status"] == "completed"  # untouched


def _run(*args: str, locks: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """The real entry point; its own lock folder, so another run's profile on this machine
    never refuses this one's re-measure."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "LAB1_LOCK_DIR": str(locks)},
    )


@pytest.mark.slow
def test_a_finished_run_is_profiled_again_in_place_without_training(tmp_path):
    runs = tmp_path / "runs"
    made = _run(
        "flows/lab1_flow.py",
        *("--offline", "--dry-run", "--data-dir", str(tmp_path / "empty")),
        *("--runs-dir", str(runs), "--run-name", "r", "--cpu-threads", "1"),
        *("--batch-sizes", "2"),
        locks=tmp_path / "locks",
    )
    assert made.returncode == 0, (made.stdout + made.stderr)[-4000:]
    run = runs / "r"
    before = json.loads((run / "manifest.json").read_text())
    checkpoint = (run / "checkpoints" / "epoch_2.pt").read_bytes()

    again = _run(
        "flows/remeasure_flow.py", str(run), "--measure-tries", "1", locks=tmp_path / "locks"
    )
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    assert f"re-measured: {run}" in again.stdout
    after = json.loads((run / "manifest.json").read_text())
    assert after["status"] == "completed" and "remeasure" in after["timings"]
    # Training untouched: the same history and checkpoint; the profile is new.
    assert after["training"] == before["training"]
    assert (run / "checkpoints" / "epoch_2.pt").read_bytes() == checkpoint
    first = min(a["window_start"] for a in after["comparison"]["attempts"])
    assert first > max(a["window_end"] for a in before["comparison"]["attempts"])
    assert after["comparison"]["measurements"]["total"] >= 2
    # Every path the run records is the run's own, never the staging folder's.
    assert ".remeasure" not in json.dumps(after)
    assert ".remeasure" not in (run / "report.md").read_text()
    for result in (run / "profiles" / "results").glob("*.json"):
        assert ".remeasure" not in result.read_text()
    assert Path(after["comparison"]["tables"]["comparison"]).parent.parent == run
    assert sorted(p.name for p in runs.iterdir() if p.name.startswith(".")) == []
