"""The viewer's fast parts: the TensorBoard command it prints, and life without a browser."""

import shlex
import sys

from lab1 import viewer


def test_tensorboard_command_names_this_venvs_script_relative_to_here(tmp_path, monkeypatch):
    bin_dir = tmp_path / "repo" / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "tensorboard").write_text("#!/bin/sh\n")
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    monkeypatch.chdir(tmp_path / "repo")
    command = viewer.tensorboard_command(tmp_path / "repo" / "runs" / "r 1" / "tensorboard")
    assert shlex.split(command) == [
        ".venv/bin/tensorboard",
        "--logdir",
        "runs/r 1/tensorboard",
        "--host",
        "127.0.0.1",
    ]
    # A logdir outside the current directory stays absolute; no script: python -m.
    (bin_dir / "tensorboard").unlink()
    args = shlex.split(viewer.tensorboard_command("/elsewhere/tb"))
    python = str(bin_dir / "python")
    assert args[:5] == [python, "-m", "tensorboard.main", "--logdir", "/elsewhere/tb"]


def test_no_chromium_means_no_screenshots_and_a_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(viewer, "find_chromium", lambda: None)
    shots, why = viewer.tensorboard_screenshots(tmp_path, {"graphs": tmp_path / "g.png"})
    assert shots is None and "chromium" in why
    assert not (tmp_path / "g.png").exists()
