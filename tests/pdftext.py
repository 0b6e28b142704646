"""Reading a printed report back from the PDF's own text (pypdf): its pages, its fonts, and
whether every column of a Markdown table made it onto the paper."""

from __future__ import annotations

import html
import re
from collections import Counter
from functools import cache
from pathlib import Path

from pypdf import PdfReader

# The page box of each paper in PostScript points (1/72 in), worked out by hand:
# A4 210 × 297 mm = 595.3 × 841.9 pt; US Letter 8.5 × 11 in = 612 × 792 pt.
PAGE_POINTS = {"a4": (595.3, 841.9), "letter": (612.0, 792.0)}
APPENDIX = {"en": "Appendix", "zh": "附录"}


# The Latin ligatures a browser's fonts print (ﬁ, ﬀ …), spelled out. Nothing else is
# normalised: NFKC would also fold a CJK radical (⼤) into the ideograph (大) a reader
# searches for, and hide a PDF whose text layer is wrong (lab1.report.textlayer).
LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st"})


def page_texts(pdf: Path) -> list[str]:
    """Each page's text as printed, ligatures (ﬁ, ﬀ) spelled out (read once per file and
    version: a long Chinese PDF takes pypdf seconds)."""
    stat = Path(pdf).stat()
    return list(_page_texts(str(pdf), stat.st_mtime_ns, stat.st_size))


@cache
def _page_texts(pdf: str, _mtime_ns: int, _size: int) -> tuple[str, ...]:
    pages = PdfReader(pdf).pages
    return tuple((p.extract_text() or "").translate(LIGATURES) for p in pages)


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


def missing_words(printed: str, md: str) -> Counter:
    """The words of ``md`` (Markdown: prose, headings, every table cell) that ``printed`` holds
    fewer times than ``md`` does. A column cut off the page takes its header and every cell
    with it; a table header repeated on the next page, the footer, only add."""
    return Counter(tokens(markdown_text(md))) - Counter(tokens(printed))


def markdown_text(md: str) -> str:
    """What a reader sees of ``md``: no table rules, figure paths, link targets or marks."""
    lines = []
    for line in md.splitlines():
        if re.fullmatch(r"\|[-:| ]+\|", line.strip()):
            continue
        line = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", line)  # a figure: its picture
        line = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line)  # a link: its text
        line = re.sub(r"^(#+|>|-) ", "", line)
        line = line.replace("\\|", "\0").replace("|", " ").replace("\0", "|")
        line = re.sub(r"(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*])", "", line.replace("**", ""))
        # above: *emphasis* marks; below: code marks, and the entities lab1.report.blocks'
        # safe_text writes for a run's "<" and "&" (the page shows the characters)
        lines.append(html.unescape(line.replace("`", "")))
    return "\n".join(lines)


def tokens(text: str) -> list[str]:
    """Runs of letters and digits, and every other character on its own: a CJK text or an
    operator name (``aten::convolution_`` / ``backward``) wraps between any two of them, and
    a PDF's text may put a space where the page had none."""
    return re.findall(r"[A-Za-z0-9]+|[^\sA-Za-z0-9]", text.translate(LIGATURES))


def _times(m: list[float], n: list[float]) -> list[float]:
    """The affine matrix m then n (PDF order: [a b c d e f])."""
    a, b, c, d, e, f = m
    A, B, C, D, E, F = n
    return [
        a * A + b * C,
        a * B + b * D,
        c * A + d * C,
        c * B + d * D,
        e * A + f * C + E,
        e * B + f * D + F,
    ]


def image_widths(pdf: Path) -> list[tuple[int, int, float]]:
    """Every image drawn on the pages: (0-based page, its width in pixels, the width it is
    drawn at in points), from the content streams' own matrices (cm, q/Q, forms' Matrix)."""
    from pypdf.generic import ContentStream

    found = []

    def walk(obj, resources, ctm: list[float], page: int, reader) -> None:
        stack, ctm = [], list(ctm)
        xobjects = (resources or {}).get("/XObject", {})
        for operands, op in ContentStream(obj, reader).operations:
            if op == b"q":
                stack.append(ctm)
            elif op == b"Q":
                ctm = stack.pop()
            elif op == b"cm":
                ctm = _times([float(v) for v in operands], ctm)
            elif op == b"Do":
                x = xobjects[operands[0]].get_object()
                if x["/Subtype"] == "/Image":
                    found.append((page, int(x["/Width"]), (ctm[0] ** 2 + ctm[1] ** 2) ** 0.5))
                elif x["/Subtype"] == "/Form":
                    matrix = [float(v) for v in x.get("/Matrix", [1, 0, 0, 1, 0, 0])]
                    walk(x, x.get("/Resources", resources), _times(matrix, ctm), page, reader)

    reader = PdfReader(pdf)
    for i, p in enumerate(reader.pages):
        walk(p.get_contents(), p["/Resources"], [1, 0, 0, 1, 0, 0], i, reader)
    return found
