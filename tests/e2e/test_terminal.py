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
