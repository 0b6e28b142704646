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
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TypeVar

from lab1 import interrupt
from lab1.host.exclusive import CONTENDED_TOLERANCE, MachineLoad, busy_seconds, own_seconds
from lab1.reliability import judge, relative_spread

log = logging.getLogger("lab1.measure.remeasure")

T = TypeVar("T")
QUIET_WINDOW_S = 0.5  # one look at the machine while waiting: /proc/stat over half a second


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
    return results[best][0], results[best][1], attempts


def sureness(load: MachineLoad, blocks: list[float], attempts: int) -> dict:
    """The tables' columns of how sure a timed number is (lab1.schemas._SURENESS and
    ``contended``): the kept attempt's load, its blocks' spread, and the verdict."""
    spread = relative_spread(blocks) if blocks else None
    return {
        "contended": load.contended,
        "other_cores": load.other_cores,
        "timing_spread": spread,
        "attempts": attempts,
        "reliable": judge(load.contended, spread),
    }


def attempt_records(attempts: list[Attempt], **about) -> list[dict]:
    """Each attempt as a record of the run (lab1.run.manifest.MeasurementAttempt), ``about`` naming
    the measurement (kind, device, precision, threads, batch_size, name)."""
    return [{**about, **asdict(a)} for a in attempts]
