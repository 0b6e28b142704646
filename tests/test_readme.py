"""The README stays true to the tree: its layout table names every module."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lab1", "lab1/report", "tasks", "flows")


def layout_rows() -> dict[str, set[str]]:
    """The README's Layout table: `path/` → the backticked names in its row."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("\n## Layout\n", 1)[1]
    rows = {}
    for line in table.splitlines():
        cells = line.split(" | ")
        if line.startswith("| `") and len(cells) >= 2:
            path = cells[0].removeprefix("| `").rstrip("`").rstrip("/")
            rows[path] = set(re.findall(r"`([a-z_0-9]+)`", cells[1]))
    return rows


@pytest.mark.parametrize("package", PACKAGES)
def test_the_layout_table_names_every_module(package):
    modules = {p.stem for p in (ROOT / package).glob("*.py") if p.stem != "__init__"}
    named = layout_rows()[package]
    assert modules - named == set(), f"README's Layout row `{package}/` misses these modules"
    assert named - modules == set(), f"README's Layout row `{package}/` names no such module"
