"""report: the lab report (Markdown + self-contained HTML), published as Prefect artifacts."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact

from lab1 import report
from lab1.report.pdf import write_pdf
from lab1.rundir import RunPaths
from tasks.caching import RUN_CACHE

MARKDOWN_KEY = "lab1-report"
HTML_KEY = "lab1-report-html"


# ``upstream`` (a digest of the results the report shows) is in the cache key: a resumed run
# whose training or profiles changed gets a new report, an unchanged one reuses the old.
@task(name="report", cache_policy=RUN_CACHE, persist_result=True)
def write_report(run_dir: str, upstream: str = "", lang: str = "en", paper: str = "a4") -> dict:
    """Write report.md / report.html into run_dir, print report.pdf on ``paper`` where a
    browser is here (one warning where not: ``report_pdf`` is then None), and show them in the
    Prefect UI."""
    paths = report.write_report(run_dir, lang)
    pdf = write_pdf(paths["report_html"], RunPaths(Path(run_dir)).report_pdf, paper)
    paths["report_pdf"] = str(pdf) if pdf else None
    # The UI cannot load the run's local PNGs: the artifact links them instead of embedding.
    create_markdown_artifact(
        key=MARKDOWN_KEY,
        markdown=report.markdown_for_artifact(paths["report_md"]),
        description=f"Lab 1 report of {Path(run_dir).name}",
    )
    create_link_artifact(
        key=HTML_KEY,
        link=Path(paths["report_html"]).resolve().as_uri(),
        link_text=f"report.html of {Path(run_dir).name} (self-contained, open in a browser)",
        description="The same report with its figures inlined",
    )
    return paths
