"""A headless Chromium, Chrome or Edge: finding one, running it once, and a screenshot of a page.
The one way lab1 runs a browser (report.pdf and the screenshots).

Debian's ``chromium`` is what scripts/ensure_chromium.sh installs. Every browser started here is
stopped again, with its children, before the function that started it returns.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from lab1.report.processes import stop_group

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
