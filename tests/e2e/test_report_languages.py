"""A run's reports in every language side by side: report.md/.html/.pdf and figures/ in
English, report.zh.md/.html/.pdf and figures.zh/ in Chinese; a finished run gets another
language afterwards from its tables (flows/report_flow.py), and the pack and the class view
take a run in either language."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from browser import chromium_or_skip
from classruns import handed_in_run
from pypdf import PdfReader

from lab1.classroom import checks
from lab1.classroom.pack import pack_run
from lab1.classroom.submission import open_submission
from lab1.report import write_report
from lab1.rundir import RunPaths

ROOT = Path(__file__).resolve().parents[2]
# Headings each language's report has, from the course's template and the English report.
ZH_HEADINGS = ("实验环境", "实验结果", "附录")
EN_HEADINGS = ("Environment", "Appendix")


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _report_flow(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "flows/report_flow.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_each_language_has_its_own_report_files_and_figures(tmp_path):
    run = RunPaths(tmp_path / "run")
    assert (run.report_md.name, run.report_html.name, run.report_pdf.name, run.figures.name) == (
        "report.md",
        "report.html",
        "report.pdf",
        "figures",
    )
    zh = run.in_language("zh")
    assert (zh.report_md.name, zh.report_html.name, zh.report_pdf.name, zh.figures.name) == (
        "report.zh.md",
        "report.zh.html",
        "report.zh.pdf",
        "figures.zh",
    )
    assert zh.manifest == run.manifest  # only the report's files carry the language
    with pytest.raises(ValueError):
        run.in_language("fr")


@pytest.mark.slow
def test_a_finished_run_gets_its_chinese_report_afterwards_beside_the_english(tmp_path):
    chromium_or_skip()
    run = handed_in_run(tmp_path / "runs" / "alice-run")  # its English report, as the flow
    paths = RunPaths(run)
    proc = _report_flow(str(run), "--lang", "en")  # the English PDF, as the flow prints it
    assert proc.returncode == 0, proc.stderr[-2000:]
    english = _digests(run)

    proc = _report_flow("alice-run", "--runs-dir", str(tmp_path / "runs"), "--lang", "zh")
    assert proc.returncode == 0, proc.stderr[-2000:]
    zh = paths.in_language("zh")
    assert f"report: {zh.report_html}" in proc.stdout.splitlines()
    # Nothing the English report had was touched; the Chinese one is all new files.
    after = _digests(run)
    assert {k: after[k] for k in english} == english
    new = set(after) - set(english)
    assert {"report.zh.md", "report.zh.html", "report.zh.pdf"} <= new
    assert any(n.startswith("figures.zh/") and n.endswith(".png") for n in new)
    assert all(n.startswith("figures.zh/") or n.startswith("report.zh.") for n in new), new

    en_text = "".join(p.extract_text() for p in PdfReader(paths.report_pdf).pages)
    zh_text = "".join(p.extract_text() for p in PdfReader(zh.report_pdf).pages)
    assert all(h in zh_text for h in ZH_HEADINGS), zh_text[:500]
    assert all(h in en_text for h in EN_HEADINGS), en_text[:500]
    assert "实验环境" not in en_text and "Appendix" not in zh_text
    assert "实验环境" in zh.report_md.read_text() and "实验环境" not in paths.report_md.read_text()


def test_report_cli_refuses_an_unknown_language_and_a_missing_run(tmp_path):
    bad = _report_flow(str(tmp_path), "--lang", "fr")
    assert bad.returncode == 2 and "argument --lang: 'fr'" in bad.stderr.strip().splitlines()[-1]
    assert bad.stdout == ""  # refused before it says it starts
    missing = _report_flow(str(tmp_path / "nope"), "--lang", "zh")
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1].startswith("error: no run directory")
    assert list(tmp_path.iterdir()) == []


def test_a_run_reported_in_both_languages_packs_both_and_one_in_chinese_is_accepted(tmp_path):
    both = handed_in_run(tmp_path / "both-run")
    zh_only = handed_in_run(tmp_path / "zh-run", lang="zh")
    write_report(both, "zh")
    with zipfile.ZipFile(pack_run(both, tmp_path / "both.lab1.zip")["pack"]) as z:
        names = set(z.namelist())
    assert {"report.md", "report.html", "report.zh.md", "report.zh.html"} <= names
    assert any(n.startswith("figures/") for n in names)
    assert any(n.startswith("figures.zh/") for n in names)

    assert not (zh_only / "report.md").exists() and (zh_only / "report.zh.md").is_file()
    sub = open_submission("carol", zh_only, tmp_path)
    assert sub.report_name == "report.zh.md"
    status, reasons = checks.verdict(checks.run_checks(sub))
    assert status != "refused", reasons
    by = {c.name: c for c in checks.consistency(sub)}
    assert by["consistency.report_numbers"].passed, by["consistency.report_numbers"].detail


@pytest.mark.slow
def test_a_chinese_report_pdf_shows_the_tables_numbers_to_the_class_view(tmp_path):
    """report.zh.pdf as Chromium prints it (CJK fonts, text layer repaired): the class view
    finds each images/s and the accuracy in it, as in report.zh.md."""
    from browser import chromium_or_skip

    from lab1.report.pdf import write_pdf
    from lab1.rundir import RunPaths

    chromium_or_skip()
    run = handed_in_run(tmp_path / "zh-run", lang="zh")
    paths = RunPaths(run).in_language("zh")
    assert write_pdf(paths.report_html, paths.report_pdf, "a4") == paths.report_pdf
    sub = open_submission("carol", run, tmp_path)
    assert list(sub.report_pdfs) == ["report.zh.pdf"]
    got = [
        (c.name, c.passed, c.detail) for c in checks.consistency(sub) if "report.zh.pdf" in c.detail
    ]
    n, acc = len(sub.tables["comparison"]), f"{100 * sub.manifest.results.test_accuracy:.2f}%"
    assert got == [
        ("consistency.report_numbers", True, f"report.zh.pdf shows the tables' {n} throughputs"),
        (
            "consistency.report_accuracy",
            True,
            f"report.zh.pdf shows the manifest's test accuracy {acc}",
        ),
    ]


def test_report_lang_takes_one_language_or_several_joined_by_commas():
    from lab1.config import Lab1Config
    from lab1.errors import ConfigError

    assert Lab1Config().report_langs == ("en",)  # the default stays English alone
    assert Lab1Config(report_lang="en,zh").report_langs == ("en", "zh")
    assert Lab1Config(report_lang="zh").report_langs == ("zh",)
    for bad in ("fr", "en,en", "en,", "en zh"):
        with pytest.raises(ConfigError, match="--report-lang"):
            Lab1Config(report_lang=bad)


# Every pure-CJK header cell of the page, with how many lines its text takes.
HEADER_LINES = """
document.querySelectorAll('details').forEach(d => { d.open = true; });
[...document.querySelectorAll('th')]
  .filter(th => /^[\\u4e00-\\u9fff]{2,}$/.test(th.textContent.trim()))
  .map(th => {
    const r = document.createRange();
    r.selectNodeContents(th);
    const tops = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
    return [th.textContent.trim(), tops.size];
  })
"""
# A4's width inside the report's print margins (210 − 2 × 12 mm) at CSS's 96 px per inch.
A4_CONTENT_PX = round((210 - 2 * 12) / 25.4 * 96)


@pytest.mark.slow
def test_chinese_table_headers_stay_on_one_line_on_paper(tmp_path):
    """The widest report (a CPU and a GPU, fp32 and bf16) laid out as printed on A4: no
    Chinese header wraps inside its word (训/练/步 one character a line)."""
    from browser import chromium_page
    from test_report import make_run

    chromium = chromium_or_skip()
    run = make_run(tmp_path / "wide", devices=("cpu", "cuda"), precisions=("fp32", "bf16"))
    html = Path(write_report(run, "zh")["report_html"])
    with chromium_page(chromium, size=(A4_CONTENT_PX, 1100)) as page:
        page.call("Emulation.setEmulatedMedia", media="print")
        page.goto(html.resolve().as_uri())
        page.wait_for(["附录"])
        headers = dict(page.evaluate(HEADER_LINES))
    assert len(headers) >= 5, headers
    assert {h: n for h, n in headers.items() if n > 1} == {}
