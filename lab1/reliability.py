"""How sure a measured number is, in one place: the spread of its timed blocks, whether other
programs disturbed it (lab1.host.exclusive), and the bands a plausible run falls in.

A number is **reliable** when it was measured undisturbed and its blocks agree: a disturbed
measurement, or one whose blocks spread (block_spread) more than RELIABLE_SPREAD of their
median, is reported with a marker and never turned into a finding (lab1.report) or a failed check
(lab1.classroom.checks).
Where disturbance is unknown (no /proc/stat), reliability is unknown too: None, never True.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import pandas as pd

# Blocks spreading more than 20 % of their median (block_spread): not a result. The same
# bound for the benchmarks' ratios (benchmarks/spread.py, relative_spread).
RELIABLE_SPREAD = 0.20

# Profiler-off train-step images/s over training's steady images/s: the same step, so about
# 1×; outside this band (when both are reliable) the profile is not the trained step.
PROFILED_TRAINED_BAND = (0.85, 1.15)


def relative_spread(values: list[float]) -> float:
    """(max − min) / median of ``values``: 0 for one value or identical ones (the
    benchmarks' few repeats, where every one counts)."""
    return (max(values) - min(values)) / statistics.median(values)


def block_spread(blocks: list[float]) -> float:
    """How far a measurement's timed blocks disagree: their interquartile range over their
    median (as torch.utils.benchmark judges its blocks), 0 for one block. The number is the
    blocks' median, which one stray block does not move: so its spread is the middle half's,
    and one stray block does not make it unsure, while blocks split in two still do."""
    if len(blocks) < 2:
        return 0.0
    q1, _, q3 = statistics.quantiles(blocks, n=4, method="inclusive")
    return (q3 - q1) / statistics.median(blocks)


def judge(contended: bool | None, spread: float | None) -> bool | None:
    """Reliable: undisturbed and blocks within RELIABLE_SPREAD. False if either fails; None
    where disturbance is unknown and the spread does not already fail it."""
    if contended is True:
        return False
    if spread is not None and round(spread, 3) > RELIABLE_SPREAD:
        return False
    if contended is None:
        return None
    return True


def measurement_summary(tables: list, logical_cores: int | None) -> dict:
    """How many of a run's timed numbers (rows of its comparison, limits and step_times
    tables, with a value) were disturbed, unreliable or of unknown load, and the most cores
    other programs used during one: lab1.run.manifest.Measurements' fields."""
    rows = [t for t in tables if t is not None and len(t)]
    frame = (
        pd.concat([t[["contended", "other_cores", "reliable", "attempts"]] for t in rows])
        if rows
        else pd.DataFrame(columns=["contended", "other_cores", "reliable", "attempts"])
    )
    cores = frame["other_cores"].dropna()
    return {
        "total": len(frame),
        "disturbed": int((frame["contended"] == True).sum()),  # noqa: E712  (null: unknown)
        "unreliable": int((frame["reliable"] == False).sum()),  # noqa: E712
        "unknown": int(frame["contended"].isna().sum()),
        "measured_again": int((frame["attempts"].fillna(1) > 1).sum()),
        "max_other_cores": round(float(cores.max()), 3) if len(cores) else None,
        "logical_cores": logical_cores,
    }


# --------------------------------------------------------------------------- rows of tables


def unsure(df: pd.DataFrame) -> pd.Series:
    """Rows of a timed table (COMPARISON, LIMITS, STEP_TIMES) that no finding or check may be
    drawn from: judged unreliable, or measured while other programs used cores they needed.
    An older table's rows carry only ``contended`` (``reliable`` reads as null): a contended
    row there is still unsure. Null in both: unknown, not unsure."""
    return df["contended"].eq(True) | df["reliable"].eq(False)


def cores_of_others(df: pd.DataFrame) -> pd.Series:
    """The mean cores other programs used while each row was measured: ``other_cores``, or
    where an older table lacks it, its CPU seconds over its window; NaN where unknown."""
    cores = df["other_cores"].astype("float64")
    if {"other_cpu_s", "window_start", "window_end"} <= set(df.columns):
        window = df["window_end"] - df["window_start"]
        cores = cores.fillna(df["other_cpu_s"] / window.where(window > 0))
    return cores


# --------------------------------------------------------------------------- training


def steady_epochs(history: list) -> list:
    """The epochs training's throughput is read from: those after the first (which pays the
    warm-up: allocator, oneDNN) that other programs did not disturb (``contended`` not True).
    Where every one was disturbed, all of them: the caller says so (``all_disturbed``)."""
    after = history[1:] or history
    # An older manifest's epochs read back with contended None: unknown, so kept.
    quiet = [h for h in after if h.contended is not True]
    return quiet or after


def all_disturbed(history: list) -> bool:
    """Whether every epoch training's throughput is read from was disturbed."""
    return bool(disturbed_epochs(steady_epochs(history)))


def disturbed_epochs(history: list) -> list:
    """The epochs other programs disturbed (``contended`` True; an older manifest's epochs
    carry none: unknown, not disturbed)."""
    return [h for h in history if h.contended is True]


@dataclass(frozen=True)
class TrainingRate:
    """Training's steady images/s and how it was chosen (lab1.report states it)."""

    images_per_s: float  # median over ``epochs``
    epochs: list[int]  # the epochs it is the median of
    disturbed: list[int]  # steady epochs left out: other programs used cores training needed
    reliable: bool | None  # True: from undisturbed epochs; False: every one was disturbed


def training_rate(history: list) -> TrainingRate | None:
    """Training is never repeated to measure it again; its throughput is the median
    images/s of its steady epochs (steady_epochs: after the first, undisturbed where any
    are), reliable False where every one was disturbed. Epochs of unknown load (no
    /proc/stat, or a run from before lab1 recorded it) count as undisturbed but make the
    rate's reliability unknown. None: no epoch."""
    if not history:
        return None
    chosen = steady_epochs(history)
    if all_disturbed(history):
        reliable = False
    elif any(h.contended is None for h in chosen):
        reliable = None
    else:
        reliable = True
    return TrainingRate(
        images_per_s=float(statistics.median(h.images_per_s for h in chosen)),
        epochs=[h.epoch for h in chosen],
        disturbed=[h.epoch for h in disturbed_epochs(history[1:] or history)],
        reliable=reliable,
    )
