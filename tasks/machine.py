"""machine-limits and step-ladder: what a device can do, and how its step time scales."""

from __future__ import annotations

from prefect import task

from lab1.atomic import write_json
from lab1.config import MIN_BLOCK_S
from lab1.measure.limits import measure_limits
from lab1.measure.stepmodel import time_ladder
from lab1.rundir import RunPaths
from lab1.schemas import LIMITS_SCHEMA, STEP_TIMES_SCHEMA, write_parquet
from tasks.caching import RUN_CACHE


@task(
    name="machine-limits",
    task_run_name="limits-{device}-t{threads}",
    cache_policy=RUN_CACHE,
    persist_result=True,
)
def machine_limits(
    device: str,
    threads: int,
    run_dir: str,
    run_id: str,
    tries: int,
    quiet_wait_s: float,
    divisor: int = 1,
) -> str:
    """Microbenchmarks of one device × threads (lab1.measure.limits), measured again where disturbed
    (lab1.measure.remeasure), at sizes divided by ``divisor`` (a dry run's); returns the part
    file (its attempts beside it)."""
    paths, attempts = RunPaths(run_dir), []
    rows = measure_limits(
        device,
        threads,
        run_id,
        tries=tries,
        quiet_wait_s=quiet_wait_s,
        attempts=attempts,
        divisor=divisor,
    )
    write_json(paths.attempts_log("limits", device, threads), attempts)
    return str(write_parquet(rows, LIMITS_SCHEMA, paths.limits_part(device, threads)))


@task(
    name="step-ladder",
    task_run_name="ladder-{device}-t{threads}",
    cache_policy=RUN_CACHE,
    persist_result=True,
)
def step_ladder(
    data_path: str,
    dataset: str,
    device: str,
    threads: int,
    sizes: list[int],
    run_dir: str,
    run_id: str,
    seed: int,
    lr: float,
    tries: int,
    quiet_wait_s: float,
    min_block_s: float = MIN_BLOCK_S,
) -> str:
    """Profiler-off step times over the batch ladder (lab1.measure.stepmodel), timed again where
    disturbed (lab1.measure.remeasure); returns the part file (its attempts beside it)."""
    paths, attempts = RunPaths(run_dir), []
    rows = time_ladder(
        data_path,
        dataset,
        device,
        threads,
        run_id,
        seed=seed,
        lr=lr,
        sizes=tuple(sizes),
        tries=tries,
        quiet_wait_s=quiet_wait_s,
        min_block_s=min_block_s,
        attempts=attempts,
    )
    write_json(paths.attempts_log("ladder", device, threads), attempts)
    return str(write_parquet(rows, STEP_TIMES_SCHEMA, paths.ladder_part(device, threads)))
