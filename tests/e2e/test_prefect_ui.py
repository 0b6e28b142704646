"""The Prefect UI as a user sees it: a real server, a dry run of the CLI against it, pages in
headless Chromium driven as a user drives them (load, click a tab, wait for the text). Every
assertion reads the text the UI rendered from the server's API.

``LAB1_UI_SCREENSHOTS=docs/img`` also saves the pages the README shows.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from browser import Page, chromium_or_skip, chromium_page
from conftest import write_mnist_layout

from tasks.compare import SUMMARY_KEY, TABLE_KEY
from tasks.report import HTML_KEY, MARKDOWN_KEY
from tasks.train_and_log import PROGRESS_KEY

ROOT = Path(__file__).resolve().parents[2]
PARENT_TASKS = ("download-data", "export-graph", "train-and-log", "compare", "report")
# profile-cpu at 1 thread: the machine's limits, one config (batch 4, fp32) and the ladder
CHILD_TASKS = ("limits-cpu-t1", "profile-cpu-fp32-t1-bs4", "ladder-cpu-t1")
NO_API = "Can't connect to Server API"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ui_run(prefect_server, tmp_path_factory) -> dict:
    """A dry run of the CLI, reporting to the session's server; its runs, tasks, artifacts."""
    tmp = tmp_path_factory.mktemp("ui")
    write_mnist_layout(tmp / "d")
    args = ["--offline", "--dry-run", "--data-dir", str(tmp / "d"), "--runs-dir", str(tmp / "r")]
    cli = [sys.executable, str(ROOT / "flows" / "lab1_flow.py"), *args]
    prefect_server.run(
        [*cli, "--run-name", "ui", "--batch-sizes", "4", "--cpu-threads", "1"],
        timeout=300,
        cwd=ROOT,
    )
    runs = prefect_server.flow_runs()
    (parent,) = [r for r in runs if r["parameters"].get("run_name") == "ui"]
    (child,) = prefect_server.flow_runs(parent_flow_run_id={"any_": [parent["id"]]})
    return {
        "parent": parent,
        "child": child,
        "tasks": {r["id"]: prefect_server.task_runs(r["id"]) for r in (parent, child)},
        "artifacts": prefect_server.artifacts([parent["id"], child["id"]]),
    }


@pytest.fixture(scope="module")
def page() -> Page:
    with chromium_page(chromium_or_skip()) as p:
        yield p


def _shot(page: Page, name: str) -> None:
    if folder := os.environ.get("LAB1_UI_SCREENSHOTS"):
        page.screenshot(Path(folder) / name)


@pytest.mark.parametrize(("run", "tasks"), [("parent", PARENT_TASKS), ("child", CHILD_TASKS)])
def test_the_task_runs_tab_lists_every_task(prefect_server, ui_run, page, run, tasks):
    flow_run = ui_run[run]
    task_runs = ui_run["tasks"][flow_run["id"]]
    # The API's task runs are the tasks the flow defines (a default run name adds a suffix).
    names = [t["name"] for t in task_runs]
    matched = [t for name in names for t in tasks if name == t or name.startswith(f"{t}-")]
    assert sorted(matched) == sorted(tasks), names
    ui = prefect_server.url.removesuffix("/api")
    page.goto(f"{ui}/runs/flow-run/{flow_run['id']}")
    page.wait_for([flow_run["name"], "Completed"])
    page.click_text("Task Runs")
    n = len(tasks)
    text = page.wait_for([f"{n} Task runs", f"({n} Completed)", *names])
    assert NO_API not in text
    if run == "parent":
        _shot(page, "prefect_flow_run.png")


def test_the_artifacts_page_lists_every_key_and_the_report_renders(prefect_server, ui_run, page):
    ui = prefect_server.url.removesuffix("/api")
    # The profiling flow persists its return value as JSON (a worker elsewhere hands it back
    # through result storage): Prefect records each such result as an artifact with no key.
    results = [a for a in ui_run["artifacts"] if a["key"] is None]
    assert all(a["data"]["serializer"]["type"] == "json" for a in results), results
    keys = {a["key"] for a in ui_run["artifacts"] if a["key"] is not None}
    expected = {TABLE_KEY, SUMMARY_KEY, MARKDOWN_KEY, HTML_KEY, PROGRESS_KEY}
    assert keys == expected | {"lab1-profile-progress-cpu"}
    page.goto(f"{ui}/artifacts")
    assert NO_API not in page.wait_for(sorted(keys))
    (report,) = [a for a in ui_run["artifacts"] if a["key"] == MARKDOWN_KEY]
    page.goto(f"{ui}/artifacts/artifact/{report['id']}")
    text = page.wait_for(["AI-System Lab 1 report: ui", "Top-10 operators"])
    assert NO_API not in text
    _shot(page, "prefect_report_artifact.png")


def test_the_banner_looked_for_is_the_one_this_ui_shows():
    """The NO_API checks above can fail: this Prefect's UI bundle carries that very banner."""
    import prefect

    assets = Path(prefect.__file__).parent / "server" / "ui" / "assets"
    assert any(NO_API in js.read_text(errors="ignore") for js in assets.glob("*.js"))
