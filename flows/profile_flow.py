"""Profile one device at every batch size: the unit a CPU or GPU worker runs.

The parent flow (flows/lab1_flow.py) calls this as a subflow for each device, or, with
``--dispatch deployments``, through its deployment on the device's work pool (prefect.yaml),
so a CPU worker and a GPU worker each do their half. Results travel as small JSON files in the
run directory, never as pickled models.

Where the run lives in an object store (``run_dir`` is its ``s3://`` URL), the worker shares
no disk with the parent: it pulls the manifest and the decoded dataset into a scratch folder
of its own (lab1.store.worker_scratch), profiles there, pushes its tables and traces to the
run's place in the store after each config, and returns its results with paths relative to
the run. The parent pulls them back before it compares.
"""

from __future__ import annotations

import itertools
import shutil
from dataclasses import fields

import flows.settings  # noqa: F401  (before prefect: logging and telemetry settings)

# isort: split
from prefect import flow, get_run_logger

from flows import console
from lab1.atomic import write_json
from lab1.config import LADDER, Lab1Config, ProfileSchedule
from lab1.errors import DeviceError
from lab1.host.devices import bf16_missing, resolve_devices
from lab1.host.threads import resolve_threads
from lab1.progress import Tick
from lab1.run.manifest import read_manifest
from lab1.rundir import MANIFEST, RunPaths, device_tag
from lab1.store import (
    MAX_FETCH_BYTES,
    Mirror,
    StoreError,
    StoreURL,
    is_store_url,
    worker_scratch,
)
from tasks.machine import machine_limits, step_ladder
from tasks.profile import profile
from tasks.progress import Progress

# Defaults from the one config dataclass (a test holds every parameter to it), never restated.
_DEFAULTS = {f.name: f.default for f in fields(Lab1Config)}


def progress_key(device: str) -> str:
    """The profiling progress artifact of one device (keys: lowercase, digits and dashes)."""
    return f"lab1-profile-progress-{device_tag(device).lower()}"


# Pulled by a worker from the store: the manifest (the run is there, and whose it is) and the
# decoded dataset. Not the checkpoints: a profile starts from the run's seed, as training did.
PULLED = (MANIFEST, "data/")


# JSON results: the records in the store are readable by any host and any tool.
@flow(name="lab1-profile-device", persist_result=True, result_serializer="json")
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
    precisions: list[str] = (_DEFAULTS["precision"],),
    required: bool = True,
    refresh: bool = True,
    cpu_threads: list[str] = _DEFAULTS["cpu_threads"],
    ladder: list[int] = list(LADDER),  # noqa: B006  (Prefect parameters are never mutated)
    tries: int = _DEFAULTS["measure_tries"],
    quiet_wait_s: float = _DEFAULTS["quiet_wait_s"],
) -> list[dict]:
    """Per thread count (cpu: ``cpu_threads``; a GPU: the process's own):
    the machine's limits, then one profile task per precision and batch size; then the batch
    ladder (fp32) at the most threads. One after another: work on the same device must not
    overlap, or it would distort its own timings. ``schedule``, ``seed``, ``lr``, ``tries`` and
    ``quiet_wait_s`` (measuring again on a busy machine: lab1.measure.remeasure) come from the run's
    Lab1Config. bf16 is skipped, with a warning, on a device without native bf16 (an
    ``auto`` CPU beside a bf16 GPU)."""
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
    mirror = None
    if is_store_url(run_dir):
        mirror = _from_store(run_dir, device, run_id, fresh=refresh)
        run_dir = str(mirror.local)
        data_path = str(RunPaths(run_dir).located(data_path))
    paths = RunPaths(run_dir)
    sched = ProfileSchedule(**schedule)
    task = profile.with_options(refresh_cache=refresh)
    counts = resolve_threads(cpu_threads, device)
    results = []
    configs = list(itertools.product(counts, precisions, batch_sizes))
    progress = Progress(progress_key(device), len(configs), f"{device} configs profiled")
    bar = f"profile {device}"
    for done, (threads, precision, batch_size) in enumerate(configs, start=1):
        get_run_logger().info(
            "%s config %d/%d: %d thread(s), %s, batch %d",
            device,
            done,
            len(configs),
            threads,
            precision,
            batch_size,
            # On a terminal also a bar of the configs done (this one under way).
            extra=Tick(
                bar, f"{device} config {done}/{len(configs)}", done - 1, len(configs), True
            ).extra(),
        )
        if precision == precisions[0] and batch_size == batch_sizes[0]:
            machine_limits.with_options(refresh_cache=refresh)(
                device, threads, run_dir, run_id, tries, quiet_wait_s, sched.limits_divisor
            )
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
            threads=threads,
            tries=tries,
            quiet_wait_s=quiet_wait_s,
        )
        if mirror is not None:
            result = paths.relative(result)
        write_json(paths.profile_result(device, precision, batch_size, threads), result)
        results.append(result)
        if mirror is not None:
            mirror.sync()  # a config finished is in the store, whatever happens next
        progress(done, f"{threads} thread(s) {precision} batch {batch_size} done")
    console.end_bars(bar)
    step_ladder.with_options(refresh_cache=refresh)(
        data_path,
        dataset,
        device,
        max(counts),
        ladder,
        run_dir,
        run_id,
        seed,
        lr,
        tries,
        quiet_wait_s,
        sched.min_block_s,  # a dry run's: once, however short
    )
    if mirror is not None:
        mirror.sync()
    return results


def _from_store(run_url: str, device: str, run_id: str, fresh: bool) -> Mirror:
    """This worker's folder of the run in the store, with what profiling reads pulled into it.
    A fresh run starts from an empty folder (nothing of an earlier run of the same name is
    pushed as this one's); a resumed one keeps what its cached tasks point at."""
    mirror = Mirror(worker_scratch(run_url, device), str(StoreURL.parse(run_url)))
    if fresh:
        shutil.rmtree(mirror.local, ignore_errors=True)
    mirror.pull(PULLED, MAX_FETCH_BYTES)
    found = read_manifest(RunPaths(mirror.local)).run_id
    if found != run_id:
        raise StoreError(f"{run_url} holds run {found!r}, not {run_id!r}")
    return mirror
