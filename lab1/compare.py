"""Combine the per-config profiles of a run: Parquet tables, plots and a computed summary.

Inputs are what ``lab1.profiling.profile_config`` returns: the op_stats part files and the
per-phase throughput rows. Outputs, under the run directory:

* ``profiles/op_stats.parquet``: every operator of every config (OP_STATS_SCHEMA);
* ``profiles/top10.parquet``: the 10 heaviest operators per config and phase (TOP10_SCHEMA);
* ``compare/comparison.parquet``: one row per device × precision × batch size × phase
  (COMPARISON_SCHEMA), with speed-ups over cpu (same precision) and over fp32 (same device);
* ``compare/share_change.parquet``: top operators' share at the smallest vs largest batch;
* ``compare/throughput.png``, ``compare/op_share.png``, ``compare/top10.md`` and ``summary.md``.

Shares are fractions of the summed self time of the config's operators (``kind == "op"``:
record_function labels and GPU kernel rows overlap the ops' time and are left out), by self
CPU time on CPU and by self device time on GPU (the ``share_basis``). A config's identity is
its (device, precision): fp32 and bf16 on one device are compared like two devices.
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: lab servers and CI have no display

import matplotlib.pyplot as plt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lab1.config import PRECISIONS
from lab1.tables import (
    COMPARISON_SCHEMA,
    OP_STATS_SCHEMA,
    PHASES,
    SHARE_CHANGE_SCHEMA,
    TOP10_SCHEMA,
    write_parquet,
)

log = logging.getLogger("lab1.compare")

TOP_N = 10
CONFIG = ["run_id", "torch_version", "device", "device_name", "precision", "batch_size", "phase"]
PANEL = ["device", "precision", "phase"]  # one line of the summary, one panel of a plot
MEASURES = [f.name for f in TOP10_SCHEMA if f.name not in {*CONFIG, "sort_key", "rank", "op_name"}]
SUMMED = [m for m in MEASURES if m not in ("share", "active_steps")]
SORT_COLUMNS = {"self_cpu": "self_cpu_us", "self_device": "self_device_us"}
BASIS_WORDS = {"self_cpu": "self CPU time", "self_device": "self device time"}
DPI = 110


def _panel_order(key: tuple[str, str, str]) -> tuple:
    """(device, precision, phase) display order: cpu first, fp32 before bf16, then
    train_step before inference."""
    device, precision, phase = key
    rank = PRECISIONS.index(precision) if precision in PRECISIONS else len(PRECISIONS)
    return (device != "cpu", device, rank, PHASES.index(phase) if phase in PHASES else len(PHASES))


def share_basis(device: str) -> str:
    """What an operator's share is a share of: device time where the profiler records it."""
    return "self_device" if device.startswith("cuda") else "self_cpu"


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


def _speedup(df: pd.DataFrame, column: str, value: str, same: list[str]) -> pd.Series:
    """ms_per_step of the row with ``column == value`` and the same ``same`` keys, over each
    row's own ms_per_step (NaN where that row was not profiled)."""
    base = df[df[column] == value].set_index(same)["ms_per_step"]
    matched = [base.get(k) for k in df[same].itertuples(index=False, name=None)]
    return pd.Series(matched, index=df.index, dtype="float64") / df["ms_per_step"]


def comparison_table(rows: list[dict], top10: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """One row per device × precision × batch size × phase, with its top op and the speed-ups
    over cpu (same precision) and over fp32 (same device)."""
    df = pd.DataFrame(rows).assign(run_id=run_id)
    keys = ["device", "precision", "batch_size", "phase"]
    duplicated = df[df.duplicated(keys, keep=False)]
    if not duplicated.empty:
        raise ValueError(f"configs profiled twice: {duplicated[keys].to_dict('records')}")
    df["share_basis"] = df["device"].map(share_basis)
    first = top10[top10["rank"] == 1].rename(
        columns={"sort_key": "share_basis", "op_name": "top_op", "share": "top_op_share"}
    )[[*keys, "share_basis", "top_op", "top_op_share"]]
    df = df.merge(first, on=[*keys, "share_basis"], how="left")
    df["speedup_vs_cpu"] = _speedup(df, "device", "cpu", ["precision", "batch_size", "phase"])
    df["speedup_vs_fp32"] = _speedup(df, "precision", "fp32", ["device", "batch_size", "phase"])
    order = [_panel_order(k) for k in df[PANEL].itertuples(index=False, name=None)]
    df = df.assign(_order=order).sort_values(["_order", "batch_size"])
    return df[COMPARISON_SCHEMA.names].reset_index(drop=True)


def share_change_table(shares: pd.DataFrame, top10: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """Per device, precision and phase: each top operator's share at the smallest and the
    largest batch.

    "Top" means in the top 10 (on the device's share basis) at either end. Configs profiled at
    a single batch size have no change to report and give no rows.
    """
    out = []
    for (device, precision, phase), group in shares.groupby(PANEL, sort=True):
        sizes = sorted(group["batch_size"].unique())
        if len(sizes) < 2:
            continue
        lo, hi = int(sizes[0]), int(sizes[-1])
        basis = share_basis(device)
        top = top10[
            (top10["device"] == device)
            & (top10["precision"] == precision)
            & (top10["phase"] == phase)
            & (top10["sort_key"] == basis)
            & top10["batch_size"].isin([lo, hi])
        ]
        at = group.set_index(["batch_size", "op_name"])["share"]
        for op in top["op_name"].unique():
            a, b = float(at.get((lo, op), 0.0)), float(at.get((hi, op), 0.0))
            out.append(
                {
                    "run_id": run_id,
                    "device": device,
                    "precision": precision,
                    "phase": phase,
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
    return df.sort_values(
        [*PANEL, "share_at_max_bs", "op_name"],
        ascending=[True, True, True, False, True],
        ignore_index=True,
    )


# --------------------------------------------------------------------------- plots


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return path


def plot_throughput(comparison: pd.DataFrame, path: str | Path) -> Path:
    """images/s (log) against batch size (log₂), one panel per phase, one line per device and
    precision."""
    phases = sorted(set(comparison["phase"]), key=lambda p: _panel_order(("cpu", "fp32", p)))
    fig, axes = plt.subplots(1, len(phases), figsize=(5.2 * len(phases), 4), squeeze=False)
    markers = "osD^vP*X"
    configs = sorted(
        set(zip(comparison["device"], comparison["precision"], strict=True)),
        key=lambda k: _panel_order((*k, PHASES[0])),
    )
    for ax, phase in zip(axes[0], phases, strict=True):
        for i, (device, precision) in enumerate(configs):
            d = comparison[
                (comparison["phase"] == phase)
                & (comparison["device"] == device)
                & (comparison["precision"] == precision)
            ].sort_values("batch_size")
            name = f" ({d['device_name'].iloc[0]})" if len(d) else ""
            ax.plot(
                d["batch_size"],
                d["images_per_s"],
                marker=markers[i % len(markers)],
                color=f"C{i}",
                label=f"{device} {precision}{name}",
            )
        sizes = sorted(comparison["batch_size"].unique())
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.set_xlabel("batch size")
        ax.set_ylabel("images / s (profiler off)")
        ax.set_title(phase)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Throughput vs batch size")
    return _save(fig, Path(path))


def plot_op_share(shares: pd.DataFrame, path: str | Path, top_k: int = 5) -> Path:
    """Stacked bars per batch size: the top_k operators' shares (at any batch size) + other."""
    panels = sorted(shares.groupby(PANEL).groups, key=_panel_order)
    panel_of = {k: g for k, g in shares.groupby(PANEL)}
    names = []  # one colour per operator name across every panel
    for key in panels:
        d = panel_of[key]
        best = d.sort_values("share", ascending=False).groupby("batch_size").head(top_k)
        names += [n for n in best["op_name"] if n not in names]
    # tab20's strong shades, then its light ones, then tab20b: neighbours never look alike.
    tab20, tab20b = plt.get_cmap("tab20"), plt.get_cmap("tab20b")
    palette = [tab20(i) for i in (*range(0, 20, 2), *range(1, 20, 2))]
    palette += [tab20b(i) for i in range(20)]
    colours = {n: palette[i % len(palette)] for i, n in enumerate(names)}
    rows = list(dict.fromkeys(k[:2] for k in panels))  # one row per (device, precision)
    phases = list(dict.fromkeys(k[2] for k in sorted(panels, key=lambda k: _panel_order(k)[3:])))
    fig, axes = plt.subplots(
        len(rows),
        len(phases),
        figsize=(8 * len(phases), 4.5 * len(rows)),
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.flat:
        ax.set_visible(False)  # until a panel is drawn in it
    for device, precision, phase in panels:
        ax = axes[rows.index((device, precision)), phases.index(phase)]
        ax.set_visible(True)
        d = panel_of[device, precision, phase]
        best = d.sort_values("share", ascending=False).groupby("batch_size").head(top_k)
        ops = list(dict.fromkeys(best.sort_values("share", ascending=False)["op_name"]))
        table = d.pivot_table(index="batch_size", columns="op_name", values="share", aggfunc="sum")
        table = table.reindex(columns=ops).fillna(0.0).sort_index()
        x = [str(b) for b in table.index]
        bottom = pd.Series(0.0, index=table.index)
        for op in ops:
            ax.bar(x, 100 * table[op], bottom=100 * bottom, color=colours[op], label=op)
            bottom += table[op]
        ax.bar(x, 100 * (1 - bottom).clip(lower=0), bottom=100 * bottom, color="#d9d9d9",
               label="other")  # fmt: skip
        basis = BASIS_WORDS[share_basis(device)]
        ax.set_title(f"{device} · {precision} · {phase}")
        ax.set_xlabel("batch size")
        ax.set_ylabel(f"% of {basis}")
        ax.set_ylim(0, 100)
        handles, labels = ax.get_legend_handles_labels()  # reversed: reads like the stack
        ax.legend(handles[::-1], labels[::-1], fontsize=7, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0))  # fmt: skip
    fig.suptitle("Operator share per batch size")
    return _save(fig, Path(path))


# --------------------------------------------------------------------------- markdown


def _time(us: float) -> str:
    """Like torch's profiler table: 12.345us, 1.234ms, 1.234s."""
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    return f"{us / 1e3:.3f}ms" if us >= 1e3 else f"{us:.3f}us"


def _memory(nbytes: float) -> str:
    for unit, div in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if abs(nbytes) >= div:
            return f"{nbytes / div:.2f} {unit}"
    return f"{int(nbytes)} B"


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def format_top10(top10: pd.DataFrame, op_stats: pd.DataFrame | None = None) -> str:
    """The top-10 tables like the lab's ``key_averages().table()``: one per config, phase and
    sort key; totals over the profiled steps, percentages of all operators' self time."""
    totals = op_totals(op_stats).groupby(CONFIG)[SUMMED].sum() if op_stats is not None else None
    blocks = []
    for keys, t in top10.groupby([*CONFIG, "sort_key"], sort=True):
        config, sort_key = keys[:-1], keys[-1]
        _, _, device, name, precision, bs, phase = config
        gpu = share_basis(device) == "self_device"
        steps = int(t["active_steps"].iloc[0])
        if totals is not None:
            cpu_base, dev_base = totals.loc[config, ["self_cpu_us", "self_device_us"]]
        else:  # no full table: percentages of the listed rows' total share
            cpu_base = t["self_cpu_us"].sum() or 1.0
            dev_base = t["self_device_us"].sum() or 1.0
        head = ["#", "Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg"]
        if gpu:
            head += ["Self CUDA", "Self CUDA %", "CUDA total"]
        head += ["CPU Mem", "Self CPU Mem", "# of Calls"]
        lines = [
            f"### {device} ({name}), {precision}, batch {bs}, {phase}: top {len(t)} by "
            f"{BASIS_WORDS[sort_key]} (totals over {steps} profiled steps)",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "|".join("---:" if h not in ("Name",) else "---" for h in head) + "|",
        ]
        for r in t.sort_values("rank").itertuples():
            cells = [
                str(r.rank),
                f"`{r.op_name}`",
                _pct(r.self_cpu_us / cpu_base if cpu_base else 0.0),
                _time(r.self_cpu_us),
                _pct(r.cpu_total_us / cpu_base if cpu_base else 0.0),
                _time(r.cpu_total_us),
                _time(r.cpu_total_us / max(r.calls, 1)),
            ]
            if gpu:
                dev_pct = r.self_device_us / dev_base if dev_base else 0.0
                cells += [_time(r.self_device_us), _pct(dev_pct), _time(r.device_total_us)]
            cells += [_memory(r.cpu_memory_bytes), _memory(r.self_cpu_memory_bytes), str(r.calls)]
            lines.append("| " + " | ".join(cells) + " |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _panel_name(key: tuple[str, str, str]) -> str:
    device, precision, phase = key
    return f"{device} {precision}, {phase}"


def _speedup_words(s: float, than: str, batch: int) -> str:
    if s >= 1:
        return f"{s:.1f}× faster than {than} at batch {batch}"
    return f"{1 / s:.1f}× slower than {than} at batch {batch}"


def _batch_lines(name: str, g: pd.DataFrame, sc: pd.DataFrame) -> list[str]:
    """How one panel's per-sample cost and top operator move with the batch size."""
    lo, hi = g.iloc[0], g.iloc[-1]
    if lo["batch_size"] == hi["batch_size"]:
        return [
            f"- {name}: {hi['us_per_sample']:,.1f} µs per sample, "
            f"{hi['images_per_s']:,.0f} images/s at batch {hi['batch_size']}."
        ]
    verb = "falls" if hi["us_per_sample"] < lo["us_per_sample"] else "rises"
    lines = [
        f"- {name}: per-sample cost {verb} from {lo['us_per_sample']:,.1f} µs at "
        f"batch {lo['batch_size']} to {hi['us_per_sample']:,.1f} µs at batch "
        f"{hi['batch_size']} ({lo['us_per_sample'] / hi['us_per_sample']:.1f}× as many "
        f"images per second: {lo['images_per_s']:,.0f} → {hi['images_per_s']:,.0f})."
    ]
    if not sc.empty:
        top = sc.iloc[0]  # the largest share at the largest batch
        lines.append(
            f"  `{top['op_name']}`'s share of {BASIS_WORDS[top['share_basis']]} goes from "
            f"{_pct(top['share_at_min_bs'])} at batch {top['min_bs']} to "
            f"{_pct(top['share_at_max_bs'])} at batch {top['max_bs']}."
        )
        moved = sc.loc[sc["change"].abs().idxmax()]
        if moved["op_name"] != top["op_name"]:
            lines.append(
                f"  The largest change is `{moved['op_name']}`: "
                f"{_pct(moved['share_at_min_bs'])} → {_pct(moved['share_at_max_bs'])}."
            )
    return lines


def _speedup_lines(c: pd.DataFrame, column: str, rows: pd.Series, than: str) -> list[str]:
    """One line per panel of ``rows`` listing its ``column`` speed-up at every batch size."""
    picked = c[rows].dropna(subset=[column])
    groups = dict(list(picked.groupby(PANEL)))
    lines = []
    for key in sorted(groups, key=_panel_order):
        g = groups[key].sort_values("batch_size")
        parts = [_speedup_words(getattr(r, column), than, r.batch_size) for r in g.itertuples()]
        lines.append(f"- {_panel_name(key)}: " + ", ".join(parts) + ".")
    return lines


def summary_markdown(comparison: pd.DataFrame, share_change: pd.DataFrame) -> str:
    """A short report whose every number and verb is computed from the tables."""
    c = comparison
    threads = c[["num_threads", "num_interop_threads"]].drop_duplicates()
    lines = [
        f"## Profiling: {c['run_id'].iloc[0]}",
        "",
        f"torch {c['torch_version'].iloc[0]}; devices: "
        + ", ".join(f"{d} ({n})" for d, n in c[["device", "device_name"]].drop_duplicates().values)
        + "; precisions: "
        + ", ".join(p for p in PRECISIONS if p in set(c["precision"]))
        + "; threads (intra-op / inter-op): "
        + ", ".join(f"{a} / {b}" for a, b in threads.values)
        + ".",
        "",
    ]
    groups = dict(list(c.groupby(PANEL)))
    changes = dict(list(share_change.groupby(PANEL)))
    for key in sorted(groups, key=_panel_order):
        sc = changes.get(key, share_change.iloc[:0])
        lines += _batch_lines(_panel_name(key), groups[key].sort_values("batch_size"), sc)
    lines += _speedup_lines(c, "speedup_vs_cpu", c["device"] != "cpu", "cpu")
    lines += _speedup_lines(c, "speedup_vs_fp32", c["precision"] != "fp32", "fp32")
    o = c["profiler_overhead"]
    spread = f"{o.min():.2f}×" if o.min() == o.max() else f"{o.min():.2f}× to {o.max():.2f}×"
    lines += [
        "",
        f"The profiler (record_shapes, profile_memory, with_flops) makes a step take {spread} "
        f"as long as without it (median {o.median():.2f}×); throughput numbers are measured "
        "with it off.",
        "",
        "| device | precision | phase | batch | images/s | ms/step | µs/sample | top op | share | "
        "peak memory | profiler × | vs cpu | vs fp32 |",
        "|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in c.itertuples():
        speed = "" if pd.isna(r.speedup_vs_cpu) else f"{r.speedup_vs_cpu:.2f}×"
        vs_fp32 = "" if pd.isna(r.speedup_vs_fp32) else f"{r.speedup_vs_fp32:.2f}×"
        share = "" if pd.isna(r.top_op_share) else _pct(r.top_op_share)
        lines.append(
            f"| {r.device} | {r.precision} | {r.phase} | {r.batch_size} | "
            f"{r.images_per_s:,.0f} | {r.ms_per_step:.2f} | {r.us_per_sample:,.1f} | "
            f"`{r.top_op}` | {share} | {_memory(r.peak_memory_bytes)} | "
            f"{r.profiler_overhead:.2f}× | {speed} | {vs_fp32} |"
        )
    return "\n".join(lines) + "\n"


def artifact_rows(comparison: pd.DataFrame) -> list[dict]:
    """The comparison as small, rounded, JSON-ready rows (for a table artifact)."""
    rows = []
    for r in comparison.to_dict("records"):
        rows.append(
            {
                "device": r["device"],
                "precision": r["precision"],
                "phase": r["phase"],
                "batch_size": int(r["batch_size"]),
                "images_per_s": round(r["images_per_s"], 1),
                "ms_per_step": round(r["ms_per_step"], 3),
                "us_per_sample": round(r["us_per_sample"], 1),
                "top_op": r["top_op"],
                "top_op_share": None if pd.isna(r["top_op_share"]) else round(r["top_op_share"], 3),
                "peak_memory_mb": round(r["peak_memory_bytes"] / 2**20, 1),
                "profiler_overhead": round(r["profiler_overhead"], 2),
                **{
                    k: None if pd.isna(r[k]) else round(r[k], 2)
                    for k in ("speedup_vs_cpu", "speedup_vs_fp32")
                },
            }
        )
    return rows


# --------------------------------------------------------------------------- entry point


def combine_and_compare(
    part_paths: list[str], throughput: list[dict], out_dir: str | Path, run_id: str
) -> dict:
    """Write the run's profile tables, plots and summary under out_dir (the run directory).

    ``throughput``: profile_config results, or their per-phase ``throughput`` rows.
    Returns paths (``tables`` maps table name → file, ready for history.append_history), the
    summary markdown, and the comparison as rows for a table artifact.
    """
    if not part_paths or not throughput:
        raise ValueError("compare needs at least one profiled config")
    out = Path(out_dir)
    op_stats = load_op_stats(part_paths).assign(run_id=run_id)
    top10 = top_ops(op_stats)
    shares = op_shares(op_stats)
    comparison = comparison_table(throughput_rows(throughput), top10, run_id)
    change = share_change_table(shares, top10, run_id)
    tables = {
        "op_stats": write_parquet(op_stats, OP_STATS_SCHEMA, out / "profiles" / "op_stats.parquet"),
        "top10": write_parquet(top10, TOP10_SCHEMA, out / "profiles" / "top10.parquet"),
        "comparison": write_parquet(
            comparison, COMPARISON_SCHEMA, out / "compare" / "comparison.parquet"
        ),
        "share_change": write_parquet(
            change, SHARE_CHANGE_SCHEMA, out / "compare" / "share_change.parquet"
        ),
    }
    plots = {
        "throughput": plot_throughput(comparison, out / "compare" / "throughput.png"),
        "op_share": plot_op_share(shares, out / "compare" / "op_share.png"),
    }
    markdown = summary_markdown(comparison, change)
    summary_path = out / "compare" / "summary.md"
    summary_path.write_text(markdown)
    top10_path = out / "compare" / "top10.md"
    top10_text = format_top10(top10, op_stats)
    top10_path.write_text(top10_text)
    log.info("top-10 operators per config and phase:\n%s", top10_text)
    log.info("%s", markdown)
    return {
        "tables": {k: str(v) for k, v in tables.items()},
        "plots": {k: str(v) for k, v in plots.items()},
        "summary": str(summary_path),
        "top10_markdown": str(top10_path),
        "markdown": markdown,
        "rows": artifact_rows(comparison),
    }
