"""Faults inside a real run, each through the real CLI: at most 3 lines beyond the
normal progress, no traceback, and a manifest that says what happened."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from conftest import write_mnist_layout
from prefect_server import MARKER, free_port, marked_pids

from lab1.run.checkpoints import load_newest_valid
from lab1.schemas import COMPARISON_SCHEMA, read_parquet

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
# A successful run prints these too: Prefect's INFO progress and torch's native profiler noise.
PROGRESS = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} \| INFO |^USDT:|^\[W\d|^ERROR:\d{4}-.*DeviceProp")


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    return {**env, "CUDA_VISIBLE_DEVICES": "", **extra}


def _cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "flows" / "lab1_flow.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or _env(),
    )


def _extra(result: subprocess.CompletedProcess) -> list[str]:
    """The lines beyond the normal progress (stderr: stdout has only the success summary);
    no traceback allowed anywhere."""
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]
    lines = result.stderr.splitlines()
    return [line for line in lines if line.strip() and not PROGRESS.match(line)]


def _manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("faults-data")
    write_mnist_layout(root)
    return root


@pytest.fixture(scope="session")
def api_env(prefect_server) -> dict:
    """The environment of a CLI that reports to the session's Prefect server, as after
    `make server`: runs whose subject is not the temporary server skip starting one each."""
    return _env(PREFECT_API_URL=prefect_server.url)


def _args(data_dir: Path, runs: Path, name: str, *more: str) -> list[str]:
    return [
        "--offline",
        "--dry-run",
        "--data-dir",
        str(data_dir),
        "--runs-dir",
        str(runs),
        "--run-name",
        name,
        "--devices",
        "cpu",
        "--batch-sizes",
        "2",
        "--cpu-threads",
        "1",
        *more,
    ]


@pytest.fixture(scope="session")
def completed(data_dir, tmp_path_factory, api_env) -> tuple[Path, list[str]]:
    """One completed dry run, shared by the resume tests."""
    runs = tmp_path_factory.mktemp("faults-runs")
    args = _args(data_dir, runs, "done")
    result = _cli(*args, env=api_env)
    assert result.returncode == 0, result.stderr[-3000:]
    return runs / "done", args


def _main(capsys, *args: str) -> tuple[int, list[str]]:
    """The CLI's main() in this process, for refusals made before any run starts (the entry
    point as a process is tested in test_flow): (exit status, stderr's lines)."""
    from flows.lab1_flow import main

    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, err
    return code, [line for line in err.splitlines() if line.strip()]


def test_resume_with_differing_settings_is_refused_in_one_line(completed, capsys):
    run, args = completed
    code, lines = _main(capsys, *args, "--resume", "--batch-size", "32", "--lr", "0.5")
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: --resume done"), lines
    assert "--batch-size 64 → 32" in lines[0] and "--lr 1.0 → 0.5" in lines[0]
    assert _manifest(run)["status"] == "completed"  # refused before anything was touched


def test_truncated_checkpoint_is_set_aside_and_the_run_resumes(completed, api_env):
    run, args = completed
    ckpt = run / "checkpoints"
    (ckpt / "epoch_2.pt").write_bytes((ckpt / "epoch_2.pt").read_bytes()[:1000])
    # Another --log-interval: the training task runs again (not from the cache), the rest is
    # reused; the preflight allows it.
    result = _cli(*args, "--resume", "--log-interval", "5", env=api_env)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = _extra(result)
    assert len(lines) <= 3 and any("epoch_2.pt" in x and "set aside" in x for x in lines), lines
    assert (ckpt / "epoch_2.pt.bad").is_file() and (ckpt / "epoch_2.pt").is_file()
    manifest = _manifest(run)
    assert manifest["status"] == "completed"
    assert manifest["training"]["resumed_from_epoch"] == 1

    for path in ckpt.glob("epoch_*.pt"):  # now none is valid
        path.write_bytes(b"\0" * 100)
    result = _cli(*args, "--resume", "--log-interval", "7", env=api_env)
    assert result.returncode == 1
    lines = _extra(result)
    assert len(lines) <= 3 and lines[-1].startswith("error: none of the"), lines
    assert "without --resume" in lines[-1]
    assert _manifest(run)["status"] == "failed" and "none of the" in _manifest(run)["error"]
    assert _manifest(run)["resume_command"] is None  # resuming would meet the same checkpoints


class _GarbageServer:
    """A TCP port that accepts and answers something that is not HTTP."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"SSH-2.0-garbage\r\n\x00\xff not prefect\r\n\r\n")


@pytest.mark.parametrize("kind", ["garbage", "refused"])
def test_unreachable_prefect_api_is_one_line_before_any_run_dir(kind, data_dir, tmp_path, capsys):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if kind == "garbage":
        server = _GarbageServer()
        port = server.port
    else:
        port = free_port()  # nothing listens there
    url = f"http://127.0.0.1:{port}/api"
    runs = tmp_path / "runs"
    with temporary_settings(updates={PREFECT_API_URL: url}):
        code, lines = _main(capsys, *_args(data_dir, runs, "api"))
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: ") and url in lines[0], lines
    assert "make server" in lines[0] and "unset PREFECT_API_URL" in lines[0]
    assert not (runs / "api").exists()


def _tmpfs(path: Path, size_mb: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)],
        check=True,
        capture_output=True,
    )


def test_disk_full_is_one_line_leaves_no_temp_file_and_resumes(data_dir, tmp_path, api_env):
    runs = tmp_path / "small"
    try:
        _tmpfs(runs, 12)  # a checkpoint (model + optimizer) is 14 MB: it cannot fit
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        args = _args(data_dir, runs, "full")
        result = _cli(*args, env=api_env)
        assert result.returncode == 1
        lines = _extra(result)
        assert len(lines) <= 3, lines
        assert re.match(r"error: could not write .*epoch_1\.pt: no space left", lines[-1]), lines
        assert "--resume" in lines[-1]
        run = runs / "full"
        assert not [p for p in run.rglob("*") if p.name.endswith(".tmp")]
        manifest = _manifest(run)
        assert manifest["status"] == "failed" and "no space left" in manifest["error"]
        assert (run / "data" / "mnist.pt").is_file()  # completed outputs untouched
        # Space is freed: --resume continues and completes.
        subprocess.run(["mount", "-o", "remount,size=80m", str(runs)], check=True)
        resumed = _cli(*args, "--resume", env=api_env)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert _manifest(run)["status"] == "completed"
    finally:
        subprocess.run(["umount", "-l", str(runs)], capture_output=True)


def test_sigterm_stops_at_a_safe_point_and_leaves_no_process(tmp_path):
    data = tmp_path / "data"
    write_mnist_layout(data, n_train=3000, n_test=200)  # an epoch takes seconds
    runs, token = tmp_path / "runs", uuid.uuid4().hex
    args = [
        "--offline",
        "--data-dir",
        str(data),
        "--runs-dir",
        str(runs),
        "--run-name",
        "term",
        "--epochs",
        "4",
        "--devices",
        "cpu",
        "--batch-sizes",
        "2",
    ]
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "flows" / "lab1_flow.py"), *args],
        env=_env(**{MARKER: token}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ckpt = runs / "term" / "checkpoints"
    deadline = time.monotonic() + 180
    while not (ckpt / "epoch_1.json").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert proc.returncode == 143
    lines = _extra(result)
    assert len(lines) <= 3 and lines[-1].startswith("interrupted by SIGTERM"), lines
    manifest = _manifest(runs / "term")
    assert manifest["status"] == "interrupted"
    assert manifest["resume_command"] in lines[-1] and "--resume" in manifest["resume_command"]
    assert load_newest_valid(ckpt) is not None  # the newest checkpoint is whole
    assert not list(ckpt.glob("*.bad"))
    time.sleep(1)
    assert marked_pids(token) == []  # the temporary Prefect server is gone too


def test_two_runs_take_turns_on_the_device(data_dir, tmp_path, api_env):
    runs = tmp_path / "runs"
    env = {**api_env, "LAB1_LOCK_DIR": str(tmp_path / "locks")}
    cli = [sys.executable, str(ROOT / "flows" / "lab1_flow.py")]
    sizes = ("--batch-sizes", "1", "2", "4")
    procs = [
        subprocess.Popen(
            [*cli, *_args(data_dir, runs, name, *sizes)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("first", "second")
    ]
    for p in procs:
        _out, err = p.communicate(timeout=400)
        assert p.returncode == 0, err[-3000:]
    windows = {
        name: read_parquet(runs / name / "compare" / "comparison.parquet", COMPARISON_SCHEMA)
        for name in ("first", "second")
    }
    for a in windows["first"].itertuples():
        for b in windows["second"].itertuples():
            assert a.window_end <= b.window_start or b.window_end <= a.window_start, (a, b)
    assert all(w["window_end"].gt(w["window_start"]).all() for w in windows.values())
