"""Runs as students hand them in, for the pack, checks and class-view tests: make_run's
synthetic-but-real run directories (the real compare step and report), with the compare
step's record in the manifest as the flow leaves it (tasks/compare.py)."""

from __future__ import annotations

from pathlib import Path

from test_report import ENV, make_run

from lab1.compare import combine_and_compare
from lab1.manifest import read_manifest, update_manifest
from lab1.report import write_report
from lab1.rundir import RunPaths


def handed_in_run(run_dir: Path, *, env: dict | None = None, lang: str = "en", **kw) -> Path:
    """A completed run directory as the flow leaves it: profiled, compared (the manifest keeps
    the tables' record), reported."""
    make_run(run_dir, env=env or ENV, **kw)
    paths = RunPaths(run_dir)
    result = combine_and_compare(paths, read_manifest(paths).run_id)
    update_manifest(
        paths,
        comparison={**result, "summary": "", "top10_markdown": ""},
        parameters=read_manifest(paths).parameters,
    )
    write_report(run_dir, lang)
    return run_dir
