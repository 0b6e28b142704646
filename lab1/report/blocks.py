"""The report's building blocks, rendered once to Markdown; HTML is that Markdown, converted by
Python-Markdown, with every figure inlined as a data URI (one file to mail or archive).

Text from a run is untrusted (a run copied from another machine, a student's submission): a
CPU model, host name or run name may carry markup. Two guards, both here and nowhere else:
every block's text passes through ``safe_text`` on its way into Markdown (``<`` and ``&``
become entities outside code spans, so report.md holds no element), and the HTML conversion
passes no raw HTML through at all (the ``<details>`` this module writes is rebuilt from a
per-page marker, links may only point inside the page, images only at the run's own PNGs).
"""

from __future__ import annotations

import base64
import html
import os
import re
import secrets
import xml.etree.ElementTree as etree
from dataclasses import dataclass, field
from pathlib import Path

import markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor
from PIL import Image


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    numeric: list[bool] | None = None  # right-align these columns


@dataclass
class Figure:
    path: Path
    caption: str


@dataclass
class Note:
    """A call-out; ``warning`` ones are the caveats a reader must not miss."""

    text: str
    kind: str = "info"


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Details:
    """A collapsed part (the appendix): ``<details><summary>`` in HTML, closed until clicked;
    in report.md the same tags around plain Markdown, which reads as a titled block."""

    summary: str
    blocks: list = field(default_factory=list)  # list[Block]


Block = str | Table | Figure | Note | Bullets | Details


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


# A code span as CommonMark reads it: a backtick run that no backtick (nor a backslash, which
# would escape it) touches, up to the next run of exactly its length. Where our reading and a
# viewer's could differ, the viewer must see less code than we do, never more.
_CODE_SPAN = re.compile(r"(?<![`\\])(`+)(?!`)(.*?)(?<!`)\1(?!`)")
# Line breaks of every kind (and the other control characters): a run's string is one line
# wherever it lands, or a "\r" or U+2028 in it starts a row, a heading or a list of its own.
_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
# Markdown's punctuation, as character references: in a run's string it is shown, never
# read (anywhere in the string; "#", "+", "-", "=" only lead a heading or list at its start).
_PLAIN = {c: f"&#{ord(c)};" for c in "\\`*_[]|!~"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
_PLAIN_FIRST = {c: f"&#{ord(c)};" for c in "#+-="}
_CHAR_REF = re.compile(r"&(?!#[0-9]{1,7};|lt;|gt;|amp;)")


def one_line(s: object) -> str:
    return _BREAKS.sub(" ", str(s))


def plain(s: object) -> str:
    """A string from someone else's run, as Markdown that shows exactly it: one line, every
    character Markdown could read as structure (pipes, backticks, brackets, emphasis, ``<``)
    a character reference. For text positions; inside a code span use fmt.code."""
    text = one_line(s)
    if not text:
        return text
    first = _PLAIN_FIRST.get(text[0]) or _PLAIN.get(text[0], text[0])
    return first + "".join(_PLAIN.get(c, c) for c in text[1:])


def safe_text(s: object, cell: bool = False) -> str:
    r"""Text for Markdown with no live markup: ``&`` (unless it starts a numeric character
    reference, which shows one character and forms no tag), ``<`` and ``\`` as references,
    except inside code spans (which Markdown shows literally). A code span that holds ``<``
    (or, in a table ``cell``, ``|`` or ``\``: GFM splits a row there even inside code) is not
    kept as one: its text is shown escaped. Every block's text passes through here."""
    text, out, pos = str(s), [], 0
    for m in _CODE_SPAN.finditer(text):
        body = m.group(2)
        breaks = "<" in body or (cell and ("|" in body or "\\" in body))
        out.append(_entities(text[pos : m.start()], cell))
        out.append(_entities(m.group(0), cell).replace("`", "&#96;") if breaks else m.group(0))
        pos = m.end()
    out.append(_entities(text[pos:], cell))
    return "".join(out)


def _entities(text: str, cell: bool = False) -> str:
    text = _CHAR_REF.sub("&amp;", text).replace("<", "&lt;").replace("\\", "&#92;")
    return text.replace("|", "&#124;") if cell else text


def table_markdown(t: Table) -> str:
    numeric = t.numeric or [False] * len(t.header)
    cell = lambda s: safe_text(one_line(s), cell=True)  # noqa: E731
    lines = [
        "| " + " | ".join(cell(h) or " " for h in t.header) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
    ]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines)


def block_markdown(b: Block, base: Path) -> str:
    if isinstance(b, str):  # a paragraph: one line, or a break in it starts a heading
        return safe_text(one_line(b))
    if isinstance(b, Table):
        return table_markdown(b)
    if isinstance(b, Figure):
        caption = re.sub(r"([\[\]\\])", r"\\\1", safe_text(one_line(b.caption)))
        return f"![{caption}]({Path(os.path.relpath(b.path, base)).as_posix()})"
    if isinstance(b, Note):
        return f"> {'⚠ ' if b.kind == 'warning' else ''}{safe_text(one_line(b.text))}"
    if isinstance(b, Details):
        # The only tags report.md holds; to_html rebuilds them (it passes no raw HTML).
        inner = "\n\n".join(block_markdown(x, base) for x in b.blocks)
        return (
            f'<details markdown="1">\n<summary>{html.escape(one_line(b.summary))}</summary>\n\n'
            f"{inner}\n\n</details>"
        )
    return "\n".join(f"- {safe_text(one_line(i))}" for i in b.items)


def to_markdown(title: str, sections: list[Section], base: Path) -> str:
    """Figures link relative to ``base`` (the run directory)."""
    parts = [f"# {safe_text(one_line(title))}", ""]
    for s in sections:
        parts += [f"## {safe_text(one_line(s.title))}", ""]
        for b in s.blocks:
            parts += [block_markdown(b, base), ""]
    return "\n".join(parts)


def _drawn_mm(png: Path) -> float | None:
    """The width a PNG was drawn at, in mm (None where it names no dpi)."""
    with Image.open(png) as image:
        dpi = image.info.get("dpi")
        return image.width / float(dpi[0]) * 25.4 if dpi else None


class _InlineImages(Treeprocessor):
    """Replace each <img src="relative.png"> by the PNG's bytes as a data URI, and give it its
    printed width: the PNG's own (pixels / the dpi it was saved at), in --print-width."""

    def __init__(self, md: markdown.Markdown, base: Path) -> None:
        super().__init__(md)
        self.base = base

    def run(self, root: etree.Element) -> None:
        base = self.base.resolve()
        for img in root.iter("img"):
            path = (base / img.get("src", "")).resolve()
            if path.suffix == ".png" and path.is_relative_to(base) and path.is_file():
                data = base64.b64encode(path.read_bytes()).decode("ascii")
                img.set("src", "data:image/png;base64," + data)
                if width := _drawn_mm(path):
                    img.set("style", f"--print-width:{width:.1f}mm")
            else:  # not one of the run's own figures: shown by its caption only
                img.set("src", "")
        for a in root.iter("a"):
            if not a.get("href", "").startswith("#"):  # only links within the page
                a.attrib.pop("href", None)


class _Details(Treeprocessor):
    """Rebuild each ``<details>`` of the Markdown from the markers to_html put in its place:
    a paragraph holding exactly ``{nonce}open{i}`` or ``{nonce}close``."""

    def __init__(self, md: markdown.Markdown, nonce: str, summaries: list[str]) -> None:
        super().__init__(md)
        self.nonce, self.summaries = nonce, summaries

    def run(self, root: etree.Element) -> None:
        children, stack = list(root), [root]
        for child in children:
            root.remove(child)
        for child in children:
            text = (child.text or "") if child.tag == "p" and not len(child) else ""
            if text.startswith(self.nonce + "open"):
                details = etree.SubElement(stack[-1], "details")
                summary = etree.SubElement(details, "summary")
                summary.text = self.summaries[int(text.removeprefix(self.nonce + "open"))]
                stack.append(details)
            elif text == self.nonce + "close" and len(stack) > 1:
                stack.pop()
            else:
                stack[-1].append(child)


# A table of this many columns prints a size smaller (PRINT_CSS table.many): the batch-size
# table's 15 and the time split's 14 were up to 110 px wider than A4's 703 px of text when a
# busy machine's values ("260,823.5 ⚠") widened their columns, and a table wider than the
# page makes Chromium shrink every page, figures included.
MANY_COLUMNS = 13


class _BreakableCode(Treeprocessor):
    """A long name in a table cell (``aten::convolution_backward``) may wrap after its ``::``
    and ``_``, a header after a slash between words, never inside a word: <wbr> there, so that
    a narrow printed column stays one word wide instead of cutting letters off or widening the
    table past the page (Chromium then shrinks every page to fit it, figures and text too)."""

    def run(self, root: etree.Element) -> None:
        for table in root.iter("table"):
            header = table.find("thead/tr")
            if header is not None and len(header) >= MANY_COLUMNS:
                table.set("class", "many")
        for th in root.iter("th"):  # "µs/image", "data movement/indexing": after the slash
            parts = re.split(r"(?<=[A-Za-z]/)(?=[A-Za-z(])", th.text or "")
            th.text = parts[0]
            for i, part in enumerate(parts[1:]):
                th.insert(i, etree.Element("wbr"))
                th[i].tail = part
        for cell in [*root.iter("td"), *root.iter("th")]:
            for code in cell.iter("code"):
                parts = re.split(r"(?<=::)|(?<=_)(?=[^_])", code.text or "")
                if len(parts) < 2:
                    continue
                code.text = parts[0]
                for part in parts[1:]:
                    etree.SubElement(code, "wbr").tail = part


class _InlineImagesExtension(Extension):
    def __init__(self, base: Path) -> None:
        super().__init__()
        self.base = base

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.treeprocessors.register(_InlineImages(md, self.base), "lab1_inline_images", 0)
        md.treeprocessors.register(_BreakableCode(md), "lab1_breakable_code", 0)
        # No raw HTML from the source reaches the page: without these two, a tag in the
        # Markdown is escaped like any other text.
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")


_DETAILS = re.compile(r'^<details markdown="1">\n<summary>(.*?)</summary>$|^</details>$', re.M)


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans CJK SC",sans-serif;
max-width:1200px;margin:2em auto;padding:0 1em;color:#1d1d1f;line-height:1.45}
h1{border-bottom:2px solid #e36209;padding-bottom:.2em}
h2{margin-top:1.4em;border-bottom:1px solid #ddd;padding-bottom:.15em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.9em;
display:block;width:max-content;max-width:100%;overflow-x:auto}
th,td{border:1px solid #d0d7de;padding:.25em .6em;vertical-align:top}
th{background:#f3f4f6}tr:nth-child(even) td{background:#fafbfc}
:lang(zh) th{word-break:keep-all}
code{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;background:#f3f4f6;
padding:0 .25em;border-radius:3px;font-size:.88em}
img{max-width:100%;max-height:440px;width:auto;height:auto;border:1px solid #eee}
blockquote{margin:.8em 0;padding:.6em .9em;border-left:4px solid #0969da;background:#eef6ff}
.toc ul{columns:3;margin:.4em 0}
details{margin:.6em 0;padding:.3em .8em;border:1px solid #d0d7de;border-radius:4px}
summary{cursor:pointer;font-weight:600}
"""

# The print rules, one place for every report that to_html writes (a run's, a comparison's):
# the same pages from a browser's own print (A4 or Letter, whichever the reader picks) and from
# lab1.report.pdf. Margins fit both papers; a table is as wide as the page at most, its cells
# wrapping (long operator names at their "::" and "_", 11em at least: two lines, not a letter a
# line; headers at a slash), never cut, never
# wider than the page (Chromium would shrink every page to fit the widest table: the batch
# table, 796 px of 703, printed every page at 88 %, figures' 7.5 pt at 6.6 pt); a figure
# prints at the width it was drawn at (--print-width: lab1.figures draws text at its printed
# size, 7.5 pt at least), at most the page's, scaled down whole (never squashed) where it is
# taller than it may be; a
# heading stays with what follows it; the appendix (the section of <details>) starts a page and
# prints open (PRINT_SCRIPT). The footer (run name, page N / M) is footer_css.
PRINT_CSS = """
@page{margin:13mm 12mm 15mm 12mm}
@media print{
body{max-width:none;margin:0;padding:0;font-size:9pt;line-height:1.3;color:#000}
h1{font-size:15pt;margin:0 0 .4em}
h2{font-size:12pt;margin:1em 0 .4em}
h3,h4{font-size:10pt}
h1,h2,h3,h4,summary{break-after:avoid;page-break-after:avoid}
p:has(+ table),p:has(+ p > img){break-after:avoid;page-break-after:avoid}
p,li,blockquote{orphans:2;widows:2}
.toc{display:none}
table{display:table;width:auto;max-width:100%;overflow:visible;font-size:7pt;margin:.3em 0 .7em}
thead{display:table-header-group}
tr,img{break-inside:avoid;page-break-inside:avoid}
table.many{font-size:6.5pt}
th,td{padding:.12em .25em}
th{font-weight:600}
td code,th code{font-size:1em;padding:0;background:none}
td:has(> code){min-width:11em}
img{width:var(--print-width,auto);height:auto;max-width:100%;max-height:225mm;
object-fit:contain;border:none}
blockquote{padding:.3em .6em;margin:.5em 0}
details{border:none;padding:0;margin:.4em 0}
summary{font-size:10.5pt;margin:.8em 0 .3em;list-style:none}
summary::-webkit-details-marker{display:none}
h2:has(+ details){break-before:page;page-break-before:always}
a{color:inherit;text-decoration:none}
}
"""
# <details> cannot be opened by CSS in Chromium's print: open every one before printing (the
# script reads nothing of the report; printing then closes nothing, as a reader may want them).
PRINT_SCRIPT = (
    "addEventListener('beforeprint',()=>{for(const d of document.querySelectorAll('details'))"
    "d.open=true})"
)


def footer_css(left: str) -> str:
    """The printed pages' footer: ``left`` (the run's name) and "N / M"."""
    escaped = "".join(c if c.isalnum() or c in " ._-" else f"\\{ord(c):06x}" for c in left)
    return (
        '@page{@bottom-left{content:"' + escaped + '";font-size:8pt;color:#555}'
        '@bottom-right{content:counter(page) " / " counter(pages);font-size:8pt;color:#555}}'
    )


def to_html(md_text: str, title: str, base: Path, lang: str = "en", footer: str = "") -> str:
    """The Markdown report as one self-contained HTML page (a table of contents first) that
    prints whole (PRINT_CSS), ``footer`` at the foot of every printed page."""
    title_line, _, body = md_text.partition("\n")
    nonce, summaries = "lab1details" + secrets.token_hex(8), []

    def marker(m: re.Match) -> str:
        if m.group(0) == "</details>":
            return f"\n{nonce}close\n"
        summaries.append(html.unescape(m.group(1)))
        return f"\n{nonce}open{len(summaries) - 1}\n"

    # Only safe_text's output and the tags block_markdown writes are in md_text: a run's text
    # cannot form these lines (its "<" is "&lt;"), and the nonce is new for each page.
    body = _DETAILS.sub(marker, body)
    converter = markdown.Markdown(
        extensions=["tables", "toc", _InlineImagesExtension(base)],
        extension_configs={"toc": {"toc_depth": "2-2", "slugify": _slug}},
    )
    converter.treeprocessors.register(_Details(converter, nonce, summaries), "lab1_details", 1)
    content = converter.convert(title_line + "\n\n[TOC]\n" + body)
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}{PRINT_CSS}{footer_css(footer)}</style>"
        f"<script>{PRINT_SCRIPT}</script></head>\n"
        f"<body>\n{content}\n</body></html>\n"
    )


def _slug(value: str, separator: str) -> str:
    """Heading anchors that keep CJK letters (markdown's default slugify drops them)."""
    return re.sub(r"[^\w]+", separator, value.lower(), flags=re.UNICODE).strip(separator)
