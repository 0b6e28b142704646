"""tensorboard-screenshots: the run's own TensorBoard, photographed for the report (opt-in)."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from lab1.report.viewer import TENSORBOARD_TABS, tensorboard_screenshots
from lab1.rundir import RunPaths


# Not cached: retaken on a resume, so the pictures show the run's logs as they are now.
@task(name="tensorboard-screenshots", cache_policy=NO_CACHE)
def screenshot_tensorboard(run_dir: str) -> dict[str, str] | None:
    """PNGs of the run's TensorBoard tabs in its screenshots/ folder; None where no browser."""
    paths = RunPaths(run_dir)
    pngs = {tab: paths.screenshot(tab) for tab in TENSORBOARD_TABS}
    shots, why_not = tensorboard_screenshots(paths.tensorboard, pngs)
    if shots is None:
        get_run_logger().warning("no TensorBoard screenshots: %s", why_not)
    return shots
