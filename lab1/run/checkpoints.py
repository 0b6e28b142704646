"""Epoch checkpoints: written atomically with a checksum record, verified before use, pruned.

    checkpoints/epoch_N.pt     model, optimizer, scheduler, RNG streams, recipe, history
    checkpoints/epoch_N.json   its record: epoch, sha256, bytes, recipe (the resume preflight
                               reads the recipe from here without loading the checkpoint)

A checkpoint counts only once its record exists: a crash between the two leaves an unrecorded
file that a resume sets aside like a corrupt one. Set-aside files are renamed ``*.bad``, never
deleted, so nothing is lost to a wrong guess.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lab1.atomic import deflated_zip, rename, write_json, write_stream, write_torch
from lab1.errors import CheckpointError
from lab1.rundir import CHECKPOINT_RE, checkpoint_file

log = logging.getLogger("lab1.run.checkpoints")

CKPT_RE = CHECKPOINT_RE
ASIDE_SUFFIX = ".bad"


def checkpoint_path(ckpt_dir: Path, epoch: int) -> Path:
    return checkpoint_file(ckpt_dir, epoch)


def record_path(checkpoint: Path) -> Path:
    return checkpoint.with_suffix(".json")


def checkpoints(ckpt_dir: Path) -> list[Path]:
    """Every epoch_N.pt in ckpt_dir, oldest epoch first."""
    found = [
        (int(m.group(1)), p)
        for p in Path(ckpt_dir).glob("epoch_*.pt")
        if (m := CKPT_RE.match(p.name))
    ]
    return [p for _, p in sorted(found)]


def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    found = checkpoints(ckpt_dir)
    return found[-1] if found else None


def latest_record(ckpt_dir: Path) -> dict | None:
    """The newest checkpoint's record (epoch, recipe …), read without loading the checkpoint."""
    for path in reversed(checkpoints(ckpt_dir)):
        try:
            return json.loads(record_path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return None


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """The record (checksum of the serialized bytes) first, then the checkpoint itself: a
    SIGKILL between the two leaves a record without a checkpoint (ignored), never a checkpoint
    without its record (which would be set aside, losing the resume)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = deflated_zip(buffer.getvalue())  # Adadelta's state compresses: 14.4 → 11.5 MB
    record = {
        "epoch": state["epoch"],
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "recipe": state["recipe"],
    }
    write_json(record_path(path), record)
    write_stream(path, lambda f: f.write(data))


def save_weights(model: nn.Module, path: Path) -> Path:
    """The model's weights alone, on the CPU: ``torch.load(path, weights_only=True)`` anywhere."""
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return write_torch(path, lambda f: torch.save(weights, f))


def _problem(path: Path) -> str | None:
    """Why ``path`` cannot be trusted, or None when its recorded checksum matches."""
    try:
        recorded = json.loads(record_path(path).read_text(encoding="utf-8"))["sha256"]
    except (OSError, ValueError, KeyError):
        return "has no readable checksum record"
    if sha256(path) != recorded:
        return "does not match its recorded checksum"
    return None


def set_aside(path: Path, reason: str) -> Path:
    """Rename a bad checkpoint (and its record) to *.bad, with a warning naming it."""
    aside = path.with_name(path.name + ASIDE_SUFFIX)
    rename(path, aside)
    record = record_path(path)
    if record.exists():
        rename(record, record.with_name(record.name + ASIDE_SUFFIX))
    log.warning("checkpoint %s %s: set aside as %s", path, reason, aside.name)
    return aside


def load_newest_valid(ckpt_dir: Path) -> tuple[dict, Path] | None:
    """The newest checkpoint that verifies and loads, and its path; every newer one that does
    not is set aside. None when there are no checkpoints; CheckpointError when none is valid.

    Every tensor is loaded onto the CPU, whatever device will train: the RNG states must stay
    there (torch.set_rng_state takes only a CPU byte tensor), and the model's and optimizer's
    load_state_dict copy their tensors to the parameters' device themselves."""
    found = checkpoints(ckpt_dir)
    for path in reversed(found):
        reason = _problem(path)
        if reason is None:
            try:
                return torch.load(path, map_location="cpu", weights_only=True), path
            except Exception as exc:  # torch raises RuntimeError, pickle errors, EOFError …
                reason = f"cannot be loaded ({str(exc).splitlines()[0][:120]})"
        set_aside(path, reason)
    if found:
        raise CheckpointError(
            f"none of the {len(found)} checkpoint(s) in {ckpt_dir} is valid (set aside as "
            f"*{ASIDE_SUFFIX}): start over under a new --run-name, without --resume"
        )
    return None


def prune(ckpt_dir: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` recorded checkpoints. Called only after the newest is
    written and recorded, so at any moment at least one whole checkpoint exists."""
    recorded = [p for p in checkpoints(ckpt_dir) if record_path(p).exists()]
    for path in recorded[:-keep]:
        path.unlink(missing_ok=True)  # the checkpoint first: a lone record is harmless
        record_path(path).unlink(missing_ok=True)
