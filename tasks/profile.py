"""profile: torch.profiler op stats, Chrome traces and throughput of one device × precision ×
batch size."""

from __future__ import annotations

from dataclasses import fields

from prefect import task

from lab1.config import Lab1Config, ProfileSchedule
from lab1.measure.profiling import profile_config
from lab1.rundir import RunPaths
from tasks.caching import RUN_CACHE

_DEFAULTS = {f.name: f.default for f in fields(Lab1Config)}


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
    tries: int = _DEFAULTS["measure_tries"],
    quiet_wait_s: float = _DEFAULTS["quiet_wait_s"],
) -> dict:
    """Returns paths (op_stats part, traces) and one throughput row per phase."""
    # One profile per device at a time, across runs and processes: lab1.host.exclusive's file lock
    # inside profile_config. No Prefect concurrency slot: a leaked one blocks forever and each
    # acquisition costs about 2 s (docs/operations.md §4).
    return profile_config(
        data_path,
        dataset,
        device,
        batch_size,
        RunPaths(run_dir),
        run_id,
        ProfileSchedule(**schedule),
        seed=seed,
        lr=lr,
        precision=precision,
        threads=threads,
        tries=tries,
        quiet_wait_s=quiet_wait_s,
    )
