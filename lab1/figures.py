"""The report's pictures, drawn with matplotlib alone (no graphviz): every function writes a PNG.

Each plot takes plain rows or a DataFrame and a path, so it can be drawn from a run directory
or from synthetic data in tests; none of them reads files itself.
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: CI and lab servers have no display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.ft2font import FT2Font
from matplotlib.patches import FancyBboxPatch, Patch
from matplotlib.ticker import NullLocator

from lab1 import fmt
from lab1.atomic import atomic_write
from lab1.catalog import UNSURE_LEGEND
from lab1.config import LAB_BATCH_SIZES
from lab1.identity import PANEL, PHASES, labels, ordered
from lab1.reliability import unsure

DPI = 110
# Every figure is drawn at the size it prints: the report prints a PNG at its own width
# (pixels / dpi: lab1.report.blocks), and no wider than A4's text (186 mm, 7.32 in; letter's is
# wider), so a font's size in points is its size on paper. Scaled to the page instead, the
# 11-16 in wide figures printed their smallest text at 1.2-4.3 pt. WIDTH leaves room for
# bbox "tight" (labels outside the axes); SMALLEST_PT is the least any text is drawn at.
WIDTH = 7.0  # inches
SMALLEST_PT = 7.5
PRINT_RC = {
    "font.size": 8,
    "axes.titlesize": 8.5,
    "axes.labelsize": 8,
    "xtick.labelsize": SMALLEST_PT,
    "ytick.labelsize": SMALLEST_PT,
    "legend.fontsize": SMALLEST_PT,
    "legend.title_fontsize": SMALLEST_PT,
    "figure.titlesize": 9.5,
}
_labels: dict[str, str] = {}  # English label → the report language's, while language() is on
_lang = "en"  # the report language of config labels (lab1.identity), while language() is on


def printed(draw):
    """Draw with the print sizes (PRINT_RC): every plot function of a report is decorated."""

    @functools.wraps(draw)
    def drawn(*args, **kwargs):
        with plt.rc_context(PRINT_RC):
            return draw(*args, **kwargs)

    return drawn


def label(text: str) -> str:
    """``text`` in the language that language() switched on (English otherwise)."""
    return _labels.get(text, text)


def glyph_bitmap(font_file: str, char: str) -> np.ndarray:
    """How ``char`` renders in a font, as a bitmap (for telling real glyphs from boxes)."""
    font = FT2Font(font_file)
    font.set_size(32, 72)
    font.set_text(char)
    font.draw_glyphs_to_bitmap()
    return np.asarray(font.get_image()).copy()


# Two characters a CJK font must draw, and draw differently (not a glyph, not a translation).
CJK_PROBE = "实验"


@cache
def cjk_font() -> str | None:
    """The name of an installed font that draws CJK characters, or None.

    A font must map the characters *and* draw them differently: matplotlib's own "Last Resort"
    font maps every code point to the same box.
    """
    known = [e.fname for e in font_manager.fontManager.ttflist]
    # matplotlib caches its font list: a font installed after the cache was built is found
    # among the system's font files, then registered.
    for path in [*known, *sorted(set(font_manager.findSystemFonts()) - set(known))]:
        try:
            font = FT2Font(path)
            if not all(font.get_char_index(ord(c)) for c in CJK_PROBE):
                continue
            a, b = (glyph_bitmap(path, c) for c in CJK_PROBE)
        except (OSError, RuntimeError):
            continue
        if a.shape != b.shape or (a != b).any():
            font_manager.fontManager.addfont(path)
            return font_manager.FontProperties(fname=path).get_name()
    return None


@contextmanager
def language(translations: dict[str, str], lang: str = "zh") -> Iterator[bool]:
    """Draw labels through ``translations`` and configs by their ``lang`` labels, in a CJK
    font. Yields False, and labels stay English, where no installed font has CJK glyphs (they
    would print as empty boxes)."""
    global _labels, _lang
    font = cjk_font()
    if font is None:
        yield False
        return
    (old, old_lang), (_labels, _lang) = (_labels, _lang), (translations, lang)
    # CJK fonts seldom have a bold face: matplotlib then logs a findfont line per title.
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    try:
        with plt.rc_context(
            {"font.family": "sans-serif", "font.sans-serif": [font, "DejaVu Sans"]}
        ):
            yield True
    finally:
        _labels, _lang = old, old_lang


# Op kinds of the traced graph → (legend label, fill colour). Keys are lower-case op names.
OP_KINDS = {
    "conv2d": ("convolution", "#9ecae1"),
    "linear": ("fully connected", "#fdae6b"),
    "relu": ("activation", "#a1d99b"),
    "max_pool2d": ("pooling", "#bcbddc"),
    "maxpool2d": ("pooling", "#bcbddc"),
    "dropout": ("dropout", "#d9d9d9"),
    "flatten": ("reshape", "#fff3a0"),
    "log_softmax": ("output (log-softmax)", "#fc9272"),
    "softmax": ("output (log-softmax)", "#fc9272"),
}
OTHER_KIND = ("other", "#f0f0f0")
IO_KIND = ("input / output", "#ffffff")
# Devices get colours, phases get line styles: a device × phase pair is readable at a glance.
DEVICE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b")
PHASE_STYLES = {"train_step": "-", "inference": "--"}
PHASE_MARKERS = {"train_step": "o", "inference": "s"}
# What an operator share is of, by the share_basis column (the device traits decide it).
SHARE_BASIS = {"self_cpu": "self CPU time", "self_device": "self device time"}


def human_count(n: float) -> str:
    """1_199_882 → '1.20M' (for labels inside small boxes; tables print exact numbers)."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.3g}{suffix}".replace(".0" + suffix, suffix)
    return f"{n:g}"


def _save(fig: plt.Figure, path: str | Path) -> Path:
    try:
        return atomic_write(
            path,
            lambda tmp: fig.savefig(
                tmp, format="png", dpi=DPI, bbox_inches="tight", facecolor="white"
            ),
        )
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------- network graph


def _depths(rows: list[dict]) -> dict[str, int]:
    """Longest-path depth of every node (inputs that are not rows, e.g. ``x``, get depth 0)."""
    names = {r["layer"] for r in rows}
    depth: dict[str, int] = {}
    for r in rows:  # fx emits nodes in topological order, so one pass suffices
        for src in r["inputs"]:
            if src not in names:
                depth.setdefault(src, 0)
        depth[r["layer"]] = 1 + max((depth[s] for s in r["inputs"]), default=-1)
    return depth


BOX_W, BOX_H, GAP_X, GAP_Y = 3.6, 0.78, 0.5, 0.42  # graph boxes and gaps, in inches


def _layout(rows: list[dict], depth: dict[str, int], sinks: list[str]) -> dict[str, tuple]:
    """Top-left corner of every box: one level per depth, a level's boxes centred."""
    levels: dict[int, list[str]] = defaultdict(list)
    for name, d in depth.items():
        levels[d].append(name)
    if sinks:
        levels[max(depth.values(), default=0) + 1].append("output")
    width = max(len(v) for v in levels.values())
    pos = {}
    for d, names in levels.items():
        offset = (width - len(names)) * (BOX_W + GAP_X) / 2
        for i, name in enumerate(names):
            pos[name] = (offset + i * (BOX_W + GAP_X), -d * (BOX_H + GAP_Y))
    return pos


def _box_lines(name: str, row: dict | None, sinks: list[str]) -> tuple[tuple[str, str], list]:
    """(kind, colour) and the text lines of one box."""
    if row is None:  # graph input or the output sink
        text = f"output  ←  {', '.join(sinks)}" if name == "output" else f"{name}  ·  input"
        return IO_KIND, [text]
    head = name if name == row["op"] else f"{name}  ·  {row['op']}"  # relu · relu: once
    lines = [head, f"out {fmt.shape(row['output_shape'])}"]
    if row["parameters"]:
        lines.append(f"{fmt.count(row['parameters'])} params  ·  {human_count(row['macs'])} MACs")
    return OP_KINDS.get(row["op"].lower(), OTHER_KIND), lines


def _draw_box(
    ax: plt.Axes,
    x: float,
    y: float,
    colour: str,
    lines: list[str],
    size: tuple[float, float] = (BOX_W, BOX_H),
) -> None:
    box_w, box_h = size
    ax.add_patch(
        FancyBboxPatch(
            (x, y - box_h),
            box_w,
            box_h,
            facecolor=colour,
            boxstyle="round,pad=0.02,rounding_size=0.12",
            edgecolor="#333333",
            linewidth=1.0,
        )
    )
    # Lines are spaced evenly around the box's middle, whatever their number.
    line_h = 0.2
    top = y - box_h / 2 + (len(lines) - 1) * line_h / 2
    for k, text in enumerate(lines):
        ax.text(
            x + box_w / 2,
            top - k * line_h,
            text,
            ha="center",
            va="center",
            fontsize=8.5 if k == 0 else SMALLEST_PT,
            fontweight="bold" if k == 0 else "normal",
            color="#111111" if k == 0 else "#222222",
        )


def _draw_edges(ax: plt.Axes, edges: list[tuple[str, str]], pos: dict, depth: dict) -> int:
    """Arrows between levels; an edge that skips levels (a residual) runs in its own lane
    right of every box, so it never crosses the boxes in between. Returns the lanes used."""
    arrow = {"arrowstyle": "-|>", "color": "#444444", "lw": 1.2, "shrinkA": 1, "shrinkB": 1}
    right = max(x for x, _ in pos.values()) + BOX_W
    out_depth = max(depth.values(), default=0) + 1
    lanes = 0
    for src, dst in edges:
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        if depth.get(dst, out_depth) - depth[src] <= 1:
            top, bottom = (x1 + BOX_W / 2, y1), (x0 + BOX_W / 2, y0 - BOX_H)
            ax.annotate("", xy=top, xytext=bottom, arrowprops=arrow)
            continue
        lanes += 1
        lane_x = right + 0.3 * lanes
        y_out, y_in = y0 - BOX_H / 2, y1 - BOX_H / 2
        ax.plot([x0 + BOX_W, lane_x, lane_x], [y_out, y_out, y_in], color="#444444", lw=1.2)
        ax.annotate("", xy=(x1 + BOX_W, y_in), xytext=(lane_x, y_in), arrowprops=arrow)
    return lanes


# A chain longer than FOLD_AFTER nodes is folded into FOLD_COLUMNS columns of narrower boxes
# of two lines (name and op, output shape; parameters and MACs are the layer table's): Net's
# 14 boxes in one column were 13 in tall, printed at a third of their size on a page; folded,
# the figure is WIDTH wide, drawn 1:1 (a box's inches are the page's), its labels 7.5-8.5 pt.
FOLD_AFTER, FOLD_COLUMNS = 8, 4
FOLD_W, FOLD_H, FOLD_GAP_X, FOLD_GAP_Y = 1.55, 0.5, 0.22, 0.25  # inches


def _chain(rows: list[dict], depth: dict[str, int]) -> list[str] | None:
    """The nodes in order where the graph is one chain (one node per depth, every edge from
    one depth to the next), else None."""
    by_depth: dict[int, list[str]] = defaultdict(list)
    for name, d in depth.items():
        by_depth[d].append(name)
    if any(len(v) != 1 for v in by_depth.values()):
        return None
    if any(depth[r["layer"]] - depth[s] != 1 for r in rows for s in r["inputs"]):
        return None
    return [by_depth[d][0] for d in sorted(by_depth)]


def _draw_folded(ax: plt.Axes, chain: list[str], boxes: dict, kinds: dict[str, str]) -> tuple:
    """The chain top to bottom in FOLD_COLUMNS columns, left to right; the arrow from a
    column's last box to the next column's first runs through the gap between them.
    ``boxes``: name → (row or None, lines); returns the drawing's (width, height) in inches."""
    per_col = -(-len(chain) // FOLD_COLUMNS)
    step_x, step_y = FOLD_W + FOLD_GAP_X, FOLD_H + FOLD_GAP_Y
    pos = {n: ((k // per_col) * step_x, -(k % per_col) * step_y) for k, n in enumerate(chain)}
    for name, (x, y) in pos.items():
        (kind, colour), lines = boxes[name]
        kinds[kind] = colour
        _draw_box(ax, x, y, colour, lines, (FOLD_W, FOLD_H))
    arrow = {"arrowstyle": "-|>", "color": "#444444", "lw": 1.2, "shrinkA": 1, "shrinkB": 1}
    for src, dst in itertools.pairwise(chain):
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        mid0, mid1 = x0 + FOLD_W / 2, x1 + FOLD_W / 2
        if x0 == x1:
            ax.annotate("", xy=(mid1, y1), xytext=(mid0, y0 - FOLD_H), arrowprops=arrow)
            continue
        below, above, gap = (
            y0 - FOLD_H - FOLD_GAP_Y / 2,
            y1 + FOLD_GAP_Y / 2,
            x0 + FOLD_W + FOLD_GAP_X / 2,
        )
        ax.plot(
            [mid0, mid0, gap, gap, mid1],
            [y0 - FOLD_H, below, below, above, above],
            color="#444444",
            lw=1.2,
        )
        ax.annotate("", xy=(mid1, y1), xytext=(mid1, above), arrowprops=arrow)
    return FOLD_COLUMNS * step_x - FOLD_GAP_X, per_col * step_y


@printed
def draw_network_graph(rows: list[dict], path: str | Path, title: str = "Net") -> Path:
    """The traced dataflow graph top to bottom: one box per node, arrows along ``inputs``.

    Boxes show the node name and op, the output shape and (for layers with weights) the
    parameter count and MACs; the colour says what kind of op it is. Nodes at the same depth
    (parallel branches) sit side by side, so the drawing works for any DAG, not just a chain;
    a long chain is folded into columns (FOLD_COLUMNS) to fit a printed page.
    """
    depth = _depths(rows)
    consumed = {s for r in rows for s in r["inputs"]}
    sinks = [r["layer"] for r in rows if r["layer"] not in consumed]
    chain = _chain(rows, depth)
    if chain is not None and len(sinks) == 1 and len(chain) + 1 > FOLD_AFTER:
        return _folded_graph(rows, [*chain, "output"], sinks, path, title)
    pos = _layout(rows, depth, sinks)
    n_levels = len({y for _, y in pos.values()})
    width = max(x for x, _ in pos.values()) + BOX_W
    fig, ax = plt.subplots(
        figsize=(max(6.0, width * 0.95 + 1.0), n_levels * (BOX_H + GAP_Y) * 0.95 + 1.0)
    )
    by_name = {r["layer"]: r for r in rows}
    used_kinds: dict[str, str] = {}
    for name, (x, y) in pos.items():
        (kind, colour), lines = _box_lines(name, by_name.get(name), sinks)
        used_kinds[kind] = colour
        _draw_box(ax, x, y, colour, lines)
    edges = [(s, r["layer"]) for r in rows for s in r["inputs"]] + [(s, "output") for s in sinks]
    lanes = _draw_edges(ax, edges, pos, depth)
    ax.set_title(_graph_title(rows, title))
    handles = [
        Patch(facecolor=c, edgecolor="#333333", label=label(k)) for k, c in used_kinds.items()
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_xlim(-0.2, max(width + GAP_X, width + 0.3 * lanes + 0.3))
    ax.set_ylim(-n_levels * (BOX_H + GAP_Y), 0.2)
    ax.set_aspect("equal")
    ax.axis("off")
    return _save(fig, path)


def _graph_title(rows: list[dict], title: str) -> str:
    return label("{title}: {ops} ops, {params} parameters, {macs} MACs per image").format(
        title=title,
        ops=len(rows),
        params=fmt.count(sum(r["parameters"] for r in rows)),
        macs=human_count(sum(r["macs"] for r in rows)),
    )


def _folded_graph(
    rows: list[dict], chain: list[str], sinks: list[str], path: str | Path, title: str
) -> Path:
    """draw_network_graph for a long chain: folded into columns, the legend underneath."""
    by_name = {r["layer"]: r for r in rows}
    boxes = {}
    for n in chain:
        kind, lines = _box_lines(n, by_name.get(n), sinks)
        boxes[n] = kind, lines[:2]
    per_col = -(-len(chain) // FOLD_COLUMNS)
    width = FOLD_COLUMNS * (FOLD_W + FOLD_GAP_X) - FOLD_GAP_X
    height = per_col * (FOLD_H + FOLD_GAP_Y)
    # The axes are the drawing's own inches (its limits below), so that a box's inch is an
    # inch of paper and its text fits it; the title above, the legend under it.
    data_w, data_h = width + 0.2, height + FOLD_GAP_Y / 2 + 0.05
    fig = plt.figure(figsize=(data_w, data_h + 0.9))
    ax = fig.add_axes((0.0, 0.55 / (data_h + 0.9), 1.0, data_h / (data_h + 0.9)))
    kinds: dict[str, str] = {}
    _draw_folded(ax, chain, boxes, kinds)
    ax.set_title(_graph_title(rows, title), pad=8)
    handles = [Patch(facecolor=c, edgecolor="#333333", label=label(k)) for k, c in kinds.items()]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4, frameon=False)
    ax.set_xlim(-0.1, width + 0.1)
    ax.set_ylim(-height, FOLD_GAP_Y / 2 + 0.05)
    ax.set_aspect("equal")
    ax.axis("off")
    return _save(fig, path)


# --------------------------------------------------------------------------- training curves


@printed
def plot_training_curves(
    scalars: dict[str, list[tuple[int, float]]], path: str | Path, title: str = ""
) -> Path:
    """2×2 panels from the logged scalars: loss, accuracy (%), learning rate, throughput.

    ``scalars`` maps TensorBoard tags to (epoch, value) pairs; accuracies are fractions and
    are shown in percent. Panels whose tags are missing say so instead of staying blank.
    """
    # 3.9 in: the curves fit on the network graph's page (4.6 in printed them a page later).
    fig, axes = plt.subplots(2, 2, figsize=(WIDTH, 3.9))
    panels = (
        ("Loss", "loss (mean NLL per sample)", ("Loss/train", "Loss/test"), 1.0),
        ("Accuracy", "accuracy (%)", ("Accuracy/train", "Accuracy/test"), 100.0),
        ("Learning rate (Adadelta, StepLR)", "learning rate", ("LR",), 1.0),
        ("Training throughput", "images / s", ("Throughput/train_images_per_s",), 1.0),
    )
    styles = {"train": ("#1f77b4", "o", "-"), "test": ("#d62728", "s", "--")}
    epochs = sorted({s for pts in scalars.values() for s, _ in pts})
    for ax, (name, ylabel, tags, scale) in zip(axes.flat, panels, strict=True):
        drawn = False
        for tag in tags:
            pts = sorted(scalars.get(tag, []))
            if not pts:
                continue
            split = tag.rsplit("/", 1)[-1]
            colour, marker, ls = styles.get(split, ("#2ca02c", "o", "-"))
            legend = label(split) if split in styles else None
            ax.plot(
                [s for s, _ in pts],
                [v * scale for _, v in pts],
                marker=marker,
                linestyle=ls,
                color=colour,
                label=legend,
                linewidth=1.5,
                markersize=4,
            )
            drawn = True
        if not drawn:
            ax.text(
                0.5,
                0.5,
                label("no {tags} logged").format(tags=", ".join(tags)),
                ha="center",
                va="center",
                transform=ax.transAxes,
                color="#888888",
            )
            ax.set_yticks([])
        ax.set_title(label(name))
        ax.set_xlabel(label("epoch"))
        ax.set_ylabel(label(ylabel))
        ax.grid(True, alpha=0.3)
        if epochs and len(epochs) <= 20:
            ax.set_xticks(epochs)
        if ax.get_legend_handles_labels()[1]:
            ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


# --------------------------------------------------------------------------- profiling


def _configs(df: pd.DataFrame, by: list[str]) -> list[tuple[str, pd.DataFrame]]:
    """(label, rows) per config less its batch size (``by``: PANEL, or PANEL and phase), in
    the display order (lab1.identity), each named by its label in the report's language:
    threads and machine named where they vary. A phase in ``by`` is not part of the label."""
    df = ordered(df)
    df = df.assign(label=labels(df, _lang))
    return [(g["label"].iloc[0], g) for _, g in df.groupby(by, sort=False)]


def _phases(df: pd.DataFrame) -> list[str]:
    return sorted(df["phase"].unique(), key=lambda p: PHASES.index(p) if p in PHASES else 9)


def _batch_axis(ax: plt.Axes, sizes: list[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes)
    ax.set_xticklabels([str(s) for s in sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(label("batch size (images per step, log scale)"))


@printed
def plot_speedup(speedup: pd.DataFrame, path: str | Path) -> Path:
    """GPU over CPU speedup (×) per batch size: colour per GPU, line style per phase."""
    fig, ax = plt.subplots(figsize=(WIDTH, 2.7))
    gpus = list(dict.fromkeys(name for name, _ in _configs(speedup, list(PANEL))))
    colours = {d: DEVICE_COLOURS[(i + 1) % len(DEVICE_COLOURS)] for i, d in enumerate(gpus)}
    for name, g in _configs(speedup, [*PANEL, "phase"]):
        phase = g["phase"].iloc[0]
        ax.plot(
            g["batch_size"],
            g["speedup"],
            marker=PHASE_MARKERS.get(phase, "^"),
            color=colours[name],
            linestyle=PHASE_STYLES.get(phase, ":"),
            linewidth=1.5,
            label=f"{name} · {label(phase)}",
        )
    ax.axhline(1.0, color="#888888", linewidth=1, label=label("1× (no gain)"))
    _batch_axis(ax, sorted(speedup["batch_size"].unique()))
    ax.set_ylim(bottom=0)
    ax.set_ylabel(label("speedup over CPU (×, ratio of images/s)"))
    ax.set_title(label("GPU speedup over CPU"))
    ax.grid(True, alpha=0.3)
    ax.legend(handlelength=3.5)
    fig.tight_layout()
    return _save(fig, path)


def _shared_legend(fig: plt.Figure, axes, ncol: int) -> None:
    """One legend under every panel, each label once (the panels share colours and marks)."""
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, text in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(text, handle)
    if entries:
        fig.legend(entries.values(), entries.keys(), loc="outside lower center", ncol=ncol)


@printed
def plot_throughput(
    comparison: pd.DataFrame, path: str | Path, lines: list[tuple[str, pd.DataFrame]] | None = None
) -> Path:
    """images/s (log) against batch size (log₂), one panel per phase, one line per config
    (lab1.identity: its label and device model), or per ``lines`` (name, rows) where given (a
    comparison of runs: one line per run and config)."""
    phases = _phases(comparison)
    markers = "osD^vP*X"
    configs = _configs(comparison, list(PANEL)) if lines is None else lines
    fig, axes = plt.subplots(
        1,
        len(phases),
        # The legend under the panels, two configs a line.
        figsize=(WIDTH, 2.5 + 0.16 * -(-(len(configs) + 1) // 2)),
        squeeze=False,
        layout="constrained",
    )
    for ax, phase in zip(axes[0], phases, strict=True):
        marked = False
        for i, (name, rows) in enumerate(configs):
            d = rows[rows["phase"] == phase]
            model = f" ({d['device_name'].iloc[0]})" if len(d) else ""
            ax.plot(
                d["batch_size"],
                d["images_per_s"],
                marker=markers[i % len(markers)],
                color=f"C{i}",
                label=f"{name}{model}",
            )
            bad = d[unsure(d)]  # ringed, as the tables mark them (lab1.fmt.UNSURE)
            ax.scatter(
                bad["batch_size"],
                bad["images_per_s"],
                s=110,
                facecolors="none",
                edgecolors="red",
                linewidths=1.5,
                zorder=3,
                label=None if marked or bad.empty else label(UNSURE_LEGEND),
            )
            marked = marked or not bad.empty
        sizes = sorted(comparison["batch_size"].unique())
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.set_xlabel(label("batch size"))
        ax.set_ylabel(label("images / s (profiler off)"))
        ax.set_title(label(phase))
        ax.grid(True, which="both", alpha=0.3)
    _shared_legend(fig, axes[0], ncol=2)
    fig.suptitle(label("Throughput vs batch size"))
    return _save(fig, Path(path))


def _stacked_percent(ax, table: pd.DataFrame, colours: dict) -> tuple[list[str], pd.Series]:
    """One stacked bar per row of ``table`` (batch size × part, fractions of a step), its
    columns bottom to top in ``colours``. Returns the x labels and the stacked total."""
    x = [str(b) for b in table.index]
    bottom = pd.Series(0.0, index=table.index)
    for col in table.columns:
        ax.bar(x, 100 * table[col], bottom=100 * bottom, color=colours[col], label=label(col))
        bottom += table[col]
    return x, bottom


@printed
def plot_op_share(shares: pd.DataFrame, path: str | Path, top_k: int = 5) -> Path:
    """Stacked bars per batch size: the top_k operators' shares (at any batch size) + other;
    one row of panels per config (lab1.identity), one column per phase."""
    panels = [
        (name, phase, g[g["phase"] == phase])
        for name, g in _configs(shares, list(PANEL))
        for phase in _phases(g)
    ]
    names = []  # one colour per operator name across every panel
    for _, _, d in panels:
        best = d.sort_values("share", ascending=False).groupby("batch_size").head(top_k)
        names += [n for n in dict.fromkeys(best["op_name"]) if n not in names]
    # tab20's strong shades, then its light ones, then tab20b: neighbours never look alike.
    tab20, tab20b = plt.get_cmap("tab20"), plt.get_cmap("tab20b")
    palette = [tab20(i) for i in (*range(0, 20, 2), *range(1, 20, 2))]
    palette += [tab20b(i) for i in range(20)]
    colours = {n: palette[i % len(palette)] for i, n in enumerate(names)}
    rows = list(dict.fromkeys(name for name, _, _ in panels))  # one row per config
    phases = _phases(shares)
    legend_rows = -(-(len(names) + 1) // 3)
    fig, axes = plt.subplots(
        len(rows),
        len(phases),
        figsize=(WIDTH, 1.7 * len(rows) + 0.16 * legend_rows + 0.4),
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.flat:
        ax.set_visible(False)  # until a panel is drawn in it
    for name, phase, d in panels:
        ax = axes[rows.index(name), phases.index(phase)]
        ax.set_visible(True)
        best = d.sort_values("share", ascending=False).groupby("batch_size").head(top_k)
        ops = list(dict.fromkeys(best.sort_values("share", ascending=False)["op_name"]))
        table = d.pivot_table(index="batch_size", columns="op_name", values="share", aggfunc="sum")
        table = table.reindex(columns=ops).fillna(0.0).sort_index()
        x, bottom = _stacked_percent(ax, table, colours)
        ax.bar(
            x,
            100 * (1 - bottom).clip(lower=0),
            bottom=100 * bottom,
            color="#d9d9d9",
            label=label("other"),
        )
        basis = SHARE_BASIS[d["share_basis"].iloc[0]]  # the device's, from op_shares
        ax.set_title(f"{name} · {label(phase)}")
        ax.set_xlabel(label("batch size"))
        ax.set_ylabel(label("% of " + basis))
        ax.set_ylim(0, 100)
    # One legend for every panel (an operator has one colour everywhere), in ranked order.
    handles = [Patch(color=colours[n], label=n) for n in names]
    handles.append(Patch(color="#d9d9d9", label=label("other")))
    fig.legend(handles=handles, loc="outside lower center", ncol=3)
    fig.suptitle(label("Operator share per batch size"))
    return _save(fig, Path(path))


# --------------------------------------------------------------------------- the class view


@printed
def plot_class_throughput(
    ok: pd.DataFrame, path: str | Path, t: Callable[[str], str] = label
) -> Path | None:
    """The class view's train-step images/s at each lab batch size: one box per kind of
    machine (class.parquet's ``machine_kind``); None where no submission names a kind.
    ``t`` translates a label (the class report's own catalog)."""
    kinds = sorted(ok["machine_kind"].dropna().unique())
    if not kinds:
        return None
    fig, ax = plt.subplots(figsize=(WIDTH, 3.2))
    width = 0.8 / len(kinds)
    for i, kind in enumerate(kinds):
        g = ok[ok["machine_kind"] == kind]
        data = [g[f"train_step_images_per_s_bs{bs}"].dropna().tolist() for bs in LAB_BATCH_SIZES]
        pos = [j + i * width for j in range(len(LAB_BATCH_SIZES))]
        keep = [(p, d) for p, d in zip(pos, data, strict=True) if d]
        if keep:
            bp = ax.boxplot(
                [d for _, d in keep],
                positions=[p for p, _ in keep],
                widths=width * 0.9,
                patch_artist=True,
            )
            colour = DEVICE_COLOURS[i % len(DEVICE_COLOURS)]
            for box in bp["boxes"]:
                box.set_facecolor(colour)
            name = t(kind) if kind in ("laptop CPU", "server CPU") else str(kind)  # GPU: as data
            ax.plot([], [], color=colour, linewidth=8, label=name)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(LAB_BATCH_SIZES))])
    ax.set_xticklabels([f"{t('batch')} {bs}" for bs in LAB_BATCH_SIZES])
    ax.set_ylabel(t("images/s"))
    ax.set_yscale("log")
    ax.set_title(t("Train-step images/s at each batch size, by kind of machine"))
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    return _save(fig, path)


@printed
def plot_class_accuracy(
    ok: pd.DataFrame, path: str | Path, t: Callable[[str], str] = label
) -> Path | None:
    """The class view's test accuracies as a histogram; None where no submission has one."""
    acc = ok["test_accuracy"].dropna()
    if acc.empty:
        return None
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.hist(100 * acc, bins=min(20, max(5, len(acc))), color=DEVICE_COLOURS[0])
    ax.set_xlabel(f"{t('test accuracy')} (%)")
    ax.set_ylabel(t("number of students"))
    ax.set_title(t("Test accuracy of the class"))
    return _save(fig, path)


# --------------------------------------------------------------------------- system view


def _grid(n: int, height: float, below: float) -> tuple[plt.Figure, list[plt.Axes]]:
    """n panels two to a row across WIDTH (one alone: half of it), each ``height`` inches tall,
    ``below`` inches left under them for a legend; the panels in reading order."""
    cols = min(2, n)
    fig, axes = plt.subplots(
        -(-n // cols),
        cols,
        figsize=(WIDTH * cols / 2 + (0.4 if cols == 1 else 0), height * -(-n // cols) + below),
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


@printed
def plot_roofline(roofline: pd.DataFrame, ceilings: dict[tuple, tuple], path: str | Path) -> Path:
    """Achieved GFLOP/s against arithmetic intensity (log-log), one panel per config less its
    batch size, under the measured ceilings ``ceilings[(machine_id, device, threads)] = (peak
    GFLOP/s, bandwidth GB/s)``: the bandwidth line (GB/s × FLOP/byte) rises until it meets the
    flat compute peak."""
    panels = _configs(roofline, list(PANEL))
    ops = sorted(roofline["op_name"].unique())
    markers = dict(zip(ops, "osD^vP*X<>", strict=False))
    sizes = sorted(roofline["batch_size"].unique())
    cmap = plt.get_cmap("viridis")
    shade = {b: cmap(i / max(1, len(sizes) - 1)) for i, b in enumerate(sizes)}
    fig, axes = _grid(len(panels), 2.8, 0.16 * -(-(len(ops) + len(sizes)) // 4) + 0.5)
    for ax, (name, d) in zip(axes, panels, strict=True):
        lo, hi = d["intensity"].min() / 2, d["intensity"].max() * 2
        where = (d["machine_id"].iloc[0], d["device"].iloc[0], int(d["threads"].iloc[0]))
        if where in ceilings:
            peak, bw = ceilings[where]
            ridge = peak / bw
            xs = [min(lo, ridge / 4), ridge, max(hi, ridge * 4)]
            ax.plot(
                xs,
                [min(peak, bw * x) for x in xs],
                color="#444444",
                linewidth=2,
                label=label("measured: {peak} GFLOP/s, {bw} GB/s").format(
                    peak=f"{peak:,.0f}", bw=f"{bw:,.1f}"
                ),
            )
        for (op, bs, phase), g in d.groupby(["op_name", "batch_size", "phase"]):
            ax.scatter(
                g["intensity"],
                g["achieved_gflops"],
                marker=markers.get(op, "o"),
                color=shade[bs],
                edgecolors="black" if phase == "train_step" else "none",
                s=30,
                alpha=0.85,
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(label("arithmetic intensity (FLOP per byte of inputs + output)"))
        ax.set_ylabel(label("achieved GFLOP/s (profiler on)"))
        ax.set_title(label("{name} (outlined: train step)").format(name=name))
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[1]:  # this panel's own ceilings
            ax.legend(loc="lower right")
    # The operators' marks and the batch sizes' shades are the same in every panel.
    keys = [
        *(
            plt.Line2D([], [], ls="", marker=markers.get(op, "o"), color="#999999", label=op)
            for op in ops
        ),
        *(
            plt.Line2D(
                [], [], ls="", marker="s", color=shade[b], label=label("batch {b}").format(b=b)
            )
            for b in sizes
        ),
    ]
    fig.legend(handles=keys, loc="outside lower center", ncol=4)
    fig.suptitle(label("Roofline: heavy operators under the measured ceilings"))
    return _save(fig, path)


@printed
def plot_step_model(step_times: pd.DataFrame, model: pd.DataFrame, path: str | Path) -> Path:
    """ms per step against batch size (log-log), measured points and the fitted line
    fixed + batch × per-sample, one panel per ladder (a config less its batch size), one
    colour per phase."""
    panels = _configs(step_times, list(PANEL))
    fig, axes = _grid(len(panels), 3.2, 0.3)
    fits = model.set_index([*PANEL, "phase"])
    for ax, (name, ladder) in zip(axes, panels, strict=True):
        for i, phase in enumerate(_phases(ladder)):
            g = ladder[ladder["phase"] == phase]
            ax.plot(
                g["batch_size"],
                g["ms_per_step"],
                PHASE_MARKERS.get(phase, "^"),
                color=f"C{i}",
                label=label("{phase}: measured").format(phase=label(phase)),
            )
            key = (*g[list(PANEL)].iloc[0], phase)
            if key in fits.index:
                m = fits.loc[key]
                fit = m.fixed_ms + g["batch_size"] * m.per_sample_us / 1e3
                ax.plot(
                    g["batch_size"],
                    fit,
                    PHASE_STYLES.get(phase, ":"),
                    color=f"C{i}",
                    label=label("{phase}: {fixed} ms + B × {per_sample} µs").format(
                        phase=label(phase),
                        fixed=f"{m.fixed_ms:.2f}",
                        per_sample=f"{m.per_sample_us:.1f}",
                    ),
                )
        _batch_axis(ax, sorted(step_times["batch_size"].unique()))
        ax.set_yscale("log")
        ax.set_ylabel(label("ms per step (profiler off)"))
        ax.set_title(name)
        ax.grid(True, which="both", alpha=0.3)
        # Under the panel: inside, the fits' formulas covered the measured points.
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False)
    fig.suptitle(label("Step time = fixed + batch × per-sample"))
    return _save(fig, path)


@printed
def plot_time_split(split: pd.DataFrame, path: str | Path) -> Path:
    """Stacked bars per batch size: each operator category's share of the step, plus the time
    outside any operator; one row of panels per config less its batch size (lab1.identity),
    one column per phase."""
    cats = split[split["split"] == "category"]
    names = list(dict.fromkeys(cats["name"]))  # the table's order: OP_CATEGORIES, outside
    colours = {n: plt.get_cmap("tab10")(i % 10) for i, n in enumerate(names)}
    colours[names[-1]] = "#bdbdbd"
    configs = _configs(cats, list(PANEL))
    phases = _phases(cats)
    fig, axes = plt.subplots(
        len(configs),
        len(phases),
        squeeze=False,
        layout="constrained",
        figsize=(WIDTH, 1.7 * len(configs) + 0.16 * -(-len(names) // 4) + 0.5),
    )
    for r, (device, rows) in enumerate(configs):
        for c, phase in enumerate(phases):
            ax = axes[r, c]
            d = rows[rows["phase"] == phase]
            table = d.pivot_table(index="batch_size", columns="name", values="share")
            table = table.reindex(columns=names).fillna(0.0).sort_index()
            _stacked_percent(ax, table, colours)
            ax.set_ylim(0, 100)
            ax.set_title(f"{device} · {label(phase)}")
            ax.set_xlabel(label("batch size"))
            ax.set_ylabel(label("% of the step"))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4)
    fig.suptitle(label("Where the step's time goes, by kind of work"))
    return _save(fig, path)
