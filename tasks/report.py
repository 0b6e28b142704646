"""report: the lab report (Markdown + self-contained HTML), published as Prefect artifacts."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from lab1 import report

MARKDOWN_KEY = "lab1-report"
HTML_KEY = "lab1-report-html"


# Never cached: the report must show what the run directory holds now (a resumed run, new
# profiles), and writing it takes seconds.
@task(name="report", cache_policy=NO_CACHE)
def write_report(run_dir: str) -> dict:
    """Write report.md / report.html into run_dir and show them in the Prefect UI."""
    paths = report.write_report(run_dir)
    # The UI cannot load the run's local PNGs: the artifact links them instead of embedding.
    create_markdown_artifact(
        key=MARKDOWN_KEY,
        markdown=report.markdown_for_artifact(paths["report_md"]),
        description=f"Lab 1 report of {Path(run_dir).name}",
    )
    html_path = Path(paths["report_html"]).resolve()
    create_link_artifact(
        key=HTML_KEY,
        link=html_path.as_uri(),
        link_text=f"report.html of {Path(run_dir).name} (self-contained, open in a browser)",
        description="The same report with its figures inlined",
    )
    return paths
