"""How sure a measured number is, in one place: the spread of its timed blocks, whether other
programs disturbed it (lab1.exclusive), and the bands a plausible run falls in.

A number is **reliable** when it was measured undisturbed and its blocks agree: a disturbed
measurement, or one whose blocks spread more than RELIABLE_SPREAD of their median, is reported
with a marker and never turned into a finding (lab1.report) or a failed check (lab1.checks).
Where disturbance is unknown (no /proc/stat), reliability is unknown too: None, never True.
"""

from __future__ import annotations

import statistics

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
