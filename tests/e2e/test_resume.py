"""Resume and caching: a killed run continues where it stopped; a finished one redoes nothing."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_mnist_layout

from lab1.run.train import Recipe, train_and_log

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_sigkill_mid_training_then_resume_matches_uninterrupted(tmp_path, prefect_server):
    data_dir, runs = tmp_path / "data", tmp_path / "runs"
    # ~3,000 images: an epoch takes seconds, so the kill lands between checkpoints.
    write_mnist_layout(data_dir, n_train=3000, n_test=200)
    args = [
        sys.executable,
        str(ROOT / "flows" / "lab1_flow.py"),
        "--offline",
        "--data-dir",
        str(data_dir),
        "--runs-dir",
        str(runs),
        "--run-name",
        "killed",
        "--epochs",
        "3",
        "--batch-sizes",
        "2",
        "--cpu-threads",
        "1",
        "--devices",
        "cpu",
    ]
    # The session's server: the SIGKILL is the subject here, not the temporary server.
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PREFECT_API_URL": prefect_server.url}
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    ckpt = runs / "killed" / "checkpoints"
    try:
        deadline = time.monotonic() + 180
        while not (ckpt / "epoch_1.pt").exists():
            assert proc.poll() is None, "the run ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint after 180 s"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and every process it started
        proc.wait()
    assert not (ckpt / "epoch_3.pt").exists(), "killed too late to test a resume"
    manifest = json.loads((runs / "killed" / "manifest.json").read_text())
    assert manifest["status"] == "running"  # a SIGKILL cannot mark it failed

    resumed = subprocess.run([*args, "--resume"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    manifest = json.loads((runs / "killed" / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    assert manifest["training"]["resumed_from_epoch"] >= 1

    # The same recipe trained without interruption, in this process.
    params = manifest["parameters"]
    recipe = Recipe(
        dataset="mnist",
        data_checksum=manifest["dataset"]["checksum"],
        **{
            k: params[k]
            for k in ("batch_size", "test_batch_size", "lr", "gamma", "seed", "precision")
        },
    )
    reference = train_and_log(
        runs / "killed" / "data" / "mnist.pt", "cpu", tmp_path / "tb", tmp_path / "ck", recipe, 3
    )
    # Model, optimizer, scheduler and every RNG stream are restored, and CPU kernels are
    # deterministic for a fixed thread count: the resumed run is bit-identical (tolerance 0).
    assert manifest["results"]["test_loss"] == reference["test_loss"]
    assert manifest["results"]["test_accuracy"] == reference["test_accuracy"]
    losses = [h["train_loss"] for h in manifest["training"]["history"]]
    assert losses == [h["train_loss"] for h in reference["history"]]


def test_rerunning_a_completed_run_executes_no_task(prefect_harness, tiny_data_dir, tmp_path):
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    from flows.lab1_flow import lab1_pipeline

    kwargs = {
        "data_dir": str(tiny_data_dir),
        "offline": True,
        "runs_dir": str(tmp_path / "runs"),
        "run_name": "twice",
        "dry_run": True,
        "devices": ("cpu",),
        "batch_sizes": (1, 4),
    }
    first = lab1_pipeline(**kwargs, return_state=True)
    assert first.is_completed()
    second = lab1_pipeline(**kwargs, resume=True, return_state=True)
    assert second.is_completed()

    def task_states(flow_run_id) -> dict[str, str]:
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": [flow_run_id]}))
            children = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id])
                )
            )
            child_runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id={"any_": [c.id for c in children]})
            )
        return {
            r.name: r.state.name
            for r in [*runs, *child_runs]
            if r.task_key and not r.name.startswith("lab1-profile-device")
        }

    before = task_states(first.state_details.flow_run_id)
    after = task_states(second.state_details.flow_run_id)
    assert before and all(state == "Completed" for state in before.values()), before
    # Every task of the second run came from the cache: nothing was executed again.
    assert after and all(state == "Cached" for state in after.values()), after
    names = " ".join(after)
    for task in ("download-data", "export-graph", "train-and-log", "compare", "report"):
        assert task in names
    assert "profile-cpu-fp32-t1-bs1" in names and "profile-cpu-fp32-t1-bs4" in names
    assert "limits-cpu-t1" in names and "ladder-cpu-t" in names


# ------------------------------------------------------------------ the resume preflight


def _trained_run(tmp_path: Path, epochs_trained: int, code: str):
    """A run trained for ``epochs_trained`` epochs (its newest checkpoint and record) whose
    manifest says it was started by code version ``code``; returns its Lab1Config."""
    from rundirs import start_run

    from lab1.config import Lab1Config
    from lab1.run.checkpoints import save_checkpoint

    runs = tmp_path / "runs"
    cfg = Lab1Config(runs_dir=str(runs), run_name="r", data_dir=str(tmp_path), epochs=5)
    paths = start_run(runs / "r", parameters=cfg, code_version=code)
    recipe = {
        "dataset": "mnist",
        "data_checksum": "c",
        "batch_size": cfg.batch_size,
        "test_batch_size": cfg.test_batch_size,
        "lr": cfg.lr,
        "gamma": cfg.gamma,
        "seed": cfg.seed,
        "precision": cfg.precision,
    }
    save_checkpoint({"epoch": epochs_trained, "recipe": recipe}, paths.checkpoint(epochs_trained))
    return cfg


def test_preflight_refuses_epochs_below_those_already_trained(tmp_path):
    from dataclasses import replace

    from flows.preflight import check_resume
    from lab1.errors import ResumeError
    from lab1.version import code_version

    cfg = _trained_run(tmp_path, 3, code_version())
    check_resume(replace(cfg, resume=True, epochs=3))  # as many as trained: nothing to redo
    check_resume(replace(cfg, resume=True, epochs=4))  # more: allowed
    with pytest.raises(ResumeError, match=r"--resume r: .*--epochs 2 < the 3 already trained"):
        check_resume(replace(cfg, resume=True, epochs=2))


def test_preflight_refuses_another_learning_rate_naming_both(tmp_path):
    from dataclasses import replace

    from flows.preflight import check_resume
    from lab1.errors import ResumeError
    from lab1.version import code_version

    cfg = _trained_run(tmp_path, 1, code_version())
    with pytest.raises(ResumeError, match=r"--lr 1\.0 → 0\.5"):
        check_resume(replace(cfg, resume=True, lr=0.5))


def test_preflight_warns_once_when_the_code_changed_and_resumes(tmp_path, caplog):
    from dataclasses import replace

    from flows.preflight import check_resume
    from lab1.version import code_version

    cfg = _trained_run(tmp_path, 1, "0123abcd-old")
    with caplog.at_level("WARNING", logger="lab1.preflight"):
        check_resume(replace(cfg, resume=True))
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith(
        f"the code changed since this run started (0123abcd-old → {code_version()})"
    )
    caplog.clear()
    same = _trained_run(tmp_path / "same", 1, code_version())
    with caplog.at_level("WARNING", logger="lab1.preflight"):
        check_resume(replace(same, resume=True))
    assert [r for r in caplog.records if r.levelname == "WARNING"] == []


def test_a_flow_run_retry_resumes_the_same_run_and_trains_once(
    prefect_harness, tiny_data_dir, tmp_path, monkeypatch
):
    """A crash after training (a lost worker, say) and the flow run's retry: the retry finds
    the same run directory, takes the training from its cache and completes the run."""
    from flows import lab1_flow
    from lab1.run import train

    real_profile, real_train, crashes, trainings = (
        lab1_flow._profile_all,
        train.train_and_log,
        [],
        [],
    )

    def profile_crashing_once(*args, **kwargs):
        if not crashes:
            crashes.append("worker lost")
            raise RuntimeError("worker lost")
        return real_profile(*args, **kwargs)

    def counted_training(*args, **kwargs):
        trainings.append(1)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(lab1_flow, "_profile_all", profile_crashing_once)
    monkeypatch.setattr(train, "train_and_log", counted_training)
    runs = tmp_path / "runs"
    state = lab1_flow.lab1_pipeline.with_options(retries=1, retry_delay_seconds=0)(
        data_dir=str(tiny_data_dir),
        offline=True,
        runs_dir=str(runs),
        run_name="retried",
        dry_run=True,
        devices=("cpu",),
        batch_sizes=(2,),
        cpu_threads=("1",),
        return_state=True,
    )
    assert state.is_completed() and crashes == ["worker lost"]
    assert trainings == [1]  # the retry took train-and-log from its cache
    assert sorted(p.name for p in runs.iterdir()) == ["history", "retried"]
    manifest = json.loads((runs / "retried" / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["error"] is None
    assert manifest["results"]["epochs_completed"] == 2
