"""The lab report of a run directory, and every other place that puts a run into words.

    findings.py  what the run shows, computed once as data
    sentences.py each finding kind's sentence in English (words.py) and Chinese (zh.py)
    grids.py     the tables (layers, top-10, comparison, share change, speed-up)
    sections.py  the report's sections, as blocks
    blocks.py    blocks → Markdown → HTML (Python-Markdown, figures inlined)
    document.py  sections → report.md, .html, .pdf (a run's, a comparison's, a class's)
    zh_report.py the run report on the course's Chinese template

Outputs: ``report.md`` / ``report.html`` (write_report; ``report.zh.*`` in Chinese), their
``report.pdf`` (print_report) and ``compare/summary.md`` /
``compare/top10.md`` (write_compare_texts), from the same findings, tables and formatters.
A caller that writes several of them reads the run once (read_run) and passes it to each.

May import: lab1, lab1.host, lab1.run, lab1.measure, lab1.compare.
"""

from __future__ import annotations

import re
from pathlib import Path

from lab1.atomic import write_text
from lab1.catalog import REPORT
from lab1.report import findings, grids, zh_report
from lab1.report.blocks import (
    Bullets,
    Section,
    block_markdown,
    table_markdown,
    to_markdown,
)
from lab1.report.document import write_document
from lab1.report.sections import build_sections, summary_section, top_ops_section
from lab1.report.sentences import sentences
from lab1.run.reader import RunData, read_run
from lab1.rundir import config_tag


def write_report(run_dir: str | Path, lang: str = "en", paper: str | None = None) -> dict:
    """Write report.md, report.html and figures/*.png into run_dir, in ``lang``: ``en``, or
    ``zh`` on the course's Chinese template (the same findings, tables and numbers); and
    report.pdf on ``paper`` where asked and a browser is here. Each language has its own files
    (rundir.ReportFolder.in_language: report.zh.md, figures.zh/), so a run's reports in both
    languages stand side by side.

    Returns ``{"report_md", "report_html", "report_pdf"}`` (strings; ``report_pdf`` None where
    none was printed) and ``"figures": {name: path}``.
    """
    d = read_run(run_dir)
    d.paths = d.paths.in_language(lang)  # refuses a language with no file names
    figs: dict[str, Path] = {}
    builder = zh_report.build_sections if lang == "zh" else build_sections
    sections = builder(d, figs)
    title = REPORT["title"].of(lang).format(run=d.manifest.run_name)
    paths = write_document(d.paths, title, sections, lang, d.manifest.run_name, paper)
    return {**paths, "figures": {k: str(v) for k, v in figs.items()}}


def print_report(run_dir: str | Path, lang: str = "en", paper: str | None = "a4") -> dict:
    """write_report on ``paper`` (a4 unless told): the run's flow and the command that adds a
    language to a finished run (flows/report_flow.py) both write a report this way."""
    return write_report(run_dir, lang, paper)


def write_compare_texts(d: RunData) -> dict:
    """compare/summary.md (the report's summary, the profiling findings and the comparison
    table) and
    compare/top10.md, from a run read by read_run. Returns both paths, the summary's Markdown
    and the comparison as formatted rows (for a Prefect table artifact)."""
    paths = d.paths
    cmp = d.tables["comparison"]
    found = findings.profiling(cmp, d.tables["share_change"])
    devices = cmp[["device", "device_name"]].drop_duplicates().itertuples(index=False)
    intro = f"torch {cmp['torch_version'].iloc[0]}; devices: " + ", ".join(
        f"{r.device} ({r.device_name})" for r in devices
    )
    table = grids.comparison_table(cmp)
    blocks = [intro + ".", Bullets(sentences(found)), table, *grids.legend([table])]
    # The report's own summary first (the same sentences as report.md's), then the findings.
    parts = [summary_section(d), Section("Findings", blocks)]
    summary = to_markdown(f"lab1 profiling summary: {d.manifest.run_id}", parts, paths.root)
    top10 = to_markdown(f"Top-10 operators: {d.manifest.run_id}", [top_ops_section(d)], paths.root)
    write_text(paths.summary_md, summary)
    write_text(paths.top10_md, top10)
    return {
        "summary": str(paths.summary_md),
        "top10_markdown": str(paths.top10_md),
        "markdown": summary,
        "rows": grids.comparison_rows(cmp),
    }


def tensorboard_texts(d: RunData) -> dict[str, str]:
    """The comparison, its findings and each top-10 table of a run read by read_run, as
    Markdown by TensorBoard text tag (lab1.run.tblog writes them): the report's tables and words."""
    cmp, top10 = d.tables["comparison"], d.tables["top10"]
    texts = {
        "comparison/batch_sizes": table_markdown(grids.comparison_table(cmp)),
        "comparison/summary": "\n".join(
            f"- {s}" for s in sentences(findings.profiling(cmp, d.tables["share_change"]))
        ),
    }
    for (c, phase, key), blocks in grids.top10_by_config(top10):
        tag = f"top10/{config_tag(c.device, c.precision, c.batch_size, c.threads)}_{phase}_{key}"
        texts[tag] = "\n\n".join(block_markdown(b, d.paths.root) for b in blocks)
    return texts


def markdown_for_artifact(report_md: str | Path) -> str:
    """report.md with each figure turned into a file:// link (UIs cannot show local images)."""
    path = Path(report_md).resolve()
    text = path.read_text(encoding="utf-8")
    return re.sub(
        r"!\[([^\]]*)\]\(([^)]+)\)",
        lambda m: f"[figure: {m.group(1)}]({(path.parent / m.group(2)).resolve().as_uri()})",
        text,
    )
