"""Shared fixtures: tiny IDX datasets written by the tests, and the Prefect servers of a session:
an in-process harness for flow tests, and one real ``prefect server`` (with its UI) for the
end-to-end tests that drive it as a user does."""

from __future__ import annotations

import sys
from pathlib import Path

import flows.settings  # noqa: F401  (before prefect: the same settings as the CLI)

# isort: split
import numpy as np
import pytest

from lab1.host.machine import ENV_VAR
from lab1.run import data
from lab1.run.train import Recipe


def pytest_configure(config):
    """LAB1_TEST_MACHINE=<name of tests/machines.py's MACHINES>: the whole session sees that
    machine (set before any test, so module-level reads and subprocesses see it too)."""
    import os

    name = os.environ.get("LAB1_TEST_MACHINE")
    if name:
        from machines import MACHINES

        if name not in MACHINES:
            raise pytest.UsageError(f"LAB1_TEST_MACHINE={name}: not one of {sorted(MACHINES)}")
        os.environ[ENV_VAR] = MACHINES[name].to_json()


def pytest_report_header(config):
    import os

    from lab1.host.machine import cpu_model

    where = "described by LAB1_MACHINE" if os.environ.get(ENV_VAR) else "read"
    return f"lab1 machine: {cpu_model()} ({where})"


def synthetic_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n learnable 28×28 'digits': class k lights up row band k (+ noise)."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 10).astype(np.uint8)
    rng.shuffle(labels)
    images = rng.integers(0, 40, size=(n, 28, 28), dtype=np.uint8)
    for i, k in enumerate(labels):
        images[i, 2 + 2 * k : 4 + 2 * k, 4:24] = 255
    return images, labels


def write_mnist_layout(
    root: Path, name: str = "mnist", n_train: int = 200, n_test: int = 50, gz: bool = False
) -> Path:
    """Write the four IDX files in torchvision's layout under root; returns the raw folder."""
    folder = data.raw_dir(name, root)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for split, n, seed in (("train", n_train, 1), ("t10k", n_test, 2)):
        images, labels = synthetic_split(n, seed)
        data.write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", images, compress=gz)
        data.write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}", labels, compress=gz)
    return folder


def small_recipe(
    checksum: str, batch_size: int = 16, test_batch_size: int = 25, precision: str = "fp32"
) -> Recipe:
    """The reference recipe (Adadelta lr 1.0, StepLR gamma 0.7, seed 1) at test-sized batches."""
    return Recipe("mnist", checksum, batch_size, test_batch_size, 1.0, 0.7, 1, precision)


@pytest.fixture
def tiny_data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "datasets"
    write_mnist_layout(root)
    return root


@pytest.fixture
def tiny_dataset(tiny_data_dir: Path, tmp_path: Path) -> data.DatasetInfo:
    """The tiny dataset decoded to a .pt file, as download-data leaves it."""
    return data.prepare_dataset("mnist", tiny_data_dir, tmp_path / "run" / "data")


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect server + database for every test that needs the engine (per
    worker process when make test runs the suite in pytest-xdist workers)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """A real ``prefect server start`` on a free port, UI on, shared by the slow e2e tests
    (of this worker process, under pytest-xdist)."""
    from prefect_server import PrefectServer

    srv = PrefectServer(tmp_path_factory.mktemp("prefect-home"))
    srv.env["PREFECT_SERVER_UI_ENABLED"] = "true"
    # The UI calls the API at :4200 unless told otherwise: point it at this server's port.
    srv.env["PREFECT_UI_API_URL"] = srv.url
    # The deployment tests check the fallback: the checkout `prefect deploy` ran in.
    srv.env.pop("LAB1_HOME", None)
    with srv:
        try:
            yield srv
        finally:
            srv.stop()
            assert not srv.leftovers(), f"processes left running: {srv.leftovers()}"


# Test modules import helpers from one another across tests/unit, flow and e2e
# (test_report's NUMBER, ENV and make_run; test_system_view's names_in, ...): all three on the path.
for _folder in ("unit", "flow", "e2e"):
    if str(Path(__file__).parent / _folder) not in sys.path:
        sys.path.append(str(Path(__file__).parent / _folder))
