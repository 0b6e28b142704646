"""A default run directory stays under 40 MB: torch archives are written deflated (torch writes
its zip entries stored), and read back exactly as before."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import torch

from lab1.atomic import deflated_zip, write_torch
from lab1.run.checkpoints import load_newest_valid, record_path, save_checkpoint, save_weights
from lab1.run.data import load_tensors, prepare_dataset
from lab1.run.model import Net
from tests.conftest import write_mnist_layout


def _methods(path: Path) -> set[int]:
    with zipfile.ZipFile(path) as z:
        return {entry.compress_type for entry in z.infolist()}


def test_a_torch_archive_is_written_deflated_and_loads_back_equal(tmp_path):
    digits = {"images": torch.zeros(1000, 28, 28, dtype=torch.uint8)}  # 784,000 zero bytes
    digits["images"][:, 10:18, 12:16] = 255  # a stroke: 32,000 non-zero bytes
    path = write_torch(tmp_path / "d.pt", lambda f: torch.save(digits, f))
    assert _methods(path) == {zipfile.ZIP_DEFLATED}
    assert path.stat().st_size < 784_000 // 20  # a regular pattern: far beyond 20×
    assert torch.equal(torch.load(path, weights_only=True)["images"], digits["images"])


def test_deflating_keeps_every_entry_and_its_bytes():
    stored = tempfile_archive({"a.bin": b"\0" * 5000, "b/c.txt": b"hello"})
    out = deflated_zip(stored)
    with zipfile.ZipFile(io.BytesIO(out)) as z:
        assert {e.filename: z.read(e) for e in z.infolist()} == {
            "a.bin": b"\0" * 5000,
            "b/c.txt": b"hello",
        }
        assert {e.compress_type for e in z.infolist()} == {zipfile.ZIP_DEFLATED}


def tempfile_archive(files: dict[str, bytes]) -> bytes:
    """A zip with its entries stored, as torch.save writes them."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_the_decoded_dataset_is_deflated(tmp_path):
    write_mnist_layout(tmp_path / "datasets")
    info = prepare_dataset("mnist", tmp_path / "datasets", tmp_path / "data")
    assert _methods(Path(info.path)) == {zipfile.ZIP_DEFLATED}
    tensors = load_tensors(info.path)
    assert len(tensors["train_labels"]) == info.train_size


def test_a_deflated_checkpoint_verifies_against_its_record_and_resumes(tmp_path):
    model = Net()
    state = {"epoch": 3, "recipe": {"seed": 1}, "model": model.state_dict()}
    path = tmp_path / "epoch_3.pt"
    save_checkpoint(state, path)
    assert _methods(path) == {zipfile.ZIP_DEFLATED}
    record = json.loads(record_path(path).read_text())
    data = path.read_bytes()
    assert record["sha256"] == hashlib.sha256(data).hexdigest() and record["bytes"] == len(data)
    loaded, found = load_newest_valid(tmp_path)
    assert found == path and loaded["epoch"] == 3
    assert torch.equal(loaded["model"]["fc1.weight"], model.state_dict()["fc1.weight"])
    weights = save_weights(model, tmp_path / "model.pt")
    assert _methods(weights) == {zipfile.ZIP_DEFLATED}
    assert torch.equal(torch.load(weights, weights_only=True)["fc2.bias"], model.fc2.bias)
