"""The docs stay true to the tree: every relative link resolves (to a file, and to a heading
where it names one), every script a command block runs exists, and dated measurements live only
in the maintainers' performance log."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", flags=re.S | re.M)
SCRIPT = re.compile(r"(?<![\w/.-])((?:scripts|flows|benchmarks|tests)/[\w./-]+\.(?:py|sh))")
DATE = re.compile(r"\b20\d\d-[01]\d-[0-3]\d\b")


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, a repeated
    heading numbered -1, -2, ... (headings inside code blocks are not headings)."""
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", markdown).splitlines():
        m = re.match(r"#{1,6} (.+)", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m[1].strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        out.add(slug if n == 0 else f"{slug}-{n}")
        seen[slug] = n + 1
    return out


def broken_links(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    broken = []
    for target in LINK.findall(FENCE.sub("", text)):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text("utf-8")):
            broken.append(f"{target} (no such heading)")
    return broken


def test_the_anchor_rule_is_githubs():
    # Worked by hand from GitHub's rendering of these headings.
    text = "## Mixed precision (`--precision bf16`)\n## 4. One GPU: limits\n## Tests\n## Tests\n"
    assert anchors(text) == {
        "mixed-precision---precision-bf16",
        "4-one-gpu-limits",
        "tests",
        "tests-1",
    }


def test_a_broken_link_is_seen(tmp_path):
    (tmp_path / "b.md").write_text("## Here\n")
    page = tmp_path / "a.md"
    page.write_text("[ok](b.md#here) [file](c.md) [heading](b.md#there) [web](https://x.org/y)")
    assert broken_links(page) == ["c.md (no such file)", "b.md#there (no such heading)"]


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_script_a_command_block_runs_exists(page):
    blocks = FENCE.findall(page.read_text(encoding="utf-8"))
    missing = sorted({s for b in blocks for s in SCRIPT.findall(b) if not (ROOT / s).is_file()})
    assert missing == []


def test_dated_measurements_live_only_in_the_performance_log():
    dated = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in DOCS
        if "maintainers" not in p.parts
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if DATE.search(line)
    ]
    assert dated == []
