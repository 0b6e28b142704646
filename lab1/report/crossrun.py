"""The report of a comparison of runs (lab1.compare.crossrun), in English or Chinese.

The same machinery as the run report: findings as data (lab1.report.crossfindings), their
sentences (lab1.report.sentences), fixed texts from lab1.catalog, numbers through
lab1.fmt, blocks → Markdown → self-contained HTML. It reads only the comparison's own tables,
so every number in it can be traced to a row there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from lab1 import figures, fmt
from lab1.atomic import rename
from lab1.catalog import (
    CATEGORIES,
    COMPARE,
    COMPARE_LIMITS,
    FIGURE_LABELS_ZH,
    PHASE,
)
from lab1.compare.crossrun import read_tables
from lab1.errors import CompareError
from lab1.identity import PHASES, ConfigId, Label, labels, ordered
from lab1.measure.analysis import peaks
from lab1.measure.breakdown import OP_CATEGORIES, OUTSIDE_OPS
from lab1.report import crossfindings
from lab1.report.blocks import (
    Block,
    Bullets,
    Figure,
    Note,
    Section,
    Table,
    plain,
)
from lab1.report.document import write_document
from lab1.report.sentences import sentences
from lab1.rundir import ComparisonPaths


def _w(key: str, lang: str, **values) -> str:
    return COMPARE[key].of(lang).format(**values)


def _phase(phase: str, lang: str) -> str:
    return PHASE[phase].of(lang)


def _run_config(run_id: str, row, lang: str, prefix: str = "") -> str:
    """A run's config in a cell or legend: ``lap · cpu · 1 thread``."""
    return f"{run_id} · {crossfindings.label(row, prefix).text(lang)}"


def runs_section(t: dict, lang: str) -> Section:
    runs = t["runs"].sort_values("order")
    found = crossfindings.differences(runs, t["comparison"])
    base = fmt.code(runs.loc[runs["baseline"], "run_id"].iloc[0])
    blocks: list[Block] = [Note(s, "warning") for s in sentences(found, lang)]
    blocks.append(_w("intro", lang, base=base))
    rows = [
        [
            fmt.code(r.run_id),
            f"{plain(r.machine)} ({fmt.code(r.machine_id)})",
            _w("yes", lang) if r.baseline else "",
            f"{plain(r.dataset)}, {plain(r.dataset_source)}, {fmt.count(r.train_size)} / "
            f"{fmt.count(r.test_size)}",
            plain(r.recipe),
            fmt.code(fmt.MISSING if pd.isna(r.code_version) else r.code_version),
        ]
        for r in runs.itertuples()
    ]
    header = ["run", "machine", "baseline", "dataset", "recipe", "code"]
    blocks.append(Table([_w(h, lang) for h in header], rows))
    return Section(_w("runs", lang), blocks)


def _limit_cell(lim: pd.DataFrame | None, run_id: str, what: str, dtype: str, lang: str) -> str:
    if lim is None:
        return fmt.MISSING
    rows = lim[(lim["run_id"] == run_id) & (lim["what"] == what) & (lim["dtype"] == dtype)]
    cells = []
    for r in ordered(rows).itertuples():
        if pd.isna(r.value):
            value = _w("not supported", lang)
        else:
            value = f"{fmt.us(r.value) if r.unit == 'µs' else fmt.gflops(r.value)} {r.unit}"
        at = Label(ConfigId(r.machine_id, r.device, threads=int(r.threads)), threads=True)
        cells.append(f"{at.text(lang)}: {value}")
    return "; ".join(cells) or fmt.MISSING


def machines_section(t: dict, lang: str) -> Section:
    """The machines side by side, one column per run: environment, then measured limits."""
    runs = t["runs"].sort_values("order")
    env = [
        ("machine id", lambda r: fmt.code(r.machine_id)),
        ("CPU", lambda r: plain(r.cpu_model)),
        ("vCPUs", lambda r: fmt.count(r.vcpus)),
        ("memory", lambda r: fmt.nbytes(r.memory_bytes)),
        ("GPUs", lambda r: plain(r.gpus) or fmt.MISSING),
        ("OS", lambda r: plain(r.os)),
        ("PyTorch", lambda r: plain(r.torch_version)),
        ("CUDA", lambda r: plain(r.cuda_version) if r.cuda_version else fmt.MISSING),
    ]
    rows = [[_w(k, lang), *[get(r) for r in runs.itertuples()]] for k, get in env]
    for what, dtype in [
        ("matmul_peak", "float32"),
        ("matmul_peak", "bfloat16"),
        ("memory_bandwidth", "float32"),
        ("dispatch_floor", "float32"),
    ]:
        name = COMPARE_LIMITS[what].of(lang) + (f" ({dtype})" if what == "matmul_peak" else "")
        rows.append(
            [name, *[_limit_cell(t["limits"], r, what, dtype, lang) for r in runs["run_id"]]]
        )
    header = ["", *[fmt.code(r) for r in runs["run_id"]]]
    return Section(_w("machines", lang), [Table(header, rows)])


def roofline_blocks(t: dict, lang: str, paths: ComparisonPaths, figs: dict) -> list[Block]:
    """Every machine's heavy operators under its own measured ceilings (fp32 matmul peak and
    copy bandwidth at the same threads), at the batch sizes every run profiled."""
    roof, lim = t["roofline"], t["limits"]
    if roof is None or roof.empty:
        return []
    peak, bw = peaks(lim), peaks(lim, "memory_bandwidth")
    ceilings = {k: (peak[k], bw[k]) for k in peak if k in bw}
    figs["roofline"] = figures.plot_roofline(roof, ceilings, paths.figure("roofline"))
    return [_w("roofline", lang), Figure(figs["roofline"], _w("roofline caption", lang))]


def throughput_section(t: dict, lang: str, paths: ComparisonPaths, figs: dict) -> Section:
    cmp = t["comparison"]
    named = cmp.assign(line=[_run_config(r.run_id, r, lang) for r in cmp.itertuples()])
    lines = [(name, g) for name, g in named.groupby("line", sort=False)]
    devices = labels(cmp, lang, beside=["machine_id", "threads"])
    figs["throughput"] = figures.plot_throughput(cmp, paths.figure("throughput"), lines)
    rows = [
        [
            fmt.code(r.run_id),
            device,
            fmt.count(r.threads),
            _phase(r.phase, lang),
            fmt.count(r.batch_size),
            fmt.rate(r.images_per_s) + (" ⚠" if r.contended else ""),
            fmt.ms(r.ms_per_step),
            fmt.us(r.us_per_sample),
            fmt.pct(r.share_of_peak),
            fmt.ratio(r.speedup_vs_baseline),
            fmt.MISSING
            if pd.isna(r.speedup_vs_baseline)
            else _run_config(r.baseline_run_id, r, lang, "baseline_"),
        ]
        for r, device in zip(cmp.itertuples(), devices, strict=True)
    ]
    header = ["run", "device", "threads", "phase", "batch", "images/s", "ms/step", "µs/image"]
    header += ["share of peak", "speed-up", "against"]
    numeric = [False, False, True, False, True, True, True, True, True, True, False]
    blocks: list[Block] = [
        Bullets(sentences(crossfindings.speedups(cmp), lang)),
        Figure(figs["throughput"], _w("figure", lang)),
        Table([_w(h, lang) for h in header], rows, numeric),
        *roofline_blocks(t, lang, paths, figs),
    ]
    return Section(_w("throughput", lang), blocks)


def model_section(t: dict, lang: str) -> Section:
    model = t["step_model"]
    if model is None:
        return Section(_w("model", lang), [Note(_w("no model", lang))])
    found = crossfindings.step_models(model, t["runs"])
    rows = [
        [
            fmt.code(r.run_id),
            r.device,
            fmt.count(r.threads),
            _phase(r.phase, lang),
            fmt.ms(r.fixed_ms),
            fmt.us(r.per_sample_us),
            fmt.decimal(r.r2, 3),
            fmt.count(r.fixed_below_10pct_bs),
        ]
        for r in model.itertuples()
    ]
    header = ["run", "device", "threads", "phase", "fixed (ms)", "per image (µs)"]
    header += ["r²", "fixed < 10 %"]
    table = Table([COMPARE[h].of(lang) if h in COMPARE else h for h in header], rows)
    table.numeric = [False, False, True, False, True, True, True, True]
    return Section(
        _w("model", lang), [_w("model_intro", lang), Bullets(sentences(found, lang)), table]
    )


def training_section(t: dict, lang: str) -> Section:
    runs = t["runs"].sort_values("order")
    found = crossfindings.differences(runs, t["comparison"])
    apart = {
        i
        for f in found
        if f.kind == "not_comparable"
        for i in f.values["data"] + f.values["recipe"]
    }
    full = runs.loc[runs["baseline"], "dataset_full"].iloc[0]
    apart |= set(runs.loc[runs["dataset_full"] != full, "run_id"])  # subset against full data
    rows = []
    for r in runs.itertuples():
        accuracy = fmt.pct(r.test_accuracy)
        if r.run_id in apart:
            accuracy += f" ({_w('not comparable', lang)})"
        rows.append(
            [
                fmt.code(r.run_id),
                fmt.count(r.epochs),
                fmt.seconds(r.seconds_per_epoch),
                fmt.rate(r.train_images_per_s),
                accuracy,
                fmt.decimal(r.test_loss),
            ]
        )
    header = ["run", "epochs", "s/epoch", "train images/s", "accuracy", "loss"]
    table = Table([_w(h, lang) for h in header], rows, [False, True, True, True, True, True])
    return Section(_w("training", lang), [table])


def ops_section(t: dict, lang: str) -> Section:
    top = t["top_ops"]
    if top is None or top.empty:
        return Section(_w("ops", lang), [Note(_w("no ops", lang))])
    order = t["runs"].set_index("run_id")["order"]
    top = top.assign(_phase=top["phase"].map(PHASES.index), _run=top["run_id"].map(order))
    top = top.sort_values(["batch_size", "_phase", "_run", "device", "threads", "rank"])
    keys = ["batch_size", "phase", "run_id", "machine_id", "device", "precision", "threads"]
    rows = []
    for (bs, phase, run_id, *_), g in top.groupby(keys, sort=False):
        ops = "; ".join(
            f"{fmt.code(r.op_name)} {fmt.pct(r.share)}" for r in g.sort_values("rank").itertuples()
        )
        rows.append([fmt.count(bs), _phase(phase, lang), _run_config(run_id, g.iloc[0], lang), ops])
    header = [_w("batch", lang), _w("phase", lang), _w("run", lang), _w("top", lang)]
    return Section(_w("ops", lang), [Table(header, rows), *split_blocks(t, lang)])


def split_blocks(t: dict, lang: str) -> list[Block]:
    """Each run's time split by kind of operator, at the batch sizes every run profiled."""
    split = t["time_split"]
    if split is None or split.empty:
        return []
    order = t["runs"].set_index("run_id")["order"]
    split = split.assign(_phase=split["phase"].map(PHASES.index), _run=split["run_id"].map(order))
    split = split.sort_values(["batch_size", "_phase", "_run", "device", "threads"])
    names = (*OP_CATEGORIES, OUTSIDE_OPS)
    keys = ["batch_size", "phase", "run_id", "machine_id", "device", "precision", "threads"]
    rows = []
    for (bs, phase, run_id, *_), g in split.groupby(keys, sort=False):
        share = g.set_index("name")["share"]
        rows.append(
            [
                fmt.count(bs),
                _phase(phase, lang),
                _run_config(run_id, g.iloc[0], lang),
                *[fmt.pct(share.get(n)) for n in names],
            ]
        )
    header = [_w("batch", lang), _w("phase", lang), _w("run", lang)]
    header += [CATEGORIES[n].of(lang) for n in names]
    return [_w("split", lang), Table(header, rows, [True, False, False, *[True] * len(names)])]


def write_report(plan: dict, lang: str = "en", paper: str | None = "a4") -> dict:
    """report.md, report.html, report.pdf (on ``paper``; None: none) and figures/ of the
    comparison, written into its folder being built (lab1.compare.crossrun.write_tables filled it),
    which is then renamed into place. ``report_pdf`` is None where it could not be printed."""
    final = ComparisonPaths(plan["out"])
    paths = final.building
    t = read_tables(paths)
    figs: dict[str, Path] = {}
    with figures.language(FIGURE_LABELS_ZH if lang == "zh" else {}):
        sections = [
            runs_section(t, lang),
            machines_section(t, lang),
            throughput_section(t, lang, paths, figs),
            model_section(t, lang),
            training_section(t, lang),
            ops_section(t, lang),
        ]
    title = _w("title", lang, name=plan["name"])
    printed = write_document(paths, title, sections, lang, plan["name"], paper)["report_pdf"]
    publish(paths, final)
    return {
        "report_md": str(final.report_md),
        "report_html": str(final.report_html),
        "report_pdf": str(final.report_pdf) if printed else None,
        "figures": {k: str(final.figure(k)) for k in figs},
    }


def publish(building: ComparisonPaths, final: ComparisonPaths) -> None:
    """The finished folder renamed into place in one step: whole, or not there at all."""
    if final.root.exists():
        shutil.rmtree(building.root, ignore_errors=True)
        raise CompareError(f"comparison {final.root} appeared meanwhile: pick another --name")
    rename(building.root, final.root)
