"""A report written out: its sections as report.md, then report.html, then, where a paper size
is asked and a browser is here, report.pdf. The run report, the comparison of runs and the class
view all write through ``write_document``, so the three files are made the same way for each."""

from __future__ import annotations

from lab1.atomic import write_text
from lab1.report.blocks import Section, to_html, to_markdown
from lab1.report.pdf import write_pdf
from lab1.rundir import ReportFolder

# The HTML language tag of each report language: what a browser picks fonts and hyphenation by.
HTML_LANG = {"en": "en", "zh": "zh-CN"}


def write_document(
    folder: ReportFolder,
    title: str,
    sections: list[Section],
    lang: str,
    footer: str,
    paper: str | None = None,
) -> dict:
    """report.md and report.html of ``sections`` in ``folder`` (its figures already drawn
    there), in ``lang``; report.pdf printed on ``paper`` (None: not printed). The folder names
    the files: a run's Chinese report is report.zh.*, a comparison's report.* whatever its
    language. Returns the three paths as strings, ``report_pdf`` None where none was printed
    (not asked, no browser, or the print failed: one logged line says which)."""
    html_lang = HTML_LANG[lang]  # a language with no tag is refused before anything is written
    md = to_markdown(title, sections, folder.root)
    write_text(folder.report_md, md)
    write_text(folder.report_html, to_html(md, title, folder.root, html_lang, footer))
    pdf = None if paper is None else write_pdf(folder.report_html, folder.report_pdf, paper)
    return {
        "report_md": str(folder.report_md),
        "report_html": str(folder.report_html),
        "report_pdf": str(pdf) if pdf else None,
    }
