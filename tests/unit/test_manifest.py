"""The typed manifest: round trip, strict fields, version refusal, and one API for writers."""

from __future__ import annotations

import json

import pytest
from rundirs import start_run

from lab1.config import Lab1Config
from lab1.errors import ManifestError
from lab1.run.manifest import SCHEMA_VERSION, DatasetInfo, Manifest, read_manifest, update_manifest
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


COMPARISON = {"tables": {}, "plots": {}, "summary": "s.md", "top10_markdown": "t.md"}
EPOCH = {
    "epoch": 1,
    "train_loss": 0.3,
    "train_accuracy": 0.9,
    "test_loss": 0.1,
    "test_accuracy": 0.97,
    "lr": 1.0,
    "images_per_s": 1000.0,
    "train_seconds": 60.0,
}


def test_a_run_from_before_measurements_reads_with_none_and_its_history_stays_complete(tmp_path):
    """A manifest written before lab1 recorded how sure its numbers are: no measurements, no
    attempts, epochs without their load; every epoch still counts as complete."""
    from test_report import ENV

    paths = start_run(tmp_path / "run")
    raw = json.loads(paths.manifest.read_text())
    raw["comparison"] = COMPARISON
    raw["environment"] = ENV
    raw["training"] = {
        "device": "cpu",
        "epochs_completed": 1,
        "resumed_from_epoch": None,
        "test_accuracy": 0.97,
        "test_loss": 0.1,
        "train_loss": 0.3,
        "train_accuracy": 0.9,
        "history": [EPOCH],
        "checkpoint": None,
        "execution": None,
    }
    paths.manifest.write_text(json.dumps(raw))
    m = read_manifest(paths)
    assert (m.comparison.measurements, m.comparison.attempts) == (None, [])
    [h] = m.training.complete_history()
    assert (h.images_per_s, h.other_cores, h.contended) == (1000.0, None, None)


def test_the_measurements_summary_and_attempts_are_typed(tmp_path):
    paths = start_run(tmp_path / "run")
    summary = {
        "total": 12,
        "disturbed": 10,
        "unreliable": 10,
        "unknown": 0,
        "measured_again": 10,
        "max_other_cores": 1.4,
        "logical_cores": 2,
    }
    attempt = {
        "kind": "profile",
        "device": "cpu",
        "precision": "fp32",
        "threads": 2,
        "batch_size": 64,
        "name": "train_step",
        "attempt": 1,
        "waited_s": 0.0,
        "window_start": 1.0,
        "window_end": 2.0,
        "other_cpu_s": 1.4,
        "other_cores": 1.4,
        "contended": True,
        "kept": True,
    }
    update_manifest(
        paths, comparison={**COMPARISON, "measurements": summary, "attempts": [attempt]}
    )
    c = read_manifest(paths).comparison
    assert (c.measurements.disturbed, c.measurements.logical_cores) == (10, 2)
    assert (c.attempts[0].name, c.attempts[0].other_cores) == ("train_step", 1.4)
    with pytest.raises(ManifestError, match="unknown field"):
        update_manifest(paths, comparison={**COMPARISON, "measurements": {**summary, "x": 1}})


def test_a_limits_table_with_an_unsupported_row_gives_the_manifest_integers():
    """A CPU without bf16 has a bf16 peak row of nulls: pandas then reads the nullable integer
    columns as floats, and a manifest with ``attempts: 1.0`` was refused by the class view
    (manifest schema: an integer)."""
    import pandas as pd

    from lab1.schemas import LIMITS_SCHEMA, records

    df = pd.DataFrame(
        {"threads": [1, 1], "what": ["matmul_peak", "matmul_peak"], "value": [90.0, None]}
        | {"attempts": [1, None], "reliable": [True, None]}
    )
    got = records(df, LIMITS_SCHEMA)
    assert got == [
        {"threads": 1, "what": "matmul_peak", "value": 90.0, "attempts": 1, "reliable": True},
        {"threads": 1, "what": "matmul_peak", "value": None, "attempts": None, "reliable": None},
    ]
    assert type(got[0]["attempts"]) is int and type(got[0]["threads"]) is int
