"""read-runs, check-runs, compare-runs, report-comparison, add-to-history: the comparison of
runs (lab1.compare.crossrun), one library call each, with the tables and report as Prefect
artifacts.

Not cached: a comparison is cheap, and its inputs are run directories that may have been
copied in or replaced since the last one.
"""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from lab1 import fmt
from lab1.compare import crossrun
from lab1.report import crossrun as report
from lab1.report import markdown_for_artifact
from lab1.rundir import ComparisonPaths

TABLE_KEY = "lab1-runs-comparison"
REPORT_KEY = "lab1-runs-comparison-report"
HTML_KEY = "lab1-runs-comparison-html"


@task(name="read-runs", cache_policy=NO_CACHE)
def read_runs(runs: list[str], runs_dir: str) -> list[str]:
    """Each RUN read through its manifest and tables; returns their directories."""
    return crossrun.locate(runs, runs_dir)


@task(name="check-runs", cache_policy=NO_CACHE)
def check_runs(run_dirs: list[str], runs_dir: str, baseline: str | None, name: str | None) -> dict:
    """Whether the runs can be compared, before anything is written; returns the plan."""
    return crossrun.check(run_dirs, runs_dir, baseline, name)


@task(name="compare-runs", cache_policy=NO_CACHE)
def compare_runs(plan: dict) -> dict[str, str]:
    """comparison.parquet and the report's tables; the comparison as a table artifact."""
    written = crossrun.write_tables(plan)
    building = ComparisonPaths(plan["out"]).building
    cmp = crossrun.read_tables(building)["comparison"]
    rows = [
        {
            "run": r.run_id,
            "machine": r.machine_id,
            "config": f"{r.device} {r.precision} t{r.threads} bs{r.batch_size} {r.phase}",
            "images/s": fmt.rate(r.images_per_s),
            "speed-up over baseline": fmt.ratio(r.speedup_vs_baseline),
        }
        for r in cmp.itertuples()
    ]
    create_table_artifact(rows, key=TABLE_KEY, description=f"{plan['name']}: runs compared")
    return written


@task(name="report-comparison", cache_policy=NO_CACHE)
def report_comparison(plan: dict, lang: str = "en", paper: str = "a4") -> dict:
    """report.md / report.html / report.pdf of the comparison, then the folder put in place."""
    paths = report.write_report(plan, lang, paper)
    create_markdown_artifact(
        key=REPORT_KEY,
        markdown=markdown_for_artifact(paths["report_md"]),
        description=f"Comparison of runs {plan['name']}",
    )
    create_link_artifact(
        key=HTML_KEY,
        link=Path(paths["report_html"]).resolve().as_uri(),
        link_text=f"report.html of {plan['name']} (self-contained, open in a browser)",
    )
    return paths


@task(name="add-to-history", cache_policy=NO_CACHE)
def add_to_history(plan: dict) -> dict[str, str]:
    """Each compared run's tables in <runs_dir>/history/, unless there already."""
    return crossrun.add_to_history(plan)
