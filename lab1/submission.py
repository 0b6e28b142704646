"""A student's submission, opened as untrusted input: a pack (lab1.pack) or a run directory.

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
import json
import os
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lab1.errors import Lab1Error
from lab1.manifest import Manifest, manifest_from_dict
from lab1.pack import PACK_INDEX
from lab1.rundir import MANIFEST as MANIFEST_FILE
from lab1.rundir import PACK_SUFFIX, TABLES, RunPaths
from lab1.tables import SCHEMAS, with_older_columns

# Limits on one submission. A default run's pack is about 1 MB (README, "Handing in"); these
# leave room for a long run.log and screenshots, and refuse what no lab1 run produces.
MAX_ARCHIVE_BYTES = 32 * 2**20  # the zip file itself
MAX_MEMBERS = 2000
MAX_MEMBER_BYTES = 32 * 2**20  # one member, inflated
MAX_TOTAL_BYTES = 64 * 2**20  # all members, inflated
MAX_RATIO = 100  # inflated / compressed, for members over RATIO_FLOOR (a zip bomb: ~1000)
RATIO_FLOOR = 64 * 2**10
MAX_MANIFEST_BYTES = 2 * 2**20
MAX_TABLE_BYTES = 16 * 2**20
MAX_TABLE_ROWS = 200_000
MAX_REPORT_BYTES = 8 * 2**20
MAX_DEPTH = 4  # folders searched for a run inside a student's folder
_CHUNK = 1 << 16

# What the checks read (each parsed as JSON, Parquet or UTF-8 text, under its own cap).
REPORT_MD = "report.md"
_READ = {PACK_INDEX, MANIFEST_FILE, REPORT_MD, *TABLES.values()}


class Refused(Lab1Error):
    """A submission that cannot be read as a run: refused, with this one-line reason."""

    resumable = False


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
            for entry in sorted(item.iterdir()):
                if not entry.name.startswith("."):
                    found.append((student_name(entry), entry, item))
    return found


def student_name(path: Path) -> str:
    name = path.name
    for suffix in (PACK_SUFFIX, ".zip"):
        if name.endswith(suffix) and path.is_file():
            return name[: -len(suffix)]
    return path.stem if path.is_file() else name


def locate_run(entry: Path) -> tuple[str, Path]:
    """A student's entry → ("pack", zip) or ("run directory", folder); Refused when it holds
    none, or more than one."""
    if entry.is_symlink():
        raise Refused("the entry is a link: not followed")
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
    members = _zip_members(path) if kind == "pack" else _dir_members(path)
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
        try:
            sub.manifest = manifest_from_dict(sub.manifest_data)
        except Exception as exc:  # ManifestError, or a type the dataclasses reject
            sub.manifest_error = str(exc).splitlines()[0][:300]
    elif name == REPORT_MD:
        if len(data) > MAX_REPORT_BYTES:
            raise Refused(f"{name} is over {MAX_REPORT_BYTES >> 20} MiB")
        sub.report_md = data.decode("utf-8", errors="replace")
    else:
        table = next(t for t, rel in TABLES.items() if rel == name)
        try:
            sub.tables[table] = read_table_bytes(data, table)
        except Refused as exc:
            sub.table_errors[table] = str(exc)


def _json(data: bytes, name: str, cap: int) -> dict:
    if len(data) > cap:
        raise Refused(f"{name} is over {cap >> 20} MiB")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused(f"{name} is not JSON: {str(exc)[:120]}") from exc
    if not isinstance(obj, dict):
        raise Refused(f"{name} is not a JSON object")
    return obj


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
        t = with_older_columns(pf.read(), schema)
        missing = [n for n in schema.names if n not in t.column_names]
        if missing:
            raise Refused(f"table {table} has no column(s) {', '.join(missing[:5])}")
        return t.select(schema.names).cast(schema).to_pandas()
    except Refused:
        raise
    except Exception as exc:  # ArrowInvalid and friends: not Parquet of its schema
        raise Refused(f"table {table} does not read as Parquet: {str(exc)[:120]}") from exc


def _zip_members(path: Path) -> Iterator[tuple[str, Iterator[bytes]]]:
    """Each member's name and its inflated bytes as chunks, every limit checked from the
    central directory before the first member is inflated."""
    if path.stat().st_size > MAX_ARCHIVE_BYTES:
        raise Refused(f"the archive is over {MAX_ARCHIVE_BYTES >> 20} MiB")
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise Refused(f"not a zip archive ({str(exc)[:80]})") from exc
    with z:
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
    """A run directory's pack members (RunPaths.pack_members), none of them a link."""
    paths = RunPaths(run_dir)
    for p in paths.pack_members():
        rel = p.relative_to(run_dir)
        if any(q.is_symlink() for q in [p, *p.parents] if run_dir in q.parents):
            raise Refused(f"{rel.as_posix()} is a link: not followed")
        if p.stat().st_size > MAX_MEMBER_BYTES:
            raise Refused(f"{rel.as_posix()} is over {MAX_MEMBER_BYTES >> 20} MiB")
        yield rel.as_posix(), _file_chunks(p)


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            yield chunk
