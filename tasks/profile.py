"""profile: torch.profiler op stats, Chrome traces and throughput of one device × batch size."""

from __future__ import annotations

from prefect import task

from lab1.profiling import profile_config
from tasks.caching import RUN_CACHE


@task(
    name="profile",
    task_run_name="profile-{device}-bs{batch_size}-{precision}",
    cache_policy=RUN_CACHE,
    persist_result=True,
)
def profile(
    data_path: str,
    dataset: str,
    device: str,
    batch_size: int,
    out_dir: str,
    run_id: str,
    wait: int = 1,
    warmup: int = 2,
    active: int = 5,
    throughput_steps: int = 30,
    seed: int = 1,
    precision: str = "fp32",
) -> dict:
    """Returns paths (op_stats part, traces) and one throughput row per phase."""
    return profile_config(
        data_path, dataset, device, batch_size, out_dir, run_id,
        wait=wait, warmup=warmup, active=active, throughput_steps=throughput_steps, seed=seed,
        precision=precision,
    )  # fmt: skip
