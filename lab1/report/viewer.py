"""Look at a run: open its report in a browser, serve its TensorBoard, take screenshots.

    python -m lab1.report.viewer RUN_DIR --screenshots OUT_DIR   # TensorBoard scalars + report PNGs

Screenshots use a headless Chromium (Debian's ``chromium``; scripts/ensure_chromium.sh
installs it). Every process started here is stopped again, with its children, before the
function that started it returns.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import webbrowser
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lab1.rundir import RunPaths

log = logging.getLogger("lab1.report.viewer")

# A Chromium-family browser (Chromium, Chrome, Edge): on PATH by these names, else at the
# standard install places of macOS and Windows; $LAB1_BROWSER (a path or a name) overrides.
CHROMIUM_NAMES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "microsoft-edge",
    "microsoft-edge-stable",
    "msedge",
)
BROWSER_ENV = "LAB1_BROWSER"
MACOS_BROWSERS = (
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
)
# Below %ProgramFiles%, %ProgramFiles(x86)% and %LocalAppData% (a per-user Chrome).
WINDOWS_BROWSERS = (
    ("Google", "Chrome", "Application", "chrome.exe"),
    ("Microsoft", "Edge", "Application", "msedge.exe"),
    ("Chromium", "Application", "chrome.exe"),
)
# Headless, and nothing that phones home or waits on a network a lab machine may not have.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


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


def browser_candidates() -> list[str]:
    """Where a Chromium-family browser may be, in the order find_chromium tries them."""
    places = [p for p in map(shutil.which, CHROMIUM_NAMES) if p]
    if sys.platform == "darwin":
        places += list(MACOS_BROWSERS)
    elif sys.platform == "win32":
        roots = ("ProgramFiles", "ProgramFiles(x86)", "LocalAppData")
        for root in filter(None, map(os.environ.get, roots)):
            places += [str(Path(root).joinpath(*parts)) for parts in WINDOWS_BROWSERS]
    return places


def find_chromium() -> str | None:
    """A Chromium, Chrome or Edge to run headless: $LAB1_BROWSER where set (a path, or a name
    on PATH; None where it names nothing runnable), else the first of browser_candidates()."""
    chosen = os.environ.get(BROWSER_ENV)
    if chosen:
        return shutil.which(chosen)
    return next((p for p in browser_candidates() if Path(p).is_file()), None)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def get_json(url: str, timeout_s: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as r:
        return json.loads(r.read())


def stop_group(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """Stop a process started in its own session, and everything it started (its group)."""
    if not hasattr(os, "killpg"):  # Windows: no process groups; taskkill /T stops the tree
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                ["taskkill", "/T", "/F", "/PID", str(proc.pid)], capture_output=True, timeout=30
            )
        with contextlib.suppress(OSError):
            proc.kill()
        proc.wait()
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)
    # Children (TensorBoard's data server, Chromium's helpers) may outlive the leader.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


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


def run_headless(browser: str, profile: str | Path, args: list[str], timeout_s: float) -> str:
    """Run ``browser`` headless once (CHROMIUM_FLAGS, a fresh ``profile`` folder, then
    ``args``) in a process group of its own, stopped whole afterwards (a timeout included);
    returns what it printed. The one way lab1 runs a browser: screenshots and report.pdf."""
    cmd = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        output, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        output = b"(timed out)"
    finally:
        stop_group(proc, grace_s=5)
    return output.decode(errors="replace")


def screenshot(
    url: str,
    out: str | Path,
    *,
    size: tuple[int, int] = (1400, 1000),
    budget_ms: int = 10_000,
    timeout_s: float = 120,
    chromium: str | None = None,
) -> Path:
    """Save a PNG of url as headless Chromium renders it after budget_ms of (virtual) time."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError("no chromium here: run scripts/ensure_chromium.sh")
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="lab1-chromium-") as profile:
        args = [
            f"--window-size={size[0]},{size[1]}",
            f"--virtual-time-budget={budget_ms}",
            f"--screenshot={out}",
            url,
        ]
        output = run_headless(chromium, profile, args, timeout_s)
    if not out.is_file():
        raise RuntimeError(f"chromium wrote no screenshot of {url}: {output[-2000:]}")
    return out


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
    chromium = find_chromium()
    if chromium is None:
        return None, "no chromium here (scripts/ensure_chromium.sh installs it)"
    shots = {}
    with tensorboard_server(tb_dir) as base:
        for tab, png in pngs.items():
            url = f"{base}/?darkMode=false{TENSORBOARD_TABS[tab]}"
            shots[tab] = str(screenshot(url, png, budget_ms=budget_ms, chromium=chromium))
    return shots, ""


def capture_screenshots(run_dir: str | Path, out_dir: str | Path) -> dict[str, str]:
    """TensorBoard's scalars page and the top of report.html, as PNGs in out_dir."""
    run, out_dir = RunPaths(Path(run_dir)), Path(out_dir)
    shots = {}
    with tensorboard_server(run.tensorboard) as base:
        shots["tensorboard_scalars"] = screenshot(
            f"{base}/?darkMode=false{TENSORBOARD_TABS['scalars']}",
            out_dir / "tensorboard_scalars.png",
        )
    shots["report"] = screenshot(run.report_html.resolve().as_uri(), out_dir / "report.png")
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
