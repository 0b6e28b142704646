"""Measuring again on a busy machine (lab1.measure.remeasure), with recorded loads: no test sleeps.

Each attempt's MachineLoad and each look at the machine while waiting are written here by
hand, on a described 2-core machine; a fake clock advances by the window each look takes.
"""

from __future__ import annotations

import time

import pytest
import torch

from lab1 import interrupt
from lab1.errors import Interrupted
from lab1.host.exclusive import MachineLoad
from lab1.measure.profiling import Batches, time_steps
from lab1.measure.remeasure import (
    Patience,
    TimedBlock,
    block_disturbed,
    measure_blocks,
    measure_until_quiet,
    sureness,
    wait_for_quiet,
)

CORES = 2


class Machine:
    """A recorded machine: the loads successive attempts see, and what successive looks
    while waiting see (others' mean cores), on a clock that only the looks move."""

    def __init__(self, attempts: list[float], looks: list[float]):
        self.attempts, self.looks = list(attempts), list(looks)
        self.now, self.measured, self.windows = 0.0, 0, []

    def clock(self) -> float:
        return self.now

    def sample(self, window_s: float) -> float:
        self.windows.append(window_s)
        self.now += window_s
        return self.looks.pop(0)

    def measure(self, threads: int = 2):
        """One attempt: its result is its number (1, 2, …), its load the next recorded one."""
        self.measured += 1
        others = self.attempts.pop(0)
        wall = 1.0
        load = MachineLoad(
            window_start=100.0 * self.measured,
            window_end=100.0 * self.measured + wall,
            other_cpu_s=others * wall,
            other_cores=others,
            threads=threads,
            logical_cores=CORES,
            # The rule (lab1.host.exclusive), worked by hand for these loads: 2 threads of 2 cores
            # are disturbed above 0.25 other cores.
            contended=others > 0.25,
        )
        return self.measured, load


def run(m: Machine, patience: Patience):
    return measure_until_quiet(m.measure, patience, sample=m.sample, clock=m.clock)


def test_a_quiet_machine_is_measured_once_without_waiting():
    m = Machine(attempts=[0.1], looks=[])
    patience = Patience(tries=3, quiet_wait_s=30.0)
    result, _, attempts = run(m, patience)
    assert (result, m.measured, m.windows, patience.waited_s) == (1, 1, [], 0.0)
    assert [(a.attempt, a.kept, a.waited_s, a.contended) for a in attempts] == [
        (1, True, 0.0, False)
    ]


def test_disturbed_then_quiet_is_measured_twice_and_the_quiet_one_kept():
    # The first attempt beside 1.5 other cores; two looks still busy, the third quiet (0.1
    # cores), then the second attempt is quiet: 3 windows of 0.5 s waited.
    m = Machine(attempts=[1.5, 0.1], looks=[1.6, 1.2, 0.1])
    patience = Patience(tries=3, quiet_wait_s=30.0)
    result, load, attempts = run(m, patience)
    assert (result, load.other_cores, m.measured) == (2, 0.1, 2)
    assert m.windows == [0.5, 0.5, 0.5]
    assert patience.waited_s == pytest.approx(1.5)
    assert [(a.attempt, a.kept, a.contended) for a in attempts] == [
        (1, False, True),
        (2, True, False),
    ]
    assert attempts[1].waited_s == pytest.approx(1.5)
    assert (attempts[0].window_start, attempts[1].window_start) == (100.0, 200.0)


def test_an_always_busy_machine_gets_bounded_tries_and_the_least_disturbed_is_kept():
    # Every look finds a quiet moment, every attempt is disturbed anyway: 3 tries, no more.
    # The second (0.8 cores) is the least disturbed; the third ties the first (1.4), never kept.
    m = Machine(attempts=[1.4, 0.8, 1.4], looks=[0.0, 0.0])
    patience = Patience(tries=3, quiet_wait_s=30.0)
    result, load, attempts = run(m, patience)
    assert (m.measured, result, load.other_cores) == (3, 2, 0.8)
    assert [a.kept for a in attempts] == [False, True, False]
    assert patience.waited_s == pytest.approx(1.0)


def test_ties_keep_the_first_attempt():
    m = Machine(attempts=[1.0, 1.0], looks=[0.0])
    _, _, attempts = run(m, Patience(tries=2, quiet_wait_s=30.0))
    assert [a.kept for a in attempts] == [True, False]


def test_the_wait_stops_at_its_budget_and_the_tries_go_on_without_waiting():
    # Always busy: 29.8 s of budget in 0.5 s looks is 59 looks and a last one cut to 0.3 s,
    # all before the second try; the third try follows at once. The least disturbed (the
    # second, 1.2 cores) is kept.
    m = Machine(attempts=[1.5, 1.2, 1.3], looks=[1.9] * 100)
    patience = Patience(tries=3, quiet_wait_s=29.8)
    result, _, attempts = run(m, patience)
    assert (result, m.measured) == (2, 3)
    assert len(m.windows) == 60 and m.windows[-1] == pytest.approx(0.3)
    assert sum(m.windows) == pytest.approx(29.8)
    assert [a.waited_s for a in attempts] == [0.0, pytest.approx(29.8), 0.0]
    assert patience.waited_s == pytest.approx(29.8) and patience.left_s == 0.0


def test_the_budget_is_shared_by_the_measurements_of_a_group():
    patience = Patience(tries=3, quiet_wait_s=2.0)
    first = Machine(attempts=[1.5, 0.1], looks=[1.9, 1.9, 0.0])  # waits 1.5 s
    run(first, patience)
    second = Machine(attempts=[1.5, 0.1], looks=[1.9, 1.9, 1.9])  # 0.5 s left: one look
    _, _, attempts = run(second, patience)
    assert second.windows == [0.5] and [a.waited_s for a in attempts] == [0.0, 0.5]
    assert patience.waited_s == pytest.approx(2.0)


def test_one_try_means_never_again():
    m = Machine(attempts=[1.9], looks=[0.0])
    result, _, attempts = run(m, Patience(tries=1, quiet_wait_s=30.0))
    assert (result, m.windows, [a.kept for a in attempts]) == (1, [], [True])


def test_unknown_load_is_neither_waited_for_nor_measured_again():
    m = Machine(attempts=[], looks=[])

    def unknown():
        m.measured += 1
        return m.measured, MachineLoad(threads=2, logical_cores=CORES)  # no /proc/stat

    result, load, attempts = measure_until_quiet(
        unknown, Patience(3, 30.0), sample=m.sample, clock=m.clock
    )
    assert (result, load.contended, m.windows) == (1, None, [])
    assert [(a.contended, a.kept) for a in attempts] == [(None, True)]


def test_a_one_thread_phase_waits_only_until_its_core_is_free():
    # 1 thread of 2 cores: 1.2 other cores leave it its core (1.2 + 1 ≤ 2.25), 1.3 do not.
    m = Machine(attempts=[], looks=[1.8, 1.3, 1.2])
    patience = Patience(tries=3, quiet_wait_s=30.0)
    assert wait_for_quiet(1, CORES, patience, sample=m.sample, clock=m.clock) is True
    assert m.windows == [0.5, 0.5, 0.5]


def test_ctrl_c_while_waiting_stops_at_the_next_look(monkeypatch):
    m = Machine(attempts=[1.5, 0.1], looks=[1.9, 1.9, 1.9, 0.0])
    looked = []

    def sample(window_s):
        looked.append(window_s)
        if len(looked) == 2:
            monkeypatch.setattr(interrupt, "_requested", 2)  # SIGINT arrives during a look
        return m.sample(window_s)

    patience = Patience(tries=3, quiet_wait_s=30.0)
    try:
        with pytest.raises(Interrupted):
            measure_until_quiet(m.measure, patience, sample=sample, clock=m.clock)
    finally:
        interrupt.reset()
    assert len(looked) == 2 and m.measured == 1  # no third look, no second attempt
    assert patience.waited_s == pytest.approx(1.0)  # the time it did wait is still charged


@pytest.mark.parametrize(
    "contended, blocks, spread, reliable",
    [
        # Interquartile range / median, by hand (inclusive quartiles: halfway between
        # neighbours of three): (1.1 − 0.9) / 1.0 = 0.2: at the bound, reliable.
        (False, [0.8, 1.0, 1.2], 0.2, True),
        # (1.15 − 0.85) / 1.0 = 0.3: blocks disagree.
        (False, [0.7, 1.0, 1.3], 0.3, False),
        # One stray block of five: the middle three agree exactly.
        (False, [1.0, 1.0, 2.0, 1.0, 1.0], 0.0, True),
        (True, [1.0, 1.0, 1.0], 0.0, False),  # disturbed: never reliable
        (None, [1.0, 1.0], 0.0, None),  # unknown load: unknown
    ],
)
def test_sureness_columns(contended, blocks, spread, reliable):
    load = MachineLoad(other_cores=0.1, contended=contended)
    got = sureness(load, blocks, 2)
    assert got["timing_spread"] == pytest.approx(spread)
    assert (got["reliable"], got["attempts"], got["other_cores"]) == (reliable, 2, 0.1)
    assert got["contended"] is contended


# --------------------------------------------------------------------------- block by block
# A load that comes and goes faster than an attempt: the attempt is disturbed as a whole, yet
# some of its timed blocks ran in the quiet moments. Blocks below are 0.1 s of wall time on
# the described 2-core machine, with others' CPU seconds written by hand: 0.2 s is both cores
# taken, 0.0 s none.


def block(seconds_per_step: float, other_cpu_s: float | None, wall_s: float = 0.1) -> TimedBlock:
    return TimedBlock(seconds_per_step, wall_s, other_cpu_s)


@pytest.mark.parametrize(
    "b, threads, verdict",
    [
        # 2 threads of 2 cores leave others 0.25 cores: 0.025 s of a 0.1 s block.
        (block(0.01, 0.2), 2, True),  # 2.0 other cores
        (block(0.01, 0.0), 2, False),
        (block(0.01, 0.02), 2, False),  # 0.2 cores: within the allowance
        # 0.03 s = 0.3 cores, over by 0.05: disturbed, though under the whole-phase rule's
        # 0.05 s floor (which would hide a whole core of others in a 50 ms block).
        (block(0.01, 0.03), 2, True),
        # 1 thread beside 1.0 other cores of 2: undisturbed (allowance 1.25 × 0.1 = 0.125 s);
        # beside 1.5: disturbed.
        (block(0.01, 0.1), 1, False),
        (block(0.01, 0.15), 1, True),
        # 0.04 s of wall at 2 threads: an allowance of 0.01 s, one tick: cannot tell.
        (block(0.01, 0.04, wall_s=0.04), 2, None),
        # The same block at 1 thread: 0.05 s allowed, 0.04 s used: undisturbed.
        (block(0.01, 0.04, wall_s=0.04), 1, False),
        (block(0.01, None), 2, None),  # no /proc/stat
    ],
)
def test_each_block_is_judged_by_its_own_load(b, threads, verdict):
    assert block_disturbed(b, threads, CORES) is verdict


class BlockMachine:
    """Recorded attempts of a block-timed measurement: each attempt's blocks, and the whole
    attempt's others' cores (its MachineLoad); looks while waiting always find quiet."""

    def __init__(self, attempts: list[tuple[float | None, list[TimedBlock]]]):
        self.attempts, self.measured, self.now = list(attempts), 0, 0.0

    def clock(self) -> float:
        return self.now

    def sample(self, window_s: float) -> float:
        self.now += window_s
        return 0.0

    def measure(self):
        self.measured += 1
        others, blocks = self.attempts.pop(0)
        load = MachineLoad(
            other_cores=others,
            threads=2,
            logical_cores=CORES,
            contended=None if others is None else others > 0.25,  # by hand, as above
        )
        return self.measured, blocks, load


def measure(m: BlockMachine, tries: int = 3):
    return measure_blocks(m.measure, Patience(tries, 30.0), sample=m.sample, clock=m.clock)


def test_a_disturbed_measurement_is_read_from_its_undisturbed_blocks_pooled_over_tries():
    # Attempt 1 (1.2 cores in all): blocks 2 and 4 ran in quiet moments. Attempt 2 (1.0):
    # block 1 did. Three undisturbed blocks (10, 11, 12 ms per step) now: no third try; the
    # number is their median, 11 ms, undisturbed; others used (0.01 + 0.0 + 0.02) s over
    # 0.3 s = 0.1 cores while they ran. The kept attempt (the op table's) is the second.
    m = BlockMachine(
        [
            (
                1.2,
                [
                    block(0.030, 0.2),
                    block(0.010, 0.01),
                    block(0.028, 0.18),
                    block(0.012, 0.0),
                    block(0.031, 0.2),
                ],
            ),
            (
                1.0,
                [
                    block(0.011, 0.02),
                    block(0.029, 0.2),
                    block(0.030, 0.2),
                    block(0.027, 0.15),
                    block(0.033, 0.2),
                ],
            ),
            (0.0, [block(0.010, 0.0)] * 5),  # never reached
        ]
    )
    result, timed, attempts = measure(m)
    assert (m.measured, result) == (2, 2)
    assert [a.kept for a in attempts] == [False, True]
    assert timed.seconds == pytest.approx(0.011)
    assert (timed.contended, timed.blocks_timed) == (False, 10)
    assert timed.other_cores == pytest.approx(0.1)
    got = timed.sureness(len(attempts))
    # Three blocks 10, 11, 12: (11.5 − 10.5) / 11, within 20 %: reliable.
    assert got["timing_spread"] == pytest.approx(1 / 11)
    assert (got["reliable"], got["blocks_used"], got["blocks_timed"]) == (True, 3, 10)


def test_too_few_undisturbed_blocks_leave_the_kept_attempt_disturbed():
    # Three tries, two undisturbed blocks in all: the number is the least disturbed attempt's
    # (the second, 0.9 cores) median of its own five blocks (29 ms), disturbed.
    busy = [block(s, 0.2) for s in (0.030, 0.028, 0.031, 0.029)]
    m = BlockMachine(
        [
            (1.2, [block(0.010, 0.0), *busy]),
            (0.9, [block(0.027, 0.2), block(0.029, 0.2), *busy[:3]]),
            (1.4, [block(0.011, 0.0), *busy]),
        ]
    )
    result, timed, attempts = measure(m)
    assert (m.measured, result, [a.kept for a in attempts]) == (3, 2, [False, True, False])
    assert timed.seconds == pytest.approx(0.029)
    assert (timed.contended, timed.other_cores, len(timed.blocks)) == (True, 0.9, 5)
    assert timed.sureness(3)["reliable"] is False


def test_an_undisturbed_attempt_keeps_all_its_blocks():
    # Quiet as a whole (0.1 cores): its one busy-looking block (a tick's rounding, say) is
    # kept like the rest: the median of all five, 12 ms, as before blocks were judged.
    m = BlockMachine(
        [
            (
                0.1,
                [
                    block(s, o)
                    for s, o in [
                        (0.010, 0.0),
                        (0.012, 0.0),
                        (0.030, 0.06),
                        (0.011, 0.0),
                        (0.013, 0.0),
                    ]
                ],
            )
        ]
    )
    _, timed, attempts = measure(m)
    assert (m.measured, len(attempts)) == (1, 1)
    assert timed.seconds == pytest.approx(0.012)
    assert (timed.contended, timed.other_cores, len(timed.blocks)) == (False, 0.1, 5)


def test_unknown_load_keeps_all_blocks_and_is_not_measured_again():
    m = BlockMachine([(None, [block(s, None) for s in (0.020, 0.021, 0.022)])])
    _, timed, attempts = measure(m)
    assert (m.measured, len(attempts), timed.seconds, timed.contended) == (1, 1, 0.021, None)
    # Blocks within (21.5 − 20.5) / 21 = 4.8 %, load unknown: reliability unknown, never True.
    assert timed.sureness(1)["reliable"] is None


class SleepStep:
    """A step that takes ``seconds`` of wall time, standing in for the model's: time_steps
    only runs it and reads the clock."""

    def __init__(self, seconds: float):
        self.seconds, self.calls = seconds, 0

    def start(self) -> None:
        pass

    def __call__(self, x, y, idx) -> None:
        self.calls += 1
        time.sleep(self.seconds)


def timed_blocks(step: SleepStep, min_block_s: float) -> list[TimedBlock]:
    # 1 warm-up step, then 10 timed steps of batch 1: 5 blocks of 2 steps.
    idx = torch.zeros(11, 1, dtype=torch.int64)
    batches = Batches(torch.zeros(1, 1, 28, 28), torch.zeros(1, dtype=torch.int64), idx)
    return time_steps(step, batches, 1, torch.device("cpu"), 1, min_block_s)


def test_a_block_shorter_than_the_shortest_repeats_its_steps_until_long_enough():
    # 2 steps of about 2 ms are a pass of about 4 ms: a 30 ms block needs 8 passes or so.
    step = SleepStep(0.002)
    blocks = timed_blocks(step, 0.03)
    assert len(blocks) == 5
    for b in blocks:
        assert b.wall_s >= 0.03 and b.steps % 2 == 0 and b.steps >= 4
        assert b.seconds_per_step == pytest.approx(b.wall_s / b.steps)
        # It stops at the first pass that reaches 30 ms: one pass less fell short.
        assert b.wall_s - 2 * b.seconds_per_step < 0.03
    assert step.calls == 1 + sum(b.steps for b in blocks)


def test_without_a_shortest_block_each_block_runs_its_steps_once():
    step = SleepStep(0.002)
    blocks = timed_blocks(step, 0.0)
    assert [b.steps for b in blocks] == [2] * 5 and step.calls == 11
