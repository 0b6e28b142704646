"""SIGTERM and Ctrl-C: a request to stop at the next safe point; a second signal stops at once;
the CLI's exit status is the shell's 128 + signal (130 for Ctrl-C)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Work that runs for 60 s unless stopped; with "safe", it passes a safe point every 10 ms.
WORKER = """
import sys, time
from lab1 import interrupt
from lab1.errors import Interrupted
with interrupt.handling():
    print("ready", flush=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if sys.argv[1] == "safe":
                interrupt.check()
            time.sleep(0.01)
    except Interrupted as exc:
        print("stopped", exc.signum, exc.exit_code, flush=True)
        sys.exit(exc.exit_code)
print("ran to the end", flush=True)
"""


def _worker(mode: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout.readline() == "ready\n"
    return proc


def test_ctrl_c_stops_at_the_next_safe_point_with_status_130():
    proc = _worker("safe")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and out == "stopped 2 130\n", (out, err)
    assert "SIGINT received: stopping at the next safe point" in err
    assert "Traceback" not in err


def test_a_second_signal_stops_at_once():
    proc = _worker("busy")  # never reaches a safe point
    try:
        proc.send_signal(signal.SIGINT)
        time.sleep(1.0)
        assert proc.poll() is None  # the first signal only asked
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert time.monotonic() - start < 5
        # Stopped inside the work (no safe point), by the second signal: SIGTERM, 128 + 15.
        assert proc.returncode == 143 and out == "stopped 15 143\n"
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


def test_the_cli_exits_130_on_ctrl_c_with_the_resume_command(
    tiny_data_dir, tmp_path, monkeypatch, capsys
):
    """The CLI's own mapping, without a run: the pipeline stops as Ctrl-C makes it stop."""
    from flows import lab1_flow
    from lab1.errors import Interrupted

    def stopped(**kwargs):
        raise Interrupted(signal.SIGINT)

    monkeypatch.setattr(lab1_flow, "lab1_pipeline", stopped)
    monkeypatch.setattr(lab1_flow, "temporary_server", contextlib.nullcontext)
    monkeypatch.setattr(lab1_flow.console, "install", lambda: None)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    argv = ["--offline", "--data-dir", str(tiny_data_dir), "--runs-dir", str(tmp_path / "runs")]
    status = lab1_flow.main([*argv, "--run-name", "stopped", "--devices", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 130
    assert len(err) == 1 and err[0].startswith("interrupted by SIGINT at a safe point")
    assert "Resume with: " in err[0] and "--resume" in err[0] and "--run-name stopped" in err[0]
