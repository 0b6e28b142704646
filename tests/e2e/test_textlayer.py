"""report.pdf's text layer gives the unified ideographs whatever CJK font printed it: each
font is chosen for the browser through fontconfig (FONTCONFIG_FILE naming only its folder),
and the printed text is read back as it is, never NFKC-normalised."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import pytest
from browser import chromium_or_skip
from pypdf import PdfReader

from lab1.report.blocks import to_html
from lab1.report.pdf import print_pdf
from lab1.report.textlayer import repair_cmap, unified

# Each CJK font a Debian or Ubuntu machine may have (scripts/ensure_chromium.sh installs both):
# its folder, and the family fontconfig must then match for Chinese.
FONTS = {
    "noto": ("/usr/share/fonts/opentype/noto", "Noto Sans CJK"),
    "wqy": ("/usr/share/fonts/truetype/wqy", "WenQuanYi Micro Hei"),
}
LATIN = "/usr/share/fonts/truetype/dejavu"
# Characters Noto Sans CJK draws with a radical's glyph (大 ⼤, 长 ⻓, 见 ⻅, ...), as a report
# writes them.
SENTENCE = "大小批量的训练步：长时间见到的一个十入子方比水用目网而自行身里高。"


def test_radicals_become_their_unified_ideographs():
    # Kangxi ⼤ U+2F24 → 大 U+5927; supplement ⻓ U+2ED3 → 长 U+957F, ⻅ U+2EC5 → 见 U+89C1
    assert unified("\u2f24\u2ed3\u2ec5 ok 大") == "\u5927\u957f\u89c1 ok 大"


def test_pypdfs_notice_of_chromiums_trailer_size_stays_off_the_terminal(caplog):
    """Cloning Chromium's print, pypdf warns (as a default run logged it) that the object count
    exceeds the trailer's /Size, though it reads the file whole; any other warning of its
    still shows."""
    import lab1.report.textlayer  # noqa: F401  (its filter is installed on import)

    caplog.set_level(logging.WARNING, logger="pypdf")
    writer = logging.getLogger("pypdf._writer")
    writer.warning("Object count 1250 exceeds defined trailer size 1246")
    writer.warning("Multiple definitions in dictionary at byte 0x1f for key /Length")
    assert [r.getMessage() for r in caplog.records] == [
        "Multiple definitions in dictionary at byte 0x1f for key /Length"
    ]


def test_a_page_without_text_is_left_alone(tmp_path):
    from pypdf import PdfWriter

    from lab1.report.textlayer import unify_ideographs

    blank = PdfWriter()
    blank.add_blank_page(100, 100)  # no /Resources, no font
    pdf = tmp_path / "blank.pdf"
    blank.write(pdf)
    before = pdf.read_bytes()
    assert unify_ideographs(pdf) == 0 and pdf.read_bytes() == before


def test_a_cmaps_radicals_are_rewritten_in_chars_and_ranges():
    cmap = (
        b"2 beginbfchar\n<32> <2F24>\n<41> <5931>\nendbfchar\n"
        b"2 beginbfrange\n<10> <12> <2ED2>\n<20> <21> <0041>\nendbfrange\n"
    )
    # by hand: ⻒ U+2ED2 → 镸 U+9578, ⻓ U+2ED3 → 长 U+957F, ⻔ U+2ED4 → 门 U+95E8; A, B stay
    assert repair_cmap(cmap) == (
        b"2 beginbfchar\n<32> <5927>\n<41> <5931>\nendbfchar\n"
        b"2 beginbfrange\n<10> <12> [<9578> <957F> <95E8>]\n<20> <21> <0041>\nendbfrange\n"
    )


def _only(font: str, tmp: Path) -> dict[str, str]:
    """The environment in which fontconfig (and so the browser) sees DejaVu and ``font``."""
    folder, family = FONTS[font]
    if not Path(folder).is_dir():
        msg = f"{folder} is not installed: run scripts/ensure_chromium.sh (as root)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    conf = tmp / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>'
        f"<dir>{LATIN}</dir><dir>{folder}</dir><cachedir>{tmp / 'cache'}</cachedir>"
        "</fontconfig>\n"
    )
    env = {**os.environ, "FONTCONFIG_FILE": str(conf)}
    matched = subprocess.run(
        ["fc-match", "-f", "%{family}", "sans-serif:lang=zh-cn"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert family in matched, matched  # the font under test is the one the browser gets
    return env


@pytest.mark.slow
@pytest.mark.parametrize("font", sorted(FONTS))
def test_the_printed_chinese_text_is_the_text_written(font, tmp_path, monkeypatch, caplog):
    chromium = chromium_or_skip()
    caplog.set_level(logging.WARNING, logger="pypdf")
    for k, v in _only(font, tmp_path).items():
        monkeypatch.setenv(k, v)
    md = f"# 报告\n\n{SENTENCE}\n\n| 训练步 | 大小 |\n|---|---|\n| 长 | 见 |\n"
    html = tmp_path / "report.html"
    html.write_text(to_html(md, "报告", tmp_path, "zh-CN", "run"), encoding="utf-8")
    pdf = print_pdf(html, tmp_path / "report.pdf", "a4", browser=chromium)
    text = "".join(page.extract_text() for page in PdfReader(pdf).pages)  # as printed
    radicals = sorted({c for c in text if unified(c) != c})
    assert radicals == [], [f"U+{ord(c):04X}" for c in radicals]
    assert SENTENCE in text.replace("\n", ""), text
    # Repairing the print reads Chromium's PDF whole: nothing for a student's terminal.
    assert [r.getMessage() for r in caplog.records if r.name.startswith("pypdf")] == []
