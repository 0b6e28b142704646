"""A real Dask cluster on 127.0.0.1: a ``dask scheduler`` and ``dask worker`` processes, started
with the commands an operator types (docs/operations.md), each worker one thread.

    with dask_cluster(workers=2, env=env) as cluster:
        cluster.address   # tcp://127.0.0.1:PORT
        cluster.pids      # the scheduler's and the workers' processes

Every process runs in a session of its own; leaving the block (however it is left) kills each
session, so the workers' own child processes (their nannies' workers) go too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DASK = str(Path(sys.executable).parent / "dask")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _workers(address: str) -> int:
    from distributed import Client

    with Client(address, timeout=5) as client:
        return len(client.scheduler_info()["workers"])


@dataclass(frozen=True)
class Cluster:
    address: str
    pids: tuple[int, ...]


@contextlib.contextmanager
def dask_cluster(workers: int, env: dict[str, str], timeout: float = 120) -> Iterator[Cluster]:
    """The cluster once ``workers`` workers have joined its scheduler."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    common = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs: list[subprocess.Popen] = []
    try:
        port = address.rsplit(":", 1)[1]
        scheduler = [DASK, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"]
        procs.append(subprocess.Popen(scheduler, start_new_session=True, **common))
        for i in range(workers):
            worker = [DASK, "worker", address, "--nthreads", "1", "--name", f"w{i}"]
            worker += ["--host", "127.0.0.1", "--no-dashboard"]
            procs.append(subprocess.Popen(worker, start_new_session=True, **common))
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError, TimeoutError):
                if _workers(address) == workers:
                    break
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"the Dask cluster at {address} did not come up")
            time.sleep(0.5)
        yield Cluster(address, tuple(p.pid for p in procs))
    finally:
        for proc in reversed(procs):  # workers first: they would wait for a lost scheduler
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in procs:
            proc.wait(timeout=30)
