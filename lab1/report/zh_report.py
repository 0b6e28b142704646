"""The run report in Chinese, on the course's template (实验报告模板), from the same findings.

Structure and headings follow the template: 实验环境 (硬件环境, 软件环境), then 实验结果
(模型可视化结果截图: 神经网络数据流图, 损失和正确率趋势图; 网络分析，使用率前十名的操作;
网络分析，不同批大小结果比较; the optional hardware comparison). The tables are lab1.report.grids'
with their headers, cells and captions in Chinese (lab1.report.catalog); the sentences are the
findings said in Chinese (lab1.report.sentences), every number through lab1.fmt exactly as in
the English report.
"""

from __future__ import annotations

import re
from pathlib import Path

from lab1 import figures, fmt
from lab1.report import findings, sections
from lab1.report.blocks import Block, Bullets, Details, Figure, Note, Section, Table, plain
from lab1.report.catalog import (
    CAPTIONS,
    CELLS,
    FIGURE_LABELS_ZH,
    HEADERS,
    LIMIT_NOTES,
    LIMITS,
    PHASE,
    STATUS,
    TOP_TITLE,
    chinese,
)
from lab1.report.sentences import sentence
from lab1.report.system import (
    condensed,
    limits_blocks,
    system_findings,
    system_section,
    system_tables,
)
from lab1.run.reader import RunData

# Lookups by what the English builders wrote: their header, cell, limit or status → Chinese.
_HEADERS, _CELLS, _LIMITS, _STATUS = (chinese(g) for g in (HEADERS, CELLS, LIMITS, STATUS))
_CAPTIONS = chinese(CAPTIONS)  # by the figure's file name


def _translated(blocks: list[Block]) -> list[Block]:
    """The English builders' tables and figures, with Chinese headers and captions (their
    English prose is left out: this template says it in its own words)."""
    out: list[Block] = []
    for b in blocks:
        if isinstance(b, Table):
            rows = [
                [
                    _CELLS.get(c, c)
                    .replace("**total**", "**合计**")
                    .replace(fmt.NOT_MEASURED, "未测量")
                    for c in r
                ]
                for r in b.rows
            ]
            out.append(
                Table([_HEADERS.get(h, _CELLS.get(h, h)) for h in b.header], rows, b.numeric)
            )
        elif isinstance(b, Figure):
            out.append(Figure(b.path, _CAPTIONS.get(b.path.stem, b.caption)))
        elif isinstance(b, Details):
            out.append(Details(b.summary, _translated(b.blocks)))
        elif isinstance(b, Note) and b.kind == "legend":  # written in the table's language
            out.append(b)
    return out


def limit_note(note: str) -> str:
    """A machine limit's note (how it was measured, or why not) in Chinese."""
    for shape in LIMIT_NOTES.values():
        note = re.sub(shape.en, shape.zh, note)
    return note


def _limits(blocks: list[Block]) -> list[Block]:
    """The machine-limits table (lab1.report.system.limits_blocks) in Chinese: headers, the
    limits' names, "not supported", and each note."""
    out = []
    for b in _translated(blocks):
        if isinstance(b, Table):
            rows = [
                [*r[:2], _LIMITS.get(r[2], r[2]), r[3], _LIMITS.get(r[4], r[4]), limit_note(r[5])]
                for r in b.rows
            ]
            b = Table(b.header, rows, b.numeric)
        out.append(b)
    return out


def _hardware(d: RunData) -> list[Block]:
    env = d.manifest.environment
    if env is None:
        return [Note("本次运行没有记录环境信息。")]
    gpu = (
        "无（torch 看不到 GPU）"
        if not env.gpus
        else "；".join(f"{plain(g['name'])}（{fmt.nbytes(g['memory_bytes'])}）" for g in env.gpus)
    )
    rows = [
        *sections._machine_row(env, "机器", "标识"),
        [
            "CPU（vCPU数目）",
            f"{plain(env.cpu_model)}（{env.vcpus} 个 vCPU；torch 使用 {env.torch_threads} 个线程）",
        ],
        ["GPU(型号，数目)", f"{gpu}（{env.gpu_count} 块）"],
        ["内存", fmt.nbytes(env.memory_bytes)],
    ]
    gaps = findings.unmeasured(d.manifest, d.tables["comparison"])
    gaps += findings.described_machine(d.manifest)
    return [Table(["", "配置"], rows), *[Note(sentence(f, "zh")) for f in gaps]]


def _software(d: RunData) -> list[Block]:
    env = d.manifest.environment
    if env is None:
        return []
    pk = env.packages
    cuda = env.cuda_version or "无（CPU 版本的 torch）"
    if env.cuda_version and not env.cuda_available:
        cuda += "（torch 的构建版本；没有可见的 GPU）"
    rows = [
        ["OS版本", f"{plain(env.os)}（内核 {plain(env.kernel)}，{plain(env.machine)}）"],
        ["深度学习框架", f"PyTorch {pk.get('torch') or fmt.MISSING}"],
        [
            "python包名称及版本",
            "; ".join(f"{n} {v}" for n, v in pk.items() if v) + f"; Python {env.python}",
        ],
        ["CUDA版本", f"{cuda}；cuDNN {fmt.cudnn(env.cudnn_version)}"],
    ]
    return [Table(["", "版本"], rows)]


NO_PROFILE = Note("本次运行没有进行性能分析。")
NO_CJK_FONT = "本机没有可用的中文字体（例如 Debian 的 fonts-wqy-microhei），图中的文字用英文。"


def _top_title(text: str) -> str:
    """A top-10 table's title line (device, batch, phase, ranking) in Chinese."""
    for en, zh in (*chinese(PHASE).items(), *chinese(TOP_TITLE).items()):
        text = text.replace(en, zh)
    return text


def _dataset(d: RunData) -> list[Block]:
    ds = d.manifest.dataset
    if ds is None:
        return [Note("本次运行没有记录数据集。", "warning")]
    sizes = f"{fmt.count(ds.train_size)} / {fmt.count(ds.test_size)}"
    rows = [["数据集", f"{ds.name}（来源：{ds.source}）"], ["训练 / 测试图像", sizes]]
    blocks: list[Block] = [Table(["", "值"], rows)]
    if not ds.full:
        blocks.insert(
            0,
            Note(
                f"**数据子集，不是完整数据集**：本次运行只用了 "
                f"{fmt.count(ds.train_size + ds.test_size)} 张图像，"
                "正确率和耗时不能与完整的 60,000 / 10,000 MNIST 比较。",
                "warning",
            ),
        )
    return blocks


def _results(d: RunData, figs: dict[str, Path]) -> list[Block]:
    net = _translated(sections.network_section(d, figs).blocks)
    train = _translated(sections.training_section(d, figs).blocks)
    top = sections.top_ops_section(d, "zh", "main").blocks[1:]
    cmp = _translated(sections.comparison_section(d, figs, redraw=True, lang="zh").blocks)
    hw = _translated(sections.cpu_gpu_section(d, figs, "zh").blocks)
    prec = _translated(sections.precision_section(d, "zh").blocks)
    system = _translated(system_section(d, figs, "zh").blocks)
    said = [sentence(f, "zh") for f in condensed(d)]
    ran = ", ".join(d.manifest.devices.resolved) if d.manifest.devices else fmt.MISSING
    return [
        "### 模型可视化结果截图",
        "#### 神经网络数据流图",
        *net,
        "#### 损失和正确率趋势图",
        *train,
        "### 网络分析，使用率前十名的操作",
        *(
            [
                "训练所用批大小与精度、默认线程数下的结果（GPU 按设备时间排序）"
                + SEE_APPENDIX.format(what="其他配置"),
                *[_top_title(b) if isinstance(b, str) else _translated([b])[0] for b in top],
            ]
            if top
            else [NO_PROFILE]
        ),
        "### 网络分析，不同批大小结果比较",
        *([*cmp, SEE_APPENDIX.format(what="各批大小的算子时间占比")] if cmp else [NO_PROFILE]),
        "### 不同硬件比较（CPU 与 GPU，选做）",
        *(hw or [Note(f"本次运行只对 {ran} 做了性能分析，没有 CPU 与 GPU 的比较。")]),
        "### 不同精度比较（fp32 与 bf16）",
        *(
            prec
            or [
                Note(
                    "本次运行只用了一种精度：没有 fp32 与 bf16 的比较"
                    "（用 --precision bf16 训练，或用 --profile-precisions fp32 bf16）。"
                )
            ]
        ),
        "### 网络分析，时间都花在哪里",
        *([Bullets(said)] if said else []),
        *([*system, SEE_APPENDIX.format(what="全部表格")] if system else [NO_PROFILE]),
    ]


SEE_APPENDIX = "（[附录](#附录)：{what}。）"


def _summary(d: RunData) -> Section:
    """摘要: the English summary's findings (findings.summary), in Chinese."""
    found = findings.summary(d.manifest, d.history, d.tables)
    busy = [Note(sentence(f, "zh"), "warning") for f in found if f.kind == "busy_machine"]
    head = [sentence(f, "zh") for f in found if f.kind.startswith("summary_")]
    key = [
        sentence(f, "zh")
        for f in found
        if not f.kind.startswith("summary_") and f.kind != "busy_machine"
    ]
    warn = [Note(sentence(f, "zh"), "warning") for f in findings.caveats(d.manifest)]
    lead = ["主要结论（按其解释的每步时间占比排序）：", Bullets(key)] if key else []
    return Section("摘要", [*busy, *head, *warn, *lead])


def _run_rows(d: RunData) -> list[Block]:
    """The run and its pipeline timings (the English Run section's tables, in Chinese)."""
    m, p = d.manifest, d.manifest.parameters
    rows = [
        ["运行", fmt.code(m.run_name)],
        ["状态", f"{_STATUS.get(m.status, m.status)} ({fmt.code(m.status)})"],
        ["开始 / 结束 (UTC)", f"{m.started_at or '–'} / {m.finished_at or '–'}"],
        [
            "训练配方",
            f"Adadelta 学习率 {p.lr}，StepLR gamma {p.gamma}，批大小 {p.batch_size}"
            f"（测试 {p.test_batch_size}），{p.epochs} 轮，随机种子 {p.seed}",
        ],
        ["性能分析的批大小", ", ".join(str(b) for b in p.batch_sizes)],
    ]
    blocks: list[Block] = [Table(["", "值"], rows)]
    if m.timings:
        table = sections.timings_table(m.timings, ["任务", "时间", "占比"], "合计", fmt.code)
        blocks += ["流水线各任务的墙钟时间：", table]
    return blocks


def _appendix(d: RunData, figs: dict[str, Path], found: list) -> Section:
    """附录: the English appendix's parts, in the same order, in Chinese."""
    rest = sections.top_ops_section(d, "zh", "rest").blocks[1:]
    tables = _translated(system_tables(d, figs, "zh"))  # its English prose is left out
    said = [sentence(f, "zh") for f in system_findings(d)]
    system = [Bullets(said), *tables] if tables else []
    parts = [
        ("运行与流水线耗时", _run_rows(d)),
        (
            "其他配置的前十名操作",
            [_top_title(b) if isinstance(b, str) else _translated([b])[0] for b in rest],
        ),
        ("层表", _translated(sections.layer_blocks(d))),
        ("每轮结果", _translated(sections.epoch_blocks(d))),
        (
            "各线程数的批大小比较，算子时间占比",
            _translated(sections.share_blocks(d, figs, True, "zh")),
        ),
        ("时间都花在哪里：全部表格", system),
        ("机器极限", _limits(limits_blocks(d, "zh"))),
        ("全部结论", [Bullets([sentence(f, "zh") for f in found])]),
    ]
    return Section("附录", [Details(title, blocks) for title, blocks in parts if blocks])


def build_sections(d: RunData, figs: dict[str, Path]) -> list[Section]:
    found = sections.all_findings(d)
    with figures.language(FIGURE_LABELS_ZH, "zh") as cjk:
        results = _results(d, figs)
        appendix = _appendix(d, figs, found)
    if not cjk:
        results.insert(0, Note(NO_CJK_FONT))
    environment = [
        "### 硬件环境",
        *_hardware(d),
        "### 软件环境",
        *_software(d),
        "### 数据集",
        *_dataset(d),
    ]
    return [
        _summary(d),
        Section("实验环境", environment),
        Section("实验结果", results),
        appendix,
    ]
