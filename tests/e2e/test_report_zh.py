"""The Chinese report on the course's template: structure, same numbers, real CJK glyphs."""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_report import NUMBER, make_run, md_tables, sections

from lab1 import catalog, figures, report
from lab1.report import browser, findings, zh_report
from lab1.report.sentences import SENTENCES

TEMPLATE = (  # the template's headings and row names, in its order
    "## 实验环境",
    "### 硬件环境",
    "| CPU（vCPU数目） |",
    "| GPU(型号，数目) |",
    "### 软件环境",
    "| OS版本 |",
    "| 深度学习框架 |",
    "| python包名称及版本 |",
    "| CUDA版本 |",
    "## 实验结果",
    "### 模型可视化结果截图",
    "#### 神经网络数据流图",
    "#### 损失和正确率趋势图",
    "### 网络分析，使用率前十名的操作",
    "### 网络分析，不同批大小结果比较",
    "### 不同硬件比较（CPU 与 GPU，选做）",
    "### 网络分析，时间都花在哪里",
    "## 附录",
    "<summary>运行与流水线耗时</summary>",
    "<summary>全部结论</summary>",
)


def _cjk_font_or_skip() -> str:
    font = figures.cjk_font()
    if font:
        return font
    msg = "no CJK font installed: run scripts/ensure_chromium.sh (as root)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg)  # CI installs one
    pytest.skip(msg)


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """One synthetic run reported in English, then in Chinese: (en markdown, zh paths). Its
    CPU batch-16 measurements were contended, so every kind of profiling finding is said."""
    run = make_run(tmp_path_factory.mktemp("zh") / "run-zh", contended=(16,))
    en = Path(report.write_report(run, "en")["report_md"]).read_text()
    return en, report.write_report(run, "zh")


def test_the_chinese_report_follows_the_template(both):
    _, paths = both
    md = Path(paths["report_md"]).read_text()
    at = [md.index(h) for h in TEMPLATE]
    assert at == sorted(at), "headings out of the template's order"
    assert "| GPU(型号，数目) | NVIDIA H100（80.0 GiB）（1 块） |" in md
    assert "**数据子集，不是完整数据集**" in md
    assert "| 状态 | 已完成 (`completed`) |" in md  # the run's status in words, its code beside
    assert '<html lang="zh-CN">' in Path(paths["report_html"]).read_text()
    assert set(paths["figures"]) >= {"network_graph", "training_curves", "gpu_speedup"}


ZH_COMPARISON_HEADERS = [  # the English table's 15 columns, in the course's words
    "设备",
    "线程数",
    "阶段",
    "批大小",
    "图像/秒",
    "毫秒/步",
    "微秒/图像",
    "最耗时算子",
    "其占比",
    "峰值内存",
    "性能分析开销",
    "GFLOP/s",
    "峰值占比",
    "固定开销 (毫秒/步)",
    "微秒/图像 (拟合)",
]


def _bullet_numbers(text: str) -> list[Counter]:
    """Each bullet's numbers, as a multiset (a translation may reorder them in a sentence)."""
    return [
        Counter(NUMBER.findall(line.replace("*", "")))
        for line in text.splitlines()
        if line.startswith("- ")
    ]


def test_the_same_findings_and_numbers_as_the_english_report(both):
    en, paths = both
    zh = Path(paths["report_md"]).read_text()
    en_s = sections(en)
    zh_s = sections(zh)
    zh_bullets = _bullet_numbers(zh_s["Appendix/全部结论"])
    en_bullets = _bullet_numbers(en_s["Appendix/Every finding"])
    # The summary too: the same findings, the same numbers, in the same order.
    assert _bullet_numbers(zh_s["摘要"]) == _bullet_numbers(en_s["Summary"])
    plain = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")  # "16, 64" is two numbers, not "16,"
    assert Counter(plain.findall(zh_s["摘要"])) == Counter(plain.findall(en_s["Summary"]))
    # Finding by finding, the very same numbers both ways: one set of formatters.
    assert len(zh_bullets) == len(en_bullets) > 10
    for i, (z, e) in enumerate(zip(zh_bullets, en_bullets, strict=True)):
        assert z == e, (i, z - e, e - z)
    # The comparison table: every header translated, the very same cells.
    en_cmp = md_tables(en_s["Batch-size comparison"])[0]
    zh_cmp = md_tables(zh.split("### 网络分析，不同批大小结果比较", 1)[1])[0]
    assert len(en_cmp[0]) == len(ZH_COMPARISON_HEADERS)
    assert zh_cmp[0] == ZH_COMPARISON_HEADERS
    # The very same cells, but each device and phase named in Chinese.
    zh_label = {"cpu": "CPU", "cuda": "CUDA", "train_step": "训练步", "inference": "推理"}
    assert zh_cmp[1:] == [[zh_label[r[0]], r[1], zh_label[r[2]], *r[3:]] for r in en_cmp[1:]]


def test_every_kind_of_finding_is_said_in_both_languages():
    assert set(SENTENCES) == set(findings.KINDS)
    with pytest.raises(ValueError, match="unknown finding kind 'new_kind'"):
        findings.Finding("new_kind")


def test_a_contended_measurement_is_flagged_in_both_languages(both):
    en, paths = both
    zh_md = Path(paths["report_md"]).read_text()
    assert (
        "Contended: other processes kept the CPU busy (up to 0.40 cores on average) while 2 "
        "measurements ran (cpu · train_step · batch 16; cpu · inference · batch 16)" in en
    )
    assert (
        "存在资源争用：2 项测量进行时（CPU · 训练步 · 批大小 16；CPU · 推理 · 批大小 16），"
        "其他进程占用了 CPU（平均最多 0.40 个核）" in zh_md
    )


def test_the_cjk_font_draws_glyphs_not_boxes():
    font = _cjk_font_or_skip()
    from matplotlib import font_manager

    prop = font_manager.FontProperties(family=font)
    path = font_manager.findfont(prop, fallback_to_default=False)
    a, b = figures.glyph_bitmap(path, "实"), figures.glyph_bitmap(path, "验")
    assert a.any() and b.any() and (a.shape != b.shape or (a != b).any())
    # The box matplotlib draws without such a font is one bitmap for every character.
    box = next(e.fname for e in font_manager.fontManager.ttflist if e.name.startswith("Last R"))
    assert (figures.glyph_bitmap(box, "实") == figures.glyph_bitmap(box, "验")).all()


def test_chinese_figure_labels_are_drawn_with_the_cjk_font(both, recwarn):
    _cjk_font_or_skip()
    _, paths = both
    assert not [w for w in recwarn if "missing from" in str(w.message)]  # "Glyph … missing"
    im = np.asarray(Image.open(paths["figures"]["training_curves"]).convert("L"))
    assert im.shape[0] > 300 and (im < 128).mean() > 0.005


@pytest.mark.slow
def test_chromium_renders_cjk_text_not_boxes(both, tmp_path):
    chromium = browser.find_chromium()
    if chromium is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is not installed: run scripts/ensure_chromium.sh (as root)")
        pytest.skip("chromium is not installed")
    _cjk_font_or_skip()
    shots = []
    for text in ("实验环境", "网络分析", "\ue000\ue001\ue002\ue003"):  # the last: no font has it
        page = tmp_path / f"{len(shots)}.html"
        page.write_text(
            f'<html lang="zh-CN"><body style="margin:0;background:#fff">'
            f'<p style="font-size:96px;margin:0">{text}</p></body></html>',
            encoding="utf-8",
        )
        png = browser.screenshot(
            page.as_uri(),
            tmp_path / f"{len(shots)}.png",
            size=(500, 160),
            budget_ms=1000,
            chromium=chromium,
        )
        shots.append(np.asarray(Image.open(png).convert("L")))
    real_a, real_b, boxes = shots
    assert (real_a < 128).sum() > 2000, "no text drawn"
    assert (real_a != real_b).mean() > 0.01, "two different words look alike: boxes?"
    assert (real_a != boxes).mean() > 0.01, "CJK text looks like the missing-glyph boxes"
    # And the report itself: its top (headings and the environment table) is not blank.
    top = browser.screenshot(
        Path(both[1]["report_html"]).as_uri(), tmp_path / "report.png", chromium=chromium
    )
    assert re.search(r"实验环境", Path(both[1]["report_html"]).read_text())
    assert (np.asarray(Image.open(top).convert("L")) < 128).mean() > 0.005


def test_without_a_cjk_font_figures_stay_english_and_the_report_says_so_once(tmp_path, monkeypatch):
    monkeypatch.setattr(figures, "cjk_font", lambda: None)
    run = make_run(tmp_path / "no-font", profiles=False)
    md = Path(report.write_report(run, "zh")["report_md"]).read_text()
    assert md.count(zh_report.NO_CJK_FONT) == 1
    with figures.language(catalog.FIGURE_LABELS_ZH) as cjk:
        assert cjk is False and figures.label("epoch") == "epoch"
