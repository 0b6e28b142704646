"""One profile per device at a time across processes, and whether the machine was busy anyway.

Two runs on one machine (or two flow runs on one GPU worker) used to profile the same device at
the same moment, each distorting the other's timings and top-10 silently. ``device_lock`` is an
OS file lock per device (``filelock``: flock on Linux and macOS, LockFileEx on Windows; the
kernel releases it when its holder dies, even by SIGKILL); a config that waits logs whom it
waits for. It covers every process of the host that owns the device (no Prefect concurrency
slot is taken: docs/operations.md §4 says why).

A lock cannot stop other programs, so each measured phase also records its window and the CPU
time other processes used during it (``MachineLoad``, from /proc/stat minus this process), as
the cores they used on average. A phase is disturbed (``contended``) when they used cores it
needed: its threads plus their cores exceed the machine's logical cores (lab1.host.machine, the one
seam that describes a machine), not merely because something else ran: a 1-thread phase beside
one busy core of two is undisturbed. Without /proc/stat (macOS, Windows) that time is unknown,
and so is ``contended``: None, never "not contended".
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

from lab1 import interrupt
from lab1.atomic import write_json
from lab1.config import default_lock_dir
from lab1.host import machine
from lab1.host.devices import traits
from lab1.rundir import device_tag

log = logging.getLogger("lab1.host.exclusive")

# A phase is contended when its threads plus other processes' mean cores exceed the machine's
# logical cores by more than CONTENDED_TOLERANCE, and others used more than CONTENDED_MIN_S in
# all (/proc/stat counts in 10 ms ticks, so less cannot tell). The tolerance is the background
# any machine has (kernel threads, a shell, a tick's rounding): a quarter of a core shared by
# a phase's threads moves its step time by well under RELIABLE_SPREAD (lab1.reliability).
# Exactly at either bound is not contended (tests/unit/test_findings.py).
CONTENDED_TOLERANCE = 0.25
CONTENDED_MIN_S = 0.05
BLOCK_TICKS_S = 0.02  # two of /proc/stat's 10 ms ticks: the least a block's allowance may be
_POLL_S = 0.2


def device_key(device: str) -> str:
    """The physical device: cuda and cuda:0 are one GPU; a GPU is named by its UUID, which
    stays the same under any CUDA_VISIBLE_DEVICES numbering."""
    dev = torch.device(device)
    if traits(dev).gpu:
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


def _lock_files(device: str) -> tuple[Path, Path]:
    key = device_key(device)
    folder = default_lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"profile-{key}.lock", folder / f"profile-{key}.holder.json"


def device_holder(device: str) -> str | None:
    """Who profiles ``device`` now (None: nobody), asked without waiting: for a command that
    refuses rather than waits (flows/remeasure_flow.py)."""
    lock, who = _lock_files(device)
    flock = FileLock(lock, mode=0o600, fallback_to_soft=False)
    try:
        flock.acquire(timeout=0)
    except Timeout:
        return _holder(who)
    flock.release()
    return None


@contextmanager
def device_lock(device: str, holder: str) -> Iterator[None]:
    """Hold ``device`` for one profiled config; wait (logging whom for) while another has it."""
    lock, who = _lock_files(device)
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
    where /proc/stat does not exist (lab1.host.machine)."""
    text = machine.proc_stat_text()
    if text is None:
        return None
    fields = text.splitlines()[0].split()[1:9]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields)
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    t = os.times()
    return t.user + t.system  # every thread of this process


def others_seconds() -> float | None:
    """CPU seconds other processes have run, as a running count: the difference of two
    readings is what they used in between (None where /proc/stat does not exist)."""
    busy = busy_seconds()
    return None if busy is None else busy - own_seconds()


def disturbed(other_cpu_s: float, wall_s: float, threads: int, cores: int) -> bool:
    """Whether others' ``other_cpu_s`` over ``wall_s`` took cores a ``threads``-thread phase
    needed on a machine of ``cores`` logical cores (the rule above)."""
    other_cores = other_cpu_s / wall_s if wall_s > 0 else 0.0
    over = other_cores + threads - cores
    return other_cpu_s > CONTENDED_MIN_S and round(over, 6) > CONTENDED_TOLERANCE


def block_disturbed(other_cpu_s: float, wall_s: float, threads: int, cores: int) -> bool | None:
    """The rule above for one short timed block, where CONTENDED_MIN_S would hide a whole
    core of others (0.05 s in a 50 ms block): disturbed when others used more than the CPU
    seconds the block leaves them (their share of the machine beyond its ``threads``, plus
    the tolerance), and None where that allowance is under BLOCK_TICKS_S: too few of
    /proc/stat's ticks to tell a quiet block from a busy one."""
    allowance = (cores - threads + CONTENDED_TOLERANCE) * wall_s
    if allowance < BLOCK_TICKS_S:
        return None
    return other_cpu_s > allowance


@dataclass
class MachineLoad:
    """A measurement window, the CPU time other processes used during it, and whether that
    disturbed a phase of ``threads`` threads on a machine of ``logical_cores``."""

    window_start: float = 0.0  # unix seconds
    window_end: float = 0.0
    other_cpu_s: float | None = None  # None where /proc/stat is missing
    contended: bool | None = None  # None: unknown (no /proc/stat), never a guess
    other_cores: float | None = None  # other_cpu_s / the window's wall seconds
    threads: int = 1  # the threads the measured phase needed
    logical_cores: int | None = None  # the machine's (lab1.host.machine)

    @classmethod
    @contextmanager
    def measure(cls, threads: int) -> Iterator[MachineLoad]:
        load = cls(window_start=time.time(), threads=threads, logical_cores=machine.logical_cores())
        busy0, own0 = busy_seconds(), own_seconds()
        yield load
        busy1, own1 = busy_seconds(), own_seconds()
        load.window_end = time.time()
        if busy0 is not None and busy1 is not None:
            load.other_cpu_s = max(0.0, (busy1 - busy0) - (own1 - own0))
            wall = load.window_end - load.window_start
            load.other_cores = load.other_cpu_s / wall if wall > 0 else 0.0
            if load.logical_cores is not None:
                load.contended = disturbed(load.other_cpu_s, wall, threads, load.logical_cores)
