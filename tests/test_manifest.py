"""The typed manifest: round trip, strict fields, version refusal, and one API for writers."""

from __future__ import annotations

import json

import pytest
from rundirs import start_run

from lab1.config import Lab1Config
from lab1.errors import ManifestError
from lab1.manifest import (
    SCHEMA_VERSION,
    DatasetInfo,
    Manifest,
    read_manifest,
    update_manifest,
)
from lab1.rundir import RunPaths

DATASET = {
    "name": "mnist",
    "source": "local",
    "location": "/d",
    "train_size": 200,
    "test_size": 50,
    "checksum": "ab",
    "full": True,
    "path": "/d/mnist.pt",
}


def test_sections_are_typed_on_the_way_in_and_out(tmp_path):
    paths = start_run(tmp_path / "run", parameters={"seed": 7, "batch_sizes": [1, 2, 3]})
    update_manifest(paths, dataset=DATASET, timings={"download-data": 1.5})
    m = read_manifest(paths)
    assert isinstance(m, Manifest) and isinstance(m.dataset, DatasetInfo)
    assert isinstance(m.parameters, Lab1Config)
    assert m.parameters.seed == 7 and m.parameters.batch_sizes == (1, 2, 3)
    assert m.dataset.train_size == 200 and m.timings == {"download-data": 1.5}
    raw = json.loads(paths.manifest.read_text())
    assert raw["schema_version"] == SCHEMA_VERSION and raw["parameters"]["batch_sizes"] == [1, 2, 3]


def test_unknown_sections_and_fields_are_refused_at_write_time(tmp_path):
    paths = start_run(tmp_path / "run")
    with pytest.raises(ManifestError, match="no section"):
        update_manifest(paths, recipe={"lr": 1.0})
    with pytest.raises(ManifestError, match=r"dataset: unknown field\(s\) colour"):
        update_manifest(paths, dataset={**DATASET, "colour": "red"})
    with pytest.raises(ManifestError, match="status 'done'"):
        update_manifest(paths, status="done")
    assert read_manifest(paths).dataset is None  # nothing half-applied


@pytest.mark.parametrize("version", [None, 0, SCHEMA_VERSION + 1])
def test_a_manifest_of_another_version_is_one_clear_error(tmp_path, version):
    paths = start_run(tmp_path / "run")
    raw = json.loads(paths.manifest.read_text())
    raw["schema_version"] = version
    paths.manifest.write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match=f"schema_version {version!r} is not one this lab1"):
        read_manifest(paths)


def test_a_schema_1_manifest_reads_without_a_machine_and_is_written_back_as_the_current(tmp_path):
    """Version 1 had no hostname, gpu_models or machine_id in its environment."""
    from test_report import ENV

    paths = start_run(tmp_path / "run")
    raw = json.loads(paths.manifest.read_text())
    old_env = {k: v for k, v in ENV.items() if k not in ("hostname", "gpu_models", "machine_id")}
    raw.update(schema_version=1, environment=old_env)
    paths.manifest.write_text(json.dumps(raw))
    env = read_manifest(paths).environment
    assert env.cpu_model == "Test CPU 9000"
    assert (env.hostname, env.gpu_models, env.machine_id) == (None, None, None)
    update_manifest(paths, timings={"x": 1.0})
    assert json.loads(paths.manifest.read_text())["schema_version"] == 3 == SCHEMA_VERSION


def test_a_missing_or_corrupt_manifest_is_one_clear_error(tmp_path):
    with pytest.raises(ManifestError, match="not a lab1 run directory"):
        read_manifest(RunPaths(tmp_path))
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="cannot be read"):
        read_manifest(RunPaths(tmp_path))
