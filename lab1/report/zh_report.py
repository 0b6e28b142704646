"""The run report in Chinese, on the course's template (实验报告模板), from the same findings.

Structure and headings follow the template: 实验环境 (硬件环境, 软件环境), then 实验结果
(模型可视化结果截图: 神经网络数据流图, 损失和正确率趋势图; 网络分析，使用率前十名的操作;
网络分析，不同批大小结果比较; the optional hardware comparison). The tables are lab1.report.grids'
with their headers, cells and captions in Chinese (lab1.catalog); the sentences are the
findings said in Chinese (lab1.report.sentences), every number through lab1.fmt exactly as in
the English report. The summary and the appendix's frame are the English report's builders
(lab1.report.sections.summary_section, appendix) with the language as an argument; the rest
follows the template. Every text is lab1.catalog's (REPORT for the headings and notes).
"""

from __future__ import annotations

import re
from pathlib import Path

from lab1 import figures, fmt
from lab1.catalog import (
    CAPTIONS,
    CELLS,
    FIGURE_LABELS_ZH,
    HEADERS,
    LIMIT_NOTES,
    LIMITS,
    PHASE,
    PUNCTUATION,
    REPORT,
    STATUS,
    TOP_TITLE,
    chinese,
)
from lab1.report import findings, sections
from lab1.report.blocks import Block, Bullets, Details, Figure, Note, Section, Table, plain
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
_LIST, _ASIDE = PUNCTUATION["list"].zh, PUNCTUATION["aside"].zh


def _zh(key: str, **values) -> str:
    """The run report's text ``key`` (lab1.catalog.REPORT) in Chinese, filled in."""
    text = REPORT[key].zh
    return text.format(**values) if values else text


def _translated(blocks: list[Block]) -> list[Block]:
    """The English builders' tables and figures, with Chinese headers and captions (their
    English prose is left out: this template says it in its own words)."""
    out: list[Block] = []
    for b in blocks:
        if isinstance(b, Table):
            rows = [
                [
                    _CELLS.get(c, c)
                    .replace(f"**{REPORT['total'].en}**", f"**{_zh('total')}**")
                    .replace(fmt.NOT_MEASURED, _LIMITS[fmt.NOT_MEASURED])
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
        return [Note(_zh("no environment"))]
    gpu = (
        _zh("no gpu")
        if not env.gpus
        else _LIST.join(
            _ASIDE.format(text=plain(g["name"]), aside=fmt.nbytes(g["memory_bytes"]))
            for g in env.gpus
        )
    )
    cpu = _zh("cpu value", cpu=plain(env.cpu_model), vcpus=env.vcpus, threads=env.torch_threads)
    rows = [
        *sections._machine_row(env, _zh("machine"), _zh("id")),
        [_zh("cpu (vcpus)"), cpu],
        [_zh("gpu (model, count)"), _zh("gpu count", gpus=gpu, n=env.gpu_count)],
        [_zh("memory"), fmt.nbytes(env.memory_bytes)],
    ]
    gaps = findings.unmeasured(d.manifest, d.tables["comparison"])
    gaps += findings.described_machine(d.manifest)
    return [Table(["", _zh("configuration")], rows), *[Note(sentence(f, "zh")) for f in gaps]]


def _software(d: RunData) -> list[Block]:
    env = d.manifest.environment
    if env is None:
        return []
    pk = env.packages
    cuda = env.cuda_version or _zh("no cuda")
    if env.cuda_version and not env.cuda_available:
        cuda += _zh("cuda without gpu")
    os_line = _zh(
        "os value", os=plain(env.os), kernel=plain(env.kernel), machine=plain(env.machine)
    )
    rows = [
        [_zh("os"), os_line],
        [_zh("framework"), f"PyTorch {pk.get('torch') or fmt.MISSING}"],
        [
            _zh("packages"),
            "; ".join(f"{n} {v}" for n, v in pk.items() if v) + f"; Python {env.python}",
        ],
        [_zh("cuda"), f"{cuda}{_LIST}cuDNN {fmt.cudnn(env.cudnn_version)}"],
    ]
    return [Table(["", _zh("version")], rows)]


NO_PROFILE = Note(_zh("no profile"))
NO_CJK_FONT = _zh("no cjk font")


def _top_title(text: str) -> str:
    """A top-10 table's title line (device, batch, phase, ranking) in Chinese."""
    for en, zh in (*chinese(PHASE).items(), *chinese(TOP_TITLE).items()):
        text = text.replace(en, zh)
    return text


def _dataset(d: RunData) -> list[Block]:
    ds = d.manifest.dataset
    if ds is None:
        return [Note(_zh("no dataset"), "warning")]
    sizes = f"{fmt.count(ds.train_size)} / {fmt.count(ds.test_size)}"
    rows = [
        [_zh("dataset"), _zh("dataset value", name=ds.name, source=ds.source)],
        [_zh("train / test images"), sizes],
    ]
    blocks: list[Block] = [Table(["", _HEADERS["value"]], rows)]
    if not ds.full:
        total = fmt.count(ds.train_size + ds.test_size)
        blocks.insert(0, Note(_zh("subset", total=total), "warning"))
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
        f"### {_zh('screenshots')}",
        f"#### {_zh('dataflow graph')}",
        *net,
        f"#### {_zh('curves')}",
        *train,
        f"### {_zh('top ops')}",
        *(
            [
                _zh("top ops shown") + _see_appendix("other configs"),
                *[_top_title(b) if isinstance(b, str) else _translated([b])[0] for b in top],
            ]
            if top
            else [NO_PROFILE]
        ),
        f"### {_zh('batch sizes')}",
        *([*cmp, _see_appendix("op shares")] if cmp else [NO_PROFILE]),
        f"### {_zh('cpu vs gpu')}",
        *(hw or [Note(_zh("only devices", ran=ran))]),
        f"### {_zh('precisions')}",
        *(prec or [Note(_zh("one precision"))]),
        f"### {_zh('time goes')}",
        *([Bullets(said)] if said else []),
        *([*system, _see_appendix("every table")] if system else [NO_PROFILE]),
    ]


def _see_appendix(what: str) -> str:
    return _zh("see appendix", what=_zh(what))


def _run_rows(d: RunData) -> list[Block]:
    """The run and its pipeline timings (the English Run section's tables, in Chinese)."""
    m, p = d.manifest, d.manifest.parameters
    recipe = sections.recipe_value(p, "zh")
    rows = [
        [_zh("run"), fmt.code(m.run_name)],
        [_zh("status"), f"{_STATUS.get(m.status, m.status)} ({fmt.code(m.status)})"],
        [_zh("started / finished"), f"{m.started_at or '–'} / {m.finished_at or '–'}"],
        [_zh("recipe"), recipe],
        [_zh("profiled batch sizes"), ", ".join(str(b) for b in p.batch_sizes)],
    ]
    blocks: list[Block] = [Table(["", _HEADERS["value"]], rows)]
    if m.timings:
        header = [_zh("task"), _zh("time"), _HEADERS["share"]]
        table = sections.timings_table(m.timings, header, _zh("total"), fmt.code)
        blocks += [_zh("timings"), table]
    return blocks


def _appendix(d: RunData, figs: dict[str, Path], found: list) -> Section:
    """附录: the English appendix's parts, in the same order, in Chinese."""
    rest = sections.top_ops_section(d, "zh", "rest").blocks[1:]
    tables = _translated(system_tables(d, figs, "zh"))  # its English prose is left out
    said = [sentence(f, "zh") for f in system_findings(d)]
    system = [Bullets(said), *tables] if tables else []
    parts = {
        "appendix run": _run_rows(d),
        "appendix top": [
            _top_title(b) if isinstance(b, str) else _translated([b])[0] for b in rest
        ],
        "appendix layers": _translated(sections.layer_blocks(d)),
        "appendix epochs": _translated(sections.epoch_blocks(d)),
        "appendix shares": _translated(sections.share_blocks(d, figs, True, "zh")),
        "appendix system": system,
        "appendix limits": _limits(limits_blocks(d, "zh")),
        "appendix findings": [Bullets([sentence(f, "zh") for f in found])],
    }
    return sections.appendix(parts, "zh")


def build_sections(d: RunData, figs: dict[str, Path]) -> list[Section]:
    found = sections.all_findings(d)
    with figures.language(FIGURE_LABELS_ZH, "zh") as cjk:
        results = _results(d, figs)
        appendix = _appendix(d, figs, found)
    if not cjk:
        results.insert(0, Note(NO_CJK_FONT))
    return [
        sections.summary_section(d, "zh"),
        environment_section(d),
        Section(_zh("results"), results),
        appendix,
    ]


def environment_section(d: RunData) -> Section:
    """实验环境 on the template: 硬件环境, 软件环境 and the dataset (no figure in it)."""
    return Section(
        _zh("environment"),
        [
            f"### {_zh('hardware')}",
            *_hardware(d),
            f"### {_zh('software')}",
            *_software(d),
            f"### {_zh('dataset')}",
            *_dataset(d),
        ],
    )
