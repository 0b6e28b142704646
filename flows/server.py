"""The CLI's temporary Prefect server, owned by the CLI so that no way out leaves it behind.

Prefect would start the same server itself (``SubprocessASGIServer``: uvicorn over
``prefect.server.api.server:create_app``) on first use, but in the CLI's process group, so
Ctrl-C at the terminal stops it under the running flow; and its SIGTERM handler kills the CLI
before the atexit hook that stops the server (an orphan was once found 18 minutes later).
Here it runs in its own session (the terminal's Ctrl-C does not reach it), is stopped in a
``finally``, and on Linux dies with its parent even after a SIGKILL (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import prefect
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_UI_URL,
    get_current_settings,
    temporary_settings,
)

from lab1.errors import PrefectAPIError

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the CLI dies, however it dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        **get_current_settings().to_environment_variables(exclude_unset=True),
        # As Prefect starts its own temporary server: no UI, an ephemeral database.
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(Path(prefect.__file__).parents[1]),
            "--factory",
            "prefect.server.api.server:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "error",
            "--lifespan",
            "on",
        ],
        env=env,
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )


def _wait_healthy(proc: subprocess.Popen, url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PrefectAPIError(
                f"the temporary Prefect server exited with code {proc.returncode}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise PrefectAPIError(f"the temporary Prefect server did not answer within {timeout_s:.0f} s")


def _drain_prefect_workers() -> None:
    """Send the logs and events still queued while the server is up (they go to it)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogHandler

    with contextlib.suppress(Exception):
        APILogHandler.flush()
    with contextlib.suppress(Exception):
        EventsWorker.drain_all(timeout=10)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def temporary_server(timeout_s: float = 120) -> Iterator[str | None]:
    """A temporary server for this process when PREFECT_API_URL is unset; yields its URL
    (None when the user's server is used)."""
    if PREFECT_API_URL.value():
        yield None
        return
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    proc = _start(port)
    try:
        _wait_healthy(proc, url, timeout_s)
        # No UI is served: no "View at" links to it.
        with temporary_settings(updates={PREFECT_API_URL: url, PREFECT_UI_URL: ""}):
            try:
                yield url
            finally:
                _drain_prefect_workers()
    finally:
        _stop(proc)
