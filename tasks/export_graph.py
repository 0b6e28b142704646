"""export-graph: TensorBoard graph + image grid + layer table."""

from __future__ import annotations

from prefect import task

from lab1.run import graph
from lab1.rundir import RunPaths
from tasks.caching import RUN_CACHE


@task(name="export-graph", cache_policy=RUN_CACHE, persist_result=True)
def export_graph(data_path: str, dataset: str, device: str, run_dir: str) -> dict:
    return graph.export_graph(data_path, dataset, device, RunPaths(run_dir))
