"""Profile one device at every batch size: the unit a CPU or GPU worker runs.

The parent flow (flows/lab1_flow.py) calls this as a subflow for each device, or, with
``--dispatch deployments``, through its deployment on the device's work pool (prefect.yaml),
so a CPU worker and a GPU worker each do their half. Results travel as small JSON files in the
run directory (a shared path), never as pickled models.
"""

from __future__ import annotations

import flows.settings  # noqa: F401  (before prefect: logging and telemetry settings)

# isort: split
from prefect import flow, get_run_logger

from lab1.config import profile_schedule
from lab1.devices import resolve_devices
from lab1.errors import DeviceError
from lab1.profiling import safe_device
from lab1.rundir import RunPaths, write_json
from tasks.profile import profile
from tasks.progress import Progress


def progress_key(device: str) -> str:
    """The profiling progress artifact of one device (keys: lowercase, digits and dashes)."""
    return f"lab1-profile-progress-{safe_device(device).lower()}"


@flow(name="lab1-profile-device")
def profile_device(
    run_dir: str,
    data_path: str,
    dataset: str,
    device: str,
    batch_sizes: list[int],
    run_id: str,
    required: bool = True,
    dry_run: bool = False,
    refresh: bool = True,
) -> list[dict]:
    """One profile task per batch size, one after another: configs on the same device must
    not overlap, or they would distort each other's timings."""
    try:
        resolve_devices([device])
    except DeviceError as exc:
        if required:
            raise
        get_run_logger().warning("skipping %s on this worker: %s", device, exc)
        return []
    paths = RunPaths(run_dir)
    task = profile.with_options(refresh_cache=refresh)
    progress = Progress(progress_key(device), len(batch_sizes), f"{device} configs profiled")
    results = []
    for done, batch_size in enumerate(batch_sizes, start=1):
        result = task(
            data_path=data_path,
            dataset=dataset,
            device=device,
            batch_size=batch_size,
            out_dir=str(paths.profiles),
            run_id=run_id,
            **profile_schedule(dry_run),
        )
        write_json(paths.profile_result(device, batch_size), result)
        results.append(result)
        progress(done, f"batch {batch_size} done")
    return results
