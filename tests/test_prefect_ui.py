"""The Prefect UI as a user sees it: a real server, a dry run of the CLI against it, pages in
headless Chromium. Every assertion reads the DOM the UI rendered from the server's API."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_mnist_layout
from test_visual import _chromium

from lab1.viewer import CHROMIUM_FLAGS
from tasks.compare import SUMMARY_KEY, TABLE_KEY
from tasks.report import HTML_KEY, MARKDOWN_KEY
from tasks.train_and_log import PROGRESS_KEY

ROOT = Path(__file__).resolve().parents[1]
PARENT_TASKS = ("download-data", "export-graph", "train-and-log", "compare", "report")
NO_API = "Can't connect to Server API"

pytestmark = pytest.mark.slow


def rendered_text(url: str, chromium: str, budget_ms: int = 15_000) -> str:
    """The page's text after the UI's scripts ran (headless Chromium's --dump-dom)."""
    out = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", out, flags=re.S)  # code is not content
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))


def rendered_with(url: str, chromium: str, needles: set[str]) -> str:
    """The page's text once every needle is in it: on a loaded 2-core machine the UI's lists
    can take longer than one virtual-time budget to arrive, so the budget grows, 3 tries."""
    for budget_ms in (15_000, 30_000, 60_000):
        text = rendered_text(url, chromium, budget_ms)
        if all(n in text for n in needles):
            break
    return text


@pytest.fixture(scope="module")
def ui_run(prefect_server, tmp_path_factory) -> dict:
    """A dry run of the CLI, reporting to the session's server; its flow runs and artifacts."""
    tmp = tmp_path_factory.mktemp("ui")
    write_mnist_layout(tmp / "d")
    args = ["--offline", "--dry-run", "--data-dir", str(tmp / "d"), "--runs-dir", str(tmp / "r")]
    cli = [sys.executable, str(ROOT / "flows" / "lab1_flow.py"), *args]
    prefect_server.run([*cli, "--run-name", "ui", "--batch-sizes", "4", "--cpu-threads", "1"],
                       timeout=300, cwd=ROOT)  # fmt: skip
    runs = prefect_server.flow_runs()
    (parent,) = [r for r in runs if r["parameters"].get("run_name") == "ui"]
    children = prefect_server.flow_runs(parent_flow_run_id={"any_": [parent["id"]]})
    artifacts = prefect_server.artifacts([parent["id"], *(c["id"] for c in children)])
    return {"parent": parent, "children": children, "artifacts": artifacts}


def test_the_flow_run_pages_show_the_runs_and_their_tasks(prefect_server, ui_run):
    chromium, ui = _chromium(), prefect_server.url.removesuffix("/api")
    page = rendered_text(f"{ui}/runs/flow-run/{ui_run['parent']['id']}", chromium)
    assert NO_API not in page
    assert ui_run["parent"]["name"] in page and "Completed" in page
    # The header counts the parent's task runs (their names are in the Task Runs tab, which a
    # URL does not select; the Logs tab's labels load too late to rely on).
    assert f"{len(PARENT_TASKS)} Task runs" in page
    # profile-cpu at 1 thread: its limits, one config (batch 4, fp32) and the ladder
    (child,) = ui_run["children"]
    sub = rendered_with(f"{ui}/runs/flow-run/{child['id']}", chromium, {"3 Task runs"})
    assert NO_API not in sub and child["name"] in sub and "3 Task runs" in sub


def test_the_artifacts_page_lists_every_key_and_the_report_renders(prefect_server, ui_run):
    chromium, ui = _chromium(), prefect_server.url.removesuffix("/api")
    keys = {a["key"] for a in ui_run["artifacts"]}
    expected = {TABLE_KEY, SUMMARY_KEY, MARKDOWN_KEY, HTML_KEY, PROGRESS_KEY}
    assert keys == expected | {"lab1-profile-progress-cpu"}
    listing = rendered_with(f"{ui}/artifacts", chromium, keys)
    assert NO_API not in listing
    for key in keys:
        assert key in listing, key
    (report,) = [a for a in ui_run["artifacts"] if a["key"] == MARKDOWN_KEY]
    page = rendered_text(f"{ui}/artifacts/artifact/{report['id']}", chromium)
    assert NO_API not in page
    assert "AI-System Lab 1 report: ui" in page
