"""prefect.yaml end to end: a real server, work pools, `prefect deploy --all`, process workers.

What a user does after reading prefect.yaml, with tiny data: the lab1-cpu deployment runs the
whole flow (dry run) on a lab1-cpu worker, and the GPU profiler deployment, run by a lab1-gpu
worker that sees no GPU, fails with a message naming CUDA, or is skipped with required=false.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from dataclasses import asdict
from pathlib import Path

import pytest
from conftest import write_mnist_layout
from prefect_server import PREFECT, PrefectServer

from lab1.config import DRY_RUN_SCHEDULE

ROOT = Path(__file__).resolve().parents[2]
POOLS = ("lab1-cpu", "lab1-gpu")
DEPLOYMENTS = {
    "lab1/lab1-cpu",
    "lab1/lab1-gpu",
    "lab1-profile-device/profile-cpu",
    "lab1-profile-device/profile-gpu",
}
NO_GPU = {"CUDA_VISIBLE_DEVICES": ""}  # 'no GPU' also on a machine that has one

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(prefect_server):
    return prefect_server  # the session's server (conftest), shared with the UI test


@pytest.fixture(scope="module")
def deployed(server):
    for pool in POOLS:
        server.cli("work-pool", "create", pool, "--type", "process")
    server.cli("deploy", "--all", cwd=ROOT, timeout=240)
    listed = {f"{d['flow_name']}/{d['name']}" for d in _deployments(server)}
    assert listed >= DEPLOYMENTS, listed
    return server


def _deployments(server: PrefectServer) -> list[dict]:
    deployments = server.api("POST", "/deployments/filter", {})
    flows = {f["id"]: f["name"] for f in server.api("POST", "/flows/filter", {})}
    return [{**d, "flow_name": flows[d["flow_id"]]} for d in deployments]


def _trigger(server: PrefectServer, deployment: str, params: dict, *extra: str) -> str:
    """Create a flow run of a deployment through the CLI; returns its id (found by its name)."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    server.cli(
        "deployment",
        "run",
        deployment,
        "--params",
        json.dumps(params),
        "--flow-run-name",
        name,
        *extra,
    )
    (run,) = server.flow_runs(name={"any_": [name]})
    return run["id"]


def _state(server: PrefectServer, flow_run_id: str, worker: subprocess.CompletedProcess) -> dict:
    state = server.flow_run(flow_run_id)["state"]
    context = f"\n--- worker ---\n{worker.stdout[-6000:]}\n--- logs ---\n{server.logs(flow_run_id)}"
    return {**state, "context": context}


def test_deploy_settings_come_from_prefect_yaml(deployed):
    by_name = {d["name"]: d for d in _deployments(deployed)}
    cpu, gpu = by_name["lab1-cpu"], by_name["lab1-gpu"]
    assert cpu["work_pool_name"] == "lab1-cpu" and cpu["parameters"] == {"devices": ["cpu"]}
    assert gpu["work_pool_name"] == "lab1-gpu"
    assert gpu["parameters"] == {"devices": ["cpu", "cuda"]}
    assert by_name["profile-gpu"]["job_variables"] == {}  # the worker pins its GPU
    assert by_name["profile-cpu"]["work_pool_name"] == "lab1-cpu"
    # The nightly schedule exists but stays off until the user resumes it.
    (schedule,) = cpu["schedules"]
    assert schedule["schedule"]["cron"] == "0 2 * * *" and schedule["active"] is False
    assert not gpu["schedules"]


def test_gpu_deployments_leave_the_gpu_to_the_worker():
    """A process worker applies a deployment's env over its own, so a
    CUDA_VISIBLE_DEVICES in the job variables would put every GPU worker's runs on that GPU
    (one worker per GPU: `make worker-gpu CUDA_VISIBLE_DEVICES=N`). Read from prefect.yaml as
    Prefect reads it (anchors resolved), no server needed."""
    import yaml

    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    gpu = [d for d in spec["deployments"] if d["work_pool"]["name"] == "lab1-gpu"]
    assert sorted(d["name"] for d in gpu) == ["lab1-gpu", "profile-gpu"]
    for d in gpu:
        env = d["work_pool"].get("job_variables", {}).get("env", {})
        assert "CUDA_VISIBLE_DEVICES" not in env, d["name"]


def test_cpu_deployment_runs_the_pipeline_on_a_cpu_worker(deployed, tmp_path):
    from tasks.compare import TABLE_KEY
    from tasks.report import HTML_KEY, MARKDOWN_KEY

    data_dir, runs = tmp_path / "datasets", tmp_path / "runs"
    write_mnist_layout(data_dir)
    params = {
        "data_dir": str(data_dir),
        "offline": True,
        "dry_run": True,
        "batch_sizes": [4],
        "cpu_threads": ["1"],
        "runs_dir": str(runs),
        "run_name": "deployed",
    }
    flow_run_id = _trigger(deployed, "lab1/lab1-cpu", params)
    worker = deployed.worker("lab1-cpu", timeout=240)
    state = _state(deployed, flow_run_id, worker)
    assert state["type"] == "COMPLETED", state["context"]

    manifest = json.loads((runs / "deployed" / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    assert manifest["parameters"]["devices"] == ["cpu"]  # pinned by the deployment

    # Artifacts of the run and of its subflow runs (the per-device profiles).
    children = deployed.flow_runs(parent_flow_run_id={"any_": [flow_run_id]})
    ids = [flow_run_id] + [c["id"] for c in children]
    artifacts = {a["key"]: a for a in deployed.artifacts(ids)}
    assert artifacts[TABLE_KEY]["type"] == "table", artifacts.keys()
    assert artifacts[MARKDOWN_KEY]["type"] == "markdown", artifacts.keys()
    # Prefect stores a link artifact as Markdown holding the link.
    assert "report.html" in artifacts[HTML_KEY]["data"], artifacts[HTML_KEY]


def _profile_params(tmp_path: Path, required: bool) -> dict:
    # Never read: the device check comes first, and this worker has no GPU.
    return {
        "run_dir": str(tmp_path / "run"),
        "data_path": str(tmp_path / "absent.pt"),
        "dataset": "mnist",
        "batch_sizes": [1],
        "run_id": "no-gpu",
        "schedule": asdict(DRY_RUN_SCHEDULE),
        "seed": 1,
        "lr": 1.0,
        "required": required,
    }


def test_gpu_deployment_on_a_worker_without_gpu(deployed, tmp_path):
    # Both runs are picked up by one polling round of the worker. The deployment pins no GPU,
    # so the worker's own CUDA_VISIBLE_DEVICES (empty: no GPU) reaches the flow runs, and this
    # also holds on a GPU machine.
    gpu = "lab1-profile-device/profile-gpu"
    required = _trigger(deployed, gpu, _profile_params(tmp_path, True))
    optional = _trigger(deployed, gpu, _profile_params(tmp_path, False))
    # The worker side of the pull step: LAB1_HOME picks the checkout.
    worker = deployed.worker("lab1-gpu", env={**NO_GPU, "LAB1_HOME": str(ROOT)}, check=False)

    failed = _state(deployed, required, worker)
    assert failed["type"] == "FAILED", failed["context"]
    assert "DeviceError" in failed["message"] and "CUDA" in failed["message"], failed["message"]

    skipped = _state(deployed, optional, worker)
    assert skipped["type"] == "COMPLETED", skipped["context"]
    assert "skipping cuda" in deployed.logs(optional), skipped["context"]


def _wait_terminal(server: PrefectServer, flow_run_id: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = server.flow_run(flow_run_id)["state"]
        if state["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return state
        time.sleep(1)
    raise AssertionError(f"flow run {flow_run_id} not finished after {timeout}s")


def test_dispatch_sends_each_device_to_its_pool(deployed, tmp_path):
    """--dispatch deployments: the parent (on a CPU worker) sends the CPU profiling to
    profile-cpu and, under devices=auto, the GPU half to profile-gpu, whose GPU-less worker
    skips it; compare and report then gather what the workers wrote into the run directory."""
    data_dir, runs = tmp_path / "datasets", tmp_path / "runs"
    write_mnist_layout(data_dir)
    fast_poll = {"PREFECT_WORKER_QUERY_SECONDS": "1", "LAB1_HOME": str(ROOT)}
    for pool in POOLS:  # long-running workers: the parent and its children run side by side
        deployed._popen(
            [PREFECT, "--no-prompt", "worker", "start", "--pool", pool, "--name", f"{pool}-d"],
            env={**deployed.env, **fast_poll, **NO_GPU},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    params = {
        "data_dir": str(data_dir),
        "offline": True,
        "dry_run": True,
        "devices": ["auto"],
        "batch_sizes": [2, 4],
        "cpu_threads": ["1"],
        "dispatch": "deployments",
        "runs_dir": str(runs),
        "run_name": "dispatched",
    }
    no_gpu = ("--job-variable", "env=" + json.dumps(NO_GPU))
    parent = _trigger(deployed, "lab1/lab1-cpu", params, *no_gpu)
    state = _wait_terminal(deployed, parent, timeout=300)
    assert state["type"] == "COMPLETED", deployed.logs(parent)

    # The profiling runs this parent started (run_deployment links them through a task run).
    children = [r for r in deployed.flow_runs() if r["parameters"].get("run_id") == "dispatched"]
    deployments = {d["id"]: d["name"] for d in deployed.api("POST", "/deployments/filter", {})}
    by_deployment = {deployments.get(c["deployment_id"]): c for c in children}
    assert set(by_deployment) == {"profile-cpu", "profile-gpu"}, by_deployment.keys()
    for child in by_deployment.values():
        assert child["state"]["type"] == "COMPLETED", deployed.logs(child["id"])
    assert "skipping cuda" in deployed.logs(by_deployment["profile-gpu"]["id"])

    run = runs / "dispatched"
    assert json.loads((run / "manifest.json").read_text())["status"] == "completed"
    results = sorted(p.name for p in (run / "profiles" / "results").iterdir())
    assert results == ["cpu_fp32_t1_bs2.json", "cpu_fp32_t1_bs4.json"]
    assert (run / "compare" / "comparison.parquet").is_file()
