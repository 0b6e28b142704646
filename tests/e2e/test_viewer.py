"""The viewer's fast parts: the TensorBoard command it prints, and life without a browser."""

import shlex
import sys

from lab1.report import browser, viewer


def test_tensorboard_command_names_this_venvs_script_relative_to_here(tmp_path, monkeypatch):
    bin_dir = tmp_path / "repo" / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "tensorboard").write_text("#!/bin/sh\n")
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    monkeypatch.chdir(tmp_path / "repo")
    command = viewer.tensorboard_command(tmp_path / "repo" / "runs" / "r 1" / "tensorboard")
    assert shlex.split(command) == [
        ".venv/bin/tensorboard",
        "--logdir",
        "runs/r 1/tensorboard",
        "--host",
        "127.0.0.1",
    ]
    # A logdir outside the current directory stays absolute; no script: python -m.
    (bin_dir / "tensorboard").unlink()
    args = shlex.split(viewer.tensorboard_command("/elsewhere/tb"))
    python = str(bin_dir / "python")
    assert args[:5] == [python, "-m", "tensorboard.main", "--logdir", "/elsewhere/tb"]


def test_no_chromium_means_no_screenshots_and_a_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(browser, "find_chromium", lambda: None)
    shots, why = viewer.tensorboard_screenshots(tmp_path, {"graphs": tmp_path / "g.png"})
    assert shots is None and "chromium" in why
    assert not (tmp_path / "g.png").exists()


def _executable(path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


def test_lab1_browser_names_the_browser_or_nothing(monkeypatch, tmp_path):
    mine = _executable(tmp_path / "bin" / "my-chrome")
    monkeypatch.setenv(browser.BROWSER_ENV, mine)
    assert browser.find_chromium() == mine
    monkeypatch.setenv(browser.BROWSER_ENV, str(tmp_path / "bin" / "missing"))
    assert browser.find_chromium() is None  # named, but not there: no silent fallback


def test_a_browser_on_path_is_found_by_its_name(monkeypatch, tmp_path):
    monkeypatch.delenv(browser.BROWSER_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(sys, "platform", "linux")
    assert browser.find_chromium() is None
    edge = _executable(tmp_path / "bin" / "msedge")
    assert browser.find_chromium() == edge


def test_chrome_and_edge_are_found_where_macos_and_windows_install_them(monkeypatch, tmp_path):
    monkeypatch.delenv(browser.BROWSER_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(sys, "platform", "darwin")
    assert "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome" in (
        browser.browser_candidates()
    )
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("ProgramFiles(x86)", str(tmp_path / "pf86"))
    monkeypatch.delenv("ProgramFiles", raising=False)
    monkeypatch.delenv("LocalAppData", raising=False)
    edge = _executable(tmp_path / "pf86" / "Microsoft" / "Edge" / "Application" / "msedge.exe")
    assert browser.find_chromium() == edge
