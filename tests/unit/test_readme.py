"""The README is the front door: short, the two commands, a picture of the report, and a link to
every reader's page."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# One page per reader (the docs' own promise), each of which the README must link.
READER_PAGES = (
    "docs/student.md",
    "docs/teaching-assistant.md",
    "docs/operations.md",
    "docs/gpu.md",
    "docs/maintainers/architecture.md",
    "docs/maintainers/testing.md",
    "docs/maintainers/performance-log.md",
)


def test_the_readme_is_at_most_150_lines():
    assert len(README.splitlines()) <= 150


def test_the_readme_gives_the_two_commands_in_a_command_block():
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    commands = [line.split("#")[0].strip() for b in blocks for line in b.splitlines()]
    assert "make run" in commands and "make test" in commands


def test_the_readme_shows_a_picture_of_the_report_that_exists():
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", README)
    assert "docs/img/report.png" in pictures
    assert all((ROOT / p).is_file() for p in pictures)


def test_the_readme_links_every_readers_page():
    links = set(re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README))
    assert set(READER_PAGES) - links == set()
