"""A student's laptop: what lab1 does where a Linux-only piece is missing (fcntl, /proc, glibc,
os.statvfs, os.killpg) or the device is Apple's MPS. Each test takes one piece away and checks
the degraded path: the value is None ("unknown") and the report says so once, never a guess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from test_report import ENV, make_run

from lab1 import atomic, fmt, report
from lab1.compare.within import combine_and_compare
from lab1.errors import DeviceError
from lab1.host import allocator, devices, environment, exclusive, machine
from lab1.host.machine import ENV_VAR
from lab1.measure import limits, profiling
from lab1.measure.analysis import roofline_table
from lab1.report import findings, grids, processes
from lab1.rundir import RunPaths

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_proc(monkeypatch, tmp_path):
    """A system without /proc (macOS, Windows): every /proc path lab1 reads is missing. The
    real readers are exercised (no description), with their Linux sources taken away."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(machine, "PROC_CPUINFO", tmp_path / "no-cpuinfo")
    monkeypatch.setattr(machine, "PROC_MEMINFO", tmp_path / "no-meminfo")
    monkeypatch.setattr(machine, "PROC_STAT", tmp_path / "no-stat")


# --------------------------------------------------------------------------- no fcntl

_WITHOUT_FCNTL = """
import importlib, pkgutil, sys, threading, time
sys.modules["fcntl"] = None  # 'import fcntl' now raises ImportError, as on Windows
import lab1
names = [m.name for m in pkgutil.walk_packages(lab1.__path__, "lab1.")]
for name in names:
    importlib.import_module(name)
from lab1.host.exclusive import device_lock
order = []
def hold(name, seconds):
    with device_lock("cpu", name):
        order.append(name + " in")
        time.sleep(seconds)
        order.append(name + " out")
first = threading.Thread(target=hold, args=("A", 0.5))
first.start()
time.sleep(0.2)
hold("B", 0.0)
first.join()
print(len(names), order)
"""


def test_every_module_imports_and_the_device_lock_still_excludes_without_fcntl(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LAB1_LOCK_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_FCNTL],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    count, order = result.stdout.split(" ", 1)
    assert int(count) >= 40  # every lab1 module (and lab1.report's), not a few
    assert order.strip() == "['A in', 'A out', 'B in', 'B out']"


def test_the_holder_is_recorded_while_the_os_lock_is_held(tmp_path, monkeypatch):
    from filelock import FileLock, Timeout

    monkeypatch.setenv("LAB1_LOCK_DIR", str(tmp_path))
    key = exclusive.device_key("cpu")
    holder, lock = tmp_path / f"profile-{key}.holder.json", tmp_path / f"profile-{key}.lock"
    with exclusive.device_lock("cpu", "run A"):
        assert json.loads(holder.read_text())["holder"] == "run A"
        with pytest.raises(Timeout):  # what another process's attempt meets
            FileLock(lock).acquire(timeout=0)
    assert not holder.exists()  # the record goes with the lock
    FileLock(lock).acquire(timeout=0)  # and the lock is free again


# --------------------------------------------------------------------------- no /proc


def test_contention_is_unknown_not_quiet_without_proc_stat(no_proc):
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        with exclusive.MachineLoad.measure(1) as load:
            time.sleep(0.3)
    finally:
        spin.kill()
        spin.wait()
    assert load.other_cpu_s is None and load.other_cores is None
    assert load.contended is None  # not False: nothing measured it


def test_cpu_model_and_memory_come_from_sysctl_on_macos(no_proc, monkeypatch):
    answers = {"machdep.cpu.brand_string": "Apple M2 Pro\n", "hw.memsize": "17179869184\n"}

    def sysctl(cmd, **kw):
        assert cmd[:2] == ["sysctl", "-n"]
        return subprocess.CompletedProcess(cmd, 0, stdout=answers[cmd[2]], stderr="")

    monkeypatch.setattr(machine.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(machine.subprocess, "run", sysctl)
    assert machine.cpu_model() == "Apple M2 Pro"
    assert machine.memory_bytes() == 16 * 2**30


def test_memory_is_unknown_when_no_source_answers(no_proc, monkeypatch):
    monkeypatch.setattr(machine.platform, "system", lambda: "Darwin")

    def failing(cmd, **kw):
        raise FileNotFoundError("sysctl")

    monkeypatch.setattr(machine.subprocess, "run", failing)
    monkeypatch.delattr(machine.os, "sysconf")
    monkeypatch.setattr(machine.platform, "processor", lambda: "")
    monkeypatch.setattr(machine.platform, "machine", lambda: "arm64")
    assert machine.memory_bytes() is None
    assert machine.cpu_model() == "arm64"  # the architecture at worst, never a blank


def test_bf16_is_refused_as_undetermined_without_cpu_flags(no_proc):
    assert machine.cpu_flags() is None
    with pytest.raises(DeviceError) as err:
        devices.check_precision("cpu", {"fp32", "bf16"})
    assert "could not determine whether this CPU has native bf16" in str(err.value)
    assert "neither" not in str(err.value)  # not "your CPU lacks bf16"
    assert limits.bf16_support(torch.device("cpu")).startswith("not measured: could not")


def test_what_this_system_lacks_is_listed_in_the_environment(no_proc, monkeypatch):
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("", ""))  # musl, macOS, …
    monkeypatch.setattr(machine, "memory_bytes", lambda: None)
    env = environment.capture_environment()
    assert env.unmeasured == ["cpu_flags", "contention", "allocator", "memory"]
    assert env.memory_bytes is None


def test_glibc_tuning_is_skipped_without_glibc(monkeypatch):
    monkeypatch.setattr(allocator.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(allocator, "_heap_kept", None)
    assert allocator.keep_heap_mapped() is False


# --------------------------------------------------------------------------- statvfs, killpg


def test_without_statvfs_the_writers_own_error_is_raised(tmp_path, monkeypatch):
    monkeypatch.delattr(atomic.os, "statvfs")

    def broken(tmp: Path) -> None:
        raise RuntimeError("the writer's own failure")

    with pytest.raises(RuntimeError, match="the writer's own failure"):
        atomic.atomic_write(tmp_path / "out.bin", broken)
    assert list(tmp_path.iterdir()) == []


def test_without_killpg_the_process_tree_is_stopped_by_taskkill(monkeypatch):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    calls = []
    real_run = subprocess.run

    def run(cmd, **kw):
        if cmd[0] == "taskkill":
            calls.append(cmd)
            return subprocess.CompletedProcess(cmd, 0)
        return real_run(cmd, **kw)

    monkeypatch.delattr(processes.os, "killpg")
    monkeypatch.setattr(processes.subprocess, "run", run)
    processes.stop_group(proc, grace_s=1)
    assert calls == [["taskkill", "/T", "/F", "/PID", str(proc.pid)]]
    assert proc.returncode is not None  # stopped and reaped (proc.kill after taskkill)


# --------------------------------------------------------------------------- an MPS-like device


def test_mps_peak_memory_is_not_read_from_the_cpu_trace(tmp_path):
    peak, source = profiling._peak_memory(torch.device("mps"), tmp_path / "no-trace.json.gz")
    assert peak is None and source.startswith("not measured")


def _top10_row(device: str, op: str, rank: int, self_cpu: float) -> dict:
    return {
        "run_id": "r",
        "torch_version": "2.14.1",
        "machine_id": "a1b2c3d4e5f6",
        "device": device,
        "device_name": "Apple MPS",
        "precision": "fp32",
        "threads": 8,
        "batch_size": 64,
        "phase": "train_step",
        "sort_key": "self_cpu",
        "rank": rank,
        "op_name": op,
        "share": self_cpu / 300.0,
        "active_steps": 5,
        "calls": 5,
        "self_cpu_us": self_cpu,
        "cpu_total_us": self_cpu,
        "self_device_us": 0.0,
        "device_total_us": 0.0,
    }


def test_mps_top10_is_ranked_by_dispatch_time_and_says_device_time_is_not_measured():
    top = pd.DataFrame(
        [_top10_row("mps", "aten::conv2d", 1, 200.0), _top10_row("mps", "aten::relu", 2, 100.0)]
    )
    [(_, (title, table))] = grids.top10_by_config(top)
    assert "ranked by CPU dispatch time (device time not measured)" in title
    assert table.header == [
        "#",
        "operator",
        "calls/step",
        "self CPU (µs/step)",
        "CPU total (µs/step)",
        "self device (µs/step)",
        "device total (µs/step)",
        "share",
    ]
    # 200 µs over 5 steps = 40 µs per step; 200 / 300 of the ranking time.
    assert table.rows[0][3:] == ["40.0", "40.0", "not measured", "not measured", "66.67%"]


def test_mps_operators_get_no_roofline_point():
    row = {
        **{k: v for k, v in _top10_row("mps", "aten::mm", 1, 100.0).items() if k != "rank"},
        "kind": "op",
        "input_shapes": "[[64, 128], [128, 10]]",
        "flops": 5 * 2 * 64 * 128 * 10,
    }
    ops = pd.DataFrame([row, {**row, "device": "cpu", "device_name": "Test CPU"}])
    points = roofline_table(ops, None, lambda d: "self_cpu")
    assert list(points["device"]) == ["cpu"]


def _mps_run(tmp_path: Path) -> Path:
    """A run whose cpu rows had no /proc/stat and whose mps rows no device time or peak memory,
    as profile_config leaves them on a Mac."""
    # contention is left out of the environment's list: the note must find it in the table.
    env = {**ENV, "memory_bytes": None, "unmeasured": ["cpu_flags", "memory"]}
    run = make_run(tmp_path / "mac", devices=("cpu", "mps"), env=env)
    paths = RunPaths(run)
    for result in paths.profile_results():
        data = json.loads(result.read_text())
        for row in data["throughput"]:
            row.update(other_cpu_s=None, contended=None)
            if row["device"] == "mps":
                row.update(peak_memory_bytes=None, peak_memory_source="not measured")
        result.write_text(json.dumps(data))
    combine_and_compare(paths, "r")
    return run


def test_the_report_says_once_what_was_not_measured_in_both_languages(tmp_path):
    run = _mps_run(tmp_path)
    en = Path(report.write_report(run, "en")["report_md"]).read_text()
    zh = Path(report.write_report(run, "zh")["report_md"]).read_text()
    assert en.count("Not measured on this system") == 1
    assert zh.count("本系统上未测量") == 1
    for needle in ("native bf16", "contended is unknown", "memory size", "CPU dispatch time"):
        assert needle in en.split("Not measured on this system", 1)[1].split("\n", 1)[0]
    note_zh = zh.split("本系统上未测量", 1)[1].split("\n", 1)[0]
    for needle in ("bf16", "争用为未知", "内存大小", "CPU 派发时间"):
        assert needle in note_zh
    assert "glibc" not in en  # this system had glibc: no word about it
    assert "Contended:" not in en  # unknown is not said as contended either
    # mps peak memory: a cell that says so, and no peak-memory sentence about a dash
    assert f"| {fmt.NOT_MEASURED} |" in en and "未测量" in zh
    assert f"peak memory goes from {fmt.MISSING}" not in en


def test_no_note_where_everything_was_measured():
    manifest = type("M", (), {"environment": environment.Environment(**ENV)})()
    cmp = pd.DataFrame({"device": ["cpu", "cuda"], "contended": [False, True]})
    assert findings.unmeasured(manifest, cmp) == []
