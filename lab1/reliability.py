"""How sure a measured number is, in one place: the spread of its timed blocks, whether other
programs disturbed it (lab1.exclusive), and the bands a plausible run falls in.

A number is **reliable** when it was measured undisturbed and its blocks agree: a disturbed
measurement, or one whose blocks spread more than RELIABLE_SPREAD of their median, is reported
with a marker and never turned into a finding (lab1.report) or a failed check (lab1.checks).
Where disturbance is unknown (no /proc/stat), reliability is unknown too: None, never True.
"""

from __future__ import annotations

import statistics

import pandas as pd

# Blocks spreading more than 20 % of their median: not a result. The same bound for the
# benchmarks' ratios (benchmarks/spread.py) and the profile's timed chunks.
RELIABLE_SPREAD = 0.20

# Profiler-off train-step images/s over training's steady images/s: the same step, so about
# 1×; outside this band (when both are reliable) the profile is not the trained step.
PROFILED_TRAINED_BAND = (0.85, 1.15)


def relative_spread(values: list[float]) -> float:
    """(max − min) / median of ``values``: 0 for one value or identical ones."""
    return (max(values) - min(values)) / statistics.median(values)


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
    # An older manifest's epochs carry no contended: unknown, so kept.
    quiet = [h for h in after if getattr(h, "contended", None) is not True]
    return quiet or after


def all_disturbed(history: list) -> bool:
    """Whether every epoch training's throughput is read from was disturbed."""
    return bool(disturbed_epochs(steady_epochs(history)))


def training_rate(history: list) -> float:
    """Training's steady images/s: the median images_per_s of its undisturbed epochs after the
    first (steady_epochs); of all of them where every one was disturbed (all_disturbed says
    so, and the number is then no finding)."""
    return statistics.median(h.images_per_s for h in steady_epochs(history))


def disturbed_epochs(history: list) -> list:
    """The epochs other programs disturbed (``contended`` True; an older manifest's epochs
    carry none: unknown, not disturbed)."""
    return [h for h in history if getattr(h, "contended", None) is True]
