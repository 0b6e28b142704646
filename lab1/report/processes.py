"""Processes lab1 starts and stops again, and the local HTTP it asks them: a free port, a JSON
reply, a process stopped with everything it started (TensorBoard's data server, Chromium's
helpers)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import urllib.request
from typing import Any


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def get_json(url: str, timeout_s: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as r:
        return json.loads(r.read())


def stop_group(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """Stop a process started in its own session, and everything it started (its group)."""
    if not hasattr(os, "killpg"):  # Windows: no process groups; taskkill /T stops the tree
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                ["taskkill", "/T", "/F", "/PID", str(proc.pid)], capture_output=True, timeout=30
            )
        with contextlib.suppress(OSError):
            proc.kill()
        proc.wait()
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)
    # Children (TensorBoard's data server, Chromium's helpers) may outlive the leader.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
