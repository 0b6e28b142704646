"""The one writer of every report (lab1.report.document): sections → report.md, report.html and,
where asked, report.pdf, named by the folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab1.report import document
from lab1.report.blocks import Section
from lab1.rundir import ClassPaths, RunPaths


def test_a_runs_chinese_report_is_written_beside_its_english_one(tmp_path):
    run = RunPaths(tmp_path)
    en = document.write_document(run, "Lab 1", [Section("Summary", ["ran"])], "en", "r1")
    zh = document.write_document(
        run.in_language("zh"), "实验一", [Section("摘要", ["已运行"])], "zh", "r1"
    )
    assert Path(en["report_md"]).name == "report.md"
    assert Path(zh["report_md"]).name == "report.zh.md"
    assert Path(en["report_md"]).read_text().startswith("# Lab 1")
    assert "## 摘要" in Path(zh["report_md"]).read_text()
    assert '<html lang="zh-CN">' in Path(zh["report_html"]).read_text()
    assert '<html lang="en">' in Path(en["report_html"]).read_text()
    assert en["report_pdf"] is None and zh["report_pdf"] is None  # no paper asked
    assert not run.report_pdf.exists()


def test_a_class_views_report_is_named_report_whatever_its_language(tmp_path):
    out = document.write_document(ClassPaths(tmp_path), "班级 w1", [], "zh", "class w1")
    assert (Path(out["report_md"]).name, Path(out["report_html"]).name) == (
        "report.md",
        "report.html",
    )


def test_paper_asks_for_a_pdf_and_a_failed_print_leaves_none(tmp_path, monkeypatch):
    asked = []

    def fail(html, pdf, paper):
        asked.append((Path(html).name, Path(pdf).name, paper))
        return None  # write_pdf's answer where no browser is here

    monkeypatch.setattr(document, "write_pdf", fail)
    out = document.write_document(RunPaths(tmp_path), "t", [], "en", "r", paper="letter")
    assert asked == [("report.html", "report.pdf", "letter")]
    assert out["report_pdf"] is None


def test_a_language_without_an_html_tag_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(KeyError):
        document.write_document(RunPaths(tmp_path), "t", [], "fr", "r")
    assert list(tmp_path.iterdir()) == []
