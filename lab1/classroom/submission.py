"""A student's submission, opened as untrusted input: a pack (lab1.classroom.pack) or a run
directory.

Read, never executed: JSON and Parquet only, never pickle or torch.load; members that are not
among the files a pack may carry (model.pt, say) are hashed, never opened. An archive is read
member by member from its central directory, with every limit checked before a byte is
inflated (names: no absolute path, no ``..``, no link; declared sizes and compression ratio),
then inflated as a stream with a hard cap (declared sizes can lie). Nothing is extracted: a
submission lives in memory, one at a time per worker, within MAX_TOTAL_BYTES. A submission that
breaks a rule raises Refused with a one-line reason; the class view goes on with the others.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from lab1.classroom.pack import PACK_INDEX
from lab1.run.foreign import (
    _CHUNK,
    _file_chunks,
    _json,
    manifest_ranges,
    open_regular,
    pdf_text,
    read_table_bytes,
)
from lab1.run.foreign import (  # re-exported: the class reads a submission's files through them
    MAX_DECODED_BYTES as MAX_DECODED_BYTES,
)
from lab1.run.foreign import MAX_MANIFEST_BYTES as MAX_MANIFEST_BYTES
from lab1.run.foreign import MAX_TABLE_BYTES as MAX_TABLE_BYTES
from lab1.run.foreign import MAX_TABLE_ROWS as MAX_TABLE_ROWS
from lab1.run.foreign import Refused as Refused
from lab1.run.foreign import decoded_bytes as decoded_bytes
from lab1.run.foreign import read_run_manifest as read_run_manifest
from lab1.run.foreign import read_run_table as read_run_table
from lab1.run.manifest import Manifest, manifest_from_dict
from lab1.rundir import MANIFEST as MANIFEST_FILE
from lab1.rundir import PACK_SUFFIX, REPORT_LANGUAGES, TABLES, RunPaths

# Limits on one submission. A default run's pack is about 1 MB (README, "Handing in"); these
# leave room for a long run.log and screenshots, and refuse what no lab1 run produces.
MAX_ARCHIVE_BYTES = 32 * 2**20  # the zip file itself
MAX_MEMBERS = 2000
MAX_MEMBER_BYTES = 32 * 2**20  # one member, inflated
MAX_TOTAL_BYTES = 64 * 2**20  # all members, inflated
MAX_RATIO = 100  # inflated / compressed, for members over RATIO_FLOOR (a zip bomb: ~1000)
RATIO_FLOOR = 64 * 2**10
MAX_REPORT_BYTES = 8 * 2**20
MAX_DEPTH = 4  # folders searched for a run inside a student's folder

# A run's report.md in each language (report.md, report.zh.md): a submission holds one or
# more; the checks read the English one where there is one.
REPORT_MDS = tuple(RunPaths(Path()).in_language(lang).report_md.name for lang in REPORT_LANGUAGES)
# The same report as HTML (report.html, report.zh.html): what a person reads, so its text is
# checked as report.md is.
REPORT_HTMLS = tuple(
    RunPaths(Path()).in_language(lang).report_html.name for lang in REPORT_LANGUAGES
)
# And printed (report.pdf, report.zh.pdf), where a browser was there to print it.
REPORT_PDFS = tuple(RunPaths(Path()).in_language(lang).report_pdf.name for lang in REPORT_LANGUAGES)
# What the checks read (each parsed as JSON, Parquet, UTF-8 text or a PDF's text, under its
# own cap).
_READ = {PACK_INDEX, MANIFEST_FILE, *REPORT_MDS, *REPORT_HTMLS, *REPORT_PDFS, *TABLES.values()}


@dataclass
class Submission:
    """One student's submission, read into memory: every member's SHA-256, and the few that
    the checks read (pack.json, manifest.json, the tables, report.md) parsed."""

    student: str
    source: str  # its path under the input folder
    kind: str  # "pack" or "run directory"
    sha256: dict[str, str] = field(default_factory=dict)  # member → SHA-256 of its bytes
    index: dict | None = None  # pack.json (packs only)
    manifest_data: dict | None = None
    manifest: Manifest | None = None
    manifest_error: str | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    table_errors: dict[str, str] = field(default_factory=dict)
    report_md: str | None = None
    report_name: str | None = None  # which of REPORT_MDS report_md is
    # report.html's text (its tags left out) by name, in every language handed in
    report_html_text: dict[str, str] = field(default_factory=dict)
    # report.pdf's bytes by name, in every language handed in: read for their text only when
    # checked (pdf_text), and only as far as the check needs (a PDF's text costs seconds)
    report_pdfs: dict[str, bytes] = field(default_factory=dict)

    def html_text(self) -> tuple[str, str] | None:
        """(name, text) of the HTML report in report_md's language, where there is one."""
        if self.report_name is None:
            return None
        name = REPORT_HTMLS[REPORT_MDS.index(self.report_name)]
        return (name, self.report_html_text[name]) if name in self.report_html_text else None

    def pdf_text(self, until: Callable[[str], bool] | None = None) -> tuple[str, str] | None:
        """(name, text) of the printed report in report_md's language, where there is one, its
        pages read until ``until`` (given each page's text) is true; Refused where it does not
        read within foreign.pdf_text's caps."""
        name = self.pdf_name()
        return (
            (name, pdf_text(self.report_pdfs[name], name, until))
            if name in self.report_pdfs
            else None
        )

    def pdf_name(self) -> str | None:
        """report.pdf's name in report_md's language (report.pdf, report.zh.pdf)."""
        return None if self.report_name is None else REPORT_PDFS[REPORT_MDS.index(self.report_name)]


# --------------------------------------------------------------------------- finding them


def find_submissions(inputs: list[str | Path]) -> list[tuple[str, Path, Path]]:
    """(student, path, input root) for each submission under the CLI's inputs: a file is one
    student (its stem), a folder holding a run is one student (its name), any other folder
    holds one entry per student (the first path part under it). Links are not followed."""
    found = []
    for item in map(Path, inputs):
        if item.is_file() and not item.is_symlink():
            found.append((student_name(item), item, item.parent))
        elif (item / MANIFEST_FILE).is_file():
            found.append((item.name, item, item.parent))
        elif item.is_dir():
            # Every entry gets a row, a dot-named one too (refused in locate_run): a
            # submission that vanished without a word would be worse than a refused one.
            for entry in sorted(item.iterdir()):
                found.append((student_name(entry), entry, item))
    return found


def student_name(path: Path | PurePosixPath, is_file: bool | None = None) -> str:
    """A pack's name less .lab1.zip (or .zip), a folder's name; ``is_file`` where the path is
    not on this disk (an object store's key)."""
    name = path.name
    is_file = path.is_file() if is_file is None else is_file
    for suffix in (PACK_SUFFIX, ".zip"):
        if name.endswith(suffix) and is_file:
            return name[: -len(suffix)]
    return path.stem if is_file else name


def locate_run(entry: Path) -> tuple[str, Path]:
    """A student's entry → ("pack", zip) or ("run directory", folder); Refused when it holds
    none, or more than one."""
    if entry.is_symlink():
        raise Refused("the entry is a link: not followed")
    if entry.name.startswith("."):
        raise Refused(f"{entry.name!r} is a hidden entry (its name starts with '.'): not read")
    if not (entry.is_dir() or entry.is_file()):
        raise Refused(f"{entry.name!r} is neither a file nor a folder: not read")
    if entry.is_file():
        return "pack", entry
    if (entry / MANIFEST_FILE).is_file():
        return "run directory", entry
    hits: list[tuple[str, Path]] = []
    for root, dirs, files in os.walk(entry):  # followlinks=False: a linked folder is not entered
        here = Path(root)
        depth = len(here.relative_to(entry).parts)
        dirs[:] = [] if depth >= MAX_DEPTH else sorted(d for d in dirs if not d.startswith("."))
        if MANIFEST_FILE in files:
            hits.append(("run directory", here))
            dirs[:] = []
        hits += [("pack", here / f) for f in sorted(files) if f.endswith(".zip")]
    links = [p for _, p in hits if p.is_symlink()]
    if links:
        raise Refused(f"{links[0].relative_to(entry).as_posix()} is a link: not followed")
    if not hits:
        raise Refused(f"no run: neither a {PACK_SUFFIX} nor a run directory with manifest.json")
    if len(hits) > 1:
        names = ", ".join(str(p.relative_to(entry)) for _, p in hits[:3])
        raise Refused(f"{len(hits)} runs in one submission ({names}): hand in one")
    return hits[0]


# --------------------------------------------------------------------------- reading them


def open_submission(student: str, entry: Path, root: Path) -> Submission:
    """The submission at ``entry`` read under the limits above; Refused with a one-line
    reason when it cannot be."""
    kind, path = locate_run(entry)
    sub = Submission(student, entry.relative_to(root).as_posix(), kind)
    if kind == "pack":
        if path.stat().st_size > MAX_ARCHIVE_BYTES:
            raise Refused(f"the archive is over {MAX_ARCHIVE_BYTES >> 20} MiB")
        return _read_members(sub, _zip_members(path))
    return _read_members(sub, _dir_members(path))


def open_pack_bytes(student: str, source: str, data: bytes) -> Submission:
    """A pack already fetched into memory (from an object store, its size checked from the
    store's metadata first), read under the same limits as a pack on disk."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise Refused(f"the archive is over {MAX_ARCHIVE_BYTES >> 20} MiB")
    return _read_members(Submission(student, source, "pack"), _zip_members(io.BytesIO(data)))


def _read_members(sub: Submission, members: Iterator[tuple[str, Iterator[bytes]]]) -> Submission:
    total = 0
    for name, chunks in members:
        h, kept, size = hashlib.sha256(), [], 0
        for chunk in chunks:
            size += len(chunk)
            total += len(chunk)
            if total > MAX_TOTAL_BYTES:
                raise Refused(f"more than {MAX_TOTAL_BYTES >> 20} MiB in all: not a lab1 run")
            h.update(chunk)
            if name in _READ:
                kept.append(chunk)
        if name in sub.sha256:
            raise Refused(f"{name} is in the archive twice")
        sub.sha256[name] = h.hexdigest()
        if name in _READ:
            _parse(sub, name, b"".join(kept))
    return sub


def _parse(sub: Submission, name: str, data: bytes) -> None:
    """JSON, Parquet or text, each under its own cap; a member that does not parse is
    recorded for the checks (structure), never executed."""
    if name == PACK_INDEX:
        sub.index = _json(data, name, MAX_MANIFEST_BYTES)
    elif name == MANIFEST_FILE:
        sub.manifest_data = _json(data, name, MAX_MANIFEST_BYTES)
        try:  # its schema first: no check reads a field of the wrong type or out of range
            sub.manifest = manifest_from_dict(sub.manifest_data, strict=True)
            out_of_range = manifest_ranges(sub.manifest)
        except Exception as exc:  # ManifestError, or a value the dataclasses reject
            sub.manifest, out_of_range = None, str(exc).splitlines()[0][:300]
        if out_of_range:
            sub.manifest, sub.manifest_error = None, out_of_range
    elif name in REPORT_MDS:
        if len(data) > MAX_REPORT_BYTES:
            raise Refused(f"{name} is over {MAX_REPORT_BYTES >> 20} MiB")
        # Whichever comes first in the archive, English wins: one report is checked.
        if sub.report_name is None or REPORT_MDS.index(name) < REPORT_MDS.index(sub.report_name):
            sub.report_md, sub.report_name = data.decode("utf-8", errors="replace"), name
    elif name in REPORT_HTMLS:
        if len(data) > MAX_REPORT_BYTES:
            raise Refused(f"{name} is over {MAX_REPORT_BYTES >> 20} MiB")
        sub.report_html_text[name] = html_text(data.decode("utf-8", errors="replace"))
    elif name in REPORT_PDFS:
        # Not read here: an unreadable PDF is the consistency check's to flag, not a refusal.
        sub.report_pdfs[name] = data
    else:
        table = next(t for t, rel in TABLES.items() if rel == name)
        try:
            sub.tables[table] = read_table_bytes(data, table)
        except Refused as exc:
            sub.table_errors[table] = str(exc)


def _zip_members(path: Path | io.BytesIO) -> Iterator[tuple[str, Iterator[bytes]]]:
    """Each member's name and its inflated bytes as chunks, every limit checked from the
    central directory before the first member is inflated (a pack already in memory, from
    an object store, had its size checked from the store's metadata by the caller)."""
    if isinstance(path, io.BytesIO):
        f = path
    else:
        f = open_regular(path, path.name)
        if os.fstat(f.fileno()).st_size > MAX_ARCHIVE_BYTES:
            f.close()
            raise Refused(f"the archive is over {MAX_ARCHIVE_BYTES >> 20} MiB")
    try:
        z = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        f.close()
        raise Refused(f"not a zip archive ({str(exc)[:80]})") from exc
    with f, z:
        infos = [i for i in z.infolist() if not i.is_dir()]
        check_members(infos)
        for info in infos:
            yield info.filename, _inflate(z, info)


def check_members(infos: list[zipfile.ZipInfo]) -> None:
    """Names, kinds and declared sizes of an archive's members: Refused at the first bad one."""
    if len(infos) > MAX_MEMBERS:
        raise Refused(f"{len(infos)} files in the archive (cap {MAX_MEMBERS})")
    total = 0
    for info in infos:
        name = info.filename
        check_member_name(name)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise Refused(f"{name!r} is a link")
        if info.flag_bits & 0x1:
            raise Refused(f"{name!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise Refused(f"{name!r} uses compression method {info.compress_type}")
        if info.file_size > MAX_MEMBER_BYTES:
            raise Refused(f"{name!r} inflates to {info.file_size} bytes (cap {MAX_MEMBER_BYTES})")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_FLOOR and ratio > MAX_RATIO:
            raise Refused(f"{name!r} inflates {ratio:.0f}× (cap {MAX_RATIO}×): a zip bomb")
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise Refused(f"the archive inflates past {MAX_TOTAL_BYTES >> 20} MiB")


def check_member_name(name: str) -> None:
    if not name or "\\" in name or "\x00" in name:
        raise Refused(f"member name {name!r} is not a plain relative path")
    p = PurePosixPath(name)
    if p.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise Refused(f"member {name!r} is an absolute path")
    if ".." in p.parts:
        raise Refused(f"member {name!r} climbs out of the archive ('..')")


def _inflate(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The member's bytes, stopped as soon as they pass its declared size (a lying header)."""
    cap = min(info.file_size, MAX_MEMBER_BYTES)
    got = 0
    try:
        with z.open(info) as f:
            while chunk := f.read(_CHUNK):
                got += len(chunk)
                if got > cap:
                    raise Refused(f"{info.filename!r} inflates past its declared size")
                yield chunk
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise Refused(f"{info.filename!r} is corrupt ({str(exc)[:80]})") from exc


def _dir_members(run_dir: Path) -> Iterator[tuple[str, Iterator[bytes]]]:
    """A run directory's pack members (RunPaths.pack_members), each a regular file reached
    through no link (a named pipe would block a reader forever; a link reads someone else's)."""
    paths = RunPaths(run_dir)
    for p in paths.pack_members():
        rel = p.relative_to(run_dir).as_posix()
        if any(q.is_symlink() for q in [p, *p.parents] if run_dir in q.parents):
            raise Refused(f"{rel} is a link: not followed")
        yield rel, _file_chunks(p, rel, MAX_MEMBER_BYTES)


# --------------------------------------------------------------------------- a run directory
# The comparison (lab1.compare.crossrun) reads runs copied from other machines through these: the
# same
# regular-file reader, caps and schema checks as a class's submissions.


def html_text(page: str) -> str:
    """The text a browser shows of a page (its tags and attributes left out, entities
    decoded), pieces joined by spaces: parsed as data, never rendered or run."""
    from html.parser import HTMLParser

    pieces: list[str] = []

    class _Text(HTMLParser):
        def handle_data(self, data: str) -> None:
            pieces.append(data)

    parser = _Text()
    parser.feed(page)
    parser.close()
    return " ".join(pieces)
