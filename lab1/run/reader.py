"""Reading a run for its report: the manifest, layer table, scalars and profiling tables.

Everything is read through its contract: the manifest through lab1.run.manifest, the tables
through their pyarrow schemas, the paths through lab1.rundir. A part that a run did not
produce (no profiling, no event files) is None or empty, never a guess.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lab1.run.manifest import Manifest, read_manifest
from lab1.run.train import SCALARS
from lab1.rundir import COMPARE_PLOTS, TABLES, RunPaths
from lab1.schemas import SCHEMAS, read_parquet

Scalars = dict[str, list[tuple[int, float]]]  # tag → sorted (step, value) pairs


def read_scalars(tb_dir: Path) -> Scalars:
    """Every scalar tag in a TensorBoard log dir; a step logged twice (a resumed run re-logging
    an epoch) keeps its last value."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not tb_dir.is_dir():
        return {}
    acc = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})
    acc.Reload()
    out = {}
    for tag in acc.Tags().get("scalars", []):
        by_step = {e.step: e.value for e in acc.Scalars(tag)}
        out[tag] = sorted(by_step.items())
    return out


@dataclass
class RunData:
    """Everything the report shows, read once from a run directory."""

    paths: RunPaths
    manifest: Manifest
    layers: list[dict]
    scalars: Scalars
    scalars_source: str  # "events", "manifest" or "both"
    tables: dict[str, pd.DataFrame | None]  # by lab1.rundir.TABLES name; None: not in this run
    compare_plots: dict[str, Path]

    @property
    def history(self) -> list:
        return self.manifest.training.complete_history() if self.manifest.training else []


def _scalars(paths: RunPaths, manifest: Manifest) -> tuple[Scalars, str]:
    scalars = read_scalars(paths.tensorboard)
    missing = [tag for tag in SCALARS if not scalars.get(tag)]
    history = manifest.training.complete_history() if manifest.training else []
    if not missing or not history:
        return scalars, "events"
    # Event files pruned or never written: the manifest holds the same numbers.
    for tag in missing:
        scalars[tag] = [(h.epoch, getattr(h, SCALARS[tag])) for h in history]
    return scalars, "manifest" if len(missing) == len(SCALARS) else "both"


def read_table(paths: RunPaths, name: str) -> pd.DataFrame | None:
    """One of the run's tables (lab1.rundir.TABLES) through its schema; None where the run
    has no such table, or an empty one."""
    path = paths.table(name)
    if not path.is_file():
        return None
    df = read_parquet(path, SCHEMAS[name])
    return df if len(df) else None


def read_run(run_dir: str | Path) -> RunData:
    paths = RunPaths(Path(run_dir))
    manifest = read_manifest(paths)
    layers = json.loads(paths.layers_json.read_text()) if paths.layers_json.is_file() else []
    scalars, source = _scalars(paths, manifest)
    tables = {name: read_table(paths, name) for name in TABLES}
    plots = {n: paths.compare_plot(n) for n in COMPARE_PLOTS if paths.compare_plot(n).is_file()}
    return RunData(paths, manifest, layers, scalars, source, tables, plots)
