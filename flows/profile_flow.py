"""Profile one device at every batch size: the unit a CPU or GPU worker runs.

The parent flow (flows/lab1_flow.py) calls this as a subflow for each device, or, with
``--dispatch deployments``, through its deployment on the device's work pool (prefect.yaml),
so a CPU worker and a GPU worker each do their half. Results travel as small JSON files in the
run directory (a shared path), never as pickled models.
"""

from __future__ import annotations

import itertools

import flows.settings  # noqa: F401  (before prefect: logging and telemetry settings)

# isort: split
from prefect import flow, get_run_logger

from lab1.atomic import write_json
from lab1.devices import bf16_missing, resolve_devices
from lab1.errors import DeviceError
from lab1.rundir import RunPaths
from tasks.profile import profile


@flow(name="lab1-profile-device")
def profile_device(
    run_dir: str,
    data_path: str,
    dataset: str,
    device: str,
    batch_sizes: list[int],
    run_id: str,
    schedule: dict,
    seed: int,
    lr: float,
    precisions: list[str] = ("fp32",),
    required: bool = True,
    refresh: bool = True,
) -> list[dict]:
    """One profile task per precision and batch size, one after another: configs on the same
    device must not overlap, or they would distort each other's timings. ``schedule``, ``seed``
    and ``lr`` come from the run's Lab1Config. bf16 is skipped, with a warning, on a device
    without native bf16 (an ``auto`` CPU beside a bf16 GPU)."""
    try:
        resolve_devices([device])
    except DeviceError as exc:
        if required:
            raise
        get_run_logger().warning("skipping %s on this worker: %s", device, exc)
        return []
    if "bf16" in precisions and (missing := bf16_missing(device)):
        get_run_logger().warning("not profiling bf16 on %s: %s", device, missing)
        precisions = [p for p in precisions if p != "bf16"]
    paths = RunPaths(run_dir)
    task = profile.with_options(refresh_cache=refresh)
    results = []
    for precision, batch_size in itertools.product(precisions, batch_sizes):
        result = task(
            data_path=data_path,
            dataset=dataset,
            device=device,
            batch_size=batch_size,
            run_dir=run_dir,
            run_id=run_id,
            schedule=schedule,
            seed=seed,
            lr=lr,
            precision=precision,
        )
        write_json(paths.profile_result(device, precision, batch_size), result)
        results.append(result)
    return results
