"""report.pdf from someone else's run, read for its text under the foreign reader's caps
(lab1.run.foreign.pdf_text): bytes, pages, time, and pypdf's own bound on decoded streams."""

from __future__ import annotations

import io
import sys
import zlib

import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject, StreamObject

from lab1.run import foreign
from lab1.run.foreign import Refused, pdf_text


def _name(n: str) -> NameObject:
    return NameObject(n)


def pdf_of(pages: list[str], deflated: bytes | None = None) -> bytes:
    """A PDF whose pages show ``pages`` in Helvetica; ``deflated``: each page's content
    stream is these zlib bytes instead (a decompression bomb)."""
    w = PdfWriter()
    font = w._add_object(
        DictionaryObject(
            {
                _name("/Type"): _name("/Font"),
                _name("/Subtype"): _name("/Type1"),
                _name("/BaseFont"): _name("/Helvetica"),
            }
        )
    )
    for text in pages:
        page = w.add_blank_page(595, 842)
        page[_name("/Resources")] = DictionaryObject(
            {_name("/Font"): DictionaryObject({_name("/F1"): font})}
        )
        if deflated is None:
            stream = DecodedStreamObject()
            stream.set_data(f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode())
        else:
            stream = StreamObject()
            stream._data = deflated
            stream[_name("/Filter")] = _name("/FlateDecode")
        page[_name("/Contents")] = w._add_object(stream)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def test_the_text_of_each_page_is_read():
    data = pdf_of(["test accuracy 94.00%", "images/s 30,317"])
    assert pdf_text(data, "report.pdf") == "test accuracy 94.00%\nimages/s 30,317"


def test_bytes_that_are_not_a_pdf_are_refused_with_the_files_name():
    with pytest.raises(Refused, match=r"^report\.pdf does not read as a PDF \("):
        pdf_text(b"%PDF-1.7\n" + bytes(range(256)) * 8, "report.pdf")
    with pytest.raises(Refused, match=r"^report\.zh\.pdf does not read as a PDF"):
        pdf_text(pdf_of(["x"])[:300], "report.zh.pdf")  # cut short


def test_a_pdf_over_the_byte_or_page_cap_is_not_read(monkeypatch):
    data = pdf_of(["a", "b", "c", "d"])
    monkeypatch.setattr(foreign, "MAX_PDF_PAGES", 3)
    with pytest.raises(Refused, match=r"report\.pdf has 4 pages \(cap 3\)"):
        pdf_text(data, "report.pdf")
    monkeypatch.setattr(foreign, "MAX_PDF_BYTES", len(data) - 1)
    with pytest.raises(Refused, match=r"report\.pdf is over"):
        pdf_text(data, "report.pdf")


def one_page_of(mib: int) -> bytes:
    """A PDF of a few kB whose one page's content stream inflates to ``mib`` MiB of text
    operators (pypdf: about 1.5 s a MiB to parse on a 2-core machine, and much memory)."""
    z, body = zlib.compressobj(9), b"BT /F1 12 Tf 72 720 Td (94.00%) Tj ET\n"
    chunk = body * (2**20 // len(body))
    return pdf_of(["x"], deflated=b"".join(z.compress(chunk) for _ in range(mib)) + z.flush())


def test_reading_is_stopped_inside_a_page_once_past_its_time(monkeypatch):
    # Stopped inside its one page ("0 of 1", or "0 of ?" while the reader still starts):
    # one page can cost more than the whole time allowed.
    monkeypatch.setattr(foreign, "MAX_PDF_SECONDS", 1.0)
    with pytest.raises(Refused, match=r"report\.pdf's text was not read within 1 s \(0 of [1?] "):
        pdf_text(one_page_of(40), "report.pdf")


@pytest.mark.skipif(sys.platform != "linux", reason="the address space is capped on Linux")
def test_reading_cannot_take_more_memory_than_its_cap(monkeypatch):
    monkeypatch.setattr(foreign, "MAX_PDF_MEMORY", 100 * 2**20)
    assert pdf_text(pdf_of(["a"]), "report.pdf") == "a"  # a small PDF reads within it
    with pytest.raises(
        Refused, match=r"report\.pdf does not read as a PDF \((MemoryError|its reader stopped)\)$"
    ):
        pdf_text(one_page_of(2), "report.pdf")


def test_a_content_stream_that_inflates_to_100_mib_is_refused():
    # 100 MiB of spaces deflate to about 0.1 MB (made a MiB at a time: the test holds no
    # 100 MiB either); pypdf stops inflating at its 75 MB limit.
    z = zlib.compressobj(9)
    bomb = b"".join(z.compress(b" " * 2**20) for _ in range(100)) + z.flush()
    data = pdf_of(["x"], deflated=bomb)
    assert len(data) < 2**20
    with pytest.raises(Refused, match=r"report\.pdf does not read as a PDF \(Limit reached"):
        pdf_text(data, "report.pdf")


def test_reading_ends_at_the_page_until_first_holds_true_for():
    seen = []

    def until(page: str) -> bool:
        seen.append(page)
        return page == "b"

    assert pdf_text(pdf_of(["a", "b", "c"]), "report.pdf", until) == "a\nb"
    assert seen == ["a", "b"]  # the third page is never read


def test_the_checks_stop_once_each_number_sought_was_on_a_page():
    from lab1.classroom.checks import _until_shown

    seen = _until_shown({"30,317", "94.00%"})
    assert [seen(p) for p in ["title", "images/s | 30,317 |", "x", "accuracy (94.00%)"]] == [
        False,
        False,
        False,
        True,
    ]
