"""Run directories for tests, built through the run contract (RunPaths, the typed manifest)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lab1.atomic import write_json
from lab1.compare.history import PARTITIONING, checked_table
from lab1.config import Lab1Config
from lab1.run.manifest import Manifest, update_manifest, write_manifest
from lab1.rundir import RunPaths, history_path
from lab1.schemas import OP_STATS_SCHEMA, TIME_SPLIT_SCHEMA, write_parquet


def start_run(root: Path, **sections) -> RunPaths:
    """A run directory with a manifest; ``parameters`` may be a dict of Lab1Config fields."""
    paths = RunPaths(root)
    paths.root.mkdir(parents=True, exist_ok=True)
    params = sections.pop("parameters", {})
    cfg = params if isinstance(params, Lab1Config) else Lab1Config(run_name=root.name, **params)
    manifest = Manifest(run_id=root.name, run_name=root.name, run_dir=str(root), parameters=cfg)
    write_manifest(paths, manifest)
    if sections:  # dicts, as tasks return them, are typed on the way in
        update_manifest(paths, **sections)
    return paths


def execution(device: str, precision: str = "fp32", threads: int = 1, **changes) -> dict:
    """An Execution record (lab1.run.step) as a step on ``device`` records it: channels_last on CUDA
    and for bf16 on CPU, glibc's heap kept mapped on CPU, cuDNN autotuning on CUDA."""
    cuda = device.startswith("cuda")
    return {
        "device": device,
        "precision": precision,
        "channels_last": cuda or precision == "bf16",
        "mode": "eager",
        "heap_kept_mapped": None if cuda else True,
        "threads": threads,
        "cudnn_benchmark": cuda,
        **changes,
    }


def write_profile_results(paths: RunPaths, op_stats: pd.DataFrame, throughput: list[dict]) -> None:
    """What profile_config leaves per config: the op_stats part, an (empty) time_split part
    and the result JSON. Rows without a ``threads`` column ran at 1 thread."""
    if "threads" not in op_stats:
        op_stats = op_stats.assign(threads=1)
    throughput = [{"threads": 1, **t} for t in throughput]
    keys = ["device", "precision", "batch_size", "threads"]
    for (device, prec, bs, threads), rows in op_stats.groupby(keys):
        key = (device, prec, int(bs), int(threads))
        part = write_parquet(rows, OP_STATS_SCHEMA, paths.op_stats_part(*key))
        split = write_parquet([], TIME_SPLIT_SCHEMA, paths.time_split_part(*key))
        mine = [t for t in throughput if tuple(t[k] for k in keys) == (device, prec, bs, threads)]
        write_json(
            paths.profile_result(*key),
            {
                "op_stats": str(part),
                "time_split": str(split),
                "throughput": mine,
                "execution": execution(device, prec, int(threads)),
            },
        )


def profiled_run(
    root: Path,
    configs: list[tuple[str, int, int]],
    schedule,
    limits: bool = False,
    ladder: tuple[int, ...] = (),
    name: str = "run",
) -> RunPaths:
    """A real, tiny run directory at ``root / name`` (its run id), measured here: a 200-image
    MNIST in torchvision's layout, a dry-run manifest with this machine's environment (as the
    flow captures it), each (device, batch size, threads) of ``configs`` profiled with
    ``schedule``, optionally the machine's limits (at each config's threads) and
    a 1-thread CPU step-time ladder over ``ladder``'s batch sizes, then compared."""
    from lab1.compare.within import combine_and_compare
    from lab1.host.environment import capture_environment
    from lab1.measure.limits import measure_limits
    from lab1.measure.profiling import profile_config
    from lab1.measure.stepmodel import time_ladder
    from lab1.run.data import prepare_dataset
    from lab1.schemas import LIMITS_SCHEMA, STEP_TIMES_SCHEMA
    from tests.conftest import write_mnist_layout

    write_mnist_layout(root / "datasets")
    info = prepare_dataset("mnist", root / "datasets", root / "data")
    paths = start_run(root / name, parameters={"runs_dir": str(root), "dry_run": True})
    update_manifest(paths, environment=capture_environment())
    for device, batch_size, threads in configs:
        if limits:
            rows = measure_limits(device, threads, name)
            write_parquet(rows, LIMITS_SCHEMA, paths.limits_part(device, threads))
        result = profile_config(
            info.path,
            "mnist",
            device,
            batch_size,
            paths,
            name,
            schedule,
            seed=1,
            lr=1.0,
            threads=threads,
        )
        write_json(paths.profile_result(device, "fp32", batch_size, threads), result)
    if ladder:
        rows = time_ladder(
            info.path,
            "mnist",
            "cpu",
            1,
            name,
            seed=1,
            lr=1.0,
            sizes=ladder,
            steps=1,
            min_block_s=schedule.min_block_s,
        )
        write_parquet(rows, STEP_TIMES_SCHEMA, paths.ladder_part("cpu", 1))
    combine_and_compare(paths, name)
    return paths


def read_history(runs_dir: str | Path, table: str) -> pd.DataFrame:
    """Every run's rows of one table under runs_dir, with run_id as a string column."""
    import pyarrow.dataset as ds

    dataset = ds.dataset(
        history_path(runs_dir, checked_table(table)), format="parquet", partitioning=PARTITIONING
    )
    return dataset.to_table().to_pandas()
