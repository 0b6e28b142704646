"""Reading a printed report back from the PDF's own text (pypdf): its pages, its fonts, and
whether every column of a Markdown table made it onto the paper."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path

from pypdf import PdfReader

# The page box of each paper in PostScript points (1/72 in), worked out by hand:
# A4 210 × 297 mm = 595.3 × 841.9 pt; US Letter 8.5 × 11 in = 612 × 792 pt.
PAGE_POINTS = {"a4": (595.3, 841.9), "letter": (612.0, 792.0)}
APPENDIX = {"en": "Appendix", "zh": "附录"}


def page_texts(pdf: Path) -> list[str]:
    """Each page's text, ligatures (ﬁ, ﬀ) spelled out."""
    return [unicodedata.normalize("NFKC", p.extract_text() or "") for p in PdfReader(pdf).pages]


def page_sizes(pdf: Path) -> set[tuple[float, float]]:
    return {(float(p.mediabox.width), float(p.mediabox.height)) for p in PdfReader(pdf).pages}


def body_lines(text: str, footer: str) -> list[str]:
    """A page's lines without its footer ("N / Mrun-name": page number and run name)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return [line for line in lines if not re.fullmatch(rf"\d+ / \d+ ?{re.escape(footer)}", line)]


def appendix_page(texts: list[str], lang: str, footer: str) -> int:
    """The 0-based page whose first line is the appendix heading (ValueError if none)."""
    for i, text in enumerate(texts):
        lines = body_lines(text, footer)
        if lines and lines[0] == APPENDIX[lang]:
            return i
    raise ValueError(f"no page starts with {APPENDIX[lang]!r}")


def unembedded_fonts(pdf: Path) -> list[str]:
    """Every font a page uses that the PDF does not carry: a Type 3 font is its own glyphs;
    any other needs a FontFile, FontFile2 or FontFile3 in its descriptor (of its descendant,
    for a composite Type 0 font)."""
    missing = []
    for page in PdfReader(pdf).pages:
        fonts = page["/Resources"].get_object().get("/Font", {})
        for font in fonts.values():
            font = font.get_object()
            if font["/Subtype"] == "/Type3":
                continue
            if font["/Subtype"] == "/Type0":
                font = font["/DescendantFonts"][0].get_object()
            descriptor = font.get("/FontDescriptor")
            files = ("/FontFile", "/FontFile2", "/FontFile3")
            if descriptor is None or not any(k in descriptor.get_object() for k in files):
                missing.append(str(font.get("/BaseFont")))
    return missing


def missing_header_words(text: str, tables: list[list[list[str]]]) -> Counter:
    """The header words of ``tables`` (rows of cells, the header first) that ``text`` holds
    fewer times than the headers do: a column cut off the page takes its header with it
    (a header that wraps keeps its words; a repeated header on the next page only adds)."""
    have = Counter(tokens(text))
    need = Counter(w for t in tables for cell in t[0] for w in tokens(cell.strip("*`")))
    return need - have


CJK = "\u3000-\u9fff\uff00-\uffef"


def tokens(text: str) -> list[str]:
    """Words, and each CJK character on its own (a Chinese header wraps between any two)."""
    return re.findall(f"[{CJK}]|[^\\s{CJK}]+", unicodedata.normalize("NFKC", text))
