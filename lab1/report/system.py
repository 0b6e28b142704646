"""The report's system view: the machine's limits, and "Where the time goes"."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lab1 import figures, fmt
from lab1.analysis import peaks
from lab1.breakdown import OP_CATEGORIES, OUTSIDE_LABELS, OUTSIDE_OPS, PARTS
from lab1.report import findings, words
from lab1.report.blocks import Block, Bullets, Figure, Note, Section, Table
from lab1.report.run import RunData
from lab1.tables import config_label, ordered, thread_labelled

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


def limits_blocks(d: RunData) -> list[Block]:
    """The machine-limits table of the environment section."""
    lim = d.tables["limits"]
    if lim is None:
        return []
    rows = [
        [
            r.device,
            fmt.count(r.threads),
            WHAT[r.what],
            r.dtype,
            r.note.partition(":")[0]  # not supported | not measured (lab1.limits)
            if pd.isna(r.value)
            else f"{fmt.gflops(r.value)} {r.unit}"
            if r.unit != "µs"
            else f"{fmt.us(r.value)} µs",
            r.note,
        ]
        for r in lim.sort_values(["device", "threads"]).itertuples()
    ]
    return [
        "Machine limits, measured by short microbenchmarks at the start of profiling, on the "
        "device and thread count each config uses:",
        Table(
            ["device", "threads", "limit", "dtype", "value", "how"],
            rows,
            [False, True, False, False, True, False],
        ),
    ]


def _config_cells(r) -> list[str]:
    return [
        config_label(r.device, r.precision),
        fmt.count(r.threads),
        r.phase,
        fmt.count(r.batch_size),
    ]


def _labelled(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with each device named by its config label, for the figures' panels."""
    lab = thread_labelled(df)
    return df.assign(
        device=[config_label(d, p) for d, p in zip(lab["device"], df["precision"], strict=True)]
    )


def split_table(split: pd.DataFrame, kind: str, names: tuple[str, ...]) -> Table:
    """One row per config and phase, one share column per name (kind: part or category)."""
    s = ordered(split[split["split"] == kind], "threads", "batch_size")
    keys = ["device", "precision", "threads", "phase", "batch_size"]
    rows = []
    for (device, precision, threads, phase, bs), g in s.groupby(keys, sort=False):
        share = g.set_index("name")["share"]
        rows.append(
            [
                config_label(device, precision),
                fmt.count(threads),
                phase,
                fmt.count(bs),
                *[fmt.pct(share[n]) for n in names],
            ]
        )
    return Table(
        ["device", "threads", "phase", "batch", *names],
        rows,
        [False, True, False, True, *[True] * len(names)],
    )


def achieved_table(cmp: pd.DataFrame) -> Table:
    rows = [
        [
            *_config_cells(r),
            fmt.decimal(r.model_gflop_per_step, 3),
            fmt.decimal(r.profiler_gflop_per_step, 3),
            fmt.gflops(r.achieved_gflops),
            fmt.pct(r.share_of_peak),
        ]
        for r in ordered(cmp, "threads", "batch_size").itertuples()
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


def roofline_table(roof: pd.DataFrame) -> Table:
    """The roofline points at each device's largest batch (what the sentences cite)."""
    largest = roof[roof["batch_size"] == roof.groupby("device")["batch_size"].transform("max")]
    rows = [
        [
            *_config_cells(r),
            fmt.code(r.op_name),
            fmt.code(r.input_shapes),
            fmt.decimal(r.intensity, 2),
            fmt.gflops(r.achieved_gflops),
            fmt.pct(r.share_of_peak),
        ]
        for r in ordered(largest, "threads", "op_name").itertuples()
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


def model_table(model: pd.DataFrame) -> Table:
    rows = [
        [
            r.device,
            fmt.count(r.threads),
            r.phase,
            fmt.ms(r.fixed_ms),
            fmt.us(r.per_sample_us),
            fmt.decimal(r.r2, 3),
            fmt.count(r.sizes),
            fmt.count(r.fixed_below_10pct_bs),
            fmt.count(r.plateau_bs),
        ]
        for r in ordered(model, "threads").itertuples()
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


def threads_table(cmp: pd.DataFrame) -> Table | None:
    many = cmp[(cmp["device"] == "cpu") & (cmp["threads"] > 1)].dropna(
        subset=["speedup_vs_1_thread"]
    )
    if many.empty:
        return None
    rows = [
        [
            *_config_cells(r),
            fmt.ms(r.ms_per_step),
            fmt.ratio(r.speedup_vs_1_thread),
            fmt.pct(r.parallel_efficiency),
        ]
        for r in ordered(many, "threads", "batch_size").itertuples()
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


def _ceilings(limits: pd.DataFrame | None, roof: pd.DataFrame, labelled: pd.DataFrame) -> dict:
    """Each panel label's (peak GFLOP/s, bandwidth GB/s) at its device and thread count."""
    peak, bw = peaks(limits), peaks(limits, "memory_bandwidth")
    configs = zip(labelled["device"], roof["device"], roof["threads"], strict=True)
    return {
        label: (peak[(d, int(t))], bw[(d, int(t))])
        for label, d, t in set(configs)
        if (d, int(t)) in peak and (d, int(t)) in bw
    }


def system_section(d: RunData, figs: dict[str, Path]) -> Section:
    t = d.tables
    if t["comparison"] is None:
        return Section("Where the time goes", [Note("Not profiled in this run.")])
    blocks: list[Block] = [INTRO, Bullets(words.sentences(findings.system(t)))]
    if t["time_split"] is not None:
        figs["time_split"] = figures.plot_time_split(
            _labelled(t["time_split"]), d.paths.figure("time_split")
        )
        blocks += [
            Figure(figs["time_split"], "Share of each kind of work per batch size"),
            "By kind of operator (share of the step):",
            split_table(t["time_split"], "category", (*OP_CATEGORIES, OUTSIDE_OPS)),
            "By labelled part of the step:",
            split_table(t["time_split"], "part", (*PARTS, OUTSIDE_LABELS)),
        ]
    blocks += [
        "Achieved throughput against the measured peak (profiler off):",
        achieved_table(t["comparison"]),
    ]
    if t["roofline"] is not None and len(t["roofline"]):
        roof = _labelled(t["roofline"])
        figs["roofline"] = figures.plot_roofline(
            roof, _ceilings(t["limits"], t["roofline"], roof), d.paths.figure("roofline")
        )
        blocks += [
            Figure(figs["roofline"], "Roofline: achieved GFLOP/s against FLOP per byte"),
            "Roofline points at the largest batch (all sizes: compare/roofline.parquet):",
            roofline_table(t["roofline"]),
        ]
    if t["step_model"] is not None:
        figs["step_model"] = figures.plot_step_model(
            thread_labelled(t["step_times"]),
            thread_labelled(t["step_model"]),
            d.paths.figure("step_model"),
        )
        blocks += [
            Figure(figs["step_model"], "Step time against batch size: points and fit"),
            model_table(t["step_model"]),
        ]
    table = threads_table(t["comparison"])
    if table is not None:
        blocks += ["What more CPU threads buy (same batch and phase at 1 thread):", table]
    return Section("Where the time goes", blocks)
