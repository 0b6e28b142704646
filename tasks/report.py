"""report: the lab report (Markdown + self-contained HTML + PDF), published as Prefect artifacts."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact

from lab1 import report
from lab1.rundir import report_suffix
from tasks.caching import RUN_CACHE

MARKDOWN_KEY = "lab1-report"
HTML_KEY = "lab1-report-html"


def artifact_key(key: str, lang: str) -> str:
    """One artifact per language: ``lab1-report`` (en), ``lab1-report-zh``."""
    return key + report_suffix(lang).replace(".", "-")


# ``upstream`` (a digest of the results the report shows) is in the cache key: a resumed run
# whose training or profiles changed gets a new report, an unchanged one reuses the old.
@task(name="report", cache_policy=RUN_CACHE, persist_result=True)
def write_report(run_dir: str, upstream: str = "", lang: str = "en", paper: str = "a4") -> dict:
    """Write report.md / report.html into run_dir (report.zh.* in Chinese), print its PDF on
    ``paper`` where a browser is here (one warning where not: ``report_pdf`` is then None),
    and show them in the Prefect UI."""
    paths = report.print_report(run_dir, lang, paper)
    html = Path(paths["report_html"])
    # The UI cannot load the run's local PNGs: the artifact links them instead of embedding.
    create_markdown_artifact(
        key=artifact_key(MARKDOWN_KEY, lang),
        markdown=report.markdown_for_artifact(paths["report_md"]),
        description=f"Lab 1 report of {Path(run_dir).name} ({lang})",
    )
    create_link_artifact(
        key=artifact_key(HTML_KEY, lang),
        link=html.resolve().as_uri(),
        link_text=f"{html.name} of {Path(run_dir).name} (self-contained, open in a browser)",
        description="The same report with its figures inlined",
    )
    return paths
