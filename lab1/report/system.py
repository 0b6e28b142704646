"""The report's system view: the machine's limits, and "Where the time goes"."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lab1 import figures, fmt
from lab1.catalog import CAPTIONS
from lab1.identity import PANEL, ordered
from lab1.measure.analysis import peaks
from lab1.measure.breakdown import OP_CATEGORIES, OUTSIDE_LABELS, OUTSIDE_OPS, PARTS
from lab1.reliability import unsure
from lab1.report import findings
from lab1.report.blocks import Block, Bullets, Figure, Note, Section, Table
from lab1.report.grids import labelled, legend, mark, unsure_or_twin
from lab1.report.sentences import sentences
from lab1.run.reader import RunData

WHAT = {
    "matmul_peak": "matmul peak",
    "memory_bandwidth": "memory bandwidth (copy)",
    "dispatch_floor": "dispatch floor per operator",
}
INTRO = (
    "How close each step comes to what this machine can do, and what its time is made of. "
    "Shares of a step sum to 100 %: by labelled part (forward, loss, backward, optimizer, and "
    "the rest outside those labels) and by kind of operator, where *outside any operator* is "
    "the step's time that no operator accounts for (Python, dispatch). FLOPs per step are the "
    "model's (2 × MACs × batch, × 3 for a train step); the profiler's own count leaves out "
    "convolution_backward. Peak: the fp32 matmul peak measured at the same thread count."
)


def limits_blocks(d: RunData, lang: str = "en") -> list[Block]:
    """The machine-limits table of the environment section."""
    lim = d.tables["limits"]
    if lim is None:
        return []
    df = labelled(lim, lang)
    rows = [
        [
            r.device,  # the device's label: the machine named where there are several
            fmt.count(r.threads),
            WHAT[r.what],
            r.dtype,
            r.note.partition(":")[0]  # not supported | not measured (lab1.measure.limits)
            if pd.isna(r.value)
            else mark(
                f"{fmt.gflops(r.value)} {r.unit}" if r.unit != "µs" else f"{fmt.us(r.value)} µs",
                bad,
            ),
            r.note,
        ]
        for r, bad in zip(df.itertuples(), unsure(df), strict=True)
    ]
    table = Table(
        ["device", "threads", "limit", "dtype", "value", "how"],
        rows,
        [False, True, False, False, True, False],
    )
    return [
        "Machine limits, measured by short microbenchmarks at the start of profiling, on the "
        "device and thread count each config uses:",
        table,
        *legend([table], lang),
    ]


def _config_cells(r) -> list[str]:
    """A labelled row's (grids.labelled) config cells: label, threads, phase, batch."""
    return [r.device, fmt.count(r.threads), r.phase, fmt.count(r.batch_size)]


def split_table(split: pd.DataFrame, kind: str, names: tuple[str, ...], lang: str = "en") -> Table:
    """One row per config and phase, one share column per name (kind: part or category)."""
    s = labelled(split[split["split"] == kind], lang)
    rows = []
    for _, g in s.groupby([*PANEL, "phase", "batch_size"], sort=False):
        share = g.set_index("name")["share"]
        rows.append([*_config_cells(g.iloc[0]), *[fmt.pct(share[n]) for n in names]])
    return Table(
        ["device", "threads", "phase", "batch", *names],
        rows,
        [False, True, False, True, *[True] * len(names)],
    )


def achieved_table(cmp: pd.DataFrame, lang: str = "en") -> Table:
    df = labelled(cmp, lang)
    rows = [
        [
            *_config_cells(r),
            fmt.decimal(r.model_gflop_per_step, 3),
            fmt.decimal(r.profiler_gflop_per_step, 3),
            mark(fmt.gflops(r.achieved_gflops), bad),
            mark(fmt.pct(r.share_of_peak), bad or r.share_of_peak > 1.0),
        ]
        for r, bad in zip(df.itertuples(), unsure(df), strict=True)
    ]
    header = [
        "device",
        "threads",
        "phase",
        "batch",
        "model GFLOP/step",
        "profiler GFLOP/step",
        "achieved GFLOP/s",
        "share of peak",
    ]
    return Table(header, rows, [False, True, False, True, True, True, True, True])


def roofline_table(roof: pd.DataFrame, lang: str = "en") -> Table:
    """The roofline points at each config's largest batch (what the sentences cite)."""
    largest = roof[roof["batch_size"] == roof.groupby(list(PANEL))["batch_size"].transform("max")]
    rows = [
        [
            *_config_cells(r),
            fmt.code(r.op_name),
            fmt.code(r.input_shapes),
            fmt.decimal(r.intensity, 2),
            fmt.gflops(r.achieved_gflops),
            fmt.pct(r.share_of_peak),
        ]
        for r in labelled(ordered(largest, "op_name"), lang).itertuples()
    ]
    header = [
        "device",
        "threads",
        "phase",
        "batch",
        "operator",
        "input shapes",
        "FLOP/byte",
        "GFLOP/s",
        "share of peak",
    ]
    return Table(header, rows, [False, True, False, True, False, False, True, True, True])


def model_table(model: pd.DataFrame, lang: str = "en") -> Table:
    rows = [
        [
            r.device,  # the ladder's label
            fmt.count(r.threads),
            r.phase,
            fmt.ms(r.fixed_ms),
            fmt.us(r.per_sample_us),
            fmt.decimal(r.r2, 3),
            fmt.count(r.sizes),
            fmt.count(r.fixed_below_10pct_bs),
            fmt.count(r.plateau_bs),
        ]
        for r in labelled(model, lang).itertuples()
    ]
    header = [
        "device",
        "threads",
        "phase",
        "fixed (ms)",
        "per image (µs)",
        "r²",
        "sizes",
        "fixed < 10 % from batch",
        "images/s plateau from batch",
    ]
    return Table(header, rows, [False, True, False, *[True] * 6])


def threads_table(cmp: pd.DataFrame, lang: str = "en") -> Table | None:
    many = cmp[(cmp["device"] == "cpu") & (cmp["threads"] > 1)].dropna(
        subset=["speedup_vs_1_thread"]
    )
    if many.empty:
        return None
    # Judged before labelling: the label replaces the device its 1-thread twin is found by.
    df = labelled(many.assign(unsure_=unsure_or_twin(cmp, many)), lang)
    rows = [
        [
            *_config_cells(r),
            mark(fmt.ms(r.ms_per_step), r.unsure_),
            mark(fmt.ratio(r.speedup_vs_1_thread), r.unsure_),
            mark(fmt.pct(r.parallel_efficiency), r.unsure_),
        ]
        for r in df.itertuples()
    ]
    header = [
        "device",
        "threads",
        "phase",
        "batch",
        "ms/step",
        "speed-up over 1 thread",
        "parallel efficiency",
    ]
    return Table(header, rows, [False, True, False, True, True, True, True])


def _ceilings(limits: pd.DataFrame | None) -> dict:
    """(machine_id, device, threads) → (peak GFLOP/s, bandwidth GB/s), where both were
    measured."""
    peak, bw = peaks(limits), peaks(limits, "memory_bandwidth")
    return {k: (peak[k], bw[k]) for k in peak if k in bw}


def system_section(d: RunData, figs: dict[str, Path], lang: str = "en") -> Section:
    """The condensed view before the appendix: the findings and the time-split figure
    (``lang``: the language of the figure's config labels; the prose stays English)."""
    t = d.tables
    if t["comparison"] is None:
        return Section("Where the time goes", [Note("Not profiled in this run.")])
    blocks: list[Block] = [Bullets(sentences(condensed(d)))]
    if t["time_split"] is not None:
        figs["time_split"] = figures.plot_time_split(t["time_split"], d.paths.figure("time_split"))
        blocks.append(Figure(figs["time_split"], CAPTIONS["time_split"].en))
    blocks.append("([Appendix](#appendix): every table of the system view.)")
    return Section("Where the time goes", blocks)


def condensed(d: RunData) -> list[findings.Finding]:
    """The findings before the appendix: the profile against training, what the smallest
    batch's step is made of and how close the largest comes to the peak."""
    t = d.tables
    return [
        *findings.step_match(d.manifest, t["comparison"]),
        *findings.time_goes(t["time_split"], t["comparison"]),
        *findings.peak_shares(t["comparison"], t["roofline"], t["limits"]),
    ]


def system_findings(d: RunData) -> list[findings.Finding]:
    """Every finding of the system view (the appendix's)."""
    return [*findings.step_match(d.manifest, d.tables["comparison"]), *findings.system(d.tables)]


def system_tables(d: RunData, figs: dict[str, Path], lang: str = "en") -> list[Block]:
    """The appendix's part of the system view: the full time-split, throughput-against-peak,
    roofline, step-model and thread tables with their figures ([] where nothing was profiled)."""
    t = d.tables
    if t["comparison"] is None:
        return []
    blocks: list[Block] = [INTRO, Bullets(sentences(system_findings(d)))]
    if t["time_split"] is not None:
        blocks += [
            "By kind of operator (share of the step):",
            split_table(t["time_split"], "category", (*OP_CATEGORIES, OUTSIDE_OPS), lang),
            "By labelled part of the step:",
            split_table(t["time_split"], "part", (*PARTS, OUTSIDE_LABELS), lang),
        ]
    blocks += [
        "Achieved throughput against the measured peak (profiler off):",
        achieved_table(t["comparison"], lang),
    ]
    if t["roofline"] is not None and len(t["roofline"]):
        figs["roofline"] = figures.plot_roofline(
            t["roofline"], _ceilings(t["limits"]), d.paths.figure("roofline")
        )
        blocks += [
            Figure(figs["roofline"], CAPTIONS["roofline"].en),
            "Roofline points at the largest batch (all sizes: compare/roofline.parquet):",
            roofline_table(t["roofline"], lang),
        ]
    if t["step_model"] is not None:
        figs["step_model"] = figures.plot_step_model(
            t["step_times"], t["step_model"], d.paths.figure("step_model")
        )
        blocks += [
            Figure(figs["step_model"], CAPTIONS["step_model"].en),
            model_table(t["step_model"], lang),
        ]
    table = threads_table(t["comparison"], lang)
    if table is not None:
        blocks += ["What more CPU threads buy (same batch and phase at 1 thread):", table]
    return blocks + legend([b for b in blocks if isinstance(b, Table)], lang)
