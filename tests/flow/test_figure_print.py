"""Every figure of a run's report prints its smallest text at 7 pt or more, on A4 and on
letter, in English and Chinese.

A figure drawn W inches wide whose text is F pt, printed P mm wide, shows F × P / (W · 25.4)
pt. W is the saved PNG's own (pixels / the dpi in the PNG), F each text artist's font size as
matplotlib drew it, P what the print rules (blocks.PRINT_CSS) give the picture: its width as
the report's HTML asks for it, at most the paper's width less the page's side margins, and at
most the printed height cap (a picture is scaled down whole, never squashed).
"""

from __future__ import annotations

import re
import warnings
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.text
import pytest
from PIL import Image
from rundirs import profiled_run
from test_report import make_run
from test_report_zh import _cjk_font_or_skip

from lab1 import figures
from lab1.config import ProfileSchedule
from lab1.report import write_report
from lab1.report.blocks import PRINT_CSS

MIN_PT = 7.0
PAPER_MM = {"a4": 210.0, "letter": 215.9}  # ISO 216 and ANSI letter widths
MM_PER_IN = 25.4
SMALL = ProfileSchedule(wait=0, warmup=1, active=1, throughput_steps=2)


def _mm(css: str, pattern: str) -> list[float]:
    (found,) = re.findall(pattern, css)
    return [float(v) for v in re.findall(r"([\d.]+)mm", found)]


def printed_limits(paper: str) -> tuple[float, float]:
    """(widest, tallest) a picture prints, in mm, from the print rules' own numbers."""
    _top, right, _bottom, left = _mm(PRINT_CSS, r"@page\{margin:([^}]*)\}")
    (tallest,) = _mm(PRINT_CSS.split("@media print", 1)[1], r"\nimg\{[^}]*max-height:([\d.]+mm)")
    return PAPER_MM[paper] - left - right, tallest


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.styles: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.styles.append(dict(attrs).get("style") or "")


def _texts(fig) -> list[matplotlib.text.Text]:
    """The text a reader sees: visible, not empty, not on a hidden panel."""
    return [
        t
        for t in fig.findobj(matplotlib.text.Text)
        if t.get_visible() and t.get_text().strip() and (t.axes is None or t.axes.get_visible())
    ]


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """The widest report (a CPU and a GPU, fp32 and bf16: make_run) and a real tiny run with
    two thread counts, its limits and step ladder (the roofline, step model and time split),
    each reported in English and Chinese, with the smallest font of every figure drawn (the
    compare step's included): {(lang, folder/file): (smallest pt, PNG path)}, and each
    report's HTML."""
    _cjk_font_or_skip()
    root = tmp_path_factory.mktemp("figprint")
    smallest: dict[tuple[str, str], tuple[float, Path]] = {}
    save = figures._save
    lang = "en"  # the compare step draws compare/*.png in English

    def recording_save(fig, path):
        sizes = [t.get_fontsize() for t in _texts(fig)]
        out = save(fig, path)
        smallest[(lang, f"{Path(path).parent.name}/{Path(path).name}")] = (min(sizes), out)
        return out

    html = []
    mp = pytest.MonkeyPatch()
    mp.setattr(figures, "_save", recording_save)
    try:
        wide = make_run(root / "wide", precisions=("fp32", "bf16"))
        real = profiled_run(
            root, [("cpu", 16, 1), ("cpu", 16, 2)], SMALL, limits=True, ladder=(1, 4, 16)
        ).root
        for run in (wide, real):
            for lang in ("en", "zh"):
                html.append(Path(write_report(run, lang)["report_html"]).read_text())
    finally:
        mp.undo()
    return smallest, html


def test_the_report_draws_every_kind_of_figure(reports):
    smallest, _ = reports
    # The Chinese report redraws the compare step's two as figures.zh/*_vs_batch.png.
    names = {Path(name).stem.removesuffix("_vs_batch") for _, name in smallest}
    assert names == {
        "network_graph",
        "training_curves",
        "throughput",
        "op_share",
        "gpu_speedup",
        "roofline",
        "step_model",
        "time_split",
    }


@pytest.mark.parametrize("paper", ["a4", "letter"])
def test_every_figure_prints_its_smallest_text_at_7_pt_or_more(reports, paper):
    smallest, _ = reports
    widest, tallest = printed_limits(paper)
    too_small = {}
    for (lang, name), (pt, png) in smallest.items():
        image = Image.open(png)
        dpi_x, dpi_y = image.info["dpi"]
        drawn_w = image.width / dpi_x * MM_PER_IN  # mm, as the report asks it printed
        drawn_h = image.height / dpi_y * MM_PER_IN
        printed_w = min(drawn_w, widest, tallest * drawn_w / drawn_h)
        printed_pt = pt * printed_w / drawn_w
        if printed_pt < MIN_PT:
            too_small[(lang, name)] = f"{printed_pt:.1f} pt, {printed_w:.0f} mm wide"
    assert not too_small, too_small


def test_each_picture_is_asked_for_at_its_drawn_width(reports):
    """The HTML asks the print for each PNG's own width (pixels / its dpi): the premise of
    the sizes above."""
    smallest, html = reports
    widths = set()
    for _, png in smallest.values():
        image = Image.open(png)
        widths.add(round(image.width / image.info["dpi"][0] * MM_PER_IN, 1))
    asked = set()
    for page in html:
        parser = _Images()
        parser.feed(page)
        for style in parser.styles:
            (mm,) = re.findall(r"--print-width:\s*([\d.]+)mm", style)
            asked.add(float(mm))
    assert asked == widths


def test_a_header_may_wrap_after_a_slash_between_words_and_nowhere_else(tmp_path):
    """The widest tables fit the page only when "µs/image" and "data movement/indexing" may
    wrap after their slash; "1/2" (not words) and a header without one stay as they are."""
    from lab1.report.blocks import to_html

    md = (
        "# t\n\n| µs/image | data movement/indexing | 1/2 | 批大小/秒 |\n"
        "|---|---|---|---|\n| 1 | 2 | 3 | 4 |\n"
    )
    page = to_html(md, "t", tmp_path)
    headers = re.findall(r"<th[^>]*>(.*?)</th>", page)
    assert headers == [
        "µs/<wbr />image",
        "data movement/<wbr />indexing",
        "1/2",
        "批大小/秒",
    ], headers


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("paper", ["a4", "letter"])
def test_the_class_views_two_figures_print_their_smallest_text_at_7_pt_or_more(
    tmp_path, lang, paper
):
    """The class report's plots (lab1.figures, drawn with its catalog's words) go through
    the same writer and print rules as a run's: the same bound, worked out the same way."""
    import pandas as pd

    from lab1.classroom.classreport import draw
    from lab1.rundir import ClassPaths

    if lang == "zh":
        _cjk_font_or_skip()
    cols = ["machine_kind", "test_accuracy"] + [
        f"train_step_images_per_s_bs{bs}" for bs in (1, 16, 64)
    ]
    ok = pd.DataFrame(
        [
            ["laptop CPU", 0.98, 100.0, 900.0, 1500.0],
            ["server CPU", 0.97, 120.0, 1000.0, 1600.0],
            ["NVIDIA H100", 0.99, 40.0, 20000.0, 90000.0],
        ],
        columns=cols,
    )
    smallest = {}
    save = figures._save

    def recording_save(fig, path):
        smallest[Path(path).name] = min(t.get_fontsize() for t in _texts(fig))
        return save(fig, path)

    widest, tallest = printed_limits(paper)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(figures, "_save", recording_save)
        with warnings.catch_warnings():  # a glyph the font lacks would print as a box
            warnings.filterwarnings("error", message="Glyph .* missing from font")
            pngs = draw(ok, ClassPaths(tmp_path), lang)  # as the class report draws them
    assert set(smallest) == {"throughput.png", "accuracy.png"}
    for png in pngs:
        image = Image.open(png)
        dpi_x, dpi_y = image.info["dpi"]
        drawn_w = image.width / dpi_x * MM_PER_IN
        drawn_h = image.height / dpi_y * MM_PER_IN
        printed_w = min(drawn_w, widest, tallest * drawn_w / drawn_h)
        assert smallest[png.name] * printed_w / drawn_w >= MIN_PT, (png.name, printed_w)
