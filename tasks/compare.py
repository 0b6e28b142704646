"""compare: the run's profile tables, plots and summary, published as Prefect artifacts."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from lab1.compare.history import append_history
from lab1.compare.within import combine_and_compare
from lab1.report import read_run, tensorboard_texts, write_compare_texts
from lab1.run.tblog import log_texts
from lab1.rundir import RunPaths
from lab1.schemas import LIMITS_SCHEMA, read_parquet, records
from tasks.caching import RUN_CACHE

TABLE_KEY = "lab1-comparison"
SUMMARY_KEY = "lab1-comparison-summary"


@task(name="compare", cache_policy=RUN_CACHE, persist_result=True)
def compare(run_dir: str, run_id: str) -> dict:
    """Tables, plots and texts of the run's profiled configs; the tables are also appended to
    the history datasets beside the run. Returns the manifest's ComparisonSummary fields."""
    paths = RunPaths(run_dir)
    result = combine_and_compare(paths, run_id)
    run = read_run(paths.root)  # once: it parses the event files and every table
    texts = write_compare_texts(run)
    create_table_artifact(
        texts["rows"],
        key=TABLE_KEY,
        description=f"{run_id}: device × precision × batch size × phase",
    )
    create_markdown_artifact(
        texts["markdown"], key=SUMMARY_KEY, description=f"{run_id}: profiling summary"
    )
    # The same tables and words in TensorBoard's Text tab, beside the run's curves and graph.
    log_texts(paths.tensorboard, tensorboard_texts(run))
    history = append_history(paths, run_id, result["tables"])
    limits = []
    if "limits" in result["tables"]:  # the manifest keeps the machine's limits too
        df = read_parquet(result["tables"]["limits"], LIMITS_SCHEMA).drop(
            columns=["run_id", "device_name"]
        )
        limits = records(df, LIMITS_SCHEMA)
    return {
        **result,
        "summary": texts["summary"],
        "top10_markdown": texts["top10_markdown"],
        "history": history,
        "limits": limits,
    }
