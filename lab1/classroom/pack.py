"""A run packed for handing in: one zip a student uploads, checked by lab1.classroom.checks.

    <run name>.lab1.zip
        pack.json            pack_version, lab1 code version, run id, and every other member
                             with its SHA-256 and size (what lab1.classroom.checks holds the files
                             to)
        manifest.json, profiles/*.parquet, compare/*.parquet, report.md, report.html,
        report.pdf, figures/*.png, compare/*.png, tensorboard/events.out.tfevents.*,
        graph/layers.json, run.log   (RunPaths.pack_members: those the run has)

Never checkpoints, weights (model.pt, graph/model.pt2), traces or the dataset: a pack is
results and their words, small (a default run's is well under MAX_DEFAULT_BYTES), and holds
nothing a reader would have to unpickle.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

from lab1.atomic import atomic_write
from lab1.errors import ManifestError, PackError
from lab1.run.manifest import read_manifest
from lab1.rundir import PACK_SUFFIX, RunPaths, pack_file
from lab1.version import code_version

PACK_VERSION = 1
PACK_INDEX = "pack.json"
MAX_DEFAULT_BYTES = 5 * 2**20  # what the course site accepts for a default run
# A fixed member time: the same run packs to the same bytes.
_EPOCH = (1980, 1, 1, 0, 0, 0)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_packable(run_dir: str | Path, out: str | Path | None = None) -> tuple[RunPaths, Path]:
    """The run and the zip's path, checked before anything is written: a finished lab1 run,
    and an output ending in .lab1.zip that does not exist yet."""
    paths = RunPaths(Path(run_dir).expanduser().resolve())
    try:
        manifest = read_manifest(paths)
    except ManifestError as exc:
        raise PackError(str(exc)) from exc
    if manifest.status != "completed":
        raise PackError(
            f"run {manifest.run_id} is {manifest.status}, not completed: finish it "
            "(python flows/lab1_flow.py --resume --run-name …) before packing"
        )
    target = Path(out) if out else pack_file(paths.runs_dir, paths.root.name)
    target = target.expanduser().resolve()
    if not target.name.endswith(PACK_SUFFIX):
        raise PackError(f"--out {target.name}: a pack's name ends in {PACK_SUFFIX}")
    if target.exists():
        raise PackError(f"{target} already exists: remove it or pass another --out")
    if not target.parent.is_dir():
        raise PackError(f"--out {target}: folder {target.parent} does not exist")
    return paths, target


def pack_run(run_dir: str | Path, out: str | Path | None = None) -> dict:
    """Write the run's pack (default ``<runs_dir>/<run name>.lab1.zip``) in one step: whole
    or not at all. Returns ``{"pack": path, "files": n, "bytes": size}``."""
    paths, target = check_packable(run_dir, out)
    manifest = read_manifest(paths)
    members = {p.relative_to(paths.root).as_posix(): p.read_bytes() for p in paths.pack_members()}
    index = {
        "pack_version": PACK_VERSION,
        "lab1_version": code_version(),
        "run_id": manifest.run_id,
        "files": {
            name: {"sha256": sha256_bytes(data), "bytes": len(data)}
            for name, data in members.items()
        },
    }

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
            for name, data in [(PACK_INDEX, _json_bytes(index)), *members.items()]:
                info = zipfile.ZipInfo(name, date_time=_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16  # a plain file, readable by all
                z.writestr(info, data)

    atomic_write(target, write)
    return {"pack": str(target), "files": len(members) + 1, "bytes": target.stat().st_size}


def _json_bytes(obj: dict) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8")
