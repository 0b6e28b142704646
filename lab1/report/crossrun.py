"""The report of a comparison of runs (lab1.compare.crossrun), in English or Chinese.

The same machinery as the run report: findings as data (lab1.report.crossfindings), their
sentences (words / zh), numbers through lab1.fmt, blocks → Markdown → self-contained HTML. It
reads only the comparison's own tables, so every number in it can be traced to a row there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from lab1 import figures, fmt
from lab1.atomic import rename, write_text
from lab1.compare.crossrun import read_tables
from lab1.errors import CompareError
from lab1.identity import PHASES, ConfigId, Label, labels, ordered
from lab1.measure.analysis import peaks
from lab1.measure.breakdown import OP_CATEGORIES, OUTSIDE_OPS
from lab1.report import crossfindings, words, zh
from lab1.report.blocks import (
    Block,
    Bullets,
    Figure,
    Note,
    Section,
    Table,
    plain,
    to_html,
    to_markdown,
)
from lab1.report.pdf import write_pdf
from lab1.rundir import ComparisonPaths

WHAT = {
    "matmul_peak": ("matmul peak", "矩阵乘峰值"),
    "memory_bandwidth": ("memory bandwidth (copy)", "内存带宽（复制）"),
    "dispatch_floor": ("dispatch floor per operator", "每个算子的分发下限"),
}
# (English, Chinese) of every heading, header and fixed phrase of this report.
WORDS = {
    "title": ("Comparison of runs: {name}", "运行比较：{name}"),
    "runs": ("Runs compared", "参与比较的运行"),
    "machines": ("Machines", "机器"),
    "throughput": ("Throughput per batch size", "各批大小的吞吐"),
    "model": ("Step-time model", "步时模型"),
    "training": ("Training", "训练"),
    "ops": ("Top operators and where the time goes", "最耗时的算子与时间去向"),
    "intro": (
        "Every number below is read from the runs' own tables (compare/comparison.parquet, "
        "limits, step_model, top10) and collected in this folder's Parquet files; the "
        "speed-up is a row's images/s over its baseline row's (same batch size and phase; "
        "same device, precision and thread role where both runs have them). Baseline: {base}.",
        "下面每个数字都取自各运行自己的表（compare/comparison.parquet、limits、step_model、"
        "top10），并汇总在本文件夹的 Parquet 文件中；加速比是一行的图像/秒除以其基准行的图像/秒"
        "（相同批大小和阶段；两次运行都有时，相同设备、精度和线程角色）。基准：{base}。",
    ),
    "model_intro": (
        "Each ladder's fit of ms per step = fixed + batch × per image: the fixed part is what a "
        "step costs whatever its batch (Python, dispatch, kernel launches), the per-image part "
        "what each image adds. A device with a larger fixed cost and a smaller per-image cost "
        "wins only above the batch size where the two lines cross.",
        "每个阶梯的拟合：每步毫秒 = 固定开销 + 批大小 × 每张图像开销。固定部分与批大小无关"
        "（Python、分发、内核启动），每张图像部分是每多一张图像增加的开销。固定开销大而每张图像开销"
        "小的设备，只有在两条线相交的批大小以上才更快。",
    ),
    "baseline": ("baseline", "基准"),
    "yes": ("yes", "是"),
    "no": ("", ""),
    "not comparable": ("not comparable", "不可比较"),
    "not supported": ("not supported", "不支持"),
    "no model": ("No run measured a step-time ladder.", "没有运行测量步时阶梯。"),
    "no ops": ("No batch size was profiled by every run.", "没有所有运行都分析过的批大小。"),
    "figure": (
        "Throughput against batch size, one line per run and config",
        "各运行的吞吐与批大小",
    ),
    "run": ("run", "运行"),
    "machine": ("machine", "机器"),
    "dataset": ("dataset", "数据集"),
    "recipe": ("recipe", "训练配方"),
    "code": ("lab1 code", "lab1 代码"),
    "device": ("device", "设备"),
    "threads": ("threads", "线程数"),
    "phase": ("phase", "阶段"),
    "batch": ("batch", "批大小"),
    "images/s": ("images/s", "图像/秒"),
    "ms/step": ("ms/step", "毫秒/步"),
    "µs/image": ("µs/image", "微秒/图像"),
    "share of peak": ("share of peak", "峰值占比"),
    "speed-up": ("speed-up over baseline", "相对基准的加速比"),
    "against": ("baseline row", "基准行"),
    "fixed (ms)": ("fixed (ms)", "固定开销 (毫秒)"),
    "per image (µs)": ("per image (µs)", "每张图像 (微秒)"),
    "fixed < 10 %": ("fixed < 10 % from batch", "固定开销 < 10 % 的最小批大小"),
    "epochs": ("epochs", "轮数"),
    "s/epoch": ("s per epoch", "秒/轮"),
    "train images/s": ("training images/s", "训练图像/秒"),
    "accuracy": ("final test accuracy", "最终测试正确率"),
    "loss": ("test loss", "测试损失"),
    "top": ("heaviest operators (share of self time)", "最耗时的算子（占自身时间比例）"),
    "roofline": (
        "Share of peak (above) is of each machine's own measured fp32 matmul peak; the roofline "
        "puts each machine's heavy operators under its own ceilings:",
        "峰值占比（上表）以各机器自己实测的 fp32 矩阵乘峰值为准；"
        "屋顶线把每台机器的重算子放在它自己的上限之下：",
    ),
    "roofline caption": (
        "Roofline per machine and config: achieved GFLOP/s against FLOP per byte",
        "各机器与配置的屋顶线：实测 GFLOP/s 与每字节 FLOP",
    ),
    "split": (
        "Where each step's time goes, by kind of operator (share of the step; profiler on):",
        "每步时间的去向，按算子类别（占每步的比例；开启性能分析）：",
    ),
    "CPU": ("CPU", "CPU"),
    "vCPUs": ("vCPUs", "vCPU 数"),
    "memory": ("memory", "内存"),
    "GPUs": ("GPUs", "GPU"),
    "OS": ("OS", "操作系统"),
    "PyTorch": ("PyTorch", "PyTorch"),
    "CUDA": ("CUDA", "CUDA"),
    "machine id": ("machine id", "机器 id"),
}


def _w(key: str, lang: str, **values) -> str:
    return WORDS[key][lang == "zh"].format(**values)


def _phase(phase: str, lang: str) -> str:
    return zh.PHASE[phase] if lang == "zh" else phase


def _run_config(run_id: str, row, lang: str, prefix: str = "") -> str:
    """A run's config in a cell or legend: ``lap · cpu · 1 thread``."""
    return f"{run_id} · {crossfindings.label(row, prefix).text(lang)}"


def _sentences(found: list, lang: str) -> list[str]:
    table = zh.SENTENCES if lang == "zh" else words.SENTENCES
    return [table[f.kind](f.values) for f in found]


def runs_section(t: dict, lang: str) -> Section:
    runs = t["runs"].sort_values("order")
    found = crossfindings.differences(runs, t["comparison"])
    base = fmt.code(runs.loc[runs["baseline"], "run_id"].iloc[0])
    blocks: list[Block] = [Note(s, "warning") for s in _sentences(found, lang)]
    blocks.append(_w("intro", lang, base=base))
    rows = [
        [
            fmt.code(r.run_id),
            f"{plain(r.machine)} ({fmt.code(r.machine_id)})",
            _w("yes" if r.baseline else "no", lang),
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
        name = WHAT[what][lang == "zh"] + (f" ({dtype})" if what == "matmul_peak" else "")
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
        Bullets(_sentences(crossfindings.speedups(cmp), lang)),
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
    table = Table([WORDS.get(h, (h, h))[lang == "zh"] for h in header], rows)
    table.numeric = [False, False, True, False, True, True, True, True]
    return Section(
        _w("model", lang), [_w("model_intro", lang), Bullets(_sentences(found, lang)), table]
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
    header += [zh.HEADERS.get(n, n) if lang == "zh" else n for n in names]
    return [_w("split", lang), Table(header, rows, [True, False, False, *[True] * len(names)])]


def write_report(plan: dict, lang: str = "en", paper: str | None = "a4") -> dict:
    """report.md, report.html, report.pdf (on ``paper``; None: none) and figures/ of the
    comparison, written into its folder being built (lab1.compare.crossrun.write_tables filled it),
    which is then renamed into place. ``report_pdf`` is None where it could not be printed."""
    final = ComparisonPaths(plan["out"])
    paths = final.building
    t = read_tables(paths)
    figs: dict[str, Path] = {}
    with figures.language(zh.FIGURE_LABELS if lang == "zh" else {}):
        sections = [
            runs_section(t, lang),
            machines_section(t, lang),
            throughput_section(t, lang, paths, figs),
            model_section(t, lang),
            training_section(t, lang),
            ops_section(t, lang),
        ]
    title = _w("title", lang, name=plan["name"])
    md = to_markdown(title, sections, paths.root)
    write_text(paths.report_md, md)
    html_lang = "zh-CN" if lang == "zh" else "en"
    write_text(paths.report_html, to_html(md, title, paths.root, html_lang, plan["name"]))
    printed = paper is not None and write_pdf(paths.report_html, paths.report_pdf, paper)
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
