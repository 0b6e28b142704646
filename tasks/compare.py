"""compare: the run's profile tables, plots and summary, published as Prefect artifacts."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from lab1.compare import combine_and_compare
from lab1.history import append_history
from lab1.rundir import RunPaths
from lab1.tblog import log_tables_as_text
from tasks.caching import RUN_CACHE

TABLE_KEY = "lab1-comparison"
SUMMARY_KEY = "lab1-comparison-summary"


@task(name="compare", cache_policy=RUN_CACHE, persist_result=True)
def compare(
    part_paths: list[str],
    throughput: list[dict],
    out_dir: str,
    run_id: str,
    runs_dir: str | None = None,
) -> dict:
    """``throughput``: the profile tasks' results; ``out_dir``: the run directory. With
    runs_dir, the run's tables are also appended to the history datasets under it."""
    result = combine_and_compare(part_paths, throughput, out_dir, run_id)
    create_table_artifact(
        result["rows"], key=TABLE_KEY, description=f"{run_id}: device × batch size × phase"
    )
    create_markdown_artifact(
        result["markdown"], key=SUMMARY_KEY, description=f"{run_id}: profiling summary"
    )
    # The tables also in TensorBoard's Text tab, next to the run's curves and graph.
    result["tensorboard_text"] = log_tables_as_text(RunPaths(out_dir).tensorboard, result["tables"])
    if runs_dir is not None:
        result["history"] = append_history(runs_dir, run_id, result["tables"])
    return result
