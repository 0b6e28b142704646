"""Every command the README and docs/*.md show runs as written, from the repository root, with
the environment active (what the README asks for first): each one's ``--help``, as a person
would type it. And the command line answers at once: ``--help`` and a command's first line
come before PyTorch and Prefect load."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.S | re.M)
PYTHONS = ("python", "python3", ".venv/bin/python")
# A generous bound for what takes well under a second on a quiet machine (lab1.config and the
# standard library); loading PyTorch and Prefect took 24 s under the same load.
FIRST_LINE_S = 10


def documented_commands() -> dict[str, list[str]]:
    """Each lab1 command in the docs' code blocks (``python flows/x.py``, ``lab1 pack``), by
    the program as written: its first words, the options left out."""
    found = {}
    for doc in DOCS:
        for block in FENCE.findall(doc.read_text(encoding="utf-8")):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split("  #")[0].strip().removeprefix("$ ")
                try:
                    words = shlex.split(line)
                except ValueError:
                    continue
                script = len(words) >= 2 and words[0] in PYTHONS and words[1].startswith("flows/")
                if script or (len(words) >= 2 and words[0] == "lab1"):
                    found.setdefault(" ".join(words[:2]), words[:2])
    return found


def activated_env() -> dict[str, str]:
    """The environment of a shell with the project's .venv active (bin first on PATH)."""
    venv = Path(sys.executable).parent
    return {
        **os.environ,
        "PATH": f"{venv}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(venv.parent),
    }


def test_the_docs_show_every_flow_command():
    found = documented_commands()
    scripts = {words[1] for words in found.values() if words[0] != "lab1"}
    assert {
        "flows/lab1_flow.py",
        "flows/compare_flow.py",
        "flows/pack_flow.py",
        "flows/class_flow.py",
        "flows/report_flow.py",
    } <= scripts, sorted(found)


@pytest.mark.parametrize("command", sorted(documented_commands()))
def test_each_documented_command_answers_help_as_written(command):
    words = documented_commands()[command]
    if words[0] == "lab1":  # the console script: as `python -m flows.cli` where not installed
        words = [sys.executable, "-m", "flows.cli", words[1]]
    started = time.monotonic()
    proc = subprocess.run(
        [*words, "--help"],
        cwd=ROOT,
        env=activated_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("usage: "), proc.stdout[:300]
    assert took < FIRST_LINE_S, f"{command} --help took {took:.1f} s"


def test_the_lab1_command_dispatches_to_every_flow():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"lab1": "flows.cli:main"}
    from flows import cli

    assert set(cli.COMMANDS) == {"run", "compare", "pack", "class", "report", "remeasure"}
    for command, (module, _, _) in cli.COMMANDS.items():
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), command
    proc = subprocess.run(
        [sys.executable, "-m", "flows.cli", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0 and "{run,compare,pack,class,report,remeasure}" in proc.stdout


def test_a_run_prints_its_first_line_before_the_heavy_imports(tmp_path):
    """The first line within the bound, then the run goes on (stopped here: only the line is
    this test's subject). The bad --runs-dir makes the run end at its preflight."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "flows/lab1_flow.py", "--offline", "--runs-dir", "/proc/nope"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        took = time.monotonic() - started
    finally:
        proc.kill()
        proc.wait()
    assert first.startswith("lab1 run: starting the lab"), first
    assert took < FIRST_LINE_S, f"first line after {took:.1f} s"
