"""One profile per device at a time across processes, and whether the machine was busy anyway.

Two runs on one machine (or two flow runs on one GPU worker) used to profile the same device at
the same moment, each distorting the other's timings and top-10 silently. ``device_lock`` is an
OS file lock per device (``filelock``: flock on Linux and macOS, LockFileEx on Windows; the
kernel releases it when its holder dies, even by SIGKILL); a config that waits logs whom it
waits for. It covers every process of the host that owns the device (no Prefect concurrency
slot is taken: docs/scale-out.md §4 says why).

A lock cannot stop other programs, so each measured phase also records its window and the CPU
time other processes used during it (``MachineLoad``, from /proc/stat minus this process).
Without /proc/stat (macOS, Windows) that time is unknown, and so is ``contended``: None, never
"not contended".
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
from filelock import FileLock, Timeout

from lab1 import interrupt, machine
from lab1.atomic import write_json
from lab1.config import default_lock_dir
from lab1.rundir import device_tag

log = logging.getLogger("lab1.exclusive")

# A phase counts as contended when other processes used, on average over its window, more
# than this many cores, and more than CONTENDED_MIN_S in all (/proc/stat counts in 10 ms ticks,
# so less cannot tell). Exactly at either bound is not contended (tests/test_findings.py).
CONTENDED_CORES = 0.25
CONTENDED_MIN_S = 0.05
_POLL_S = 0.2


def device_key(device: str) -> str:
    """The physical device: cuda and cuda:0 are one GPU; a GPU is named by its UUID, which
    stays the same under any CUDA_VISIBLE_DEVICES numbering."""
    dev = torch.device(device)
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else 0
        uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
        return f"cuda-{uuid}" if uuid is not None else f"cuda{index}"
    return device_tag(device)


def _holder(path: Path) -> str:
    try:
        h = json.loads(path.read_text(encoding="utf-8"))
        return f"{h['holder']} (pid {h['pid']}, since {h['since']})"
    except (OSError, ValueError, KeyError):
        return "another process"


@contextmanager
def device_lock(device: str, holder: str) -> Iterator[None]:
    """Hold ``device`` for one profiled config; wait (logging whom for) while another has it."""
    key = device_key(device)
    folder = default_lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    lock, who = folder / f"profile-{key}.lock", folder / f"profile-{key}.holder.json"
    # No soft fallback: a lock file without an OS lock would outlive a killed holder.
    flock = FileLock(lock, mode=0o600, fallback_to_soft=False)
    waited = False
    while True:
        try:
            flock.acquire(timeout=0)
            break
        except Timeout:
            if not waited:
                log.info("%s waits for %s: profiled by %s", holder, device, _holder(who))
                waited = True
            interrupt.check()  # waiting is a safe point
            time.sleep(_POLL_S)
    try:
        since = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_json(who, {"holder": holder, "pid": os.getpid(), "since": since})
        try:
            yield
        finally:
            who.unlink(missing_ok=True)  # while still held: never another holder's record
    finally:
        flock.release()


def busy_seconds() -> float | None:
    """CPU seconds all processes have run (user, nice, system, irq, softirq, steal), or None
    where /proc/stat does not exist (lab1.machine)."""
    text = machine.proc_stat_text()
    if text is None:
        return None
    fields = text.splitlines()[0].split()[1:9]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields)
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system  # every thread of this process


@dataclass
class MachineLoad:
    """A measurement window and the CPU time other processes used during it."""

    window_start: float = 0.0  # unix seconds
    window_end: float = 0.0
    other_cpu_s: float | None = None  # None where /proc/stat is missing
    contended: bool | None = None  # None: unknown (no /proc/stat), never a guess

    @classmethod
    @contextmanager
    def measure(cls) -> Iterator[MachineLoad]:
        load = cls(window_start=time.time())
        busy0, own0 = busy_seconds(), _own_seconds()
        yield load
        busy1, own1 = busy_seconds(), _own_seconds()
        load.window_end = time.time()
        if busy0 is not None and busy1 is not None:
            load.other_cpu_s = max(0.0, (busy1 - busy0) - (own1 - own0))
            wall = load.window_end - load.window_start
            load.contended = load.other_cpu_s > max(CONTENDED_MIN_S, CONTENDED_CORES * wall)
