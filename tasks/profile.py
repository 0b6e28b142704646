"""profile: torch.profiler op stats, Chrome traces and throughput of one device × precision ×
batch size."""

from __future__ import annotations

import socket

from prefect import task
from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency

from lab1.config import ProfileSchedule
from lab1.exclusive import device_key
from lab1.profiling import profile_config
from lab1.rundir import RunPaths
from tasks.caching import RUN_CACHE


def device_slot(device: str) -> str:
    """The global concurrency limit of one device of this host: one profile at a time. Flow
    runs on several workers (or runs sharing a Prefect server) take turns through it; the file
    lock in lab1.exclusive is the floor on one host, whatever the API."""
    name = f"lab1-profile-{socket.gethostname()}-{device_key(device)}"
    with get_client(sync_client=True) as client:  # limits must exist before they are used
        client.upsert_global_concurrency_limit_by_name(name, limit=1)
    return name


@task(
    name="profile",
    task_run_name="profile-{device}-{precision}-t{threads}-bs{batch_size}",
    cache_policy=RUN_CACHE,
    persist_result=True,
)
def profile(
    data_path: str,
    dataset: str,
    device: str,
    batch_size: int,
    run_dir: str,
    run_id: str,
    schedule: dict,
    seed: int,
    lr: float,
    precision: str = "fp32",
    threads: int | None = None,
) -> dict:
    """Returns paths (op_stats part, traces) and one throughput row per phase."""
    # A 60 s lease (Prefect's default: 300 s): a killed holder blocks the others only that long.
    with concurrency(device_slot(device), occupy=1, lease_duration=60):
        return profile_config(
            data_path, dataset, device, batch_size, RunPaths(run_dir), run_id,
            ProfileSchedule(**schedule), seed=seed, lr=lr, precision=precision, threads=threads,
        )  # fmt: skip
