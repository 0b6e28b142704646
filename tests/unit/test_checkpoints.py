"""Checkpoint records, set-aside and pruning; disk errors; device locks; retry condition."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from lab1.errors import CheckpointError, ConfigError
from lab1.host import machine
from lab1.host.exclusive import MachineLoad, device_lock
from lab1.run.checkpoints import (
    checkpoint_path,
    checkpoints,
    load_newest_valid,
    prune,
    save_checkpoint,
)

ROOT = Path(__file__).resolve().parents[2]


def _save(folder: Path, epoch: int) -> Path:
    path = checkpoint_path(folder, epoch)
    save_checkpoint({"epoch": epoch, "recipe": {"seed": 1}, "w": torch.full((8,), epoch)}, path)
    return path


def test_a_truncated_newest_checkpoint_is_set_aside_and_the_previous_one_used(tmp_path, caplog):
    for epoch in (1, 2, 3):
        _save(tmp_path, epoch)
    newest = checkpoint_path(tmp_path, 3)
    newest.write_bytes(newest.read_bytes()[:500])
    with caplog.at_level(logging.WARNING, logger="lab1.run.checkpoints"):
        state, path = load_newest_valid(tmp_path)
    assert state["epoch"] == 2 and path == checkpoint_path(tmp_path, 2)
    assert (tmp_path / "epoch_3.pt.bad").is_file() and (tmp_path / "epoch_3.json.bad").is_file()
    assert "epoch_3.pt" in caplog.text and "set aside" in caplog.text


def test_a_whole_checkpoint_that_is_not_the_recorded_one_is_set_aside(tmp_path):
    """Loadable, but other bytes than its record's checksum (epoch 1's file copied over epoch
    3's): only the checksum can tell, and the run must resume from epoch 2."""
    for epoch in (1, 2, 3):
        _save(tmp_path, epoch)
    checkpoint_path(tmp_path, 3).write_bytes(checkpoint_path(tmp_path, 1).read_bytes())
    state, path = load_newest_valid(tmp_path)
    assert state["epoch"] == 2 and path == checkpoint_path(tmp_path, 2)
    assert (tmp_path / "epoch_3.pt.bad").is_file()


def test_a_checkpoint_without_its_record_is_not_trusted(tmp_path):
    _save(tmp_path, 1)
    (tmp_path / "epoch_1.json").unlink()
    with pytest.raises(CheckpointError, match="none of the 1 checkpoint"):
        load_newest_valid(tmp_path)
    assert (tmp_path / "epoch_1.pt.bad").is_file()


def test_prune_keeps_the_newest_recorded_checkpoints(tmp_path):
    for epoch in range(1, 6):
        _save(tmp_path, epoch)
    prune(tmp_path, keep=2)
    assert [p.name for p in checkpoints(tmp_path)] == ["epoch_4.pt", "epoch_5.pt"]
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["epoch_4.json", "epoch_5.json"]


def test_keep_checkpoints_is_validated():
    from lab1.config import Lab1Config

    with pytest.raises(ConfigError, match="--keep-checkpoints"):
        Lab1Config(keep_checkpoints=0)


# A file-size limit in a subprocess (any user, any file system): torch.save and pyarrow
# both fail with EFBIG; each must be one DiskError naming the file, with no temporary left.
_FSIZE = """
import resource, sys, torch, pyarrow as pa
from lab1.atomic import write_stream
from lab1.errors import DiskError
from lab1.schemas import write_parquet
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
out = sys.argv[1]
for write in (lambda: write_stream(out + "/big.pt", lambda f: torch.save(torch.zeros(10**6), f)),
              lambda: write_parquet(pa.table({"a": list(range(10**6))}),
                                    pa.schema([("a", pa.int64())]), out + "/big.parquet")):
    try:
        write()
    except DiskError as exc:
        print(exc)
"""


def test_a_file_size_limit_is_one_disk_error_and_leaves_no_temp_file(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", _FSIZE, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    lines = result.stdout.splitlines()
    assert len(lines) == 2, result.stdout + result.stderr
    assert lines[0].startswith(f"could not write {tmp_path}/big.pt: file too large")
    assert lines[1].startswith(f"could not write {tmp_path}/big.parquet: file too large")
    assert "(EFBIG)" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_a_second_holder_waits_for_the_device_and_says_for_whom(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("LAB1_LOCK_DIR", str(tmp_path))
    spans: dict[str, tuple[float, float]] = {}

    def hold(name: str, seconds: float) -> None:
        with device_lock("cpu", name):
            start = time.monotonic()
            time.sleep(seconds)
            spans[name] = (start, time.monotonic())

    first = threading.Thread(target=hold, args=("run A", 0.6))
    first.start()
    time.sleep(0.2)
    with caplog.at_level(logging.INFO, logger="lab1.host.exclusive"):
        hold("run B", 0.0)
    first.join()
    assert spans["run A"][1] <= spans["run B"][0]  # B started only after A released
    assert "run B waits for cpu: profiled by run A" in caplog.text


def test_busy_processes_on_every_core_mark_the_window_contended():
    """One busy loop per logical core of the machine at hand: whatever else runs, a 1-thread
    window beside them finds its core taken (the rule of lab1.host.exclusive)."""
    cores = machine.logical_cores()
    spins = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        time.sleep(0.3)
        with MachineLoad.measure(1) as load:
            time.sleep(1.0)
    finally:
        for spin in spins:
            spin.kill()
            spin.wait()
    assert load.logical_cores == cores and load.threads == 1
    assert load.other_cores is not None and load.other_cores > 0.5 * cores
    assert load.other_cores == pytest.approx(
        load.other_cpu_s / (load.window_end - load.window_start)
    )
    assert load.contended and load.window_end - load.window_start >= 1.0


def test_known_errors_are_not_retried():
    from prefect.states import Failed

    from lab1.errors import ResumeError
    from tasks.retry import transient_only

    assert not transient_only(None, None, Failed(data=ResumeError("differs")))
    assert transient_only(None, None, Failed(data=RuntimeError("CUDA error: device lost")))


def test_a_checkpoint_resumed_on_another_device_restores_the_cpu_rng(tmp_path):
    """A checkpoint loaded for a GPU must keep its RNG states on the CPU, where
    torch.set_rng_state needs them (a byte tensor). The meta device stands in for CUDA: both are
    not the CPU, and a map_location to either moves every tensor there."""
    from lab1.run.train import _restore_rng

    torch.manual_seed(7)
    generator = torch.Generator().manual_seed(3)
    rng = {"torch": torch.get_rng_state(), "shuffle": generator.get_state()}
    expected = torch.rand(4)  # what the saved global stream draws next
    path = checkpoint_path(tmp_path, 1)
    save_checkpoint({"epoch": 1, "recipe": {"seed": 1}, "rng": rng}, path)

    state, _ = load_newest_valid(tmp_path)
    torch.manual_seed(99)  # move the global stream away from the saved one
    _restore_rng(state["rng"], torch.Generator(), torch.device("meta"))
    assert torch.equal(torch.rand(4), expected)
