"""Compare two or more run directories: runs of this machine, or copied as is from others.

    locate          the runs named on the command line, each read through its contract
    check           whether they can be compared, before anything is written: the plan
    write_tables    comparison.parquet and the tables the report needs (lab1.schemas CROSS_*)
    add_to_history  runs from elsewhere appended to <runs_dir>/history/, never twice

(The report is lab1.report.crossrun's.) Every number is copied from the runs' own tables:
images/s, ms per step, share of peak from each run's compare/comparison.parquet, limits and the
step-time model from its limits and step_model tables. The one new number is
``speedup_vs_baseline``, the ratio of a row's images/s to its baseline row's (match_baseline).

A row's configuration identity is lab1.identity's: machine × device × precision × threads ×
batch size, beside the phase; rows carry their machine_id, and the manifest describes it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from lab1.compare.history import append_run, has_run
from lab1.compare.within import share_basis
from lab1.config import RUN_NAME_RE
from lab1.errors import CompareError
from lab1.host.environment import Environment
from lab1.identity import ordered
from lab1.run.foreign import Refused, read_run_manifest, read_run_table
from lab1.run.manifest import Manifest
from lab1.run.train import compared_recipe
from lab1.rundir import TABLES as RUN_TABLES
from lab1.rundir import ComparisonPaths, RunPaths
from lab1.schemas import CROSS_SCHEMAS, SCHEMAS, read_parquet, to_arrow, write_parquet

# What the comparison reads of each run (lab1.rundir.TABLES names).
TABLES = ("comparison", "limits", "step_model", "top10", "time_split", "roofline")
# What a row is compared with the baseline on, besides its batch size and phase: an axis only
# where the two runs share a value on it (MATCH_AXES; see match_baseline).
MATCH_AXES = ("device", "precision", "thread_key")
TOP_OPS = 5  # operators per config in top_ops.parquet


def machine_words(env: Environment) -> str:
    """The machine in words: ``AMD EPYC 9B14 (2 vCPUs) + 1 × NVIDIA H200 on gpu-node-3``."""
    text = f"{env.cpu_model} ({env.vcpus} vCPUs)"
    names = env.gpu_models or [g["name"] for g in env.gpus]
    for name in dict.fromkeys(names):
        text += f" + {names.count(name)} × {name}"
    return text + (f" on {env.hostname}" if env.hostname else "")


# --------------------------------------------------------------------------- reading runs


@dataclass
class Run:
    """One compared run: its manifest and tables, read through their contracts."""

    paths: RunPaths
    manifest: Manifest
    tables: dict[str, pd.DataFrame | None]

    @property
    def run_id(self) -> str:
        return self.manifest.run_id

    @property
    def machine_id(self) -> str:
        return self.manifest.environment.machine_id

    @property
    def machine(self) -> str:
        return machine_words(self.manifest.environment)

    def table(self, name: str) -> pd.DataFrame | None:
        """A table with the manifest's run id on each row (a renamed copy's rows may still
        carry the old one); the rows carry their machine themselves."""
        df = self.tables[name]
        return None if df is None else df.assign(run_id=self.run_id)


def resolve(arg: str, runs_dir: str | Path) -> RunPaths:
    """A RUN argument: a run directory (copied from anywhere), or a run name under runs_dir."""
    for candidate in (Path(arg).expanduser(), Path(runs_dir).expanduser() / arg):
        if candidate.is_dir():
            return RunPaths(candidate.resolve())
    raise CompareError(f"no run directory {arg!r}: not a directory, nor a run under {runs_dir}")


def load(run_dir: str | Path) -> Run:
    """A run read for comparing; refused unless it completed and was profiled."""
    paths = RunPaths(Path(run_dir))
    try:  # a run from another machine is untrusted input: the class view's reader and caps
        manifest = read_run_manifest(paths.root)
    except Refused as exc:
        raise CompareError(f"{paths.root}: {exc}") from exc
    if manifest.status != "completed":
        why = f": {manifest.error}" if manifest.error else ""
        raise CompareError(
            f"run {manifest.run_id} ({paths.root}) is {manifest.status}{why}; only completed "
            "runs are compared (finish it with its resume command first)"
        )
    if manifest.environment is None or manifest.environment.machine_id is None:
        raise CompareError(
            f"run {manifest.run_id} ({paths.root}) does not name its machine: it was made by an "
            "older lab1 (manifest schema 1)"
        )
    tables = {}
    for name in TABLES:
        try:
            tables[name] = read_run_table(paths.root, name)
        except Refused as exc:
            raise CompareError(f"{paths.root}: {exc}") from exc
    if tables["comparison"] is None:
        raise CompareError(
            f"run {manifest.run_id} ({paths.root}) was not profiled: nothing to compare"
        )
    return Run(paths, manifest, tables)


def locate(args: list[str], runs_dir: str | Path) -> list[str]:
    """The run directories the RUN arguments name, each read and checked (load), in the
    order given; a directory named twice counts once."""
    dirs: list[str] = []
    for arg in args:
        root = str(load(resolve(arg, runs_dir).root).paths.root)
        if root not in dirs:
            dirs.append(root)
    return dirs


# --------------------------------------------------------------------------- the checks


def _baseline(runs: list[Run], baseline: str | None, runs_dir: str | Path) -> Run:
    if baseline is None:
        return runs[0]
    for run in runs:
        if baseline == run.run_id:
            return run
    root = resolve(baseline, runs_dir).root
    for run in runs:
        if run.paths.root == root:
            return run
    ids = ", ".join(r.run_id for r in runs)
    raise CompareError(f"--baseline {baseline}: not one of the compared runs ({ids})")


def default_name(run_ids: list[str]) -> str:
    name = "-vs-".join(run_ids)
    if RUN_NAME_RE.match(name):
        return name
    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{len(run_ids)}-runs"


def check(
    run_dirs: list[str], runs_dir: str | Path, baseline: str | None = None, name: str | None = None
) -> dict:
    """Everything that must hold before a comparison writes a file; returns the plan (run
    directories, baseline run id, name, output folder) as a small JSON-ready dict."""
    runs = [load(d) for d in run_dirs]
    if len(runs) < 2:
        given = ", ".join(str(r.paths.root) for r in runs)
        raise CompareError(f"a comparison needs two or more distinct runs; got {given}")
    seen: dict[str, Run] = {}
    for run in runs:
        if run.run_id in seen:
            raise CompareError(
                f"{seen[run.run_id].paths.root} and {run.paths.root} are the same run "
                f"({run.run_id}): compare distinct runs"
            )
        seen[run.run_id] = run
    base = _baseline(runs, baseline, runs_dir)
    comparison_table(runs, base.run_id)  # refuses runs with no configuration in common
    name = name or default_name([r.run_id for r in runs])
    if not RUN_NAME_RE.match(name):
        raise CompareError(f"--name {name!r}: use letters, digits, '.', '_', '-' (100 at most)")
    out = ComparisonPaths.named(Path(runs_dir).expanduser().resolve(), name)
    if out.root.exists():
        raise CompareError(f"comparison {name!r} already exists ({out.root}): pick another --name")
    return {
        "runs": [str(r.paths.root) for r in runs],
        "baseline": base.run_id,
        "name": name,
        "runs_dir": str(out.root.parent.parent),
        "out": str(out.root),
    }


# --------------------------------------------------------------------------- the tables


def thread_key(df: pd.DataFrame) -> pd.Series:
    """How a row's thread count is matched across runs: ``1``, ``most`` (the most its run
    used on that device: "all" on a 2-core laptop and on a 32-core server), or the count."""
    most = df.groupby("device")["threads"].transform("max")
    key = np.where(df["threads"] == most, "most", df["threads"].astype(str))
    return pd.Series(np.where(df["threads"] == 1, "1", key), index=df.index)


def match_baseline(cmp: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    """``cmp`` (a run's comparison rows) with its baseline row's configuration and
    ``speedup_vs_baseline`` = images/s ÷ the baseline row's images/s.

    The baseline row has the same batch size and phase, and the same value on each of
    MATCH_AXES that the two runs share: fp32 runs against a bf16-and-fp32 run match on
    precision; a GPU run against a CPU-only run does not match on device, so its cuda rows
    meet the baseline's cpu rows (the first in display order: cpu, fp32, fewest threads)."""
    cmp, base = cmp.assign(thread_key=thread_key(cmp)), base.assign(thread_key=thread_key(base))
    keys = ["batch_size", "phase", *[a for a in MATCH_AXES if set(cmp[a]) & set(base[a])]]
    first = ordered(base).drop_duplicates(keys)
    ref = first[keys].assign(
        baseline_machine_id=first["machine_id"],
        baseline_device=first["device"],
        baseline_precision=first["precision"],
        baseline_threads=first["threads"],
        _base_rate=first["images_per_s"],
    )
    out = cmp.merge(ref, on=keys, how="left")
    out["baseline_run_id"] = base["run_id"].iloc[0]
    out["speedup_vs_baseline"] = out["images_per_s"] / out["_base_rate"]
    return out.drop(columns=["_base_rate", "thread_key"])


def comparison_table(runs: list[Run], baseline: str) -> pd.DataFrame:
    """One row per run × configuration × phase (CROSS_COMPARISON_SCHEMA), runs in the order
    given, each run's rows in display order."""
    base = next(r for r in runs if r.run_id == baseline).table("comparison")
    frames = []
    for run in runs:
        rows = match_baseline(ordered(run.table("comparison")), base)
        if run.run_id != baseline and rows["speedup_vs_baseline"].isna().all():
            raise CompareError(
                f"run {run.run_id} has no configuration in common with the baseline "
                f"{baseline}: batch sizes {_sizes(rows)} against {_sizes(base)}"
            )
        frames.append(rows)
    return pd.concat(frames, ignore_index=True)[CROSS_SCHEMAS["comparison"].names]


def _sizes(df: pd.DataFrame) -> str:
    return ", ".join(str(b) for b in sorted(df["batch_size"].unique()))


def recipe(m: Manifest) -> str:
    """What training must agree on for two runs' accuracies to be compared: the data and the
    compared recipe (lab1.run.train.COMPARED_FIELDS, every one written), and a dry run."""
    p = m.parameters
    r = compared_recipe(p)
    n = r["epochs"]
    text = (
        f"{p.dataset}, Adadelta lr {r['lr']}, StepLR gamma {r['gamma']}, "
        f"batch {r['batch_size']} (test {r['test_batch_size']}), {n} epoch{'s' if n != 1 else ''}, "
        f"seed {r['seed']}, {r['precision']}"
    )
    return text + (", dry run" if p.dry_run else "")


def _run_row(order: int, run: Run, baseline: str) -> dict:
    m, env, ds = run.manifest, run.manifest.environment, run.manifest.dataset
    history = m.training.complete_history() if m.training else []
    last = history[-1] if history else None
    return {
        "run_id": run.run_id,
        "machine_id": run.machine_id,
        "order": order,
        "baseline": run.run_id == baseline,
        "run_dir": str(run.paths.root),
        "machine": run.machine,
        "cpu_model": env.cpu_model,
        "vcpus": env.vcpus,
        "memory_bytes": env.memory_bytes,
        "gpus": "; ".join(env.gpu_models or [g["name"] for g in env.gpus]),
        "hostname": env.hostname,
        "os": env.os,
        "torch_version": env.packages.get("torch") or "",
        "cuda_version": env.cuda_version,
        "code_version": m.code_version,
        "dataset": ds.name if ds else m.parameters.dataset,
        "dataset_source": ds.source if ds else "",
        "dataset_full": bool(ds and ds.full),
        "train_size": ds.train_size if ds else 0,
        "test_size": ds.test_size if ds else 0,
        "data_checksum": ds.checksum if ds else "",
        "recipe": recipe(m),
        "epochs": len(history),
        "seconds_per_epoch": np.mean([h.train_seconds for h in history]) if history else None,
        "train_images_per_s": np.mean([h.images_per_s for h in history]) if history else None,
        "test_accuracy": last.test_accuracy if last else None,
        "test_loss": last.test_loss if last else None,
    }


def runs_table(runs: list[Run], baseline: str) -> pd.DataFrame:
    return pd.DataFrame([_run_row(i, r, baseline) for i, r in enumerate(runs)])


def _stacked(runs: list[Run], name: str) -> pd.DataFrame | None:
    """One table of every run, runs in the order given, each in display order."""
    frames = [df for r in runs if (df := r.table(name)) is not None]
    frames = [ordered(df) for df in frames]
    return pd.concat(frames, ignore_index=True) if frames else None


def _common_sizes(runs: list[Run]) -> set[int]:
    """The batch sizes every run profiled: where their operators and time splits compare."""
    return set.intersection(*(set(r.tables["comparison"]["batch_size"]) for r in runs))


def time_split_table(runs: list[Run]) -> pd.DataFrame | None:
    """Each run's time split by kind of operator at the batch sizes every run profiled."""
    split = _stacked(runs, "time_split")
    if split is None:
        return None
    return split[(split["split"] == "category") & split["batch_size"].isin(_common_sizes(runs))]


def roofline_table(runs: list[Run]) -> pd.DataFrame | None:
    """Each run's roofline points at the batch sizes every run profiled, at each device's
    most threads in its run (one panel per machine and config, not per thread count)."""
    roof = _stacked(runs, "roofline")
    if roof is None:
        return None
    most = roof.groupby(["run_id", "device"])["threads"].transform("max")
    return roof[(roof["threads"] == most) & roof["batch_size"].isin(_common_sizes(runs))]


def top_ops_table(runs: list[Run]) -> pd.DataFrame | None:
    """Each run's heaviest operators (on its share basis) at the batch sizes every run
    profiled: what "how the top operators change between runs" reads."""
    top = _stacked(runs, "top10")
    if top is None:
        return None
    basis = top["device"].map(share_basis)
    top = top[(top["sort_key"] == basis) & (top["rank"] <= TOP_OPS)]
    return top[top["batch_size"].isin(_common_sizes(runs))]


def tables(plan: dict) -> dict[str, pd.DataFrame]:
    """Every table of the comparison the plan (check's) describes, by CROSS_SCHEMAS name."""
    runs = [load(d) for d in plan["runs"]]
    out = {
        "comparison": comparison_table(runs, plan["baseline"]),
        "runs": runs_table(runs, plan["baseline"]),
        "limits": _stacked(runs, "limits"),
        "step_model": _stacked(runs, "step_model"),
        "top_ops": top_ops_table(runs),
        "time_split": time_split_table(runs),
        "roofline": roofline_table(runs),
    }
    return {k: v for k, v in out.items() if v is not None}


def write_tables(plan: dict) -> dict[str, str]:
    """The comparison's tables, written into its folder-in-building (ComparisonPaths.building:
    the report renames the finished folder into place). Returns their paths by name."""
    building = ComparisonPaths(plan["out"]).building
    shutil.rmtree(building.root, ignore_errors=True)  # what an earlier, failed attempt left
    return {
        name: str(write_parquet(df, CROSS_SCHEMAS[name], building.table(name)))
        for name, df in tables(plan).items()
    }


def read_tables(paths: ComparisonPaths) -> dict[str, pd.DataFrame | None]:
    """A comparison's tables through their schemas (None where it has none)."""
    return {
        name: read_parquet(paths.table(name), schema) if paths.table(name).is_file() else None
        for name, schema in CROSS_SCHEMAS.items()
    }


# --------------------------------------------------------------------------- history


def add_to_history(plan: dict) -> dict[str, str]:
    """Append each compared run of this runs folder to ``<runs_dir>/history/`` under its own
    run id, unless the history holds that run already (never twice). A run from elsewhere (a
    directory outside runs_dir: someone else's, or a link to one) is compared but never
    written into this history. Tables go in as read through their schemas (read_run_table:
    regular files, capped), never as the files' own bytes. Returns run id → what was done."""
    home = Path(plan["runs_dir"]).resolve()
    done = {}
    for run in (load(d) for d in plan["runs"]):
        if not run.paths.root.resolve().is_relative_to(home):
            done[run.run_id] = "not added (a run from elsewhere is compared, never kept)"
            continue
        if has_run(plan["runs_dir"], run.run_id):
            done[run.run_id] = "already in history"
            continue
        tables = {}
        for name in RUN_TABLES:
            try:
                df = read_run_table(run.paths.root, name)
            except Refused as exc:
                raise CompareError(f"{run.paths.root}: {exc}") from exc
            if df is not None:
                tables[name] = to_arrow(df, SCHEMAS[name])
        append_run(plan["runs_dir"], run.run_id, tables)
        done[run.run_id] = "appended"
    return done
