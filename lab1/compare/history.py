"""Every run's tables in one Parquet dataset per table, partitioned by run (hive layout).

    <runs_dir>/history/<table>/run_id=<run id>/part-0.parquet

so all runs read back as one table, with ``run_id`` as a column from the directory name:

    pyarrow.dataset.dataset(path, partitioning="hive").to_table()
    pandas.read_parquet(path)
    duckdb: SELECT * FROM read_parquet('<path>/*/*.parquet', hive_partitioning = true)

The files themselves hold no ``run_id`` column (the partition supplies it, and a column of the
same name in the files would clash with it). Appending a run again replaces its partition.
"""

from __future__ import annotations

import re
import secrets
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from lab1.config import RUN_NAME_RE
from lab1.rundir import RunPaths, history_part

TABLE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# run_id is a string even for a run named "2024": declared, not inferred from directory names.
PARTITIONING = ds.partitioning(pa.schema([("run_id", pa.string())]), flavor="hive")


def checked_table(table: str) -> str:
    """A table name that can name a dataset folder."""
    if not TABLE_RE.match(table):
        raise ValueError(f"history table name {table!r}: use lowercase letters, digits, '_'")
    return table


def append_history(paths: RunPaths, run_id: str, tables: dict[str, str | Path]) -> dict:
    """Copy each table file into its history dataset (beside the run directory ``paths``) as
    run_id's partition; returns the partition files by table name. Idempotent: the run's old
    partition is replaced whole."""
    return append_run(paths.runs_dir, run_id, tables)


def partition(runs_dir: str | Path, table: str, run_id: str) -> Path:
    """One run's partition of one table's history dataset."""
    return history_part(runs_dir, checked_table(table), run_id).parent


def has_run(runs_dir: str | Path, run_id: str) -> bool:
    """Whether the history under runs_dir holds the run (its comparison table, which every
    profiled run has)."""
    return partition(runs_dir, "comparison", run_id).is_dir()


def append_run(runs_dir: str | Path, run_id: str, tables: dict[str, str | Path | pa.Table]) -> dict:
    """append_history with each table given as its file or as a table already read (the
    comparison reads a run's tables through lab1.classroom.submission's capped reader)."""
    if not RUN_NAME_RE.match(run_id):
        raise ValueError(f"run id {run_id!r} cannot name a partition directory")
    written = {}
    for name, path in tables.items():
        table = path if isinstance(path, pa.Table) else pq.read_table(path)
        if "run_id" in table.column_names:
            table = table.drop_columns(["run_id"])
        part = history_part(runs_dir, checked_table(name), run_id)
        final = part.parent
        # Written beside the partition under a dot-name (dataset discovery skips those), then
        # swapped in by renames: a reader sees the old partition or the new one, never half.
        tmp = final.with_name(f".{final.name}.{secrets.token_hex(4)}.tmp")
        tmp.mkdir(parents=True)
        pq.write_table(table, tmp / part.name)
        old = None
        if final.exists():
            old = final.with_name(f".{final.name}.{secrets.token_hex(4)}.old")
            final.rename(old)
        tmp.rename(final)
        if old is not None:
            shutil.rmtree(old)
        written[name] = str(part)
    return written
