"""One directory per run, and its manifest.json, always written atomically."""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lab1.errors import RunDirError

MANIFEST = "manifest.json"


def new_run_name(dataset: str) -> str:
    """Timestamp + dataset + a random suffix: two runs started in the same second differ."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{dataset}-{secrets.token_hex(2)}"


def check_runs_dir(runs_dir: str | Path) -> Path:
    """Create the runs directory if needed and prove it is writable (leaves nothing behind)."""
    runs = Path(runs_dir).expanduser().resolve()
    try:
        runs.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=runs):
            pass
    except OSError as exc:
        raise RunDirError(f"--runs-dir {runs_dir} is not writable: {exc.strerror or exc}") from exc
    return runs


def check_run_dir(runs_dir: str | Path, run_name: str, resume: bool = False) -> Path:
    """The run's directory path, checked (not created): a new run never reuses a name, and
    --resume requires an existing run."""
    runs = check_runs_dir(runs_dir)
    run_dir = runs / run_name
    if run_dir.resolve().parent != runs:  # names are validated, but never trust a path
        raise RunDirError(f"run name {run_name!r} escapes the runs directory")
    if resume and not (run_dir / MANIFEST).is_file():
        raise RunDirError(f"--resume: no run {run_name!r} with a manifest under {runs}")
    if not resume and run_dir.exists():
        raise RunDirError(_EXISTS.format(name=run_name, runs=runs))
    return run_dir


_EXISTS = (
    "run {name!r} already exists under {runs}: pick another --run-name, "
    "or pass --resume to continue it"
)


def create_run_dir(runs_dir: str | Path, run_name: str, resume: bool = False) -> Path:
    """The run's own directory (see check_run_dir); created atomically for a new run."""
    run_dir = check_run_dir(runs_dir, run_name, resume)
    if resume:
        return run_dir
    try:
        run_dir.mkdir()
    except FileExistsError as exc:  # another run took the name since the check
        raise RunDirError(_EXISTS.format(name=run_name, runs=run_dir.parent)) from exc
    return run_dir


def write_json(path: str | Path, obj: Any) -> Path:
    """Write JSON atomically (temp file + rename): readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=str)
        f.write("\n")
    os.replace(tmp, path)
    return path


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {}


def update_manifest(run_dir: str | Path, /, **fields: Any) -> dict[str, Any]:
    """Merge fields into manifest.json (top-level keys; dicts merged one level deep)."""
    manifest = read_manifest(run_dir)
    for key, value in fields.items():
        if isinstance(value, dict) and isinstance(manifest.get(key), dict):
            manifest[key] = {**manifest[key], **value}
        else:
            manifest[key] = value
    manifest["updated_at"] = datetime.now(timezone.utc).isoformat()
    write_json(Path(run_dir) / MANIFEST, manifest)
    return manifest


class RunPaths:
    """Where each artifact of a run lives, relative to its directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.manifest = self.root / MANIFEST
        self.data = self.root / "data"
        self.graph = self.root / "graph"
        self.tensorboard = self.root / "tensorboard"
        self.checkpoints = self.root / "checkpoints"
        self.profiles = self.root / "profiles"
        self.screenshots = self.root / "screenshots"

    def profile_result(self, device: str, batch_size: int) -> Path:
        """Where one (device, batch size) profiling summary lands, for the parent to gather."""
        safe = device.replace(":", "")
        return self.profiles / "results" / f"{safe}_bs{batch_size}.json"

    def profile_results(self) -> list[Path]:
        return sorted((self.profiles / "results").glob("*.json"))
