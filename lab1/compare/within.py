"""Combine the per-config profiles of a run into its Parquet tables and comparison plots.

Inputs are what ``lab1.measure.profiling.profile_config`` left in the run directory: the op_stats
part
files and each config's result JSON (throughput rows). Outputs (paths from lab1.rundir):

* ``profiles/op_stats.parquet``: every operator of every config (OP_STATS_SCHEMA);
* ``profiles/top10.parquet``: the 10 heaviest operators per config and phase (TOP10_SCHEMA);
* ``compare/comparison.parquet``: one row per config (lab1.identity: machine × device ×
  precision × threads × batch size) × phase (COMPARISON_SCHEMA), with speed-ups over cpu (same
  machine and precision), over fp32 (same config otherwise) and over 1 thread;
* ``compare/share_change.parquet``: top operators' share at the smallest vs largest batch;
* ``profiles/limits.parquet``, ``profiles/step_times.parquet``: the machine's limits and the
  batch ladder, gathered from their parts; ``compare/step_model.parquet`` (the ladder's fit),
  ``compare/time_split.parquet`` (where each step's time goes), ``compare/roofline.parquet``;
* ``compare/throughput.png``, ``compare/op_share.png``.

(``compare/summary.md`` and ``compare/top10.md`` are rendered from these by ``lab1.report``.)

Shares are fractions of the summed self time of the config's operators (``kind == "op"``:
record_function labels and GPU kernel rows overlap the ops' time and are left out), by self
CPU time on CPU and by self device time on GPU (the ``share_basis``). A config's identity is
lab1.identity's: fp32 and bf16, 1 and all threads, or two machines, on one device are compared
like two devices, never merged.
"""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lab1.figures import plot_op_share, plot_throughput
from lab1.host import machine
from lab1.host.devices import traits
from lab1.identity import IDENTITY, PANEL, axes_except, ordered
from lab1.measure.analysis import flops_columns, roofline_table, thread_columns
from lab1.measure.stepmodel import step_model_table
from lab1.reliability import measurement_summary
from lab1.run.checkpoints import sha256
from lab1.rundir import RunPaths
from lab1.schemas import (
    COMPARISON_SCHEMA,
    CONFIG_COLUMNS,
    OP_STATS_SCHEMA,
    SCHEMAS,
    SHARE_CHANGE_SCHEMA,
    TOP10_SCHEMA,
    read_parquet,
    write_parquet,
)

TOP_N = 10
CONFIG = CONFIG_COLUMNS  # a profiled config × phase, with its run and device model
MEASURES = [f.name for f in TOP10_SCHEMA if f.name not in {*CONFIG, "sort_key", "rank", "op_name"}]
SUMMED = [m for m in MEASURES if m not in ("share", "active_steps")]
SORT_COLUMNS = {"self_cpu": "self_cpu_us", "self_device": "self_device_us"}


def share_basis(device: str) -> str:
    """What an operator's share is a share of: device time where the profiler records it
    (the device's traits, lab1.host.devices)."""
    return traits(device).time_basis


def load_op_stats(part_paths: list[str]) -> pd.DataFrame:
    tables = [pq.read_table(p).select(OP_STATS_SCHEMA.names) for p in part_paths]
    return pa.concat_tables(tables).cast(OP_STATS_SCHEMA).to_pandas()


def op_totals(op_stats: pd.DataFrame) -> pd.DataFrame:
    """Operators only, input shapes merged: one row per config × phase × op_name."""
    ops = op_stats[op_stats["kind"] == "op"]
    keys = [*CONFIG, "active_steps", "op_name"]
    return ops.groupby(keys, as_index=False, sort=False)[SUMMED].sum()


def _ranked(group: pd.DataFrame, sort_key: str, n: int) -> pd.DataFrame:
    column = SORT_COLUMNS[sort_key]
    total = group[column].sum()
    out = group.sort_values([column, "op_name"], ascending=[False, True]).head(n).copy()
    out["sort_key"] = sort_key
    out["rank"] = range(1, len(out) + 1)
    out["share"] = out[column] / total if total > 0 else 0.0
    return out


def top_ops(op_stats: pd.DataFrame, n: int = TOP_N) -> pd.DataFrame:
    """The n heaviest operators per config and phase by self CPU time, and on GPU configs
    also by self device time (TOP10_SCHEMA columns)."""
    parts = []
    for _, group in op_totals(op_stats).groupby(CONFIG, sort=True):
        parts.append(_ranked(group, "self_cpu", n))
        if share_basis(group["device"].iloc[0]) == "self_device":
            parts.append(_ranked(group, "self_device", n))
    if not parts:
        return pd.DataFrame(columns=TOP10_SCHEMA.names)
    return pd.concat(parts, ignore_index=True)[TOP10_SCHEMA.names]


def op_shares(op_stats: pd.DataFrame) -> pd.DataFrame:
    """Every operator's share of its config's total, on the device's share basis."""
    totals = op_totals(op_stats)
    basis = totals["device"].map(share_basis)
    value = totals["self_cpu_us"].where(basis == "self_cpu", totals["self_device_us"])
    denom = value.groupby([totals[c] for c in CONFIG]).transform("sum")
    out = totals[[*CONFIG, "op_name"]].copy()
    out["share_basis"] = basis
    out["share"] = (value / denom.where(denom > 0)).fillna(0.0)
    return out


def throughput_rows(items: list[dict]) -> list[dict]:
    """Per-phase rows from profile_config results (their ``throughput`` lists) or rows as is."""
    rows: list[dict] = []
    for item in items:
        rows.extend(item.get("throughput", [item]))
    return rows


def _speedup(df: pd.DataFrame, base_rows: pd.DataFrame, same: list[str]) -> pd.Series:
    """ms_per_step of the ``base_rows`` row with the same ``same`` keys, over each row's own
    ms_per_step (NaN where no such row was profiled)."""
    base = base_rows.set_index(same)["ms_per_step"]
    matched = [base.get(k) for k in df[same].itertuples(index=False, name=None)]
    return pd.Series(matched, index=df.index, dtype="float64") / df["ms_per_step"]


def comparison_table(
    rows: list[dict], top10: pd.DataFrame, run_id: str, system: dict | None = None
) -> pd.DataFrame:
    """One row per device × precision × threads × batch size × phase, with its top op, the
    speed-ups over cpu (same precision, at its most threads), over fp32 (same device and
    threads) and over 1 thread, and the FLOP and step-model columns from ``system``
    (lab1.measure.analysis.flops_columns' inputs by name; without it: none measured)."""
    df = pd.DataFrame(rows).assign(run_id=run_id)
    keys = [*IDENTITY, "phase"]
    duplicated = df[df.duplicated(keys, keep=False)]
    if not duplicated.empty:
        raise ValueError(f"configs profiled twice: {duplicated[keys].to_dict('records')}")
    df["share_basis"] = df["device"].map(share_basis)
    first = top10[top10["rank"] == 1].rename(
        columns={"sort_key": "share_basis", "op_name": "top_op", "share": "top_op_share"}
    )[[*keys, "share_basis", "top_op", "top_op_share"]]
    df = df.merge(first, on=[*keys, "share_basis"], how="left")
    # cpu at its most threads, against every device of the same machine (same precision).
    same = [*axes_except("device", "threads"), "phase"]
    cpu = df[df["device"] == "cpu"].sort_values("threads").drop_duplicates(same, keep="last")
    df["speedup_vs_cpu"] = _speedup(df, cpu, same)
    fp32 = df[df["precision"] == "fp32"]
    df["speedup_vs_fp32"] = _speedup(df, fp32, [*axes_except("precision"), "phase"])
    df = flops_columns(thread_columns(df), **(system or {}))
    return ordered(df).reindex(columns=COMPARISON_SCHEMA.names)  # unmeasured: null


def share_change_table(shares: pd.DataFrame, top10: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """Per device, precision and phase: each top operator's share at the smallest and the
    largest batch.

    "Top" means in the top 10 (on the device's share basis) at either end. Configs profiled at
    a single batch size have no change to report and give no rows.
    """
    out = []
    keys = [*PANEL, "phase"]
    for key, group in shares.groupby(keys, sort=True):
        sizes = sorted(group["batch_size"].unique())
        if len(sizes) < 2:
            continue
        lo, hi = int(sizes[0]), int(sizes[-1])
        panel = dict(zip(keys, key, strict=True))
        basis = share_basis(panel["device"])
        ranked = top10.merge(pd.DataFrame([panel]), on=keys)  # this panel's rankings
        top = ranked[(ranked["sort_key"] == basis) & ranked["batch_size"].isin([lo, hi])]
        at = group.set_index(["batch_size", "op_name"])["share"]
        for op in top["op_name"].unique():
            a, b = float(at.get((lo, op), 0.0)), float(at.get((hi, op), 0.0))
            out.append(
                {
                    "run_id": run_id,
                    **panel,
                    "share_basis": basis,
                    "op_name": op,
                    "share_at_min_bs": a,
                    "share_at_max_bs": b,
                    "change": b - a,
                    "min_bs": lo,
                    "max_bs": hi,
                }
            )
    df = pd.DataFrame(out, columns=SHARE_CHANGE_SCHEMA.names)
    by_share = df.sort_values(["share_at_max_bs", "op_name"], ascending=[False, True])
    return ordered(by_share)  # stable: within a panel, by the share at the largest batch


def _gather(parts: list, name: str, run_id: str) -> pd.DataFrame | None:
    frames = [read_parquet(p, SCHEMAS[name]) for p in parts]
    return pd.concat(frames, ignore_index=True).assign(run_id=run_id) if frames else None


def _macs_per_image(paths: RunPaths) -> int | None:
    """The layer table's MACs per image (None where the run traced no graph)."""
    if not paths.layers_json.is_file():
        return None
    return sum(r["macs"] for r in json.loads(paths.layers_json.read_text()))


def system_tables(paths: RunPaths, results: list[dict], run_id: str) -> dict[str, pd.DataFrame]:
    """limits, step_times, step_model and time_split, where the run measured them."""
    out = {
        "limits": _gather(paths.limits_parts(), "limits", run_id),
        "step_times": _gather(paths.ladder_parts(), "step_times", run_id),
        "time_split": _gather(
            [paths.located(r["time_split"]) for r in results], "time_split", run_id
        ),
    }
    if out["step_times"] is not None:
        out["step_model"] = step_model_table(out["step_times"])
    return {k: v for k, v in out.items() if v is not None}


# --------------------------------------------------------------------------- entry point


def combine_and_compare(paths: RunPaths, run_id: str) -> dict[str, dict[str, str]]:
    """Gather the run's profiled configs (``paths.profile_results()``) into its Parquet tables
    and comparison plots. Returns their paths by name: ``tables`` (ready for
    history.append_history) and ``plots``, and the profiled ``executions`` (for the manifest).
    The words about them are lab1.report's job."""
    results = [json.loads(p.read_text()) for p in paths.profile_results()]
    if not results:
        raise ValueError("compare needs at least one profiled config")
    op_stats = load_op_stats([paths.located(r["op_stats"]) for r in results]).assign(run_id=run_id)
    top10 = top_ops(op_stats)
    shares = op_shares(op_stats)
    frames = {"op_stats": op_stats, "top10": top10, **system_tables(paths, results, run_id)}
    system = {
        "op_stats": op_stats,
        "macs_per_image": _macs_per_image(paths),
        "limits": frames.get("limits"),
        "step_model": frames.get("step_model"),
    }
    frames["comparison"] = comparison_table(throughput_rows(results), top10, run_id, system)
    frames["share_change"] = share_change_table(shares, top10, run_id)
    frames["roofline"] = roofline_table(op_stats, frames.get("limits"), share_basis)
    tables = {k: write_parquet(df, SCHEMAS[k], paths.table(k)) for k, df in frames.items()}
    plots = {
        "throughput": plot_throughput(frames["comparison"], paths.compare_plot("throughput")),
        "op_share": plot_op_share(shares, paths.compare_plot("op_share")),
    }
    timed = [frames["comparison"], frames.get("limits"), frames.get("step_times")]
    return {
        "tables": {k: str(v) for k, v in tables.items()},
        "plots": {k: str(v) for k, v in plots.items()},
        "executions": profiled_executions(results),
        "measurements": measurement_summary(timed, machine.logical_cores()),
        "attempts": measurement_attempts(paths, results),
        # The manifest's own record of each table as written: a later edit shows
        # (lab1.classroom.checks).
        "table_sha256": {k: sha256(v) for k, v in tables.items()},
    }


def measurement_attempts(paths: RunPaths, results: list[dict]) -> list[dict]:
    """Every attempt of every timed measurement of the run (lab1.measure.remeasure): the profiled
    configs' (in their results) and the limits' and ladders' (their attempts logs)."""
    out = [a for r in results for a in r.get("attempts", [])]  # none in an older run's results
    for log in paths.attempts_logs():
        out += json.loads(log.read_text())
    return out


def profiled_executions(results: list[dict]) -> list[dict]:
    """The distinct executions (lab1.run.step.Execution dicts) of the profiled configs, in device,
    precision, threads order: the batch sizes of one device × precision × threads share one."""
    unique = {tuple(sorted(r["execution"].items())): r["execution"] for r in results}
    return sorted(unique.values(), key=lambda e: (e["device"], e["precision"], e["threads"]))
