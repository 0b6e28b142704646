"""report.pdf's text layer: the unified ideographs a reader typed, whatever CJK font printed them.

A CJK font draws 大 (U+5927) and the Kangxi radical ⼤ (U+2F24) with one glyph, and 长 (U+957F)
and the supplementary radical ⻓ (U+2ED3) with another. A browser's PDF names each glyph by one
code point in the font's ToUnicode map, and Chromium takes the lowest: the radical. With Noto
Sans CJK (Debian's and Ubuntu's CJK font) a Chinese report.pdf read back, copied or searched
gave ⼤ for 大 (116 times in one report), ⻓ for 长 and ⻅ for 见; WenQuanYi Micro Hei draws the
radicals with glyphs of their own and was not affected. Our reports write no radicals, so every
radical in a ToUnicode map is a shared glyph: the map is repaired after printing to say the
unified ideograph (the glyphs, and so the pages, are unchanged).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from pathlib import Path

from pypdf import PdfWriter

# Unicode's EquivalentUnifiedIdeograph.txt for the CJK Radicals Supplement (U+2E80–U+2EF3);
# the Kangxi Radicals (U+2F00–U+2FD5) are NFKC's. These are the pairs Noto Sans CJK draws with
# one glyph (its SC, TC, JP and KR faces' cmaps, read with fontTools).
SUPPLEMENT = {
    0x2E82: 0x4E5B, 0x2E83: 0x4E5A, 0x2E85: 0x4EBB, 0x2E87: 0x20628, 0x2E89: 0x5202,
    0x2E8B: 0x353E, 0x2E8D: 0x2D544, 0x2E8E: 0x5140, 0x2E8F: 0x5C23, 0x2E90: 0x5C22,
    0x2E92: 0x5DF3, 0x2E93: 0x5E7A, 0x2E94: 0x5F51, 0x2E95: 0x5F50, 0x2E96: 0x5FC4,
    0x2E98: 0x624C, 0x2E99: 0x6535, 0x2E9B: 0x65E1, 0x2E9E: 0x6B7A, 0x2E9F: 0x6BCD,
    0x2EA0: 0x6C11, 0x2EA1: 0x6C35, 0x2EA3: 0x706C, 0x2EA4: 0x722B, 0x2EA6: 0x4E2C,
    0x2EA8: 0x72AD, 0x2EA9: 0x248E9, 0x2EAB: 0x7F52, 0x2EAD: 0x793B, 0x2EAE: 0x25AD7,
    0x2EAF: 0x7CF9, 0x2EB0: 0x7E9F, 0x2EB1: 0x7F53, 0x2EB2: 0x7F52, 0x2EB3: 0x34C1,
    0x2EB9: 0x8002, 0x2EBA: 0x8080, 0x2EBD: 0x26951, 0x2EBE: 0x8279, 0x2EBF: 0x8279,
    0x2EC2: 0x8864, 0x2EC3: 0x8980, 0x2EC4: 0x897F, 0x2EC5: 0x89C1, 0x2EC6: 0x89D2,
    0x2EC7: 0x278B2, 0x2EC8: 0x8BA0, 0x2EC9: 0x8D1D, 0x2ECA: 0x27FB7, 0x2ECB: 0x8F66,
    0x2ECC: 0x8FB6, 0x2ECD: 0x8FB6, 0x2ECE: 0x8FB6, 0x2ED0: 0x9485, 0x2ED1: 0x9577,
    0x2ED2: 0x9578, 0x2ED3: 0x957F, 0x2ED4: 0x95E8, 0x2ED5: 0x28E0F, 0x2ED6: 0x961D,
    0x2ED8: 0x9752, 0x2ED9: 0x97E6, 0x2EDA: 0x9875, 0x2EDB: 0x98CE, 0x2EDC: 0x98DE,
    0x2EDD: 0x98DF, 0x2EDE: 0x2967F, 0x2EDF: 0x98E0, 0x2EE0: 0x9963, 0x2EE1: 0x29810,
    0x2EE2: 0x9A6C, 0x2EE3: 0x9AA8, 0x2EE4: 0x9B3C, 0x2EE5: 0x9C7C, 0x2EE6: 0x9E1F,
    0x2EE7: 0x5364, 0x2EE8: 0x9EA6, 0x2EE9: 0x9EC4, 0x2EEA: 0x9EFE, 0x2EEB: 0x6589,
    0x2EEC: 0x9F50, 0x2EED: 0x6B6F, 0x2EEE: 0x9F7F, 0x2EEF: 0x7ADC, 0x2EF0: 0x9F99,
    0x2EF1: 0x9F9C, 0x2EF2: 0x4E80, 0x2EF3: 0x9F9F,
}  # fmt: skip
KANGXI = range(0x2F00, 0x2FE0)


def unified(text: str) -> str:
    """``text`` with each CJK radical as its unified ideograph (⼤ → 大, ⻓ → 长)."""
    out = []
    for c in text:
        if ord(c) in KANGXI:
            c = unicodedata.normalize("NFKC", c)
        out.append(chr(SUPPLEMENT.get(ord(c), ord(c))))
    return "".join(out)


def _hex(text: str) -> str:
    return text.encode("utf-16-be").hex().upper()


def _text(hex_digits: bytes) -> str:
    return bytes.fromhex(hex_digits.decode("ascii")).decode("utf-16-be", errors="surrogatepass")


_BFCHAR = re.compile(rb"beginbfchar(.*?)endbfchar", re.S)
_BFRANGE = re.compile(rb"beginbfrange(.*?)endbfrange", re.S)
_PAIR = re.compile(rb"(<[0-9A-Fa-f]+>\s*)<([0-9A-Fa-f]+)>")
_RANGE = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>")


def repair_cmap(cmap: bytes) -> bytes:
    """A ToUnicode CMap with every destination's radicals as unified ideographs; a range
    (``<lo> <hi> <first>``) that reaches a radical is written out as an array of its strings."""

    def pair(m: re.Match) -> bytes:
        fixed = unified(_text(m[2]))
        return m[1] + b"<" + _hex(fixed).encode() + b">"

    def bfrange(m: re.Match) -> bytes:
        lo, hi, first = int(m[1], 16), int(m[2], 16), _text(m[3])
        texts = [first[:-1] + chr(ord(first[-1]) + i) for i in range(hi - lo + 1)]
        if all(unified(t) == t for t in texts):
            return m[0]
        strings = b" ".join(b"<" + _hex(unified(t)).encode() + b">" for t in texts)
        return b"<" + m[1] + b"> <" + m[2] + b"> [" + strings + b"]"

    cmap = _BFCHAR.sub(lambda b: b[0].replace(b[1], _PAIR.sub(pair, b[1])), cmap)
    return _BFRANGE.sub(lambda b: b[0].replace(b[1], _RANGE.sub(bfrange, b[1])), cmap)


class _TrailerSize(logging.Filter):
    """Chromium's larger prints declare a trailer /Size below their object count; pypdf warns
    of it when cloning one, though it reads it whole. A student's terminal is no place for it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "exceeds defined trailer size" not in record.getMessage()


_PYPDF_WRITER = logging.getLogger("pypdf._writer")
_PYPDF_WRITER.addFilter(_TrailerSize())


def unify_ideographs(pdf: str | Path) -> int:
    """Repair the ToUnicode maps of ``pdf`` in place (see the module's docstring); the number
    of maps changed. A PDF with no radical in its maps is left byte for byte as it was."""
    writer = PdfWriter(clone_from=str(pdf))
    seen, changed = set(), 0
    for page in writer.pages:
        resources = page.get("/Resources")
        fonts = resources.get_object().get("/Font") if resources is not None else None
        for font in fonts.get_object().values() if fonts is not None else ():  # a page of no text
            font = font.get_object()
            stream = font["/ToUnicode"].get_object() if "/ToUnicode" in font else None
            if stream is None or id(stream) in seen:  # fonts share maps: each once
                continue
            seen.add(id(stream))
            data = stream.get_data()
            fixed = repair_cmap(data)
            if fixed != data:
                stream.set_data(fixed)
                changed += 1
    if changed:
        with open(pdf, "wb") as out:
            writer.write(out)
    return changed
