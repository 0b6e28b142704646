"""The lab report of one run directory: ``report.md`` and a self-contained ``report.html``.

Sections follow the lab's template: environment, dataset, network graph, training curves,
top-10 operators, batch-size comparison, CPU vs GPU, analysis. Everything is read back from
what the pipeline left in the run directory (manifest, layer table, TensorBoard event files,
profiling tables), so the report can be rebuilt at any time; a part that a run did not
produce becomes a one-line "not ... in this run" note instead of an error.

The report is built once as a list of sections made of a few block types, then rendered twice:
to Markdown (figures as relative links) and to HTML (figures inlined as base64 data URIs, so
the one file can be mailed or archived on its own).
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from lab1 import compare, figures
from lab1.rundir import read_manifest
from lab1.tables import PHASES
from lab1.train import SCALARS

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
FIGURES_DIR = "figures"
SCALAR_TAGS = tuple(SCALARS)
# Each scalar tag's field in manifest training.history (the fallback when events are gone).
HISTORY_FIELDS = SCALARS
PROFILE_TABLES = {
    "top10": "profiles/top10.parquet",
    "op_stats": "profiles/op_stats.parquet",
    "comparison": "compare/comparison.parquet",
    "share_change": "compare/share_change.parquet",
}
NOT_PROFILED = "Not profiled in this run"
# Captions of the plots the compare step draws (compare/<stem>.png); others show their name.
COMPARE_CAPTIONS = {
    "throughput": "Throughput against batch size, per phase and device (profiler off)",
    "op_share": "Operator share of the time per batch size, per device and phase",
}
PHASE_ORDER = {phase: i for i, phase in enumerate(PHASES)}  # train_step, then inference


# --------------------------------------------------------------------------- blocks


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    numeric: list[bool] | None = None  # right-align these columns


@dataclass
class Figure:
    path: Path
    caption: str


@dataclass
class Note:
    """A call-out; ``warning`` ones are the caveats a reader must not miss."""

    text: str
    kind: str = "info"


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)
    level: int = 2

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")


# --------------------------------------------------------------------------- formatting
# Tables and the analysis share these, so a number reads the same wherever it appears.


def fmt_int(n: float | None) -> str:
    return "–" if n is None or pd.isna(n) else f"{round(float(n)):,}"


def fmt_float(x: float | None, digits: int = 4) -> str:
    return "–" if x is None or pd.isna(x) else f"{x:.{digits}f}"


def fmt_pct(fraction: float | None, digits: int = 2) -> str:
    """A fraction 0..1 as a percentage."""
    return "–" if fraction is None or pd.isna(fraction) else f"{100 * fraction:.{digits}f}%"


def fmt_rate(x: float | None) -> str:
    """Throughput in images/s: whole numbers from 100 up, one decimal below."""
    if x is None or pd.isna(x):
        return "–"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.1f}"


def fmt_ratio(x: float | None) -> str:
    return "–" if x is None or pd.isna(x) else f"{x:.2f}×"


def fmt_bytes(n: float | None) -> str:
    if n is None or pd.isna(n):
        return "–"
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= div:
            return f"{n / div:.1f} {unit}"
    return f"{int(n)} B"


def fmt_seconds(s: float | None) -> str:
    return "–" if s is None or pd.isna(s) else f"{s:.2f} s"


def fmt_cudnn(v: int | None) -> str:
    """torch's integer cuDNN version: 91002 → 9.10.2 (cuDNN ≥ 9), 8902 → 8.9.2 (cuDNN 8)."""
    if not v:
        return "–"
    major, rest = (v // 10000, v % 10000) if v >= 10000 else (v // 1000, v % 1000)
    return f"{major}.{rest // 100}.{rest % 100}"


def fmt_value(v) -> str:
    """Any cell of a table we do not know the schema of."""
    if v is None or (not isinstance(v, (list, tuple, dict)) and pd.isna(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) >= 1000):
        return fmt_int(v)
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def shape_str(shape: list[int]) -> str:
    return "×".join(str(d) for d in shape) or "scalar"


# --------------------------------------------------------------------------- reading a run


def read_scalars(tb_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag in a TensorBoard log dir as sorted (step, value) pairs.

    A step logged twice (a resumed run re-logging an epoch) keeps its last value.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb_dir = Path(tb_dir)
    if not tb_dir.is_dir():
        return {}
    acc = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})
    acc.Reload()
    out = {}
    for tag in acc.Tags().get("scalars", []):
        by_step = {e.step: e.value for e in acc.Scalars(tag)}
        out[tag] = sorted(by_step.items())
    return out


def scalars_from_history(history: list[dict]) -> dict[str, list[tuple[int, float]]]:
    return {
        tag: [(r["epoch"], r[key]) for r in history if r.get(key) is not None]
        for tag, key in HISTORY_FIELDS.items()
    }


def load_table(run_dir: Path, name: str) -> pd.DataFrame | None:
    """A profiling table by its short name, or None when this run did not write it."""
    path = Path(run_dir) / PROFILE_TABLES[name]
    if not path.is_file():
        return None
    df = pd.read_parquet(path)
    return df if len(df) else None


@dataclass
class RunData:
    """Everything the report needs, read once from a run directory."""

    run_dir: Path
    manifest: dict
    layers: list[dict]
    scalars: dict[str, list[tuple[int, float]]]
    scalars_source: str
    tables: dict[str, pd.DataFrame | None]
    compare_pngs: list[Path]

    @property
    def history(self) -> list[dict]:
        """The manifest's per-epoch records that have every field the report uses."""
        needed = ("epoch", *HISTORY_FIELDS.values())
        history = self.manifest.get("training", {}).get("history", [])
        return [h for h in history if all(h.get(k) is not None for k in needed)]


def read_run(run_dir: str | Path) -> RunData:
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    layers_path = run_dir / "graph" / "layers.json"
    layers = json.loads(layers_path.read_text()) if layers_path.is_file() else []
    scalars = read_scalars(run_dir / "tensorboard")
    source = "the TensorBoard event files"
    history = manifest.get("training", {}).get("history", [])
    missing = [t for t in SCALAR_TAGS if not scalars.get(t)]
    if missing and history:
        # Event files pruned or never written: the manifest holds the same numbers.
        fallback = scalars_from_history(history)
        for tag in missing:
            scalars[tag] = fallback[tag]
        source = "manifest.json"
        if len(missing) < len(SCALAR_TAGS):
            source = "the TensorBoard event files (missing tags from manifest.json)"
    tables = {name: load_table(run_dir, name) for name in PROFILE_TABLES}
    known = list(COMPARE_CAPTIONS)  # the compare step's plots in the template's order
    pngs = sorted(
        (run_dir / "compare").glob("*.png"),
        key=lambda p: (known.index(p.stem) if p.stem in known else len(known), p.name),
    )
    return RunData(run_dir, manifest, layers, scalars, source, tables, pngs)


# --------------------------------------------------------------------------- derived tables
def _ordered(df: pd.DataFrame, *keys: str) -> pd.DataFrame:
    """Rows by device (cpu first), phase (train_step first), then ``keys``."""
    return (
        df.assign(_gpu=df["device"] != "cpu", _ph=df["phase"].map(PHASE_ORDER).fillna(9))
        .sort_values(["_gpu", "device", "_ph", *keys])
        .drop(columns=["_gpu", "_ph"])
    )


def _configs(df: pd.DataFrame) -> list[tuple]:
    """(device, batch_size, phase, sort_key) of every ranking in a top-10 table, in order.

    GPU configs are ranked twice, by self CPU and by self device time; CPU configs once.
    """
    df = df if "sort_key" in df.columns else df.assign(sort_key="")
    keys = df[["device", "batch_size", "phase", "sort_key"]].drop_duplicates()
    return sorted(
        (tuple(k) for k in keys.itertuples(index=False)),
        key=lambda k: (k[0] != "cpu", k[0], PHASE_ORDER.get(k[2], 9), k[1], k[3] == "self_cpu"),
    )


def _sort_key(row: pd.Series) -> str:
    """The time column an op was ranked by: the table's sort_key (``self_cpu`` names the
    ``self_cpu_us`` column), else self CPU time on the CPU and self device time on a GPU."""
    key = row.get("sort_key")
    for candidate in (key, f"{key}_us"):
        if isinstance(key, str) and candidate in row.index:
            return candidate
    return "self_cpu_us" if str(row.get("device", "cpu")) == "cpu" else "self_device_us"


def with_share(top: pd.DataFrame, op_stats: pd.DataFrame | None) -> pd.DataFrame:
    """top-10 rows with ``share``: the op's fraction of its config's total ranking time.

    The profiler writes ``share`` itself; for a table without it, the total comes from
    op_stats (operators only: annotations and kernels overlap their time) when the run has it,
    else from the top-10 rows themselves (then a share is of the top 10 only; ``share_of``
    says which).
    """
    top = top.copy()
    if "share" in top.columns:
        top["share_of"] = "all operators"
        return top
    if op_stats is not None:
        totals_src, share_of = op_stats, "all operators"
        if "kind" in op_stats.columns:
            totals_src = op_stats[op_stats["kind"] == "op"]
    else:
        totals_src, share_of = top, "the top 10 only"
    shares = []
    for _, row in top.iterrows():
        key = _sort_key(row)
        same = totals_src[
            (totals_src["device"] == row["device"])
            & (totals_src["batch_size"] == row["batch_size"])
            & (totals_src["phase"] == row["phase"])
        ]
        total = same[key].sum() if key in same.columns else 0
        shares.append(row[key] / total if total else float("nan"))
    top["share"] = shares
    top["share_of"] = share_of
    return top


def speedups(comparison: pd.DataFrame) -> pd.DataFrame:
    """One row per GPU device × batch size × phase: CPU and GPU images/s and their ratio."""
    cpu = comparison[comparison["device"] == "cpu"]
    gpu = comparison[comparison["device"] != "cpu"]
    if cpu.empty or gpu.empty:
        return pd.DataFrame()
    merged = gpu.merge(
        cpu[["batch_size", "phase", "images_per_s"]],
        on=["batch_size", "phase"],
        suffixes=("", "_cpu"),
    )
    if "speedup_vs_cpu" in merged.columns and merged["speedup_vs_cpu"].notna().all():
        merged["speedup"] = merged["speedup_vs_cpu"]
    else:
        merged["speedup"] = merged["images_per_s"] / merged["images_per_s_cpu"]
    return _ordered(merged, "batch_size").reset_index(drop=True)


# --------------------------------------------------------------------------- sections


def _section_run(d: RunData) -> Section:
    m = d.manifest
    p = m.get("parameters", {})
    status = str(m.get("status", "unknown"))
    if status == "running":  # the flow writes the report as its last step, before "completed"
        status = "running (the report is written as the run's last step)"
    rows = [
        ["run", f"`{m.get('run_name', d.run_dir.name)}`"],
        ["status", status],
        ["started / finished (UTC)", f"{m.get('started_at', '–')} / {m.get('finished_at', '–')}"],
        ["report written (UTC)", datetime.now(timezone.utc).isoformat(timespec="seconds")],
        [
            "devices found / training",
            (
                f"{', '.join(m.get('devices', {}).get('resolved', [])) or '–'} / "
                f"{m.get('devices', {}).get('training', '–')}"
            ),
        ],
        [
            "recipe",
            (
                f"Adadelta lr {p.get('lr', '–')}, StepLR gamma {p.get('gamma', '–')}, "
                f"batch {p.get('batch_size', '–')} (test {p.get('test_batch_size', '–')}), "
                f"{p.get('epochs', '–')} epochs, seed {p.get('seed', '–')}"
            ),
        ],
    ]
    if p.get("batch_sizes"):
        rows.append(["profiled batch sizes", ", ".join(str(b) for b in p["batch_sizes"])])
    blocks: list = [Table(["", "value"], rows)]
    if p.get("dry_run"):
        blocks.append(
            Note(
                "**Dry run**: only a few batches per epoch; the numbers below only show that "
                "the pipeline works, not what the model can learn.",
                "warning",
            )
        )
    timings = m.get("timings", {})
    if timings:
        total = sum(timings.values())
        trows = [
            [k, fmt_seconds(v), fmt_pct(v / total if total else None, 1)]
            for k, v in timings.items()
        ]
        trows.append(["**total**", f"**{fmt_seconds(total)}**", ""])
        blocks += [
            "Pipeline tasks, wall clock:",
            Table(["task", "time", "share"], trows, [False, True, True]),
        ]
    return Section("Run", blocks)


def _gpu_line(env: dict) -> str:
    gpus = env.get("gpus") or []
    if not gpus:
        return "none visible to torch"
    by_name: dict[str, list[dict]] = {}
    for g in gpus:
        by_name.setdefault(g["name"], []).append(g)
    return "; ".join(
        f"{len(gs)} × {name} ({fmt_bytes(gs[0].get('memory_bytes'))}, "
        f"compute capability {gs[0].get('capability', '?')})"
        for name, gs in by_name.items()
    )


def _section_environment(d: RunData) -> Section:
    env = d.manifest.get("environment")
    if not env:
        return Section("Environment", [Note("No environment was captured in this run.")])
    pk = env.get("packages", {})
    cuda = env.get("cuda_version")
    cuda_txt = (
        "–"
        if not cuda
        else (f"{cuda}" + ("" if env.get("cuda_available") else " (torch's build; no GPU visible)"))
    )
    rows = [
        [
            "CPU",
            f"{env.get('cpu_model', '–')} ({env.get('vcpus', '–')} vCPUs; "
            f"torch uses {env.get('torch_threads', '–')} threads)",
        ],
        ["memory", fmt_bytes(env.get("memory_bytes"))],
        ["GPU", f"{env.get('gpu_count', 0)}: {_gpu_line(env)}"],
        [
            "OS",
            f"{env.get('os', '–')} (kernel {env.get('kernel', '–')}, {env.get('machine', '–')})",
        ],
        ["Python", str(env.get("python", "–"))],
        ["PyTorch", str(pk.get("torch") or "–")],
        ["torchvision", str(pk.get("torchvision") or "–")],
        ["CUDA", cuda_txt],
        ["cuDNN", fmt_cudnn(env.get("cudnn_version"))],
        *[
            [name, str(pk.get(name) or "–")]
            for name in ("prefect", "tensorboard", "pyarrow", "numpy", "mlxtend")
        ],
    ]
    return Section(
        "Environment",
        [
            "Captured automatically when the run started.",
            Table(["component", "version / model"], rows),
        ],
    )


def _section_dataset(d: RunData) -> Section:
    ds = d.manifest.get("dataset")
    if not ds:
        return Section("Dataset", [Note("The run recorded no dataset.", "warning")])
    rows = [
        ["dataset", str(ds.get("name", "–"))],
        ["source", f"{ds.get('source', '–')} (`{ds.get('location', '–')}`)"],
        [
            "train / test images",
            f"{fmt_int(ds.get('train_size'))} / {fmt_int(ds.get('test_size'))}",
        ],
        ["sha256 of the decoded tensors", f"`{ds.get('checksum', '–')}`"],
    ]
    blocks: list = [Table(["", "value"], rows)]
    if ds.get("full") is False:
        total = (ds.get("train_size") or 0) + (ds.get("test_size") or 0)
        blocks.insert(
            0,
            Note(
                f"**SUBSET, NOT THE FULL DATASET**: this run used {fmt_int(total)} digits "
                f"({ds.get('source', 'an offline subset')}), split "
                f"{fmt_int(ds.get('train_size'))} train / {fmt_int(ds.get('test_size'))} test. "
                "Accuracies and timings are not comparable with runs on the full 60,000 / 10,000 "
                "MNIST.",
                "warning",
            ),
        )
    return Section("Dataset", blocks)


def _section_network(d: RunData, fig_dir: Path, out: dict) -> Section:
    if not d.layers:
        return Section("Network graph", [Note("No layer table (graph/layers.json) in this run.")])
    path = figures.draw_network_graph(d.layers, fig_dir / "network_graph.png")
    out["network_graph"] = path
    total_p = sum(r["parameters"] for r in d.layers)
    total_m = sum(r["macs"] for r in d.layers)
    rows = [
        [
            f"`{r['layer']}`",
            r["op"],
            ", ".join(r["inputs"]) or "–",
            shape_str(r["output_shape"]),
            fmt_int(r["parameters"]),
            fmt_pct(r["parameters"] / total_p if total_p else None),
            fmt_int(r["macs"]),
            fmt_pct(r["macs"] / total_m if total_m else None),
        ]
        for r in d.layers
    ]
    rows.append(
        ["**total**", "", "", "", f"**{fmt_int(total_p)}**", "", f"**{fmt_int(total_m)}**", ""]
    )
    return Section(
        "Network graph",
        [
            "The dataflow graph torch.fx traced from the model (one box per node, arrows along "
            "each node's inputs); the same graph is in TensorBoard's Graphs tab.",
            Figure(path, "Traced dataflow graph of Net for one image (batch 1)"),
            "Layer table for a batch of 1 (MACs: multiply-accumulates per image):",
            Table(
                [
                    "layer",
                    "op",
                    "inputs",
                    "output shape",
                    "parameters",
                    "% of params",
                    "MACs",
                    "% of MACs",
                ],
                rows,
                [False, False, False, False, True, True, True, True],
            ),
        ],
    )


def _section_training(d: RunData, fig_dir: Path, out: dict) -> Section:
    if not any(d.scalars.get(t) for t in SCALAR_TAGS):
        return Section("Training curves", [Note("No training was logged in this run.")])
    device = d.manifest.get("training", {}).get("device") or d.manifest.get("devices", {}).get(
        "training", "?"
    )
    path = figures.plot_training_curves(
        d.scalars, fig_dir / "training_curves.png", title=f"Training on {device}"
    )
    out["training_curves"] = path
    blocks: list = [
        f"Read back from {d.scalars_source}. Loss is the mean negative log-likelihood per "
        "sample; training accuracy is measured with dropout active.",
        Figure(path, "Loss, accuracy, learning rate and throughput per epoch"),
    ]
    if d.history:
        rows = [
            [
                str(h["epoch"]),
                fmt_float(h["train_loss"]),
                fmt_pct(h["train_accuracy"]),
                fmt_float(h["test_loss"]),
                fmt_pct(h["test_accuracy"]),
                f"{h['lr']:.4g}",
                fmt_rate(h["images_per_s"]),
                fmt_seconds(h.get("train_seconds")),
            ]
            for h in d.history
        ]
        blocks.append(
            Table(
                [
                    "epoch",
                    "train loss",
                    "train accuracy",
                    "test loss",
                    "test accuracy",
                    "lr",
                    "train images/s",
                    "train time",
                ],
                rows,
                [True] * 8,
            )
        )
    return Section("Training curves", blocks)


def _config_title(df: pd.DataFrame, device: str, batch: int, phase: str) -> str:
    name = ""
    if "device_name" in df.columns:
        names = df.loc[df["device"] == device, "device_name"].dropna()
        name = f" ({names.iloc[0]})" if len(names) else ""
    return f"{device}{name} · batch {batch} · {phase}"


TIME_LABELS = {
    "self_cpu_us": "self CPU",
    "cpu_total_us": "CPU total",
    "self_device_us": "self device",
    "device_total_us": "device total",
}


def _section_top_ops(d: RunData) -> Section:
    top = d.tables["top10"]
    if top is None:
        return Section("Top-10 operators", [Note(f"{NOT_PROFILED}: no profiles/top10.parquet.")])
    top = with_share(top, d.tables["op_stats"])
    # The profiler's times are totals over its active steps; per step reads across batch sizes.
    per_step = "active_steps" in top.columns
    unit = "µs/step" if per_step else "µs, total"
    blocks: list = [
        "The ten heaviest operators of each configuration by self time (CPU time on the CPU, "
        "device time on a GPU), from torch.profiler"
        + (", averaged per profiled step" if per_step else "")
        + f". Share: of the ranking time summed over {top['share_of'].iloc[0]}."
    ]
    for device, batch, phase, sort_key in _configs(top):
        g = top[(top.device == device) & (top.batch_size == batch) & (top.phase == phase)]
        g = g[g["sort_key"] == sort_key] if "sort_key" in g.columns else g
        g = g.sort_values("rank") if "rank" in g.columns else g
        steps = g["active_steps"].astype(float) if per_step else pd.Series(1.0, index=g.index)
        # Device columns are all zero on a CPU config: leave them out there.
        cols = [c for c in TIME_LABELS if c in g.columns and g[c].fillna(0).any()]
        rows = []
        for i, (idx, r) in enumerate(g.iterrows(), start=1):
            calls = fmt_value(r["calls"] / steps[idx]) if "calls" in g.columns else "–"
            times = [f"{r[c] / steps[idx]:,.1f}" for c in cols]
            rows.append([str(i), f"`{r['op_name']}`", calls, *times, fmt_pct(r["share"])])
        key = _sort_key(g.iloc[0])
        n = int(steps.iloc[0])
        steps_txt = f", {n} profiled step{'s' if n != 1 else ''}" if per_step else ""
        blocks.append(
            f"**{_config_title(top, device, batch, phase)}** "
            f"(ranked by {TIME_LABELS.get(key, key)} time{steps_txt})"
        )
        header = ["#", "operator", "calls/step" if per_step else "calls"]
        header += [f"{TIME_LABELS[c]} ({unit})" for c in cols] + ["share"]
        blocks.append(Table(header, rows, [True, False, True, *[True] * len(cols), True]))
    return Section("Top-10 operators", blocks)


COMPARISON_COLUMNS = (
    ("device", "device", fmt_value),
    ("phase", "phase", fmt_value),
    ("batch_size", "batch size", fmt_int),
    ("images_per_s", "images/s", fmt_rate),
    ("ms_per_step", "ms/step", lambda v: fmt_float(v, 3)),
    ("us_per_sample", "µs/image", lambda v: "–" if pd.isna(v) else f"{v:,.1f}"),
    ("top_op", "top op", lambda v: f"`{v}`" if isinstance(v, str) else fmt_value(v)),
    ("top_op_share", "top op share", fmt_pct),
    ("peak_memory_bytes", "peak memory", fmt_bytes),
    ("profiler_overhead", "profiler overhead", fmt_ratio),
    ("num_threads", "threads", fmt_int),
)
SHARE_CHANGE_TOP = 5  # ops per device × phase whose share moves the most


def fmt_pp(change: float | None) -> str:
    """A change of a fraction, in percentage points: 0.1234 → +12.34 pp."""
    return "–" if change is None or pd.isna(change) else f"{100 * change:+.2f} pp"


def top_share_changes(change: pd.DataFrame, n: int = SHARE_CHANGE_TOP) -> pd.DataFrame:
    """The n ops per device × phase whose share of the time moves the most with batch size."""
    by_size = change.assign(_neg_abs=-change["change"].abs())
    return (
        _ordered(by_size, "_neg_abs")
        .groupby(["device", "phase"], sort=False)
        .head(n)
        .drop(columns="_neg_abs")
    )


def share_change_blocks(change: pd.DataFrame) -> list:
    needed = {"device", "phase", "op_name", "share_at_min_bs", "share_at_max_bs", "change"}
    if not needed <= set(change.columns):  # a schema we do not know: show it as it is
        cols = list(change.columns)
        rows = [[fmt_value(v) for v in r] for r in change.itertuples(index=False)]
        return ["Operator share change with batch size:", Table(cols, rows)]
    top = top_share_changes(change)
    rows = [
        [
            r["device"],
            r["phase"],
            f"`{r['op_name']}`",
            fmt_pct(r["share_at_min_bs"]),
            fmt_pct(r["share_at_max_bs"]),
            fmt_pp(r["change"]),
            f"{fmt_int(r.get('min_bs'))} → {fmt_int(r.get('max_bs'))}",
        ]
        for _, r in top.iterrows()
    ]
    return [
        f"The {SHARE_CHANGE_TOP} operators per device and phase whose share of the time moves "
        "the most between the smallest and the largest batch size (pp: percentage points):",
        Table(
            [
                "device",
                "phase",
                "operator",
                "share, smallest batch",
                "share, largest batch",
                "change",
                "batch sizes",
            ],
            rows,
            [False, False, False, True, True, True, True],
        ),
    ]


def _sorted_comparison(cmp: pd.DataFrame) -> pd.DataFrame:
    return _ordered(cmp, "batch_size")


def _section_comparison(d: RunData, fig_dir: Path, out: dict) -> Section:
    cmp = d.tables["comparison"]
    if cmp is None:
        return Section(
            "Batch-size comparison", [Note(f"{NOT_PROFILED}: no compare/comparison.parquet.")]
        )
    cols = [c for c in COMPARISON_COLUMNS if c[0] in cmp.columns]
    rows = [[f(r[key]) for key, _, f in cols] for _, r in _sorted_comparison(cmp).iterrows()]
    blocks: list = [
        "One row per device × batch size × phase, timed with the profiler off. A train step "
        "is forward + loss + backward + optimizer step; inference is the forward pass alone "
        "(eval mode, no autograd). Top-op share is of the self time of all operators.",
        Table(
            [label for _, label, _ in cols],
            rows,
            [key not in ("device", "phase", "top_op") for key, _, _ in cols],
        ),
    ]
    if d.compare_pngs:
        blocks += [
            Figure(p, COMPARE_CAPTIONS.get(p.stem, p.stem.replace("_", " ")))
            for p in d.compare_pngs
        ]
    else:  # the compare step's PNGs are gone: redraw them with the compare step's own code
        path = compare.plot_throughput(cmp, fig_dir / "throughput_vs_batch.png")
        out["throughput_vs_batch"] = path
        blocks.append(Figure(path, "Throughput against batch size"))
        if d.tables["op_stats"] is not None:
            share = compare.op_shares(d.tables["op_stats"])
            path = compare.plot_op_share(share, fig_dir / "op_share_vs_batch.png")
            out["op_share_vs_batch"] = path
            blocks.append(Figure(path, "Operator share of self time per batch size"))
    change = d.tables["share_change"]
    if change is not None:
        blocks += share_change_blocks(change)
    return Section("Batch-size comparison", blocks)


def _section_cpu_gpu(d: RunData, fig_dir: Path, out: dict) -> Section:
    cmp = d.tables["comparison"]
    if cmp is None:
        return Section("CPU vs GPU", [Note(f"{NOT_PROFILED}: no compare/comparison.parquet.")])
    sp = speedups(cmp)
    if sp.empty:
        ran = ", ".join(sorted(cmp["device"].unique()))
        if (cmp["device"] == "cpu").all():
            gpus = d.manifest.get("environment", {}).get("gpu_count")
            why = "this machine has no GPU visible to torch" if gpus == 0 else "no GPU ran"
        else:
            why = "no CPU baseline ran"
        return Section(
            "CPU vs GPU",
            [Note(f"Only {ran} was profiled in this run ({why}): no CPU-vs-GPU comparison.")],
        )
    rows = [
        [
            r["device"],
            r["phase"],
            fmt_int(r["batch_size"]),
            fmt_rate(r["images_per_s_cpu"]),
            fmt_rate(r["images_per_s"]),
            fmt_ratio(r["speedup"]),
        ]
        for _, r in sp.iterrows()
    ]
    path = figures.plot_speedup(sp, fig_dir / "gpu_speedup.png")
    out["gpu_speedup"] = path
    return Section(
        "CPU vs GPU",
        [
            Table(
                ["GPU device", "phase", "batch size", "CPU images/s", "GPU images/s", "speedup"],
                rows,
                [False, False, True, True, True, True],
            ),
            Figure(path, "GPU speedup over CPU per batch size"),
        ],
    )


# --------------------------------------------------------------------------- analysis


def analysis(d: RunData) -> list[str]:
    """Findings computed from the run's data; every number is formatted as in the tables."""
    items: list[str] = []
    h = d.history
    if h:
        last = h[-1]
        best = max(h, key=lambda r: r["test_accuracy"])
        items.append(
            f"After {len(h)} epoch{'s' if len(h) > 1 else ''} the test accuracy is "
            f"{fmt_pct(last['test_accuracy'])} "
            f"(test loss {fmt_float(last['test_loss'])}); the best epoch was "
            f"{best['epoch']} at {fmt_pct(best['test_accuracy'])}."
        )
        if len(h) > 1:
            first = h[0]
            verb = "fell" if last["test_loss"] < first["test_loss"] else "did not fall"
            rates = [r["images_per_s"] for r in h]
            items.append(
                f"The test loss {verb} from {fmt_float(first['test_loss'])} (epoch "
                f"{first['epoch']}) to {fmt_float(last['test_loss'])} (epoch {last['epoch']}); "
                f"training throughput ranged from {fmt_rate(min(rates))} to "
                f"{fmt_rate(max(rates))} images/s per epoch."
            )
    ds = d.manifest.get("dataset", {})
    caveats = []
    if d.manifest.get("parameters", {}).get("dry_run"):
        caveats.append("a dry run (a few batches per epoch)")
    if ds.get("full") is False:
        caveats.append(f"a subset of the data ({ds.get('source', 'unknown source')})")
    if caveats:
        items.append(
            f"These results come from {' on '.join(caveats)}: read them as a check that the "
            "pipeline works, not as the lab's result."
        )
    if d.layers:
        total_p = sum(r["parameters"] for r in d.layers)
        total_m = sum(r["macs"] for r in d.layers)
        by_p = max(d.layers, key=lambda r: r["parameters"])
        by_m = max(d.layers, key=lambda r: r["macs"])
        if total_p and total_m:
            items.append(
                f"`{by_p['layer']}` holds {fmt_pct(by_p['parameters'] / total_p)} of the "
                f"{fmt_int(total_p)} parameters, while `{by_m['layer']}` does "
                f"{fmt_pct(by_m['macs'] / total_m)} of the {fmt_int(total_m)} MACs per image"
                + (
                    ": memory and compute concentrate in different layers."
                    if by_p["layer"] != by_m["layer"]
                    else "."
                )
            )
    cmp = d.tables["comparison"]
    if cmp is None:
        items.append(f"{NOT_PROFILED}: no operator or batch-size findings.")
        return items
    for (device, phase), g in _sorted_comparison(cmp).groupby(["device", "phase"], sort=False):
        g = g.sort_values("batch_size")
        lo, hi = g.iloc[0], g.iloc[-1]
        fastest = g.loc[g["images_per_s"].idxmax()]
        text = f"{device} · {phase}: "
        if len(g) > 1:
            text += (
                f"from batch {fmt_int(lo['batch_size'])} to {fmt_int(hi['batch_size'])} the "
                f"throughput goes from {fmt_rate(lo['images_per_s'])} to "
                f"{fmt_rate(hi['images_per_s'])} images/s "
                f"({fmt_ratio(hi['images_per_s'] / lo['images_per_s'])}); the fastest batch "
                f"size is {fmt_int(fastest['batch_size'])}."
            )
        else:
            text += f"{fmt_rate(lo['images_per_s'])} images/s at batch {fmt_int(lo['batch_size'])}."
        if "top_op" in g.columns and "top_op_share" in g.columns:
            if len(g) > 1 and lo["top_op"] == hi["top_op"]:
                text += (
                    f" The heaviest operator is `{lo['top_op']}` at both ends, with "
                    f"{fmt_pct(lo['top_op_share'])} → {fmt_pct(hi['top_op_share'])} of the time."
                )
            else:
                text += (
                    f" The heaviest operator is `{lo['top_op']}` "
                    f"({fmt_pct(lo['top_op_share'])}) at batch {fmt_int(lo['batch_size'])}"
                )
                if len(g) > 1:
                    text += (
                        f" and `{hi['top_op']}` ({fmt_pct(hi['top_op_share'])}) at batch "
                        f"{fmt_int(hi['batch_size'])}"
                    )
                text += "."
        if "peak_memory_bytes" in g.columns and len(g) > 1 and g["peak_memory_bytes"].notna().all():
            text += (
                f" Peak memory: {fmt_bytes(lo['peak_memory_bytes'])} → "
                f"{fmt_bytes(hi['peak_memory_bytes'])}."
            )
        items.append(text)
    change = d.tables["share_change"]
    if change is not None and "change" in change.columns and "op_name" in change.columns:
        for _, r in top_share_changes(change, 1).iterrows():
            direction = "grows" if r["change"] > 0 else "shrinks"
            items.append(
                f"{r['device']} · {r['phase']}: the share that moves most with the batch size is "
                f"`{r['op_name']}`'s, which {direction} from {fmt_pct(r['share_at_min_bs'])} to "
                f"{fmt_pct(r['share_at_max_bs'])} ({fmt_pp(r['change'])})."
            )
    sp = speedups(cmp)
    for (device, phase), g in sp.groupby(["device", "phase"], sort=False) if len(sp) else []:
        best = g.loc[g["speedup"].idxmax()]
        worst = g.loc[g["speedup"].idxmin()]
        items.append(
            f"{device} over cpu ({phase}): the speedup ranges from {fmt_ratio(worst['speedup'])} "
            f"at batch {fmt_int(worst['batch_size'])} to {fmt_ratio(best['speedup'])} at batch "
            f"{fmt_int(best['batch_size'])}."
        )
    return items


# --------------------------------------------------------------------------- rendering


def _md_table(t: Table) -> str:
    numeric = t.numeric or [False] * len(t.header)
    cell = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = [
        "| " + " | ".join(cell(h) or " " for h in t.header) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
    ]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines)


def to_markdown(title: str, sections: list[Section], base: Path) -> str:
    parts = [f"# {title}", ""]
    for s in sections:
        parts += [f"{'#' * s.level} {s.title}", ""]
        for b in s.blocks:
            if isinstance(b, str):
                parts.append(b)
            elif isinstance(b, Table):
                parts.append(_md_table(b))
            elif isinstance(b, Figure):
                rel = os.path.relpath(b.path, base)
                parts.append(f"![{b.caption}]({rel})")
            elif isinstance(b, Note):
                parts.append(f"> {'⚠ ' if b.kind == 'warning' else ''}{b.text}")
            elif isinstance(b, Bullets):
                parts.append("\n".join(f"- {i}" for i in b.items))
            parts.append("")
    return "\n".join(parts)


def _inline_html(text: str) -> str:
    """Escape, then the two inline Markdown marks the report uses: **bold** and `code`."""
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1200px;
margin:2em auto;padding:0 1em;color:#1d1d1f;line-height:1.45}
h1{border-bottom:2px solid #e36209;padding-bottom:.2em}
h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.15em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.9em}
th,td{border:1px solid #d0d7de;padding:.25em .6em;vertical-align:top}
th{background:#f3f4f6;text-align:left}td.num,th.num{text-align:right}
tr:nth-child(even) td{background:#fafbfc}
code{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;background:#f3f4f6;
padding:0 .25em;border-radius:3px;font-size:.88em}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.9em}
.note{padding:.6em .9em;border-left:4px solid #0969da;background:#eef6ff;margin:.8em 0}
.note.warning{border-color:#d1242f;background:#fff1f0;font-weight:500}
nav ol{columns:2}
"""


def to_html(title: str, sections: list[Section]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<nav><ol>"
        + "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in sections)
        + "</ol></nav>",
    ]
    for s in sections:
        parts.append(f'<h{s.level} id="{s.anchor}">{html.escape(s.title)}</h{s.level}>')
        for b in s.blocks:
            if isinstance(b, str):
                parts.append(f"<p>{_inline_html(b)}</p>")
            elif isinstance(b, Table):
                numeric = b.numeric or [False] * len(b.header)
                cls = lambda n: ' class="num"' if n else ""  # noqa: E731
                head = "".join(
                    f"<th{cls(n)}>{_inline_html(h)}</th>"
                    for h, n in zip(b.header, numeric, strict=True)
                )
                body = "".join(
                    "<tr>"
                    + "".join(
                        f"<td{cls(n)}>{_inline_html(c)}</td>"
                        for c, n in zip(row, numeric, strict=True)
                    )
                    + "</tr>"
                    for row in b.rows
                )
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif isinstance(b, Figure):
                data = base64.b64encode(Path(b.path).read_bytes()).decode("ascii")
                parts.append(
                    f'<figure><img src="data:image/png;base64,{data}" '
                    f'alt="{html.escape(b.caption)}"><figcaption>{_inline_html(b.caption)}'
                    "</figcaption></figure>"
                )
            elif isinstance(b, Note):
                parts.append(f'<div class="note {b.kind}">{_inline_html(b.text)}</div>')
            elif isinstance(b, Bullets):
                parts.append(
                    "<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in b.items) + "</ul>"
                )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    """Readers (a browser on auto-reload, a Prefect artifact) never see half a report."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is meant to be shared
    os.replace(tmp, path)


def build_sections(d: RunData, fig_dir: Path, out: dict) -> list[Section]:
    return [
        _section_run(d),
        _section_environment(d),
        _section_dataset(d),
        _section_network(d, fig_dir, out),
        _section_training(d, fig_dir, out),
        _section_top_ops(d),
        _section_comparison(d, fig_dir, out),
        _section_cpu_gpu(d, fig_dir, out),
        Section("Analysis", [Bullets(analysis(d))]),
    ]


def write_report(run_dir: str | Path) -> dict:
    """Write report.md, report.html and figures/*.png into run_dir.

    Returns ``{"report_md": path, "report_html": path, "figures": {name: path}}`` (strings).
    """
    run_dir = Path(run_dir)
    d = read_run(run_dir)
    fig_dir = run_dir / FIGURES_DIR
    figs: dict[str, Path] = {}
    sections = build_sections(d, fig_dir, figs)
    title = f"AI-System Lab 1 report: {d.manifest.get('run_name', run_dir.name)}"
    md_path, html_path = run_dir / REPORT_MD, run_dir / REPORT_HTML
    _write_atomic(md_path, to_markdown(title, sections, run_dir))
    _write_atomic(html_path, to_html(title, sections))
    return {
        "report_md": str(md_path),
        "report_html": str(html_path),
        "figures": {k: str(v) for k, v in figs.items()},
    }


def markdown_for_artifact(report_md: str | Path) -> str:
    """report.md with each figure turned into a file:// link (UIs cannot show local images)."""
    path = Path(report_md).resolve()
    text = path.read_text(encoding="utf-8")
    return re.sub(
        r"!\[([^\]]*)\]\(([^)]+)\)",
        lambda m: f"[figure: {m.group(1)}]({(path.parent / m.group(2)).resolve().as_uri()})",
        text,
    )
