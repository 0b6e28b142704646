"""A headless Chromium driven over the DevTools protocol, for pages that need a click.

``--dump-dom`` shows a page as it loads; the Prefect UI keeps its task-run list behind a tab
that a URL does not select (the tab is hidden until the flow run has loaded, so the UI falls
back to its first tab). This drives the page as a user does: load, click, wait for the text,
with real-time waits (not a virtual-time budget, which a loaded 2-core machine outruns).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from websockets.sync.client import connect

from lab1.report.browser import CHROMIUM_FLAGS, find_chromium
from lab1.report.processes import stop_group


def chromium_or_skip() -> str:
    """The browser the visual tests drive: a skip where none is installed, a failure under
    CI (which installs it: its absence there is a broken setup, not a skip)."""
    import os

    import pytest

    path = find_chromium()
    if path:
        return path
    msg = "chromium is not installed: run scripts/ensure_chromium.sh (as root)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg)
    pytest.skip(msg)


class Page:
    """One tab of a headless Chromium: ``page.goto(url)``, ``page.click_text("Task Runs")``,
    ``page.wait_for(["name"])``, ``page.screenshot(path)``."""

    def __init__(self, ws) -> None:
        self._ws, self._ids = ws, itertools.count(1)

    def call(self, method: str, **params) -> dict:
        """Send one DevTools command; its result (events arriving meanwhile are skipped)."""
        n = next(self._ids)
        self._ws.send(json.dumps({"id": n, "method": method, "params": params}))
        while True:
            msg = json.loads(self._ws.recv(timeout=120))
            if msg.get("id") == n:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)[
            "result"
        ].get("value")

    def text(self) -> str:
        """The rendered text of the page (what a reader sees, not the page's code)."""
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def goto(self, url: str, timeout_s: float = 90) -> None:
        """Navigate, and return once the new document has loaded whole: parsed to its end and
        every image fetched (``readyState == "complete"`` of *this* URL, not of the page before:
        a large page's text is otherwise read while the parser is still half-way through it)."""
        self.call("Page.navigate", url=url)
        # The navigation entry names the URL this document was loaded from (a single-page app's
        # router may rewrite document.URL afterwards; the entry stays).
        loaded = (
            "(performance.getEntriesByType('navigation')[0] || {}).name === "
            f"{json.dumps(url)} && document.readyState === 'complete'"
        )
        deadline = time.monotonic() + timeout_s
        while not self.evaluate(loaded):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not finish loading in {timeout_s:.0f} s")
            time.sleep(0.2)

    def wait_for(self, needles: list[str], timeout_s: float = 90) -> str:
        """The page's text once every needle is in it; TimeoutError naming the missing ones."""
        deadline = time.monotonic() + timeout_s
        while True:
            text = self.text()
            missing = [n for n in needles if n not in text]
            if not missing:
                return text
            if time.monotonic() > deadline:
                raise TimeoutError(f"not on the page after {timeout_s:.0f} s: {missing}")
            time.sleep(0.5)

    def click_text(self, label: str, timeout_s: float = 60) -> None:
        """Click the first element whose text is exactly ``label`` (the innermost one: the
        click bubbles up to whichever ancestor listens, a button, a link or a tab's <li>)."""
        js = f"""(() => {{
            const is = e => e.innerText && e.innerText.trim() === {json.dumps(label)};
            const hit = [...document.body.querySelectorAll('*')]
                .find(e => is(e) && ![...e.children].some(is));
            if (hit) hit.click();
            return Boolean(hit);
        }})()"""
        deadline = time.monotonic() + timeout_s
        while not self.evaluate(js):
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing labelled {label!r} to click")
            time.sleep(0.5)

    def screenshot(self, out: str | Path) -> Path:
        png = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        Path(out).parent.mkdir(parents=True, exist_ok=True)  # no test may rely on another's
        Path(out).write_bytes(png)
        return Path(out)


@contextlib.contextmanager
def chromium_page(chromium: str, size: tuple[int, int] = (1400, 900)) -> Iterator[Page]:
    """A fresh headless Chromium (its own profile) with one page; stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="lab1-cdp-") as profile:
        proc = subprocess.Popen(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={size[0]},{size[1]}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"  # Chromium writes its port here
            deadline = time.monotonic() + 60
            while not (port_file.is_file() and port_file.read_text().strip()):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("chromium did not open its DevTools port")
                time.sleep(0.2)
            port = port_file.read_text().split()[0]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as r:
                (target,) = [t for t in json.load(r) if t["type"] == "page"]
            with connect(target["webSocketDebuggerUrl"], max_size=None) as ws:
                yield Page(ws)
        finally:
            stop_group(proc, grace_s=5)


def get_bytes(url: str, timeout_s: float = 10.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout_s) as r:
        return r.read()
