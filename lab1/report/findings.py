"""What a run shows, computed once as data: a Finding is a kind plus the numbers it is about.

Nothing here writes words: lab1.report.sentences turns each kind into a sentence, in every place
that shows it (report.md / report.html, compare/summary.md, the Prefect artifacts). Every
number in a Finding is read from a table the report also shows, so a reader can trace it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from lab1.host.devices import device_time_measured
from lab1.host.environment import UNMEASURED
from lab1.identity import PANEL, ConfigId, Label, axes_except, named, ordered
from lab1.reliability import (
    PROFILED_TRAINED_BAND,
    RELIABLE_SPREAD,
    all_disturbed,
    cores_of_others,
    disturbed_epochs,
    steady_epochs,
    training_rate,
    unsure,
)
from lab1.run.manifest import Manifest
from lab1.run.step import Execution, differences

# What a batch-size sweep is compared within: a config less its batch size, per phase. A
# Finding names its config by a lab1.identity.Label (``config``), which each language renders.
SWEEP = [*PANEL, "phase"]


# Every kind a Finding may have: lab1.report.sentences registers its sentence in each language
# (lab1.report.words, lab1.report.zh), and a test holds the registry to this list.
KINDS = (
    "accuracy",
    "loss_trend",
    "caveat",
    "params_vs_macs",
    "single_config",
    "scaling",
    "top_op",
    "peak_memory",
    "share_move",
    "speedup",
    "precision_speedup",
    "profiler_overhead",
    "contended",
    "not_profiled",
    "time_goes",
    "peak_share",
    "fixed_cost",
    "thread_gain",
    # comparisons of runs (lab1.report.crossfindings)
    "mixed_data",
    "not_comparable",
    "code_versions",
    "rows_contended",
    "run_speedup",
    "crossover",
    "model_ahead",
    "profile_vs_training",
    "execution_differs",
    "unmeasured",
    "described_machine",
    # the summary at the top of the report (summary below)
    "busy_machine",
    "summary_ran",
    "summary_machine",
    "summary_result",
    "small_batch",
    "large_batch",
)


@dataclass(frozen=True)
class Finding:
    kind: str  # one of KINDS: one sentence template per kind in each language
    values: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"unknown finding kind {self.kind!r}: add it to KINDS and to "
                "lab1.report.sentences.SENTENCES"
            )


def training(history: list) -> list[Finding]:
    """Final and best accuracy; how the test loss and the throughput moved over the epochs."""
    if not history:
        return []
    last = history[-1]
    best = max(history, key=lambda h: h.test_accuracy)
    out = [
        Finding(
            "accuracy",
            {
                "epochs": len(history),
                "accuracy": last.test_accuracy,
                "loss": last.test_loss,
                "best_epoch": best.epoch,
                "best_accuracy": best.test_accuracy,
            },
        ),
    ]
    if len(history) > 1:
        first, rates = history[0], [h.images_per_s for h in history]
        out.append(
            Finding(
                "loss_trend",
                {
                    "first_epoch": first.epoch,
                    "first_loss": first.test_loss,
                    "last_epoch": last.epoch,
                    "last_loss": last.test_loss,
                    "fell": last.test_loss < first.test_loss,
                    "min_rate": min(rates),
                    "max_rate": max(rates),
                },
            )
        )
    return out


def caveats(manifest: Manifest) -> list[Finding]:
    """A dry run or a subset of the data: results that must not be read as the lab's."""
    dry = manifest.parameters.dry_run
    ds = manifest.dataset
    subset = ds.source if ds is not None and not ds.full else None
    return [Finding("caveat", {"dry_run": dry, "subset": subset})] if dry or subset else []


def unmeasured(manifest: Manifest, comparison: pd.DataFrame | None) -> list[Finding]:
    """What this system had no source for (lab1.host.environment.UNMEASURED keys, in that order):
    one note, so an unknown is never read as a value."""
    env = manifest.environment
    gaps = set(env.unmeasured) if env is not None else set()
    if comparison is not None:
        if comparison["contended"].isna().any():
            gaps.add("contention")
        if not all(map(device_time_measured, comparison["device"])):
            gaps.add("device_time")
    items = [k for k in UNMEASURED if k in gaps]
    return [Finding("unmeasured", {"items": items})] if items else []


def described_machine(manifest: Manifest) -> list[Finding]:
    """A run whose machine was described (LAB1_MACHINE), not read: its environment table is the
    description's, its measurements this machine's. Said, so no reader takes one for the other."""
    env = manifest.environment
    if env is None or not env.described:
        return []
    return [Finding("described_machine", {"cpu": env.cpu_model})]


def layers(rows: list[dict]) -> list[Finding]:
    """Which layer holds the parameters and which does the work."""
    total_p = sum(r["parameters"] for r in rows)
    total_m = sum(r["macs"] for r in rows)
    if not (total_p and total_m):
        return []
    by_p = max(rows, key=lambda r: r["parameters"])
    by_m = max(rows, key=lambda r: r["macs"])
    return [
        Finding(
            "params_vs_macs",
            {
                "param_layer": by_p["layer"],
                "param_share": by_p["parameters"] / total_p,
                "params": total_p,
                "mac_layer": by_m["layer"],
                "mac_share": by_m["macs"] / total_m,
                "macs": total_m,
            },
        )
    ]


def _labelled(df: pd.DataFrame, **how) -> pd.DataFrame:
    """``df`` in display order with each row's Label (lab1.identity.named) in ``label``."""
    df = ordered(df)
    return df.assign(label=named(df, **how))


def _sweeps(df: pd.DataFrame, keys: list[str] = SWEEP):
    """(the panel's Label, phase, its rows) per panel of a labelled frame, in display order."""
    for _, g in df.groupby(keys, sort=False):
        yield g["label"].iloc[0], g["phase"].iloc[0], g


def _scaling(config: Label, phase: str, g: pd.DataFrame) -> list[Finding]:
    """Throughput, cost per image, heaviest operator and peak memory across batch sizes."""
    lo, hi = g.iloc[0], g.iloc[-1]
    where = {
        "config": config,
        "phase": phase,
        "lo_bs": int(lo.batch_size),
        "hi_bs": int(hi.batch_size),
    }
    if len(g) == 1:
        return [
            Finding(
                "single_config",
                {
                    **where,
                    "rate": lo.images_per_s,
                    "us": lo.us_per_sample,
                    "op": lo.top_op,
                    "share": lo.top_op_share,
                },
            )
        ]
    fastest = g.loc[g["images_per_s"].idxmax()]
    return [
        Finding(
            "scaling",
            {
                **where,
                "lo_rate": lo.images_per_s,
                "hi_rate": hi.images_per_s,
                "gain": hi.images_per_s / lo.images_per_s,
                "lo_us": lo.us_per_sample,
                "hi_us": hi.us_per_sample,
                "fastest_bs": int(fastest.batch_size),
            },
        ),
        Finding(
            "top_op",
            {
                **where,
                "lo_op": lo.top_op,
                "lo_share": lo.top_op_share,
                "hi_op": hi.top_op,
                "hi_share": hi.top_op_share,
            },
        ),
        # Null where not measured (mps): no sentence rather than one about a dash.
        *(
            [
                Finding(
                    "peak_memory", {**where, "lo": lo.peak_memory_bytes, "hi": hi.peak_memory_bytes}
                )
            ]
            if pd.notna(lo.peak_memory_bytes) and pd.notna(hi.peak_memory_bytes)
            else []
        ),
    ]


def _share_moves(share_change: pd.DataFrame | None) -> list[Finding]:
    """Per device and phase, the operator whose share moves most between the batch sizes."""
    if share_change is None:
        return []
    out = []
    for config, phase, g in _sweeps(_labelled(share_change)):
        r = g.loc[g["change"].abs().idxmax()]
        out.append(
            Finding(
                "share_move",
                {
                    "config": config,
                    "phase": phase,
                    "op": r.op_name,
                    "basis": r.share_basis,
                    "from": r.share_at_min_bs,
                    "to": r.share_at_max_bs,
                    "change": r.change,
                    "lo_bs": int(r.min_bs),
                    "hi_bs": int(r.max_bs),
                },
            )
        )
    return out


def _speedups(speedups: pd.DataFrame) -> list[Finding]:
    out = []
    for config, phase, g in _sweeps(speedups):
        best, worst = g.loc[g["speedup"].idxmax()], g.loc[g["speedup"].idxmin()]
        slower = [int(b) for b, s in zip(g["batch_size"], g["speedup"], strict=True) if s < 1]
        out.append(
            Finding(
                "speedup",
                {
                    "config": config,
                    "phase": phase,
                    "worst": worst.speedup,
                    "worst_bs": int(worst.batch_size),
                    "best": best.speedup,
                    "best_bs": int(best.batch_size),
                    "slower_at": slower,
                },
            )
        )
    return out


def speedups(comparison: pd.DataFrame) -> pd.DataFrame:
    """One row per GPU config × phase: CPU and GPU images/s and their ratio (the comparison
    table's speedup_vs_cpu), with the GPU config's Label in ``label``."""
    cpu = _most_threads(comparison[comparison["device"] == "cpu"])  # as speedup_vs_cpu's
    gpu = comparison[comparison["device"] != "cpu"].dropna(subset=["speedup_vs_cpu"])
    if cpu.empty or gpu.empty:
        return pd.DataFrame()
    same = [*axes_except("device", "threads"), "phase"]
    merged = gpu.merge(cpu[[*same, "images_per_s"]], on=same, suffixes=("", "_cpu"))
    return _labelled(merged.assign(speedup=merged["speedup_vs_cpu"]))


def precisions(comparison: pd.DataFrame) -> pd.DataFrame:
    """One row per non-fp32 config × phase beside its fp32 twin (the same config but for the
    precision): images/s, top operator and peak memory of both, and the speed-up over fp32;
    the config's Label in ``label`` (threads named where they vary in ``comparison``)."""
    ref = comparison[comparison["precision"] == "fp32"]
    other = comparison[comparison["precision"] != "fp32"].dropna(subset=["speedup_vs_fp32"])
    if ref.empty or other.empty:
        return pd.DataFrame()
    same = [*axes_except("precision"), "phase"]
    cols = [*same, "images_per_s", "top_op", "top_op_share", "peak_memory_bytes"]
    merged = other.merge(ref[cols], on=same, suffixes=("", "_fp32"))
    merged = merged.assign(speedup=merged["speedup_vs_fp32"])
    # Labelled against the whole comparison: a thread count that varies there is named.
    labels = dict(zip(_keys(comparison), named(comparison), strict=True))
    return ordered(merged).pipe(lambda m: m.assign(label=[labels[k] for k in _keys(m)]))


def _precision_findings(pr: pd.DataFrame) -> list[Finding]:
    """Per device, precision and phase: the speed-up range over fp32, and at the largest batch
    the heaviest operator and the peak memory of both."""
    out = []
    for config, phase, g in _sweeps(pr):
        best, worst = g.loc[g["speedup"].idxmax()], g.loc[g["speedup"].idxmin()]
        hi = g.loc[g["batch_size"].idxmax()]
        out.append(
            Finding(
                "precision_speedup",
                {
                    "config": config,
                    "phase": phase,
                    "worst": worst.speedup,
                    "worst_bs": int(worst.batch_size),
                    "best": best.speedup,
                    "best_bs": int(best.batch_size),
                    "slower_at": [
                        int(b) for b, x in zip(g["batch_size"], g["speedup"], strict=True) if x < 1
                    ],
                    "hi_bs": int(hi.batch_size),
                    "op": hi.top_op,
                    "op_fp32": hi.top_op_fp32,
                    "mem": hi.peak_memory_bytes,
                    "mem_fp32": hi.peak_memory_bytes_fp32,
                },
            )
        )
    return out


def profiling(comparison: pd.DataFrame | None, share_change: pd.DataFrame | None) -> list[Finding]:
    """The batch-size and device findings of the comparison tables, in display order."""
    if comparison is None:
        return [Finding("not_profiled")]
    out: list[Finding] = []
    cmp = _labelled(comparison)
    for config, phase, g in _sweeps(cmp):
        out += _scaling(config, phase, g)
    out += _share_moves(share_change)
    sp = speedups(comparison)
    if len(sp):
        out += _speedups(sp)
    pr = precisions(comparison)
    if len(pr):
        out += _precision_findings(pr)
    o = comparison["profiler_overhead"]
    out.append(Finding("profiler_overhead", {"min": o.min(), "max": o.max()}))
    return out + _contended(cmp)


def _contended(cmp: pd.DataFrame) -> list[Finding]:
    """Rows measured while other processes kept the CPU busy (lab1.host.exclusive.MachineLoad)."""
    busy = cmp[cmp["contended"].eq(True)]  # null: unknown (lab1.host.exclusive), not contended
    if busy.empty:
        return []
    rates = busy["other_cpu_s"] / (busy["window_end"] - busy["window_start"])
    configs = [
        {"config": c, "phase": p, "bs": int(b)}
        for c, p, b in zip(busy["label"], busy["phase"], busy["batch_size"], strict=True)
    ]
    return [Finding("contended", {"configs": configs, "max_cores": float(rates.max())})]


# --------------------------------------------------------------------------- system view


def _keys(df: pd.DataFrame) -> list[tuple]:
    """Each row's (identity, phase) as a tuple: how rows of two frames are matched."""
    return list(df[[*axes_except(), "phase"]].itertuples(index=False, name=None))


def _most_threads(df: pd.DataFrame) -> pd.DataFrame:
    """Each machine's device's rows at its largest thread count (the configs a user runs by
    default)."""
    top = df.groupby(axes_except("precision", "threads", "batch_size"))["threads"].transform("max")
    return df[df["threads"] == top]


def _disturbance(cmp: pd.DataFrame | None, rows: pd.DataFrame) -> dict:
    """``disturbed``: whether any of the comparison's rows of ``rows``' configs, phases and
    batch sizes is unsure (lab1.reliability.unsure), and ``cores``: the most cores other
    programs used during those (None where unknown)."""
    if cmp is None or rows.empty:
        return {"disturbed": False, "cores": None}
    keys = [*axes_except(), "phase"]
    hit = cmp.merge(rows[keys].drop_duplicates(), on=keys, how="inner")
    bad = hit[unsure(hit)]
    cores = cores_of_others(bad).max() if len(bad) else float("nan")
    return {"disturbed": bool(len(bad)), "cores": None if pd.isna(cores) else float(cores)}


def time_goes(split: pd.DataFrame | None, cmp: pd.DataFrame | None = None) -> list[Finding]:
    """Per device and phase at its smallest profiled batch: the dominant part and category,
    and the share outside any operator (time_split table). The step time is the comparison's
    profiler-off ms_per_step, the one the summary and the throughput table state (the split's
    own µs sum to the profiled step, which the profiler slows): one step, one value."""
    if split is None:
        return []
    out = []
    s = _labelled(_most_threads(split), show=("threads",))
    for config, phase, g in _sweeps(s):
        g = g[g["batch_size"] == g["batch_size"].min()]
        at = _at(cmp, g.iloc[0]) if cmp is not None else g.iloc[:0]
        parts = g[(g["split"] == "part") & (g["name"] != "outside labels")]
        cats = g[g["split"] == "category"]
        outside = cats[cats["name"] == "outside any operator"].iloc[0]
        ops = cats[cats["name"] != "outside any operator"]
        part, cat = parts.loc[parts["share"].idxmax()], ops.loc[ops["share"].idxmax()]
        out.append(
            Finding(
                "time_goes",
                {
                    "config": config,
                    "phase": phase,
                    "bs": int(g["batch_size"].iloc[0]),
                    "part": part["name"],
                    "part_share": part.share,
                    "category": cat["name"],
                    "category_share": cat.share,
                    "outside": outside.share,
                    "step_ms": float(at["ms_per_step"].iloc[0]) if len(at) else None,
                    **_disturbance(cmp, g.iloc[:1]),
                },
            )
        )
    return out


def _peak_unsure(limits: pd.DataFrame | None, r) -> bool:
    """Whether a matmul peak of comparison row ``r``'s machine, device and threads was
    measured unsure (lab1.reliability.unsure): every share of it is then unsure too."""
    if limits is None:
        return False
    keys = ["machine_id", "device", "threads"]
    peak = limits[(limits["what"] == "matmul_peak") & limits["value"].notna()]
    peak = peak[(peak[keys] == pd.Series({k: r[k] for k in keys})).all(axis=1)]
    return bool(unsure(peak).any())


def peak_shares(
    cmp: pd.DataFrame | None, roofline: pd.DataFrame | None, limits: pd.DataFrame | None = None
) -> list[Finding]:
    """Per device and phase at its largest batch: the whole step's and the best operator's
    share of the measured fp32 peak (comparison and roofline tables), and whether the step or
    the peak was measured unsure (``disturbed``)."""
    if cmp is None or cmp["share_of_peak"].isna().all():
        return []
    out = []
    c = _labelled(_most_threads(cmp), show=("threads",))
    for config, phase, g in _sweeps(c):
        r = g.iloc[-1]
        v = {
            "config": config,
            "phase": phase,
            "bs": int(r.batch_size),
            "gflops": r.achieved_gflops,
            "share": r.share_of_peak,
            "op": None,
            "op_gflops": None,
            "op_share": None,
        }
        if roofline is not None:
            ops = roofline[[k == _keys(g.iloc[[-1]])[0] for k in _keys(roofline)]]
            if len(ops):
                best = ops.loc[ops["achieved_gflops"].idxmax()]
                v.update(
                    op=best.op_name, op_gflops=best.achieved_gflops, op_share=best.share_of_peak
                )
        # Over 100 % is no system effect: the peak was measured low (on a busy machine,
        # whether or not lab1 saw it), so the share is named a disturbed measurement.
        v["over_peak"] = max(v["share"], v["op_share"] or 0.0) > 1.0
        v |= _disturbance(cmp, g.iloc[[-1]])
        v["disturbed"] = v["disturbed"] or _peak_unsure(limits, r)
        out.append(Finding("peak_share", v))
    return out


def fixed_costs(model: pd.DataFrame | None) -> list[Finding]:
    """The step-time model of each ladder (step_model table)."""
    if model is None:
        return []
    return [
        Finding(
            "fixed_cost",
            {
                "config": r.label,
                "phase": r.phase,
                "fixed_ms": r.fixed_ms,
                "per_sample_us": r.per_sample_us,
                "r2": r.r2,
                "below_bs": None
                if pd.isna(r.fixed_below_10pct_bs)
                else int(r.fixed_below_10pct_bs),
                "plateau_bs": int(r.plateau_bs),
            },
        )
        for r in _labelled(model, show=("threads",)).itertuples()
    ]


def thread_gains(cmp: pd.DataFrame | None) -> list[Finding]:
    """What the extra CPU threads buy, per phase (comparison's speedup_vs_1_thread)."""
    if cmp is None:
        return []
    many = cmp[(cmp["device"] == "cpu") & (cmp["threads"] > 1)].dropna(
        subset=["speedup_vs_1_thread"]
    )
    out = []
    for config, phase, g in _sweeps(_labelled(many, beside=("threads",))):
        best = g.loc[g["speedup_vs_1_thread"].idxmax()]
        # A speed-up is two measurements: this thread count's and the 1-thread step's.
        twins = g.assign(threads=1)
        out.append(
            Finding(
                "thread_gain",
                {
                    "config": config,
                    "threads": config.config.threads,
                    "phase": phase,
                    "lo_bs": int(g.batch_size.iloc[0]),
                    "lo": g.speedup_vs_1_thread.iloc[0],
                    "hi_bs": int(g.batch_size.iloc[-1]),
                    "hi": g.speedup_vs_1_thread.iloc[-1],
                    "best_bs": int(best.batch_size),
                    "best": best.speedup_vs_1_thread,
                    "efficiency": best.parallel_efficiency,
                    **_disturbance(cmp, pd.concat([g, twins])),
                },
            )
        )
    return out


def system(tables: dict[str, pd.DataFrame | None]) -> list[Finding]:
    """The "Where the time goes" findings, from the run's tables."""
    return [
        *time_goes(tables["time_split"], tables["comparison"]),
        *peak_shares(tables["comparison"], tables["roofline"], tables["limits"]),
        *fixed_costs(tables["step_model"]),
        *thread_gains(tables["comparison"]),
    ]


# --------------------------------------------------------------------------- trained vs profiled

# Why a profiled step's execution may differ from the trained one's: the config's own axes.
# channels_last, the allocator and cuDNN autotuning follow from the device and precision
# (lab1.run.step.build_steps); a difference nothing here explains means the profile did not
# measure the step that was trained.
_AXES = ("device", "precision", "threads")
_FOLLOW = {"channels_last": ("device", "precision"), "heap_kept_mapped": ("device",)}
_FOLLOW["cudnn_benchmark"] = ("device",)
_FOLLOW["tf32_convolutions"] = _FOLLOW["tf32_matmuls"] = ("device",)


def _why(trained: Execution, profiled: Execution) -> tuple[list[str], list[str]]:
    """(reasons, unexplained fields) of a profiled execution that differs from the trained."""
    diff = differences(trained, profiled)
    reasons = [a for a in _AXES if a in diff]
    if "mode" in diff and trained.mode != "eager" and profiled.mode == "eager":
        reasons.append("cuda_graph")  # the profiler times the eager step: it sees no operators
    explained = {*reasons, "mode"} if "cuda_graph" in reasons else set(reasons)
    explained |= {f for f, by in _FOLLOW.items() if any(a in reasons for a in by)}
    return reasons, [f for f in diff if f not in explained]


def step_match(manifest: Manifest, comparison: pd.DataFrame | None) -> list[Finding]:
    """The profile against the trained step: the profiler-off train_step images/s at the
    training config over training's steady-state images/s (the median epoch after the first),
    and each profiled execution that is not the trained one, with why."""
    training = manifest.training
    if training is None or comparison is None or not training.complete_history():
        return []
    trained = training.execution
    out = []
    rows = comparison[
        (comparison["phase"] == "train_step")
        & (comparison["device"] == trained.device)
        & (comparison["precision"] == trained.precision)
        & (comparison["threads"] == trained.threads)
        & (comparison["batch_size"] == manifest.parameters.batch_size)
    ]
    history = training.complete_history()
    steady = steady_epochs(history)  # after the warm-up epoch, undisturbed where any are
    # The trained step ran on the run's machine; a profiled config names its own (a worker's).
    home = manifest.environment.machine_id if manifest.environment is not None else None

    def label(e: Execution, machine_id: str | None) -> Label:
        return Label(ConfigId(machine_id, e.device, e.precision, e.threads), threads=True)

    if len(rows):
        rate = training_rate(history).images_per_s
        profiled = float(rows["images_per_s"].iloc[0])
        near = _disturbance(comparison, rows.iloc[:1])
        if all_disturbed(history):  # no undisturbed epoch: training's rate is unsure too
            cores = [h.other_cores for h in steady]
            cores = [c for c in cores if c is not None] + [near["cores"] or 0.0]
            near = {"disturbed": True, "cores": max(cores) or None}
        out.append(
            Finding(
                "profile_vs_training",
                {
                    "config": label(trained, rows["machine_id"].iloc[0]),
                    "bs": manifest.parameters.batch_size,
                    "epochs": [h.epoch for h in steady],
                    "training": rate,
                    "profiled": profiled,
                    "ratio": profiled / rate,
                    "band": PROFILED_TRAINED_BAND,
                    **near,
                },
            )
        )
    summary = manifest.comparison
    others = []
    for e in summary.executions if summary is not None else []:
        reasons, unexplained = _why(trained, e)
        if reasons or unexplained:
            others.append(
                {
                    "config": label(e, home),
                    "reasons": reasons,
                    "unexplained": unexplained,
                }
            )
    if others:
        values = {"trained": trained.to_dict(), "config": label(trained, home), "configs": others}
        out.append(Finding("execution_differs", values))
    return out


# --------------------------------------------------------------------------- the summary

SUMMARY_MAX = 6  # key findings at the top of the report


def _home(cmp: pd.DataFrame, manifest: Manifest) -> pd.DataFrame:
    """The comparison's rows of the trained device and precision at its default (largest)
    thread count: the configs the summary speaks about."""
    device = manifest.devices.training if manifest.devices else "cpu"
    precision = manifest.training.execution.precision if manifest.training else "fp32"
    rows = _most_threads(cmp[(cmp["device"] == device) & (cmp["precision"] == precision)])
    return rows if len(rows) else _most_threads(cmp)


def _at(df: pd.DataFrame, row) -> pd.DataFrame:
    """``df``'s rows of ``row``'s config, phase and batch size."""
    keys = [*axes_except(), "phase"]
    return df[(df[keys] == pd.Series({k: row[k] for k in keys})).all(axis=1)]


def _batch_end(
    kind: str, r, split: pd.DataFrame, model: pd.DataFrame | None, peak_unsure: bool = False
) -> Finding | None:
    """What dominates one end of a sweep (comparison row ``r``): the largest labelled part
    (small batch) or kind of operator (large batch) of its time_split, with the step time."""
    g = _at(split, r)
    if g.empty:
        return None
    v = {
        "config": r["label"],
        "phase": r["phase"],
        "bs": int(r["batch_size"]),
        "ms": r["ms_per_step"],
    }
    cats = g[(g["split"] == "category") & (g["name"] != "outside any operator")]
    cat = cats.loc[cats["share"].idxmax()]
    v |= {"category": cat["name"], "category_share": cat["share"]}
    if kind == "large_batch":
        v |= {"gflops": r["achieved_gflops"], "peak": r["share_of_peak"], "explains": cat["share"]}
        # A share over 100 % (or of a peak measured unsure) is no finding: the peak is said
        # to be measured low instead (words: peak_low).
        over = pd.notna(r["share_of_peak"]) and r["share_of_peak"] > 1.0
        v["peak_low"] = bool(over or (pd.notna(r["share_of_peak"]) and peak_unsure))
        return Finding(kind, v)
    parts = g[(g["split"] == "part") & (g["name"] != "outside labels")]
    part = parts.loc[parts["share"].idxmax()]
    name, share = part["name"], part["share"]
    if r["phase"] == "inference":  # all of it is the forward pass: say what kind of work
        name, share = None, cat["share"]
    fit = None if model is None else model[(model["phase"] == r["phase"])]
    fit = fit[(fit[list(PANEL)] == r[list(PANEL)]).all(axis=1)] if fit is not None else fit
    v |= {
        "part": name,
        "part_share": share,
        "fixed_ms": fit["fixed_ms"].iloc[0] if fit is not None and len(fit) else None,
        "per_sample_us": fit["per_sample_us"].iloc[0] if fit is not None and len(fit) else None,
        "explains": share,
    }
    return Finding(kind, v)


def tf32_parts(e: Execution) -> list[str]:
    """Which of an fp32 step's products ran in TF32 ("convolutions", "matmuls"): none in bf16,
    where autocast's bf16 decides."""
    if e.precision != "fp32":
        return []
    on = (("convolutions", e.tf32_convolutions), ("matmuls", e.tf32_matmuls))
    return [name for name, yes in on if yes]


def summary(manifest: Manifest, history: list, tables: dict) -> list[Finding]:
    """The report's summary: what ran, where, the result, then at most SUMMARY_MAX key
    findings ranked by the share of the step time each explains (``explains``): what
    dominates the smallest and the largest batch of the trained config per phase, what the
    extra threads buy (the share of the 1-thread step they save), and the profile against
    training where they disagree (by how much)."""
    env, p = manifest.environment, manifest.parameters
    out = []
    cmp = tables["comparison"]
    threads = sorted(int(t) for t in cmp["threads"].unique()) if cmp is not None else []
    trained = manifest.training.execution if manifest.training else None
    tf32 = [] if trained is None else tf32_parts(trained)
    out.append(
        Finding(
            "summary_ran",
            {
                "epochs": p.epochs,
                "batch_size": p.batch_size,
                "device": manifest.devices.training if manifest.devices else None,
                "precision": trained.precision if trained else None,
                "tf32": tf32,
                "batch_sizes": list(p.batch_sizes),
                "threads": threads,
                "dry_run": p.dry_run,
                "subset": manifest.dataset is not None and not manifest.dataset.full,
            },
        )
    )
    if env is not None:
        gpus = sorted({g["name"] for g in env.gpus})
        out.append(
            Finding(
                "summary_machine",
                {
                    "cpu": env.cpu_model,
                    "vcpus": env.vcpus,
                    "gpus": gpus,
                    "gpu_count": env.gpu_count,
                    "machine_id": env.machine_id,
                },
            )
        )
    if history:
        out.append(
            Finding(
                "summary_result",
                {
                    "epochs": len(history),
                    "accuracy": history[-1].test_accuracy,
                    "seconds": sum(h.train_seconds for h in history),
                },
            )
        )
    return busy_machine(manifest, history, tables) + out + key_findings(manifest, tables)


# The tables of timed measurements (lab1.schemas' reliability columns): what a busy machine
# can disturb, and what the summary's first line counts.
TIMED = ("comparison", "limits", "step_times")


def busy_machine(manifest: Manifest, history: list, tables: dict) -> list[Finding]:
    """The summary's first line where any timed number is unsure (lab1.reliability.unsure) or
    a training epoch was disturbed: of how many measurements, how many were disturbed and by
    how many cores (the mean other programs used during those), out of the machine's; how
    many more only spread too widely; which epochs were disturbed. [] on a quiet run."""
    total = busy = uneven = 0
    cores: list[float] = []
    for name in TIMED:
        t = tables[name]
        if t is None:
            continue
        if name == "limits":
            t = t[t["value"].notna()]  # "not supported" is no measurement
        bad, hit = unsure(t), t["contended"].eq(True)
        total += len(t)
        busy += int((bad & hit).sum())
        uneven += int((bad & ~hit).sum())
        cores += cores_of_others(t[bad & hit]).dropna().tolist()
    epochs = disturbed_epochs(history)
    if not (busy or uneven or epochs):
        return []
    env = manifest.environment
    return [
        Finding(
            "busy_machine",
            {
                "busy": busy,
                "uneven": uneven,
                "measurements": total,
                "cores": sum(cores) / len(cores) if cores else None,
                "vcpus": env.vcpus if env is not None else None,
                "spread": RELIABLE_SPREAD,
                "epochs": [h.epoch for h in epochs],
                "of_epochs": len(history),
            },
        )
    ]


def key_findings(manifest: Manifest, tables: dict) -> list[Finding]:
    """The summary's key findings, ranked (see summary). None is drawn from an unsure
    measurement (lab1.reliability.unsure): busy_machine names those instead."""
    cmp, split = tables["comparison"], tables["time_split"]
    if cmp is None or split is None:
        return []
    home = _labelled(_home(cmp, manifest), show=("threads",))
    bad = unsure(home)
    found: list[Finding] = []
    for _, _phase, g in _sweeps(home):
        ends = [("small_batch", g.iloc[0]), ("large_batch", g.iloc[-1])] if len(g) > 1 else []
        for kind, r in ends:
            if bad[r.name]:
                continue
            low = _peak_unsure(tables["limits"], r)
            f = _batch_end(kind, r, split, tables["step_model"], low)
            found += [f] if f is not None else []
    gains = [
        f
        for f in thread_gains(cmp)
        if f.values["phase"] == "train_step" and not f.values["disturbed"]
    ]
    # The trained precision's (a bf16 run's summary speaks of bf16), else the first (fp32's).
    trained = manifest.training.execution.precision if manifest.training else "fp32"
    gains = [f for f in gains if f.values["config"].config.precision == trained] or gains
    for f in gains[:1]:  # the trained phase: what the extra threads buy at its largest batch
        hi = f.values["hi"]  # the 1-thread step's share saved, or the 2-thread step's lost
        found.append(Finding("thread_gain", {**f.values, "explains": 1 - min(hi, 1 / hi)}))
    low, high = PROFILED_TRAINED_BAND
    for f in step_match(manifest, cmp):
        if f.kind != "profile_vs_training" or f.values["disturbed"]:
            continue  # a ratio of a disturbed measurement is no finding
        if not low <= f.values["ratio"] <= high:
            off = min(1.0, abs(1 - f.values["ratio"]))
            found.append(Finding(f.kind, {**f.values, "explains": off}))
    found.sort(key=lambda f: -f.values["explains"])
    return found[:SUMMARY_MAX]
