"""How sure a benchmark's ratio is: the ratio with the spread of the blocks it came from.

A ratio of two speeds measured on a shared 2-core VM can move by a factor of several between
runs (Intel Xeon: one run's own-process reference blocks at batch 16 read 154.6,
196.4, 92.0, 388.7 and 1,019.4 images/s, and the ratio over them came out 7.6). So every ratio
a benchmark prints carries the range its blocks allow and their relative spread, and a ratio
whose blocks spread more than RELIABLE_SPREAD is marked unreliable: reported with its spread,
never counted as a target met or missed.

* paired blocks (A and B timed back to back, repeat after repeat): the ratio is the median of
  the per-repeat ratios B_i / A_i; its range is their min–max; its spread is
  (max − min) / median of those ratios. Load that changes over minutes cancels within a pair.
* unpaired blocks (B in another process, at another time): the ratio is median(B) / median(A);
  its range is min(B) / max(A) to max(B) / min(A); its spread is the larger of the two sets'
  own relative spreads, (max − min) / median.
"""

from __future__ import annotations

import statistics

# One definition for the benchmarks and the run's own measurements.
from lab1.reliability import RELIABLE_SPREAD, relative_spread


def _sig(x: float) -> float:
    """4 significant digits: a ratio of 0.0543 keeps as many as one of 7.566."""
    return float(f"{x:.4g}")


def ratio_of(numerator: list[float], denominator: list[float], paired: bool) -> dict:
    """``numerator`` over ``denominator`` (block speeds, e.g. images/s) with its range, its
    spread and whether it is reliable (spread ≤ RELIABLE_SPREAD)."""
    if not numerator or not denominator:
        raise ValueError("a ratio needs at least one block on each side")
    if paired:
        if len(numerator) != len(denominator):
            raise ValueError("paired blocks come in pairs")
        per_pair = [b / a for a, b in zip(denominator, numerator, strict=True)]
        value, lo, hi = statistics.median(per_pair), min(per_pair), max(per_pair)
        spread = relative_spread(per_pair)
    else:
        value = statistics.median(numerator) / statistics.median(denominator)
        lo = min(numerator) / max(denominator)
        hi = max(numerator) / min(denominator)
        spread = max(relative_spread(numerator), relative_spread(denominator))
    return {
        "value": _sig(value),
        "min": _sig(lo),
        "max": _sig(hi),
        "spread": round(spread, 3),
        "reliable": round(spread, 3) <= RELIABLE_SPREAD,  # as printed: 20.0 % is reliable
        "blocks": len(numerator),
    }


def cell(ratio: dict) -> str:
    """A table cell: ``1.23 (1.10–1.31)``, and ``!`` after an unreliable one."""
    text = f"{ratio['value']:.2f} ({ratio['min']:.2f}–{ratio['max']:.2f})"
    return text if ratio["reliable"] else text + " !"


FOOTNOTE = (
    f"! unreliable: its blocks spread more than {RELIABLE_SPREAD:.0%} of their median "
    "(another process was busy, or too few steps per block); rerun on a quiet machine or with "
    "more --steps before quoting it"
)


def target(name: str, ratio: dict | None, goal: float) -> dict:
    """A ``ratio ≥ goal`` target: ok True/False where the ratio is reliable, None (not judged)
    where it is not or was not measured."""
    if ratio is None:
        return {"target": name, "value": None, "ok": False, "note": "not measured"}
    if not ratio["reliable"]:
        note = f"unreliable: blocks spread {ratio['spread']:.0%} (> {RELIABLE_SPREAD:.0%})"
        return {"target": name, "value": ratio["value"], "ok": None, "note": note}
    return {"target": name, "value": ratio["value"], "ok": ratio["value"] >= goal}
