"""tensorboard-screenshots: the run's own TensorBoard, photographed for the report (opt-in)."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from lab1.viewer import TENSORBOARD_TABS, tensorboard_screenshots


# Not cached: retaken on a resume, so the pictures show the run's logs as they are now.
@task(name="tensorboard-screenshots", cache_policy=NO_CACHE)
def screenshot_tensorboard(tb_dir: str, out_dir: str) -> dict[str, str] | None:
    """PNGs of TensorBoard's tabs in out_dir (tensorboard_<tab>.png); None where no browser."""
    pngs = {tab: Path(out_dir) / f"tensorboard_{tab}.png" for tab in TENSORBOARD_TABS}
    shots, why_not = tensorboard_screenshots(tb_dir, pngs)
    if shots is None:
        get_run_logger().warning("no TensorBoard screenshots: %s", why_not)
    return shots
