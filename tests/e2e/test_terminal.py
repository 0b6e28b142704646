"""What the terminal says while a run goes: the step counter, each epoch with its throughput
and the time left, and no telemetry from the lab's own Prefect."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lab1.config import Lab1Config
from lab1.run.train import fmt_duration, time_left

ROOT = Path(__file__).resolve().parents[2]


def test_time_left_is_the_remaining_epochs_at_the_mean_epoch_time():
    assert time_left(65.0, 2) == "about 2 min 10 s left"  # 2 × 65 s = 130 s
    assert time_left(4.2, 10) == "about 42 s left"
    assert time_left(65.0, 0) == "training done"
    assert fmt_duration(3725) == "1 h 02 min"  # 3725 s = 1 h 2 min 5 s


def test_the_step_counter_counts_the_steps_this_run_takes():
    from flows.lab1_flow import stages

    assert stages(Lab1Config()) == (
        "download-data",
        "export-graph",
        "train-and-log",
        "profile",
        "compare",
        "report",
    )
    both = Lab1Config(report_lang="zh,en", tensorboard_screenshots=True)
    assert stages(both)[5:] == ("tensorboard-screenshots", "report", "report-en")


def test_the_lab_sends_no_usage_data():
    """The settings every entry point imports first turn off the server's and the client's
    telemetry (Prefect's SDK honours DO_NOT_TRACK); asked outside any CI environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "DO_NOT_TRACK")}
    code = (
        "import flows.settings\n"
        "from prefect._internal.analytics.enabled import is_telemetry_enabled\n"
        "from prefect.settings import get_current_settings\n"
        "print(is_telemetry_enabled(), get_current_settings().server.analytics_enabled)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.stdout.split() == ["False", "False"], out.stderr[-2000:]


# A child that trains a few batches of Net with a progress line per batch (log_interval 1), as
# the CLI's process does: Prefect's console handler, with lab1's console filters installed.
_TRAINS = """
import flows.settings
import logging
import torch
from prefect.logging.configuration import setup_logging
from flows import console
from lab1.run.model import Net
from lab1.run.train import train_epoch

setup_logging()
console.install()
torch.manual_seed(0)
model = Net()
x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
optimizer = torch.optim.Adadelta(model.parameters())
train_epoch(model, optimizer, x, y, 8, torch.Generator().manual_seed(0), 1, 1)
logging.getLogger("lab1.test").info("after the epoch")
"""


def _child_env() -> dict[str, str]:
    """The child's environment as a person's terminal has it (CI's own CI=true left out)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "NO_COLOR", "FORCE_COLOR")}
    return {**env, "TERM": "xterm-256color", "CUDA_VISIBLE_DEVICES": "", "COLUMNS": "100"}


def _on_a_terminal(code: str) -> str:
    """Run ``code`` with stdout and stderr on a pseudo-terminal; what the terminal received."""
    import pty

    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=child,
        stderr=child,
        env=_child_env(),
    )
    os.close(child)
    received = bytearray()
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        received += chunk
    proc.wait(timeout=120)
    os.close(main)
    assert proc.returncode == 0, received.decode(errors="replace")[-3000:]
    return received.decode("utf-8", errors="replace")


def test_a_terminal_gets_a_bar_instead_of_a_line_per_batch():
    out = _on_a_terminal(_TRAINS)
    assert "\x1b[" in out, out[-2000:]  # the bar is drawn in place (cursor moves, colours)
    assert "train epoch 1" in out and "━" in out  # the bar: its label and its track
    assert "(12%)]" not in out and "(100%)]" not in out  # no line per batch (8 batches)
    assert "after the epoch" in out  # every other line still prints


def test_a_pipe_gets_every_progress_line_and_no_control_characters():
    out = subprocess.run(
        [sys.executable, "-c", _TRAINS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=_child_env(),
    )
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout + out.stderr
    # One line per batch, 8 images each: 8/64 is 1 of 8 batches, 64/64 the last.
    assert "train epoch 1 [8/64 (12%)]" in text and "train epoch 1 [64/64 (100%)]" in text
    assert "after the epoch" in text
    assert not [c for c in text if ord(c) < 32 and c not in "\n\t"], "control characters"


class _Tty:
    def isatty(self) -> bool:
        return True


def test_ci_and_a_dumb_terminal_get_plain_lines_even_on_a_terminal(monkeypatch):
    from flows.console import on_terminal

    monkeypatch.setattr(sys, "stdout", _Tty())
    for name in ("CI", "TERM", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    assert on_terminal(_Tty())
    with open(os.devnull, "w") as file:
        assert not on_terminal(file)  # a file: lines
    monkeypatch.setenv("CI", "true")
    assert not on_terminal(_Tty())
    monkeypatch.setenv("CI", "false")
    assert on_terminal(_Tty())
    monkeypatch.setenv("TERM", "dumb")
    assert not on_terminal(_Tty())
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("NO_COLOR", "1")  # colour off, the bar kept
    assert on_terminal(_Tty())
