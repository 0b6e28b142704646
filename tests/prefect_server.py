"""A real ``prefect server start`` for end-to-end tests, and the CLI processes that talk to it.

Unlike ``prefect_test_harness`` (an in-process server), this runs the same commands a user
types: ``prefect work-pool create``, ``prefect deploy``, ``prefect worker start``. Everything
runs with the virtual environment's ``prefect`` and Python, against a private ``PREFECT_HOME``.

Every process started here, and every process those start (workers spawn flow-run processes in
their own sessions), carries a marker variable in its environment, so ``stop()`` finds and ends
exactly those processes and ``leftovers()`` can prove that none survived.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

MARKER = "LAB1_TEST_PREFECT_SERVER"
VENV_BIN = Path(sys.executable).parent  # .venv/bin when pytest runs from the venv
PREFECT = str(VENV_BIN / "prefect")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def marked_pids(token: str) -> list[int]:
    """Processes whose environment holds MARKER=token (Linux /proc; [] where unavailable)."""
    needle = f"{MARKER}={token}".encode()
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return [p for p in pids if p != os.getpid()]


def _signal(pid: int, sig: signal.Signals, group: bool = False) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        (os.killpg if group else os.kill)(pid, sig)


class PrefectServer:
    """``with PrefectServer(tmp_path) as server: server.cli("work-pool", "ls")``"""

    def __init__(self, home: Path, startup_timeout: float = 120.0) -> None:
        self.home = Path(home)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.token = uuid.uuid4().hex
        self.startup_timeout = startup_timeout
        self.log_path = self.home / "server.log"
        self._procs: list[subprocess.Popen] = []
        # Nothing from the developer's own Prefect profile may leak in (e.g. a Cloud API URL).
        base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        self.env = {
            **base,
            # Flow-run processes are started with the worker's Python; keep the venv first anyway
            # so any `python`/`prefect` a step spawns is the project's.
            "PATH": f"{VENV_BIN}{os.pathsep}{base.get('PATH', '')}",
            "PREFECT_HOME": str(self.home),
            "PREFECT_API_URL": self.url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_ENABLED": "false",  # not needed here; saves startup time
            "PREFECT_LOGGING_EXTRA_LOGGERS": "lab1",
            MARKER: self.token,
        }

    # ------------------------------------------------------------------------ lifecycle

    def __enter__(self) -> PrefectServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the server and wait until /api/health answers."""
        self.home.mkdir(parents=True, exist_ok=True)
        server_env = {k: v for k, v in self.env.items() if k != "PREFECT_API_URL"}
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child owns it; closed below
        try:
            proc = self._popen(
                [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
                env=server_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"prefect server exited ({proc.returncode}):\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError(
            f"prefect server not healthy after {self.startup_timeout}s:\n{self.log()}"
        )

    def stop(self, grace: float = 10.0) -> None:
        """End every process started here and their descendants: TERM, then KILL."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            # Groups of the sessions started here (reaching children not yet marked), then
            # each marked straggler (flow-run processes start sessions of their own).
            for proc in self._procs:
                _signal(proc.pid, sig, group=True)
            for pid in marked_pids(self.token):
                _signal(pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and self.leftovers():
                time.sleep(0.2)
            if not self.leftovers():
                break
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    def leftovers(self) -> list[int]:
        """Live processes started by this server's tests (zombies already reaped are gone)."""
        alive = [p.pid for p in self._procs if p.poll() is None]
        return sorted(set(alive) | set(marked_pids(self.token)))

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    # ------------------------------------------------------------------------ processes

    def _popen(self, args: list[str], env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
        # A session of its own: a signal to its group reaches the grandchildren too.
        proc = subprocess.Popen(args, env=env or self.env, start_new_session=True, **kw)
        self._procs.append(proc)
        return proc

    def run(
        self,
        args: list[str],
        timeout: float = 120.0,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess:
        """Run a command against this server; on timeout its whole process group is killed."""
        proc = self._popen(
            args,
            env={**self.env, **(env or {})},
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal(proc.pid, signal.SIGKILL, group=True)
            out, _ = proc.communicate()
            raise AssertionError(f"{' '.join(args)} timed out after {timeout}s:\n{out}") from None
        result = subprocess.CompletedProcess(args, proc.returncode, out, "")
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {result.returncode}:\n{out}")
        return result

    def cli(self, *args: str, **kw) -> subprocess.CompletedProcess:
        """``prefect --no-prompt ARGS`` (never waits on a prompt)."""
        return self.run([PREFECT, "--no-prompt", *args], **kw)

    def worker(
        self, pool: str, timeout: float = 180.0, env: dict[str, str] | None = None, **kw
    ) -> subprocess.CompletedProcess:
        """One polling round of a process worker; returns once the runs it picked up ended."""
        name = f"{pool}-test-{uuid.uuid4().hex[:6]}"
        return self.cli(
            "worker",
            "start",
            "--pool",
            pool,
            "--name",
            name,
            "--run-once",
            timeout=timeout,
            env=env,
            **kw,
        )

    # ------------------------------------------------------------------------ REST API

    def api(self, method: str, path: str, json: Any = None) -> Any:
        response = httpx.request(method, f"{self.url}{path}", json=json, timeout=30)
        response.raise_for_status()
        return response.json() if response.content else None

    def flow_runs(self, **filters: Any) -> list[dict]:
        """POST /flow_runs/filter, e.g. flow_runs(name={"any_": ["x"]})."""
        return self.api("POST", "/flow_runs/filter", {"flow_runs": filters})

    def flow_run(self, flow_run_id: str) -> dict:
        return self.api("GET", f"/flow_runs/{flow_run_id}")

    def task_runs(self, flow_run_id: str) -> list[dict]:
        """The flow run's own task runs (not the stand-ins for its subflow runs)."""
        body = {
            "flow_runs": {"id": {"any_": [flow_run_id]}},
            "task_runs": {"subflow_runs": {"exists_": False}},
        }
        return self.api("POST", "/task_runs/filter", body)

    def artifacts(self, flow_run_ids: list[str]) -> list[dict]:
        body = {"artifacts": {"flow_run_id": {"any_": flow_run_ids}}}
        return self.api("POST", "/artifacts/filter", body)

    def logs(self, flow_run_id: str, limit: int = 200) -> str:
        body = {"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": limit}
        return "\n".join(row["message"] for row in self.api("POST", "/logs/filter", body))
