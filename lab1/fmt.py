"""The one set of number formatters: a number reads the same in every table, sentence and file.

None and NaN print as "–" everywhere. Units: shares are fractions 0..1, times as named.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

MISSING = "–"
NOT_MEASURED = "not measured"  # no source on this system (device time on mps, …)
# After a value measured unreliably (lab1.reliability): the tables, figures and sentences of
# every language mark it so, and a legend under each marked table says why.
UNSURE = "⚠"


def _missing(x: object) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def count(n: float | None) -> str:
    """Whole numbers with thousands separators: 1199882 → 1,199,882."""
    return MISSING if _missing(n) else f"{round(float(n)):,}"


def decimal(x: float | None, digits: int = 4) -> str:
    """Losses and other plain reals: 0.0312."""
    return MISSING if _missing(x) else f"{x:.{digits}f}"


def cores(n: float | None) -> str:
    """A number of CPU cores other programs used, on average: 1.4."""
    return MISSING if _missing(n) else f"{n:.1f}"


def band(lo: float, hi: float) -> str:
    """A band of ratios (lab1.reliability.PROFILED_TRAINED_BAND) as ``lo–hi``."""
    return f"{lo:g}–{hi:g}"


def pct(fraction: float | None) -> str:
    """A fraction 0..1 as a percentage with two decimals, as torch's profiler table: 40.00%."""
    return MISSING if _missing(fraction) else f"{100 * fraction:.2f}%"


def pp(change: float | None) -> str:
    """A change of a fraction in percentage points: 0.1234 → +12.34 pp."""
    return MISSING if _missing(change) else f"{100 * change:+.2f} pp"


def rate(x: float | None) -> str:
    """Throughput (images/s): whole numbers from 100 up, one decimal below."""
    if _missing(x):
        return MISSING
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.1f}"


def ratio(x: float | None) -> str:
    return MISSING if _missing(x) else f"{x:.2f}×"


def slower(x: float) -> str:
    """A speed ratio below 1 as how many times slower: 0.17 → ``5.88×`` (1 / 0.17)."""
    return ratio(1 / x)


# A fitted fixed cost under this many ms prints as 0.000 (ms): the fit found none.
NO_FIXED_MS = 0.0005


def ratio_range(lo: float | None, hi: float | None, to: str) -> str:
    """Two ratios joined by a language's "to" ("1.10× to 1.40×"); one when they are equal."""
    return ratio(lo) if ratio(lo) == ratio(hi) else f"{ratio(lo)} {to} {ratio(hi)}"


def ms(x: float | None) -> str:
    """Milliseconds per step: 3 decimals."""
    return MISSING if _missing(x) else f"{x:,.3f}"


def us(x: float | None) -> str:
    """Microseconds (per sample, per step of an operator): 1 decimal."""
    return MISSING if _missing(x) else f"{x:,.1f}"


def gflops(x: float | None) -> str:
    """GFLOP/s, GB/s: whole numbers from 100 up, one decimal below."""
    return rate(x)


def seconds(s: float | None) -> str:
    return MISSING if _missing(s) else f"{s:.2f} s"


def nbytes(n: float | None) -> str:
    """Binary units: 1.5 MiB."""
    if _missing(n):
        return MISSING
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= div:
            return f"{n / div:.1f} {unit}"
    return f"{int(n)} B"


def real(x: float | None) -> str:
    """A learning rate or another value of any magnitude: 4 significant digits."""
    return MISSING if _missing(x) else f"{x:.4g}"


def cudnn(v: int | None) -> str:
    """torch's integer cuDNN version: 91002 → 9.10.2 (cuDNN ≥ 9), 8902 → 8.9.2 (cuDNN 8)."""
    if not v:
        return MISSING
    major, rest = (v // 10000, v % 10000) if v >= 10000 else (v // 1000, v % 1000)
    return f"{major}.{rest // 100}.{rest % 100}"


def shape(dims: Sequence[int]) -> str:
    return "×".join(str(d) for d in dims) or "scalar"


def code(name: str) -> str:
    """An operator or layer name (or any name from a run) as inline code: one line, fenced
    by more backticks than it holds in a row, so that it ends where it should."""
    text = re.sub(r"[\x00-\x1f\x7f\x85\u2028\u2029]+", " ", str(name))
    fence = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
