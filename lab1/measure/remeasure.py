"""Measure again when other programs disturbed a measurement: bounded, and every try recorded.

A measurement (a profiled phase, one of the machine's limits, one size of the step-time ladder)
runs inside ``lab1.host.exclusive.MachineLoad``. When that says other programs used cores it needed,
it waits for the machine to quieten (short windows of /proc/stat, until others' cores plus its
threads fit the machine, or the wait budget is spent) and measures again, at most
``Patience.tries`` times in all (once the budget is spent, without waiting: a load comes and
goes). The attempt kept is the least disturbed (the fewest cores others used; ties: the first),
and every attempt is returned for the run's record.

A quiet machine costs nothing: one attempt, no wait. A machine whose disturbance is unknown (no
/proc/stat) is never waited for either: nothing could say when it is quiet. The budget is
shared by a group of measurements (``Patience``: one profiled config, one ladder, one device's
limits), so a machine that stays busy delays a run by at most ``quiet_wait_s`` per group.

A load that comes and goes faster than an attempt lasts leaves no attempt undisturbed, yet
some of its timed blocks ran in the quiet moments. So timed steps (``measure_blocks``) are
also judged block by block, each by the CPU other programs used during that block alone:
once CLEAN_BLOCKS blocks of a disturbed measurement's attempts were undisturbed, their
median is the number, undisturbed, and no more tries are needed. A measurement whose
attempt was undisturbed as a whole keeps all its blocks, as before.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TypeVar

from lab1 import interrupt
from lab1.host import exclusive
from lab1.host.exclusive import CONTENDED_TOLERANCE, MachineLoad, busy_seconds, own_seconds
from lab1.reliability import block_spread, judge

log = logging.getLogger("lab1.measure.remeasure")

T = TypeVar("T")
QUIET_WINDOW_S = 0.5  # one look at the machine while waiting: /proc/stat over half a second
# Undisturbed blocks a disturbed measurement needs for its number to stand: a median of three
# (of the TIMING_CHUNKS blocks an attempt times, lab1.measure.profiling), pooled over its tries.
CLEAN_BLOCKS = 3


@dataclass
class Patience:
    """How hard a group of measurements tries: ``tries`` attempts each at most, and
    ``quiet_wait_s`` seconds of waiting for a quiet machine between them, for the whole group."""

    tries: int = 3
    quiet_wait_s: float = 30.0
    waited_s: float = 0.0  # spent so far by the group

    @property
    def left_s(self) -> float:
        return max(0.0, self.quiet_wait_s - self.waited_s)


def sample_other_cores(window_s: float) -> float | None:
    """Other processes' mean cores over the next ``window_s`` seconds (None: no /proc/stat)."""
    busy0, own0, t0 = busy_seconds(), own_seconds(), time.monotonic()
    time.sleep(window_s)
    busy1, own1, t1 = busy_seconds(), own_seconds(), time.monotonic()
    if busy0 is None or busy1 is None or t1 <= t0:
        return None
    return max(0.0, (busy1 - busy0) - (own1 - own0)) / (t1 - t0)


def wait_for_quiet(
    threads: int,
    cores: int,
    patience: Patience,
    *,
    sample: Callable[[float], float | None] = sample_other_cores,
    clock: Callable[[], float] = time.monotonic,
    window_s: float = QUIET_WINDOW_S,
) -> bool:
    """Look at the machine in ``window_s`` windows until others' cores plus ``threads`` fit
    in ``cores`` (True), or the group's wait budget is spent or the load is unknown (False).
    The time spent is charged to ``patience``. Ctrl-C stops between windows."""
    start = clock()
    try:
        while True:
            interrupt.check()  # waiting is a safe point
            left = patience.left_s - (clock() - start)
            if left <= 0:
                return False
            others = sample(min(window_s, left))
            if others is None:
                return False
            if others + threads <= cores + CONTENDED_TOLERANCE:
                return True
    finally:
        patience.waited_s += clock() - start


@dataclass
class Attempt:
    """One try of one measurement: how long it waited for quiet first, and its load."""

    attempt: int  # 1, 2, …
    waited_s: float  # waiting for a quiet machine just before it
    window_start: float
    window_end: float
    other_cpu_s: float | None
    other_cores: float | None
    contended: bool | None
    kept: bool = False


def _disturbance(load: MachineLoad) -> float:
    return float("inf") if load.other_cores is None else load.other_cores


def measure_until_quiet(
    measure: Callable[[], tuple[T, MachineLoad]],
    patience: Patience,
    *,
    what: str = "measurement",
    sample: Callable[[float], float | None] = sample_other_cores,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[T, MachineLoad, list[Attempt]]:
    """Run ``measure`` (returning its result and its MachineLoad) until an attempt is not
    disturbed or the tries are used up, waiting for quiet before each new try. Returns the
    kept attempt's result and load, and every attempt (the kept one marked)."""
    results, attempts = _tries(measure, patience, what, sample, clock)
    kept = next(i for i, a in enumerate(attempts) if a.kept)
    return results[kept][0], results[kept][1], attempts


def _tries(
    measure: Callable[[], tuple[T, MachineLoad]],
    patience: Patience,
    what: str,
    sample: Callable[[float], float | None],
    clock: Callable[[], float],
    enough: Callable[[list[tuple[T, MachineLoad]]], bool] = lambda _: False,
) -> tuple[list[tuple[T, MachineLoad]], list[Attempt]]:
    """measure_until_quiet's loop, returning every attempt's result and load; ``enough``
    ends it early when the results so far already make a disturbed measurement's number."""
    results: list[tuple[T, MachineLoad]] = []
    attempts: list[Attempt] = []
    waited = 0.0
    while True:
        result, load = measure()
        results.append((result, load))
        fields = {k: getattr(load, k) for k in ("window_start", "window_end", "other_cpu_s")}
        attempts.append(
            Attempt(
                len(attempts) + 1,
                round(waited, 3),
                **fields,
                other_cores=load.other_cores,
                contended=load.contended,
            )
        )
        if load.contended is not True or len(attempts) >= max(1, patience.tries):
            break
        if enough(results):
            break
        if load.logical_cores is None:
            break
        log.info(
            "%s disturbed: other programs used %.2f of %d cores beside its %d thread(s); "
            "waiting for a quiet machine to measure again (try %d of %d)",
            what,
            load.other_cores,
            load.logical_cores,
            load.threads,
            len(attempts) + 1,
            patience.tries,
        )
        before = patience.waited_s
        # Still busy when the budget is spent: try anyway (a load comes and goes), without
        # waiting again; the tries bound the cost.
        wait_for_quiet(load.threads, load.logical_cores, patience, sample=sample, clock=clock)
        waited = patience.waited_s - before
    best = min(range(len(results)), key=lambda i: _disturbance(results[i][1]))  # first of ties
    attempts[best].kept = True
    return results, attempts


@dataclass(frozen=True)
class TimedBlock:
    """One block of timed steps: seconds per step, the block's wall seconds and the CPU
    seconds other processes used during it (None: unknown, no /proc/stat)."""

    seconds_per_step: float
    wall_s: float
    other_cpu_s: float | None
    steps: int = 1  # steps timed in it


def block_disturbed(block: TimedBlock, threads: int, cores: int | None) -> bool | None:
    """lab1.host.exclusive.block_disturbed for one block; None where it cannot tell (load
    unknown, or a block too short for /proc/stat's ticks)."""
    if block.other_cpu_s is None or cores is None:
        return None
    return exclusive.block_disturbed(block.other_cpu_s, block.wall_s, threads, cores)


@dataclass(frozen=True)
class Timed:
    """A timed number (seconds per step, the median of ``blocks``) and how sure it is."""

    blocks: list[float]  # seconds per step of the blocks the number is the median of
    contended: bool | None
    other_cores: float | None  # others' mean cores while those blocks (or that attempt) ran
    blocks_timed: int  # blocks timed in every attempt
    steps: int = 0  # steps timed in the blocks the number is the median of

    @property
    def seconds(self) -> float:
        return statistics.median(self.blocks)

    def sureness(self, attempts: int) -> dict:
        """The tables' columns of how sure it is (lab1.schemas._SURENESS, _BLOCKS and
        ``contended``)."""
        return {
            **_sureness(self.contended, self.other_cores, self.blocks, attempts),
            "blocks_used": len(self.blocks),
            "blocks_timed": self.blocks_timed,
        }


def clean_blocks(tried: list[tuple[list[TimedBlock], MachineLoad]]) -> list[TimedBlock]:
    """The blocks of every attempt that other programs did not disturb (block_disturbed
    False), in the order they ran."""
    return [
        b
        for blocks, load in tried
        for b in blocks
        if block_disturbed(b, load.threads, load.logical_cores) is False
    ]


def timed_number(tried: list[tuple[list[TimedBlock], MachineLoad]], kept: int) -> Timed:
    """The number of a block-timed measurement: the kept attempt's blocks where it was not
    disturbed as a whole (or its load is unknown); else the undisturbed blocks of every
    attempt, where there are CLEAN_BLOCKS of them; else the kept attempt's blocks, disturbed."""
    blocks, load = tried[kept]
    timed = sum(len(b) for b, _ in tried)
    clean = clean_blocks(tried) if load.contended is True else []
    if len(clean) >= CLEAN_BLOCKS:
        wall = sum(b.wall_s for b in clean)
        others = sum(b.other_cpu_s or 0.0 for b in clean) / wall if wall > 0 else 0.0
        steps = sum(b.steps for b in clean)
        return Timed([b.seconds_per_step for b in clean], False, others, timed, steps)
    steps = sum(b.steps for b in blocks)
    return Timed(
        [b.seconds_per_step for b in blocks], load.contended, load.other_cores, timed, steps
    )


def measure_blocks(
    measure: Callable[[], tuple[T, list[TimedBlock], MachineLoad]],
    patience: Patience,
    *,
    what: str = "measurement",
    sample: Callable[[float], float | None] = sample_other_cores,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[T, Timed, list[Attempt]]:
    """measure_until_quiet for a measurement timed in blocks (``measure`` returns its result,
    its blocks and its load): tries also stop once CLEAN_BLOCKS undisturbed blocks were
    timed in all. Returns the kept attempt's result, its number (timed_number) and every
    attempt."""

    def run() -> tuple[tuple[T, list[TimedBlock]], MachineLoad]:
        result, blocks, load = measure()
        return (result, blocks), load

    def enough(results: list) -> bool:
        tried = [(blocks, load) for (_, blocks), load in results]
        return len(clean_blocks(tried)) >= CLEAN_BLOCKS

    results, attempts = _tries(run, patience, what, sample, clock, enough)
    kept = next(i for i, a in enumerate(attempts) if a.kept)
    tried = [(blocks, load) for (_, blocks), load in results]
    return results[kept][0][0], timed_number(tried, kept), attempts


def sureness(load: MachineLoad, blocks: list[float], attempts: int) -> dict:
    """The tables' columns of how sure a timed number is (lab1.schemas._SURENESS and
    ``contended``): the kept attempt's load, its blocks' spread, and the verdict. (A number
    timed in blocks states its blocks too: Timed.sureness.)"""
    return _sureness(load.contended, load.other_cores, blocks, attempts)


def _sureness(
    contended: bool | None, other_cores: float | None, blocks: list[float], attempts: int
) -> dict:
    spread = block_spread(blocks) if blocks else None
    return {
        "contended": contended,
        "other_cores": other_cores,
        "timing_spread": spread,
        "attempts": attempts,
        "reliable": judge(contended, spread),
    }


def attempt_records(attempts: list[Attempt], **about) -> list[dict]:
    """Each attempt as a record of the run (lab1.run.manifest.MeasurementAttempt), ``about`` naming
    the measurement (kind, device, precision, threads, batch_size, name)."""
    return [{**about, **asdict(a)} for a in attempts]
