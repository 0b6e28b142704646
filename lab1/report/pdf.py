"""report.pdf: a report's own HTML printed by a headless Chromium, Chrome or Edge.

Why a browser: report.html is already what a reader sees, and its print rules (blocks.PRINT_CSS:
page size, margins, the footer with the run name and page numbers, the appendix on a new page
and open) are honoured the same by the browser a student prints from and by this printer, so
the PDF and a browser's own print are the same pages. A Chromium-family browser is on most
laptops (Chrome or Edge on Windows and macOS, Chromium on Linux) and embeds every font it uses
(CJK included) as a subset. WeasyPrint, the alternative, needs Pango and its own CSS support.

Where no browser is found, or it fails, write_pdf says so in one line and returns None: the
report itself is written, and the run goes on.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

from lab1.atomic import atomic_write
from lab1.config import PAPERS
from lab1.report.browser import BROWSER_ENV, find_chromium, run_headless
from lab1.report.textlayer import unify_ideographs

log = logging.getLogger("lab1.report")

PAGE_CSS = {"a4": "A4", "letter": "letter"}
NO_BROWSER = (
    "no report.pdf: no Chromium, Chrome or Edge found (install one, or point "
    f"${BROWSER_ENV} at it; report.html prints the same pages from a browser)"
)


def printable(html: str, paper: str | None) -> str:
    """The report's HTML with the paper size set (a browser's own print lets the reader pick
    it; report.html names none). ``None``: as it is, the browser's default paper."""
    if paper is None:
        return html
    if paper not in PAPERS:
        raise ValueError(f"paper {paper!r} is not one of {PAPERS}")
    return html.replace("</head>", f"<style>@page{{size:{PAGE_CSS[paper]}}}</style></head>", 1)


def print_pdf(
    html_path: str | Path,
    pdf_path: str | Path,
    paper: str | None = "a4",
    *,
    browser: str | None = None,
    timeout_s: float = 120,
) -> Path:
    """Print ``html_path`` to ``pdf_path`` (written atomically) on ``paper`` (None: the
    browser's default, as its own print does) with a headless browser. FileNotFoundError where
    there is none, RuntimeError where it printed nothing."""
    browser = browser or find_chromium()
    if browser is None:
        raise FileNotFoundError(NO_BROWSER)
    html = printable(Path(html_path).read_text(encoding="utf-8"), paper)
    with tempfile.TemporaryDirectory(prefix="lab1-print-") as tmp:
        page = Path(tmp) / "report.html"  # self-contained: its figures are inlined
        page.write_text(html, encoding="utf-8")
        profile = Path(tmp) / "profile"  # a fresh browser profile: nothing shared, nothing kept

        def run(out: Path) -> None:
            args = [
                "--no-pdf-header-footer",  # the page's own footer (PRINT_CSS), not the browser's
                # Untagged: the structure tree of a report's tables is most of a tagged PDF
                # (the wide fixture: 2.27 MB tagged, 0.63 MB not, Chromium 156);
                # report.html is the accessible version.
                "--disable-pdf-tagging",
                f"--print-to-pdf={out}",
                page.as_uri(),
            ]
            output = run_headless(browser, profile, args, timeout_s)
            if not out.read_bytes().startswith(b"%PDF"):
                tail = output.strip().splitlines()[-1:]
                raise RuntimeError(f"{Path(browser).name} printed no PDF: {' '.join(tail)}")
            unify_ideographs(out)  # copy and search give 大, not the radical ⼤ (textlayer)

        return atomic_write(pdf_path, run)


def write_pdf(html_path: str | Path, pdf_path: str | Path, paper: str = "a4") -> Path | None:
    """print_pdf, or None and one logged line saying why there is no PDF (no browser, or it
    failed): the PDF is an extra, never the reason a report fails."""
    started = time.monotonic()
    try:
        out = print_pdf(html_path, pdf_path, paper)
    except FileNotFoundError as exc:
        log.warning("%s", exc)
        return None
    except (RuntimeError, OSError) as exc:
        log.warning("no report.pdf: printing %s failed: %s", Path(html_path).name, exc)
        return None
    log.info("report.pdf (%s) printed in %.1f s", paper, time.monotonic() - started)
    return out
