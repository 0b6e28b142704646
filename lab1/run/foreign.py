"""A run from someone else, read as untrusted input: regular files only (never through a
link, never a pipe that would block), each read bounded in bytes, JSON and Parquet only, the
manifest checked against its schema's types and ranges and a table's decoded size checked
before a column is decoded. A class's submissions (lab1.classroom.submission) and the runs a
comparison reads from other machines (lab1.compare.crossrun) both go through here; a file that
breaks a rule raises Refused with a one-line reason.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lab1.errors import Lab1Error
from lab1.run.manifest import Manifest, manifest_from_dict
from lab1.rundir import MANIFEST as MANIFEST_FILE
from lab1.rundir import TABLES
from lab1.schemas import SCHEMAS, with_older_columns

MAX_MANIFEST_BYTES = 2 * 2**20


MAX_TABLE_BYTES = 16 * 2**20


MAX_TABLE_ROWS = 200_000


MAX_DECODED_BYTES = 64 * 2**20  # one table's columns, decoded (a default run's: under 1 MiB)


# A report.pdf read for the text a person sees on its pages (pypdf). A default run's is about
# 0.5 MB and 9 pages, all read in 2 to 3 s on a busy 2-core machine; these caps leave room for
# a long Chinese report. pypdf parses a page's content stream in Python, about 1.6 s and far
# more memory per MiB of it, and a few kB of deflated PDF inflate to tens of MiB (pypdf stops at
# 75 MB a stream): so the reading runs in a child process that is stopped at MAX_PDF_SECONDS
# and cannot take more than MAX_PDF_MEMORY, however the PDF is made.
MAX_PDF_BYTES = 16 * 2**20
MAX_PDF_PAGES = 100
MAX_PDF_SECONDS = 60.0
MAX_PDF_MEMORY = 1 << 30  # the child's address space (where the platform limits it)
MAX_PDF_TEXT = 4 * 2**20  # characters of text kept (a default report's: about 26,000)

# The child: the PDF on stdin; its page count, then each page's text, one JSON line each, or
# one line {"error": ...}. It imports pypdf alone (not lab1: pandas and torch take seconds).
_PDF_CHILD = """
import io, json, sys
try:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))
except (ImportError, ValueError, OSError):
    pass
def say(x):
    sys.stdout.write(json.dumps(x) + "\\n")
    sys.stdout.flush()
try:
    from pypdf import PdfReader
    pages = PdfReader(io.BytesIO(sys.stdin.buffer.read())).pages
    say({"pages": len(pages)})
    if len(pages) <= int(sys.argv[2]):
        for page in pages:
            say({"text": page.extract_text() or ""})
except BaseException as exc:  # PdfReadError and friends, RecursionError, MemoryError
    why = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
    say({"error": why})
"""


_CHUNK = 1 << 16


class Refused(Lab1Error):
    """A submission that cannot be read as a run: refused, with this one-line reason."""

    resumable = False


def _json(data: bytes, name: str, cap: int) -> dict:
    if len(data) > cap:
        raise Refused(f"{name} is over {cap >> 20} MiB")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused(f"{name} is not JSON: {str(exc)[:120]}") from exc
    except RecursionError as exc:  # nested thousands deep: no lab1 manifest is
        raise Refused(f"{name} is nested too deep to be a lab1 manifest") from exc
    if not isinstance(obj, dict):
        raise Refused(f"{name} is not a JSON object")
    return obj


# Ranges of the numbers the checks and the class row read; types are the schema's
# (manifest_from_dict strict).
UNIT_INTERVAL = (0.0, 1.0)


AT_LEAST_0, AT_LEAST_1 = (0, math.inf), (1, math.inf)


def manifest_ranges(m: Manifest) -> str | None:
    """The first number of a manifest outside its range, as a one-line reason; None if all
    are in range."""
    fields: list[tuple[str, object, tuple]] = []
    if m.results is not None:
        fields += [
            ("results.test_accuracy", m.results.test_accuracy, UNIT_INTERVAL),
            ("results.epochs_completed", m.results.epochs_completed, AT_LEAST_0),
        ]
    if m.environment is not None:
        fields.append(("environment.vcpus", m.environment.vcpus, AT_LEAST_1))
    if m.training is not None:
        tr = m.training
        fields += [
            ("training.epochs_completed", tr.epochs_completed, AT_LEAST_0),
            ("training.test_accuracy", tr.test_accuracy, UNIT_INTERVAL),
            ("training.train_accuracy", tr.train_accuracy, UNIT_INTERVAL),
            ("training.execution.threads", tr.execution.threads, AT_LEAST_1),
        ]
        for i, h in enumerate(tr.history):
            at = f"training.history[{i}]"
            fields += [
                (f"{at}.test_accuracy", h.test_accuracy, UNIT_INTERVAL),
                (f"{at}.train_accuracy", h.train_accuracy, UNIT_INTERVAL),
                (f"{at}.images_per_s", h.images_per_s, AT_LEAST_0),
                (f"{at}.train_seconds", h.train_seconds, AT_LEAST_0),
            ]
    for name, value, (lo, hi) in fields:
        if value is not None and not lo <= value <= hi:
            return f"manifest {name}: {value!r:.40} is outside {lo}–{hi}"
    return None


def read_table_bytes(data: bytes, table: str) -> pd.DataFrame:
    """A table from its Parquet bytes, through its schema, with size and row caps checked
    from the footer before any column is read."""
    if len(data) > MAX_TABLE_BYTES:
        raise Refused(f"table {table} is over {MAX_TABLE_BYTES >> 20} MiB")
    try:
        pf = pq.ParquetFile(pa.BufferReader(data))
        if pf.metadata.num_rows > MAX_TABLE_ROWS:
            raise Refused(f"table {table} has {pf.metadata.num_rows} rows (cap {MAX_TABLE_ROWS})")
        schema = SCHEMAS[table]
        present = [n for n in schema.names if n in pf.schema_arrow.names]
        # A nullable column an older lab1 did not write is read as null (with_older_columns).
        missing = [f.name for f in schema if not f.nullable and f.name not in present]
        if missing:
            raise Refused(f"table {table} has no column(s) {', '.join(missing[:5])}")
        decoded = decoded_bytes(data, present)
        if decoded > MAX_DECODED_BYTES:
            raise Refused(
                f"table {table} decodes to {decoded >> 20} MiB (cap {MAX_DECODED_BYTES >> 20} "
                "MiB): not a lab1 table"
            )
        table = with_older_columns(pf.read(columns=present), schema)
        return table.select(schema.names).cast(schema).to_pandas()
    except Refused:
        raise
    except Exception as exc:  # ArrowInvalid and friends: not Parquet of its schema
        raise Refused(f"table {table} does not read as Parquet: {str(exc)[:120]}") from exc


def pdf_text(data: bytes, shown: str, until: Callable[[str], bool] | None = None) -> str:
    """The text of a PDF's pages as a reader sees it (pypdf, in a child process: parsed as
    data, nothing in it runs), pages joined by newlines; ``until`` (given each page's text)
    ends the reading once it is true: a reader looking for some words stops where the last of
    them is. Refused over MAX_PDF_BYTES or MAX_PDF_PAGES, past MAX_PDF_SECONDS or
    MAX_PDF_MEMORY, or when it does not read as a PDF."""
    if len(data) > MAX_PDF_BYTES:
        raise Refused(f"{shown} is over {MAX_PDF_BYTES >> 20} MiB")
    import contextlib
    import subprocess
    import sys
    import threading

    argv = [sys.executable, "-I", "-c", _PDF_CHILD, str(MAX_PDF_MEMORY), str(MAX_PDF_PAGES)]
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    late = threading.Event()

    def stop() -> None:
        late.set()
        proc.kill()

    timer = threading.Timer(MAX_PDF_SECONDS, stop)
    timer.start()
    texts, pages, size = [], None, 0
    try:
        try:
            proc.stdin.write(data)
            proc.stdin.close()
        except OSError:
            pass  # the child ended early: what it said, or that it said nothing, tells why
        # A line holds one page's text as JSON (a character is at most 6 bytes there).
        while line := proc.stdout.readline(6 * MAX_PDF_TEXT + 64):
            if not line.endswith(b"\n"):
                raise Refused(f"{shown} holds over {MAX_PDF_TEXT:,} characters of text")
            said = json.loads(line)
            if "error" in said:
                raise Refused(f"{shown} does not read as a PDF ({said['error']})")
            if "pages" in said:
                pages = said["pages"]
                if pages > MAX_PDF_PAGES:
                    raise Refused(f"{shown} has {pages} pages (cap {MAX_PDF_PAGES})")
                continue
            texts.append(said["text"])
            size += len(texts[-1])
            if size > MAX_PDF_TEXT:
                raise Refused(f"{shown} holds over {MAX_PDF_TEXT:,} characters of text")
            if until is not None and until(texts[-1]):
                return "\n".join(texts)
        if late.is_set():
            raise Refused(
                f"{shown}'s text was not read within {MAX_PDF_SECONDS:.0f} s "
                f"({len(texts)} of {'?' if pages is None else pages} pages)"
            )
        if pages is None or len(texts) != pages:  # out of memory, or killed
            raise Refused(f"{shown} does not read as a PDF (its reader stopped)")
    finally:
        timer.cancel()
        proc.kill()
        for pipe in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):  # a pipe the child's end left broken
                pipe.close()
        proc.wait()
    return "\n".join(texts)


def decoded_bytes(data: bytes, names: list[str]) -> int:
    """What the columns ``names`` take once decoded, worked out before they are: the pages'
    uncompressed sizes from the footer (a compression bomb), and for a text column the sum
    of the lengths of the values its rows point at, read as dictionary indices (a dictionary
    bomb: one long value repeated by every row is a few kB on disk and GBs decoded)."""
    pf = pq.ParquetFile(pa.BufferReader(data))
    md = pf.metadata
    stored = sum(
        md.row_group(r).column(c).total_uncompressed_size
        for r in range(md.num_row_groups)
        for c in range(md.num_columns)
    )
    if stored > MAX_DECODED_BYTES:
        return stored
    # Text columns read as dictionaries: their indices, never the values they repeat.
    texts = pq.ParquetFile(pa.BufferReader(data), read_dictionary=names)
    total = 0
    for name in names:
        typ = pf.schema_arrow.field(name).type
        value = typ.value_type if pa.types.is_dictionary(typ) else typ
        if (
            pa.types.is_string(value)
            or pa.types.is_large_string(value)
            or pa.types.is_binary(value)
        ):
            column = texts.read(columns=[name]).column(0)
            for chunk in column.chunks:
                if not isinstance(chunk, pa.DictionaryArray):  # stored plain: decoded already
                    total += chunk.nbytes
                    continue
                lengths = pc.binary_length(chunk.dictionary)
                total += pc.sum(pc.take(lengths, chunk.indices)).as_py() or 0
        elif pa.types.is_null(value):  # a column all null, written without its type
            continue
        elif pa.types.is_primitive(value):
            total += md.num_rows * max(value.bit_width // 8, 1)
        else:  # lists, structs, maps: no lab1 table has one
            raise Refused(f"column {name} is of type {typ}: not a lab1 table's")
        if total > MAX_DECODED_BYTES:
            break
    return total


def open_regular(path: Path, shown: str):
    """``path`` opened for reading if it is a regular file reached without following a link
    in its last part; Refused otherwise. Opened before it is looked at (no race between a
    check and the open), non-blocking (a named pipe answers at once instead of waiting for a
    writer)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:  # ELOOP: a link; ENXIO: a socket; EACCES …
        if os.path.islink(path):
            raise Refused(f"{shown} is a link: not followed") from exc
        raise Refused(f"{shown} cannot be opened ({exc.strerror})") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Refused(f"{shown} is not a regular file (a pipe, device or folder): not read")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)  # a regular file: reads end at its size
    return os.fdopen(fd, "rb")


def _file_chunks(path: Path, shown: str, cap: int) -> Iterator[bytes]:
    with open_regular(path, shown) as f:
        if os.fstat(f.fileno()).st_size > cap:
            raise Refused(f"{shown} is over {cap >> 20} MiB")
        got = 0
        while chunk := f.read(_CHUNK):
            got += len(chunk)
            if got > cap:  # a file that grows while it is read
                raise Refused(f"{shown} is over {cap >> 20} MiB")
            yield chunk


def read_regular(path: Path, shown: str, cap: int) -> bytes:
    """A whole regular file (open_regular) of at most ``cap`` bytes."""
    return b"".join(_file_chunks(path, shown, cap))


def read_run_manifest(run_dir: Path) -> Manifest:
    """A run directory's manifest, read as untrusted input: a regular file, never a link,
    under MAX_MANIFEST_BYTES, its schema's types and ranges checked; Refused otherwise."""
    path = Path(run_dir) / MANIFEST_FILE
    if not os.path.lexists(path):
        raise Refused(f"no {MANIFEST_FILE}: not a lab1 run directory")
    data = _json(read_regular(path, MANIFEST_FILE, MAX_MANIFEST_BYTES), MANIFEST_FILE, 1 << 62)
    try:
        m = manifest_from_dict(data, strict=True)
        bad = manifest_ranges(m)
    except Exception as exc:  # ManifestError, or a value the dataclasses reject
        raise Refused(str(exc).splitlines()[0][:300] or type(exc).__name__) from exc
    if bad:
        raise Refused(bad)
    return m


def read_run_table(run_dir: Path, table: str) -> pd.DataFrame | None:
    """One of a run directory's tables (lab1.rundir.TABLES) through read_table_bytes; None
    where the run has none, or an empty one."""
    rel = TABLES[table]
    path = Path(run_dir) / rel
    if not os.path.lexists(path):
        return None
    if any(q.is_symlink() for q in path.parents if Path(run_dir) in q.parents):
        raise Refused(f"{rel} is a link: not followed")
    df = read_table_bytes(read_regular(path, rel, MAX_TABLE_BYTES), table)
    return df if len(df) else None
