"""The tables every output shows (report, compare/summary.md, compare/top10.md, artifacts),
built once from the run's typed tables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pandas as pd

from lab1 import fmt
from lab1.catalog import BASIS, LEGEND
from lab1.host.devices import device_time_measured
from lab1.identity import ConfigId, axes_except, labels, ordered
from lab1.reliability import unsure
from lab1.report.blocks import Block, Note, Table
from lab1.report.findings import SWEEP

TIME_LABELS = {
    "self_cpu_us": "self CPU",
    "cpu_total_us": "CPU total",
    "self_device_us": "self device",
    "device_total_us": "device total",
}
# mps runs the kernels but torch.profiler does not see them: its CPU time is dispatch only.
RANKED_BY_UNTRACED = "CPU dispatch time (device time not measured)"


def mark(cell: str, unsure: bool) -> str:
    """A formatted value, with the unreliable marker where it was measured unsure."""
    return f"{cell} {fmt.UNSURE}" if unsure else cell


def legend(tables: list[Table], lang: str = "en") -> list[Block]:
    """The legend, once, where any of ``tables`` has a marked cell; [] otherwise."""
    marked = any(c.endswith(fmt.UNSURE) for t in tables for r in t.rows for c in r)
    return [Note(LEGEND.of(lang), "legend")] if marked else []


def unsure_or_twin(cmp: pd.DataFrame, rows: pd.DataFrame) -> pd.Series:
    """Per row of ``rows`` (comparison rows at more CPU threads, before labelling): whether it
    or its 1-thread twin, against which its speed-up is measured, is unsure
    (lab1.reliability.unsure)."""
    keys = [k for k in axes_except() if k != "threads"] + ["phase"]
    ones = cmp[cmp["threads"] == 1]
    bad = set(map(tuple, ones.loc[unsure(ones), keys].itertuples(index=False, name=None)))
    twin = [t in bad for t in rows[keys].itertuples(index=False, name=None)]
    return unsure(rows) | pd.Series(twin, index=rows.index, dtype=bool)


def _peak(n: float | None) -> str:
    """Peak memory; null only where it was not measured (mps: lab1.measure.profiling)."""
    return fmt.NOT_MEASURED if pd.isna(n) else fmt.nbytes(n)


# (column, header, formatter) of the comparison table, in display order.
COMPARISON_COLUMNS: tuple[tuple[str, str, Callable], ...] = (
    ("device", "device", str),
    ("threads", "threads", fmt.count),
    ("phase", "phase", str),
    ("batch_size", "batch size", fmt.count),
    ("images_per_s", "images/s", fmt.rate),
    ("ms_per_step", "ms/step", fmt.ms),
    ("us_per_sample", "µs/image", fmt.us),
    ("top_op", "top op", fmt.code),
    ("top_op_share", "top op share", fmt.pct),
    ("peak_memory_bytes", "peak memory", _peak),
    ("profiler_overhead", "profiler overhead", fmt.ratio),
    ("achieved_gflops", "GFLOP/s", fmt.gflops),
    ("share_of_peak", "share of peak", fmt.pct),
    ("fixed_ms", "fixed ms/step", fmt.ms),
    ("per_sample_us", "µs/image (fit)", fmt.us),
)
TEXT_COLUMNS = {"device", "phase", "top_op"}
# The comparison's timed columns: marked on a row measured unsure.
TIMED_COLUMNS = {
    "images_per_s",
    "ms_per_step",
    "us_per_sample",
    "profiler_overhead",
    "achieved_gflops",
    "share_of_peak",
}


def _marked(r, col: str, bad: bool) -> bool:
    """Whether cell ``col`` of comparison row ``r`` carries the marker: a timed value of an
    unsure row, or a share of peak over 100 % (the peak was measured low)."""
    over = col == "share_of_peak" and pd.notna(r[col]) and r[col] > 1.0
    return (bad and col in TIMED_COLUMNS) or over


def layers_table(rows: list[dict]) -> Table:
    total_p = sum(r["parameters"] for r in rows)
    total_m = sum(r["macs"] for r in rows)
    body = [
        [
            fmt.code(r["layer"]),
            r["op"],
            ", ".join(r["inputs"]) or fmt.MISSING,
            fmt.shape(r["output_shape"]),
            fmt.count(r["parameters"]),
            fmt.pct(r["parameters"] / total_p if total_p else None),
            fmt.count(r["macs"]),
            fmt.pct(r["macs"] / total_m if total_m else None),
        ]
        for r in rows
    ]
    body.append(
        ["**total**", "", "", "", f"**{fmt.count(total_p)}**", "", f"**{fmt.count(total_m)}**", ""]
    )
    header = [
        "layer",
        "op",
        "inputs",
        "output shape",
        "parameters",
        "% of params",
        "MACs",
        "% of MACs",
    ]
    return Table(header, body, [False] * 4 + [True] * 4)


def labelled(df: pd.DataFrame, lang: str = "en", beside=("threads",)) -> pd.DataFrame:
    """``df`` in display order, its ``device`` column replaced by each config's label in
    ``lang`` (lab1.identity.labels; by default without the threads, which have a column)."""
    df = ordered(df)
    return df.assign(device=labels(df, lang, beside=beside))


def comparison_rows(comparison: pd.DataFrame, lang: str = "en") -> list[dict[str, str]]:
    """The comparison as formatted cells by header: the table artifact and the report table.
    The device cell is the config's label (``cpu``, ``cpu bf16``); threads have their column."""
    df = labelled(comparison, lang)
    bad = unsure(df)
    return [
        {header: mark(f(r[col]), _marked(r, col, bad[i])) for col, header, f in COMPARISON_COLUMNS}
        for i, r in df.iterrows()
    ]


def comparison_table(comparison: pd.DataFrame, lang: str = "en") -> Table:
    rows = comparison_rows(comparison, lang)
    header = [h for _, h, _ in COMPARISON_COLUMNS]
    numeric = [c not in TEXT_COLUMNS for c, _, _ in COMPARISON_COLUMNS]
    return Table(header, [list(r.values()) for r in rows], numeric)


def _time_cell(total_us: float, column: str, steps: int, traced: bool) -> str:
    if not traced and column in ("self_device_us", "device_total_us"):
        return fmt.NOT_MEASURED
    return fmt.us(total_us / steps)


def top10_by_config(top10: pd.DataFrame, lang: str = "en") -> list[tuple[tuple, list[Block]]]:
    """((its ConfigId, phase, sort_key), [its title line, its ranked table]) per config, phase
    and sort key, in display order (a GPU config ranked by CPU time first); times per profiled
    step. The title names the config by its label, its thread count always."""
    out = []
    df = top10.assign(_cpu_first=top10["sort_key"] != "self_cpu")
    df = ordered(df, "_cpu_first", "rank")
    # A top-10 table stands alone (its title is a heading): it always names its thread count.
    df = df.assign(label=labels(df, lang, show=("threads",)))
    for _, g in df.groupby([*SWEEP, "batch_size", "sort_key"], sort=False):
        first = g.iloc[0]
        key = (ConfigId.of(first), first["phase"], first["sort_key"])
        batch, phase, sort_key = first["batch_size"], first["phase"], first["sort_key"]
        steps = int(g["active_steps"].iloc[0])
        # Device columns are all zero on a CPU config: leave them out there. On mps they are
        # zero because nothing measured them: shown, as "not measured".
        traced = device_time_measured(first["device"])
        cols = [
            c
            for c in TIME_LABELS
            if g[c].any() or c in ("self_cpu_us", "cpu_total_us") or not traced
        ]
        rows = [
            [
                str(r["rank"]),
                fmt.code(r["op_name"]),
                fmt.real(r["calls"] / steps),
                *[_time_cell(r[c], c, steps, traced) for c in cols],
                fmt.pct(r["share"]),
            ]
            for _, r in g.iterrows()
        ]
        ranked_by = BASIS[sort_key].en if traced else RANKED_BY_UNTRACED
        title = (
            f"**{first['label']} ({first['device_name']}) · "
            f"batch {batch} · {phase}** (ranked by {ranked_by}, {steps} profiled "
            f"step{'s' if steps != 1 else ''})"
        )
        header = ["#", "operator", "calls/step", *[f"{TIME_LABELS[c]} (µs/step)" for c in cols]]
        table = Table([*header, "share"], rows, [True, False, *[True] * (len(cols) + 2)])
        out.append((key, [title, table]))
    return out


def top10_blocks(top10: pd.DataFrame, lang: str = "en") -> list[Block]:
    return [b for _, blocks in top10_by_config(top10, lang) for b in blocks]


SHARE_CHANGE_TOP = 5  # ops per device × phase whose share moves the most


def share_change_table(change: pd.DataFrame, lang: str = "en") -> Table:
    by_size = change.assign(_neg_abs=-change["change"].abs())
    by_size = ordered(by_size, "_neg_abs").assign(label=lambda d: labels(d, lang))
    top = by_size.groupby(SWEEP, sort=False).head(SHARE_CHANGE_TOP)
    rows = [
        [
            r.label,
            r.phase,
            fmt.code(r.op_name),
            fmt.pct(r.share_at_min_bs),
            fmt.pct(r.share_at_max_bs),
            fmt.pp(r.change),
            f"{r.min_bs} → {r.max_bs}",
        ]
        for r in top.itertuples()
    ]
    header = [
        "device",
        "phase",
        "operator",
        "share, smallest batch",
        "share, largest batch",
        "change",
        "batch sizes",
    ]
    return Table(header, rows, [False] * 3 + [True] * 4)


def precision_table(pr: pd.DataFrame, lang: str = "en") -> Table:
    """Each non-fp32 config beside its fp32 twin (lab1.report.findings.precisions, whose
    labels say which threads and machine; the precision has its column)."""
    rows = [
        [
            replace(r.label, precision=False).text(lang),  # the precision has its column
            r.precision,
            r.phase,
            fmt.count(r.batch_size),
            fmt.rate(r.images_per_s_fp32),
            fmt.rate(r.images_per_s),
            fmt.ratio(r.speedup),
            fmt.code(r.top_op_fp32),
            fmt.code(r.top_op),
            fmt.nbytes(r.peak_memory_bytes_fp32),
            fmt.nbytes(r.peak_memory_bytes),
        ]
        for r in pr.itertuples()
    ]
    header = [
        "device",
        "precision",
        "phase",
        "batch size",
        "fp32 images/s",
        "images/s in this precision",
        "speedup",
        "fp32 top op",
        "top op in this precision",
        "fp32 peak memory",
        "peak memory in this precision",
    ]
    return Table(
        header, rows, [False, False, False, True, True, True, True, False, False, True, True]
    )


def speedup_table(sp: pd.DataFrame, lang: str = "en") -> Table:
    """lab1.report.findings.speedups' rows, each GPU config by its label."""
    rows = [
        [
            r.label.text(lang),
            r.phase,
            fmt.count(r.batch_size),
            fmt.rate(r.images_per_s_cpu),
            fmt.rate(r.images_per_s),
            fmt.ratio(r.speedup),
        ]
        for r in sp.itertuples()
    ]
    header = ["GPU device", "phase", "batch size", "CPU images/s", "GPU images/s", "speedup"]
    return Table(header, rows, [False, False, True, True, True, True])
