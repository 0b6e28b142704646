"""Look at a run: open its report in a browser, serve its TensorBoard, photograph both.

    python -m lab1.report.viewer RUN_DIR --screenshots OUT_DIR   # TensorBoard scalars + report PNGs

The photographs are lab1.report.browser's (a headless Chromium); every process started here is
stopped again, with its children, before the function that started it returns.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shlex
import subprocess
import sys
import tempfile
import time
import webbrowser
from collections.abc import Iterator
from pathlib import Path

from lab1.report import browser
from lab1.report.processes import free_port, get_json, stop_group
from lab1.rundir import RunPaths

log = logging.getLogger("lab1.report.viewer")


def open_report(report_html: str | Path) -> bool:
    """Open the HTML report with the default browser; False (and a log line) if none is there.

    A headless server has no browser: webbrowser then returns False rather than raising, and
    the path is logged so the user can copy the file elsewhere.
    """
    uri = Path(report_html).resolve().as_uri()
    try:
        opened = webbrowser.open(uri, new=2)
    except webbrowser.Error:
        opened = False
    if not opened:
        log.info("no browser available here; open %s yourself", uri)
    return opened


def _as_typed(path: str | Path) -> str:
    """path relative to the current directory when it lies below it, else absolute."""
    path = Path(path).absolute()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def tensorboard_command(logdir: str | Path) -> str:
    """A TensorBoard command line that works as typed here: this Python's own ``tensorboard``
    script (after ``make run``, ``.venv/bin/tensorboard``: the venv is not on PATH)."""
    script = Path(sys.executable).parent / "tensorboard"
    exe = [_as_typed(script)] if script.is_file() else [sys.executable, "-m", "tensorboard.main"]
    return shlex.join([*exe, "--logdir", _as_typed(logdir), "--host", "127.0.0.1"])


@contextlib.contextmanager
def tensorboard_server(
    logdir: str | Path, host: str = "127.0.0.1", port: int | None = None, timeout_s: float = 90
) -> Iterator[str]:
    """Serve logdir with TensorBoard; yields its base URL once it lists at least one run."""
    port = port or free_port(host)
    base = f"http://{host}:{port}"
    with tempfile.TemporaryFile(mode="w+") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tensorboard.main",
                "--logdir",
                str(logdir),
                "--host",
                host,
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if proc.poll() is not None:
                    out.seek(0)
                    raise RuntimeError(f"tensorboard exited with {proc.returncode}: {out.read()}")
                with contextlib.suppress(OSError, ValueError):
                    if get_json(f"{base}/data/runs", timeout_s=2):
                        break
                if time.monotonic() > deadline:
                    out.seek(0)
                    raise TimeoutError(
                        f"tensorboard on {base} not ready in {timeout_s} s: {out.read()[-2000:]}"
                    )
                time.sleep(0.5)
            yield base
        finally:
            stop_group(proc)


TENSORBOARD_TABS = {
    "graphs": "#graphs",
    "scalars": "#scalars&_smoothingWeight=0",  # smoothing off: the logged values themselves
}


def tensorboard_screenshots(
    tb_dir: str | Path, pngs: dict[str, str | Path], *, budget_ms: int = 15_000
) -> tuple[dict[str, str] | None, str]:
    """Screenshots of the run's own TensorBoard tabs (TENSORBOARD_TABS keys → PNG paths).

    Starts TensorBoard on 127.0.0.1 (a free port), photographs each tab in headless Chromium
    and stops TensorBoard again. Returns (tab → PNG path, "") or, where no Chromium is
    installed, (None, the reason): the report then keeps its drawn graph.
    """
    chromium = browser.find_chromium()
    if chromium is None:
        return None, "no chromium here (scripts/ensure_chromium.sh installs it)"
    shots = {}
    with tensorboard_server(tb_dir) as base:
        for tab, png in pngs.items():
            url = f"{base}/?darkMode=false{TENSORBOARD_TABS[tab]}"
            shots[tab] = str(browser.screenshot(url, png, budget_ms=budget_ms, chromium=chromium))
    return shots, ""


def capture_screenshots(run_dir: str | Path, out_dir: str | Path) -> dict[str, str]:
    """TensorBoard's scalars page and the top of report.html, as PNGs in out_dir."""
    run, out_dir = RunPaths(Path(run_dir)), Path(out_dir)
    shots = {}
    with tensorboard_server(run.tensorboard) as base:
        shots["tensorboard_scalars"] = browser.screenshot(
            f"{base}/?darkMode=false{TENSORBOARD_TABS['scalars']}",
            out_dir / "tensorboard_scalars.png",
        )
    shots["report"] = browser.screenshot(run.report_html.resolve().as_uri(), out_dir / "report.png")
    return {k: str(v) for k, v in shots.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab1.report.viewer", description=__doc__)
    parser.add_argument("run_dir", help="a run directory (runs/<run-name>)")
    parser.add_argument("--screenshots", metavar="OUT_DIR", help="write PNG screenshots here")
    args = parser.parse_args(argv)
    if args.screenshots:
        for name, path in capture_screenshots(args.run_dir, args.screenshots).items():
            print(f"{name}: {path}")
        return 0
    return 0 if open_report(RunPaths(Path(args.run_dir)).report_html) else 1


if __name__ == "__main__":
    sys.exit(main())
