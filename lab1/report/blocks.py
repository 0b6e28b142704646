"""The report's building blocks, rendered once to Markdown; HTML is that Markdown, converted by
Python-Markdown, with every figure inlined as a data URI (one file to mail or archive)."""

from __future__ import annotations

import base64
import html
import os
import re
import xml.etree.ElementTree as etree
from dataclasses import dataclass, field
from pathlib import Path

import markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor


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


def table_markdown(t: Table) -> str:
    numeric = t.numeric or [False] * len(t.header)
    cell = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = [
        "| " + " | ".join(cell(h) or " " for h in t.header) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
    ]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines)


def block_markdown(b: Block, base: Path) -> str:
    if isinstance(b, str):
        return b
    if isinstance(b, Table):
        return table_markdown(b)
    if isinstance(b, Figure):
        return f"![{b.caption}]({Path(os.path.relpath(b.path, base)).as_posix()})"
    if isinstance(b, Note):
        return f"> {'⚠ ' if b.kind == 'warning' else ''}{b.text}"
    if isinstance(b, Details):
        # markdown="1": Python-Markdown (md_in_html) renders the Markdown inside the tags.
        inner = "\n\n".join(block_markdown(x, base) for x in b.blocks)
        return (
            f'<details markdown="1">\n<summary>{html.escape(b.summary)}</summary>\n\n'
            f"{inner}\n\n</details>"
        )
    return "\n".join(f"- {i}" for i in b.items)


def to_markdown(title: str, sections: list[Section], base: Path) -> str:
    """Figures link relative to ``base`` (the run directory)."""
    parts = [f"# {title}", ""]
    for s in sections:
        parts += [f"## {s.title}", ""]
        for b in s.blocks:
            parts += [block_markdown(b, base), ""]
    return "\n".join(parts)


class _InlineImages(Treeprocessor):
    """Replace each <img src="relative.png"> by the PNG's bytes as a data URI."""

    def __init__(self, md: markdown.Markdown, base: Path) -> None:
        super().__init__(md)
        self.base = base

    def run(self, root: etree.Element) -> None:
        for img in root.iter("img"):
            data = (self.base / img.get("src", "")).read_bytes()
            img.set("src", "data:image/png;base64," + base64.b64encode(data).decode("ascii"))


class _InlineImagesExtension(Extension):
    def __init__(self, base: Path) -> None:
        super().__init__()
        self.base = base

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.treeprocessors.register(_InlineImages(md, self.base), "lab1_inline_images", 0)


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans CJK SC",sans-serif;
max-width:1200px;margin:2em auto;padding:0 1em;color:#1d1d1f;line-height:1.45}
h1{border-bottom:2px solid #e36209;padding-bottom:.2em}
h2{margin-top:1.4em;border-bottom:1px solid #ddd;padding-bottom:.15em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.9em;
display:block;width:max-content;max-width:100%;overflow-x:auto}
th,td{border:1px solid #d0d7de;padding:.25em .6em;vertical-align:top}
th{background:#f3f4f6}tr:nth-child(even) td{background:#fafbfc}
code{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;background:#f3f4f6;
padding:0 .25em;border-radius:3px;font-size:.88em}
img{max-width:100%;max-height:440px;width:auto;height:auto;border:1px solid #eee}
blockquote{margin:.8em 0;padding:.6em .9em;border-left:4px solid #0969da;background:#eef6ff}
.toc ul{columns:3;margin:.4em 0}
details{margin:.6em 0;padding:.3em .8em;border:1px solid #d0d7de;border-radius:4px}
summary{cursor:pointer;font-weight:600}
"""


def to_html(md_text: str, title: str, base: Path, lang: str = "en") -> str:
    """The Markdown report as one self-contained HTML page (a table of contents first)."""
    title_line, _, body = md_text.partition("\n")
    converter = markdown.Markdown(
        extensions=["tables", "md_in_html", "toc", _InlineImagesExtension(base)],
        extension_configs={"toc": {"toc_depth": "2-2", "slugify": _slug}},
    )
    content = converter.convert(title_line + "\n\n[TOC]\n" + body)
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n"
        f"<body>\n{content}\n</body></html>\n"
    )


def _slug(value: str, separator: str) -> str:
    """Heading anchors that keep CJK letters (markdown's default slugify drops them)."""
    return re.sub(r"[^\w]+", separator, value.lower(), flags=re.UNICODE).strip(separator)
