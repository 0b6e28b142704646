"""Text from a run is untrusted: a run copied from another machine (or a student's submission)
may carry markup in its manifest's strings. Its report, a comparison that includes it, and the
tables show that text as text: no element of theirs in report.md or report.html, and (slow)
Chromium runs no script of theirs when the page opens."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_report import ENV, make_run

from lab1 import report
from lab1.compare import crossrun
from lab1.report import crossrun as cross_report
from lab1.report.blocks import Bullets, Details, Figure, Note, Section, Table, to_html, to_markdown

PAYLOAD = "<img src=x onerror=\"document.title='PWNED'\">"
EVIL_CPU = f"Evil CPU {PAYLOAD}"
EVIL_HOST = "<script>document.title='PWNED'</script>host"
EVIL_GPU = "GPU <svg onload=\"document.title='PWNED'\"></svg>"
# Tags a report of ours writes itself; anything else is theirs.
OURS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "ul", "ol",
        "li", "table", "thead", "tbody", "tr", "th", "td", "code", "pre", "strong", "em", "a",
        "blockquote", "details", "summary", "div", "img", "hr", "br", "wbr"}  # fmt: skip


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs.update(name for name, _ in attrs)


def live_markup(html_text: str) -> set[str]:
    """Elements and event-handler attributes that the page's text did not come from us. Our
    one script (it opens <details> before printing, reading nothing of the report) is ours
    only as exactly that text, once, in the head."""
    from lab1.report.blocks import PRINT_SCRIPT

    ours = f"<script>{PRINT_SCRIPT}</script></head>"
    if html_text.count(ours) == 1:
        html_text = html_text.replace(ours, "</head>")
    p = _Tags()
    p.feed(html_text)
    return (p.tags - OURS) | {a for a in p.attrs if a.startswith("on")}


def assert_no_live_markup(md: str, html_text: str) -> None:
    for tag in ("<img", "<script", "<svg"):
        assert tag not in md, f"{tag} is live in report.md"
    assert not live_markup(html_text)
    # The text is still there, as text: what a reader sees is what the manifest says.
    assert "Evil CPU &lt;img src=x onerror=" in html_text


@pytest.fixture(scope="module")
def evil_runs(tmp_path_factory):
    """Two synthetic runs, one of them with markup in its CPU, host and GPU names; the evil
    run's own report, and a comparison of the two (through lab1.compare.crossrun, as the flow
    does)."""
    root = tmp_path_factory.mktemp("untrusted")
    gpu = {"index": 0, "name": EVIL_GPU, "memory_bytes": 80 * 2**30, "capability": "9.0"}
    env = {**ENV, "cpu_model": EVIL_CPU, "hostname": EVIL_HOST, "gpus": [gpu]}
    env["gpu_models"] = [EVIL_GPU]
    evil = make_run(root / "runs" / "evil", env=env)
    good = make_run(root / "runs" / "good")
    own = report.write_report(evil)
    plan = crossrun.check([str(good), str(evil)], root / "runs", name="cmp")
    crossrun.write_tables(plan)
    cmp = cross_report.write_report(plan, "en")
    return {"own": own, "cmp": cmp}


@pytest.mark.parametrize("which", ["own", "cmp"])
def test_markup_in_a_runs_manifest_is_text_in_report_md_and_html(evil_runs, which):
    paths = evil_runs[which]
    md, html_text = Path(paths["report_md"]).read_text(), Path(paths["report_html"]).read_text()
    assert_no_live_markup(md, html_text)


def test_markdown_links_images_and_raw_html_in_text_never_become_live(tmp_path):
    """Markdown's own ways into a page: raw HTML, a javascript: link, an image of a local
    file outside the run; the appendix's <details> still renders."""
    (tmp_path / "figures").mkdir()
    secret = tmp_path.parent / f"{tmp_path.name}-secret.png"
    secret.write_bytes(b"\x89PNG not for the page")
    text = f"[click](javascript:alert(1)) ![x](../{secret.name}) <b onclick=x>bold</b> a & b"
    sections = [
        Section("One", [text, Table(["h"], [[PAYLOAD]]), Note(PAYLOAD), Bullets([PAYLOAD])]),
        Section("Appendix", [Details("More <b>", [Figure(tmp_path / "nope.png", PAYLOAD)])]),
    ]
    md = to_markdown(f"Title {PAYLOAD}", sections, tmp_path)
    page = to_html(md, "t", tmp_path)
    assert "<b" not in md.replace('<details markdown="1">', "").replace("<summary>", "")
    assert live_markup(page) == set()
    assert "javascript:" not in re.sub(r">[^<]*<", "><", page)  # in no attribute
    assert "PNG not for the page" not in page and "base64" not in page
    assert re.search(r"<details>\s*<summary>More &lt;b&gt;</summary>", page)
    assert page.count("<details>") == page.count("</details>") == 1
    assert "a &amp; b" in page  # shown as "a & b"


@pytest.mark.slow
def test_chromium_runs_no_script_of_the_runs_in_either_report(evil_runs, tmp_path):
    from browser import chromium_or_skip, chromium_page

    from lab1.report.blocks import PRINT_SCRIPT

    with chromium_page(chromium_or_skip()) as page:
        for which in ("own", "cmp"):
            html_path = tmp_path / f"{which}.html"
            shutil.copy(evil_runs[which]["report_html"], html_path)
            page.goto(html_path.as_uri())
            text = page.wait_for(["Evil CPU <img src=x"])  # shown, as text
            assert "Evil CPU" in text
            title = page.evaluate("document.title")
            assert "PWNED" not in title, f"{which}: a script of the run's ran"
            assert page.evaluate("document.querySelectorAll('svg, body script').length") == 0
            # The one script is ours: the print rule that opens <details>, in the head.
            scripts = page.evaluate("[...document.scripts].map(s => s.textContent)")
            assert scripts == [PRINT_SCRIPT]


def test_html_conversion_passes_no_raw_html_even_from_unescaped_markdown(tmp_path):
    """The second guard on its own: Markdown that did not go through the blocks."""
    md = f"# T\n\n## S\n\n{PAYLOAD}\n\n<script>document.title='PWNED'</script>\n\ninline {PAYLOAD}"
    page = to_html(md, "t", tmp_path)
    assert live_markup(page) == set()
    assert "&lt;script&gt;" in page


# A run's string that tries every way out of a table cell, heading or list item: line breaks
# of each kind, an escaped pipe (Python-Markdown reads "\\|" as a backslash and a live pipe),
# a tag inside a code span, and one after an unmatched fence (x```<img>`: not a code span).
FORGER = (
    "cpu\r| bob | refused | copied from mallory |\n## Verdict\u2028| a | b |\u2029- item "
    "\\| `<img src=x onerror=alert(1)>` x```<img src=x onerror=alert(2)>` "
    "<script>alert(3)</script>"
)


def test_blocks_keep_a_runs_text_in_its_cell_heading_and_item_under_any_viewer(tmp_path):
    """The guard in the blocks themselves, for text that reaches them raw (not through
    blocks.plain): rendered by markdown-it and by Python-Markdown, raw HTML allowed as those
    viewers allow it, there are the table's two rows, our two headings, one item, no tag."""
    import markdown
    from markdown_it import MarkdownIt

    sections = [
        Section(f"Machine {FORGER}", [Table(["name", "cpu"], [["a", FORGER]]), Note(FORGER)]),
        Section("Items", [Bullets([FORGER]), FORGER]),
    ]
    md = to_markdown(f"Run {FORGER}", sections, tmp_path)
    pages = {
        "markdown-it": MarkdownIt("commonmark", {"html": True}).enable("table").render(md),
        "Python-Markdown": markdown.markdown(md, extensions=["tables"]),
    }
    for viewer, page in pages.items():
        p = _Tags()
        p.feed(page)
        assert p.tags <= {"h1", "h2", "p", "table", "thead", "tbody", "tr", "th", "td", "ul",
                          "li", "code", "blockquote"}, (viewer, p.tags)  # fmt: skip
        assert not {a for a in p.attrs if a.startswith("on")}, viewer
        assert page.count("<tr>") == 2 and page.count("<li>") == 1, viewer
        cells = re.findall(r"<td>(.*?)</td>", page, re.S)
        assert len(cells) == 2 and "alert(3)" in cells[1], (viewer, cells)  # all of it, in one
        assert page.count("<h1>") == 1 and page.count("<h2>") == 2, viewer
