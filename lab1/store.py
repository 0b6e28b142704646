"""Runs, packs and class submissions in an S3-compatible object store (AWS S3, MinIO, Ceph).

    s3://bucket/prefix/<run name>/...        a run, the same files as a local run directory
    s3://bucket/prefix/<run>.lab1.zip        a pack

The endpoint comes from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (unset: AWS itself), the
credentials from the standard AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, or a
profile). Native writers (torch.save, the profiler, matplotlib) write local files; a run is
made in a local scratch folder and pushed piece by piece. S3 makes each object visible whole
or not at all, so a reader never sees half an object; the manifest is pushed last, so a
reader that finds it finds every file it names.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from lab1.config import store_scratch_dir, worker_scratch_dir
from lab1.errors import Lab1Error
from lab1.rundir import MANIFEST, device_tag

SCHEME = "s3://"
# A store that does not answer within these is unreachable: one line, not minutes of retries.
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 60
ATTEMPTS = 2


class StoreError(Lab1Error):
    """The object store cannot be reached, read or written."""

    resumable = False


def is_store_url(location: str | Path) -> bool:
    return str(location).startswith(SCHEME)


@dataclass(frozen=True)
class StoreURL:
    """``s3://bucket/prefix``: where runs (or submissions) live in a bucket."""

    bucket: str
    prefix: str = ""  # no leading or trailing slash

    @classmethod
    def parse(cls, url: str) -> StoreURL:
        if not is_store_url(url):
            raise StoreError(f"{url!r} is not an s3:// URL")
        bucket, _, prefix = url[len(SCHEME) :].partition("/")
        prefix = prefix.strip("/")
        parts = PurePosixPath(prefix).parts if prefix else ()
        if not bucket or any(p in (".", "..") for p in parts) or "//" in prefix:
            raise StoreError(f"{url!r}: give s3://BUCKET/PREFIX (no '..', no empty parts)")
        return cls(bucket, prefix)

    def __str__(self) -> str:
        return f"{SCHEME}{self.key()}"

    def key(self, *rel: str) -> str:
        """``bucket/prefix/rel...``: the key as s3fs names it."""
        return "/".join(p for p in (self.bucket, self.prefix, *rel) if p)

    def child(self, name: str) -> StoreURL:
        return StoreURL(self.bucket, "/".join(p for p in (self.prefix, name) if p))

    @property
    def name(self) -> str:
        return PurePosixPath(self.prefix).name


def endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def filesystem():
    """An s3fs filesystem on the configured endpoint, with short timeouts and few retries;
    a fresh instance (no cache of listings between calls)."""
    import s3fs  # the optional extra `store`: only a store URL needs it

    return s3fs.S3FileSystem(
        anon=False,
        endpoint_url=endpoint(),
        skip_instance_cache=True,
        use_listings_cache=False,
        config_kwargs={
            "connect_timeout": CONNECT_TIMEOUT_S,
            "read_timeout": READ_TIMEOUT_S,
            "retries": {"max_attempts": ATTEMPTS},
        },
    )


def _where() -> str:
    return endpoint() or "AWS S3"


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def check_store(url: str, write: bool = True) -> StoreURL:
    """Credentials, endpoint, bucket and (``write``) the right to write, proven before anything
    is written: a probe object is put and deleted at once. StoreError with one line."""
    import botocore.session  # s3fs's dependency

    where = StoreURL.parse(url)
    if botocore.session.get_session().get_credentials() is None:
        raise StoreError(
            f"{url}: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(or AWS_PROFILE) for the store"
        )
    fs = filesystem()
    try:
        fs.ls(where.bucket, detail=False)
    except FileNotFoundError as exc:
        raise StoreError(f"{url}: bucket {where.bucket!r} does not exist at {_where()}") from exc
    except PermissionError as exc:
        raise StoreError(
            f"{url}: the credentials may not read bucket {where.bucket!r} ({_reason(exc)})"
        ) from exc
    except Exception as exc:  # connection refused, DNS, timeout, TLS: all mean "not there"
        raise StoreError(
            f"{url}: the object store at {_where()} does not answer ({_reason(exc)}); "
            "check AWS_ENDPOINT_URL"
        ) from exc
    if write:
        probe = where.key(f".lab1-write-check-{secrets.token_hex(4)}")
        try:
            fs.pipe_file(probe, b"")
        except Exception as exc:
            raise StoreError(
                f"{url}: the credentials may not write to bucket {where.bucket!r} ({_reason(exc)})"
            ) from exc
        with contextlib.suppress(Exception):
            fs.rm_file(probe)
    return where


# --------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class Entry:
    """One run folder or pack under a prefix, with its size from the store's metadata."""

    name: str
    url: str
    kind: str  # "pack" or "run directory"
    bytes: int
    files: int


def list_entries(url: str, fs=None) -> list[Entry]:
    """Every pack (``*.zip``) and run folder (one holding manifest.json) directly under
    ``url``, sizes summed from listings: no object is read."""
    where = StoreURL.parse(url)
    fs = fs or filesystem()
    base = where.key()
    entries: dict[str, list] = {}
    for key, info in fs.find(base, detail=True).items():
        rel = key[len(base) :].lstrip("/")
        top, _, rest = rel.partition("/")
        if not top or top.startswith("."):
            continue
        entries.setdefault(top, [False, 0, 0])
        entries[top][0] |= rest == MANIFEST or (not rest and top.endswith(".zip"))
        entries[top][1] += int(info.get("size") or 0)
        entries[top][2] += 1
    out = []
    for name, (is_run, size, files) in sorted(entries.items()):
        if is_run:
            kind = "pack" if name.endswith(".zip") else "run directory"
            out.append(Entry(name, str(where.child(name)), kind, size, files))
    return out


def object_size(url: str, fs=None) -> int:
    """An object's size from its metadata (HEAD), before any byte of it is read."""
    fs = fs or filesystem()
    try:
        return int(fs.info(StoreURL.parse(url).key())["size"])
    except FileNotFoundError as exc:
        raise StoreError(f"{url} does not exist") from exc


def read_capped(url: str, cap: int, fs=None) -> bytes:
    """An object's bytes, its size checked from metadata first and the read stopped past
    ``cap`` (metadata can be replaced between the check and the read)."""
    fs = fs or filesystem()
    size = object_size(url, fs)
    if size > cap:
        raise StoreError(f"{url} is {size} bytes (cap {cap})")
    with fs.open(StoreURL.parse(url).key(), "rb") as f:
        data = f.read(cap + 1)
    if len(data) > cap:
        raise StoreError(f"{url} grew past {cap} bytes while read")
    return data


def exists(url: str, fs=None) -> bool:
    fs = fs or filesystem()
    return bool(fs.exists(StoreURL.parse(url).key()))


# --------------------------------------------------------------------------- push and pull


def _files(root: Path) -> list[str]:
    """A folder's regular files as posix paths relative to it; links and hidden names (the
    atomic writer's temporary files) are left out."""
    out = []
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            p = Path(dirpath) / f
            if not f.startswith(".") and p.is_file() and not p.is_symlink():
                out.append(p.relative_to(root).as_posix())
    return out


def manifest_last(names: Iterable[str]) -> list[str]:
    """The order a run is pushed in: every file, then manifest.json."""
    names = list(names)
    return [n for n in names if n != MANIFEST] + [n for n in names if n == MANIFEST]


@dataclass
class Mirror:
    """A local folder kept in step with its place in the store: ``sync()`` pushes the files
    that changed since the last sync, the manifest last, then deletes what the folder no
    longer has. Each object is put whole."""

    local: Path
    url: str
    fs: object = None
    _pushed: dict[str, tuple[int, int]] = field(default_factory=dict)

    def sync(self) -> int:
        """Push what changed; the number of files pushed. StoreError when a put fails."""
        self.fs = self.fs or filesystem()
        where = StoreURL.parse(self.url)
        pushed = 0
        names = _files(self.local)
        for rel in manifest_last(names):
            st = (self.local / rel).stat()
            stamp = (st.st_size, st.st_mtime_ns)
            if self._pushed.get(rel) == stamp:
                continue
            try:
                self.fs.put_file(str(self.local / rel), where.key(rel))
            except Exception as exc:
                raise StoreError(f"upload of {rel} to {self.url} failed: {_reason(exc)}") from exc
            self._pushed[rel] = stamp
            pushed += 1
        # What the run removed (older checkpoints) goes from the store too, after the manifest
        # that no longer names it.
        for rel in sorted(set(self._pushed) - set(names)):
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(where.key(rel))
            del self._pushed[rel]
        return pushed

    def pull(self, only: tuple[str, ...], cap: int) -> list[str]:
        """The store's files of this place that ``only`` names (a file's relative path, or a
        folder's ending in '/'), into the local folder under ``cap``;
        marked as pushed, so that sync() does not send them back. Their relative paths."""
        self.fs = self.fs or filesystem()
        wanted = _wanted(self.url, self.fs, only=only)
        _fetch(self.url, wanted, self.local, cap, self.fs)
        for rel in wanted:
            st = (self.local / rel).stat()
            self._pushed[rel] = (st.st_size, st.st_mtime_ns)
        return sorted(wanted)


def push(local: str | Path, url: str) -> int:
    """A file (to ``url`` itself) or a folder (under ``url``, the manifest last)."""
    local = Path(local)
    if local.is_file():
        fs = filesystem()
        try:
            fs.put_file(str(local), StoreURL.parse(url).key())
        except Exception as exc:
            raise StoreError(f"upload of {local} to {url} failed: {_reason(exc)}") from exc
        return 1
    return Mirror(local, url).sync()


def _wanted(url: str, fs, skip: tuple[str, ...] = (), only: tuple[str, ...] = ()) -> dict[str, int]:
    """The keys under ``url`` to fetch, relative to it, with their listed sizes: not those
    starting with one of ``skip``; when ``only`` is given, only the files it names and what
    lies in the folders it names (ending in '/'). Checked like an archive's members (no '..',
    no hidden top folder)."""
    base = StoreURL.parse(url).key()
    try:
        listing = fs.find(base, detail=True)
    except Exception as exc:
        raise StoreError(f"{url} cannot be listed: {_reason(exc)}") from exc
    wanted = {}
    for key, info in listing.items():
        rel = key[len(base) :].lstrip("/")
        parts = PurePosixPath(rel).parts
        if not rel or ".." in parts or rel.startswith(skip) or parts[0].startswith("."):
            continue
        if only and not any(rel == o or (o.endswith("/") and rel.startswith(o)) for o in only):
            continue
        wanted[rel] = int(info.get("size") or 0)
    return wanted


def _fetch(url: str, wanted: dict[str, int], dest: Path, cap: int, fs) -> None:
    """Every wanted key into ``dest``, their total checked against ``cap`` before the first
    byte is read."""
    if not wanted:
        raise StoreError(f"nothing at {url}")
    total = sum(wanted.values())
    if total > cap:
        raise StoreError(f"{url} holds {total} bytes to fetch (cap {cap})")
    where = StoreURL.parse(url)
    for rel in wanted:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(where.key(rel), str(target))


def pull(url: str, dest: str | Path, cap: int, skip: tuple[str, ...] = ()) -> Path:
    """A run folder (or any folder) from the store into ``dest``, every object's size summed
    from the listing and checked against ``cap`` before the first byte is read. Keys whose
    relative path starts with one of ``skip`` are not fetched. Keys are checked like an
    archive's members: nothing lands outside ``dest``."""
    fs = filesystem()
    _fetch(url, _wanted(url, fs, skip), Path(dest), cap, fs)
    return Path(dest)


# What neither a comparison nor a pack reads of a run: weights, checkpoints, traces, the
# dataset. A run fetched for either leaves them in the store.
NOT_FETCHED = ("checkpoints/", "data/", "profiles/traces/", "model.pt", "graph/model.pt2")
MAX_FETCH_BYTES = 1 << 30


def fetch_run(url: str, parent: str | Path) -> Path:
    """A run from the store into ``parent/<run name>`` (its name kept: a run is known by it),
    without what NOT_FETCHED names, under MAX_FETCH_BYTES; checked like a local run after."""
    where = StoreURL.parse(url)
    if not where.prefix:
        raise StoreError(f"{url}: give the run's own prefix, s3://BUCKET/PREFIX/RUN")
    check_store(url, write=False)
    return pull(url, Path(parent) / where.name, MAX_FETCH_BYTES, skip=NOT_FETCHED)


def scratch_runs_dir(url: str) -> Path:
    """Where runs bound for ``url`` are made here: ``<store scratch>/<bucket>/<prefix>``."""
    where = StoreURL.parse(url)
    return store_scratch_dir() / where.bucket / where.prefix


def local_runs_dir(runs_dir: str) -> str:
    """The folder a run is written into: ``runs_dir`` itself, or its scratch for a store."""
    return str(scratch_runs_dir(runs_dir)) if is_store_url(runs_dir) else runs_dir


def worker_scratch(run_url: str, device: str) -> Path:
    """Where a profiling worker makes its part of the run ``run_url`` on this machine: its
    own folder per device, apart from any run made here, so that two workers on one host, or
    a worker beside the run's own parent, never write into each other's files."""
    where = StoreURL.parse(run_url)
    return worker_scratch_dir() / device_tag(device) / where.bucket / where.prefix


def scratch_identity(path: str | None) -> str | None:
    """A path as a cache key holds it: one under this machine's scratch folder as its place
    there, the same text on every host (a task cached by one worker is found by another);
    any other path as it is."""
    if path is None:
        return None
    p, base = Path(path), store_scratch_dir()
    if p.is_absolute() and p.is_relative_to(base):
        return "scratch:" + p.relative_to(base).as_posix()
    return str(path)
