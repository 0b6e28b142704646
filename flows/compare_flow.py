"""Compare two or more runs, from this machine or copied from others, as a Prefect flow.

    python flows/compare_flow.py laptop-run server-run
    python flows/compare_flow.py runs/a /mnt/copied/b --baseline b --report-lang zh

A RUN is a run directory (copied as is from another machine is fine), an s3:// run
(s3://BUCKET/PREFIX/RUN: fetched without weights, checkpoints, traces or data), or a run name
under --runs-dir. The output is <runs-dir>/comparisons/<name>/: comparison.parquet (one row
per run × configuration × phase, with speedup_vs_baseline), the report's tables, report.md,
report.html and report.pdf. Runs of --runs-dir are added to <runs-dir>/history/ (never twice);
a run from elsewhere is read as untrusted input (lab1.classroom.submission's reader and caps) and
never
written into the history. An s3:// --runs-dir: the comparison is made in its local scratch
folder, then pushed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

if __name__ == "__main__":  # --help and the first line at once, before the imports below
    from flows.cli import start

    sys.exit(start("compare", sys.argv[1:]))

import flows.settings  # noqa: F401  (before prefect: logging and telemetry settings)

# isort: split
from prefect import flow

from flows import console
from flows.cli import compare_parser
from flows.server import temporary_server
from lab1.compare import crossrun
from lab1.config import Lab1Config
from lab1.errors import Lab1Error
from lab1.store import StoreURL, check_store, fetch_run, is_store_url, local_runs_dir, push
from tasks.crossrun import add_to_history, check_runs, compare_runs, read_runs, report_comparison

RUNS_DIR = Lab1Config().runs_dir  # the main flow's default: one runs folder for both


@flow(name="lab1-compare-runs")
def compare_flow(
    runs: list[str],
    runs_dir: str = RUNS_DIR,
    baseline: str | None = None,
    name: str | None = None,
    report_lang: str = "en",
    paper: str = "a4",
) -> dict:
    """read-runs → check-runs → compare-runs → report-comparison → add-to-history."""
    run_dirs = read_runs(runs, runs_dir)
    plan = check_runs(run_dirs, runs_dir, baseline, name)
    tables = compare_runs(plan)
    report = report_comparison(plan, report_lang, paper)
    history = add_to_history(plan)
    return {"out": plan["out"], "tables": tables, "history": history, **report}


def main(argv: list[str] | None = None) -> int:
    args = compare_parser().parse_args(argv)
    console.install()
    with tempfile.TemporaryDirectory(prefix="lab1-compare-") as fetched:
        try:
            runs = [str(fetch_run(r, fetched)) if is_store_url(r) else r for r in args.runs]
            if is_store_url(args.runs_dir):
                check_store(args.runs_dir)
        except Lab1Error as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return _compare(args, runs, local_runs_dir(args.runs_dir))


def _compare(args: argparse.Namespace, runs: list[str], runs_dir: str) -> int:
    # Every check before the engine starts: a bad input costs a second, prints one line, and
    # leaves nothing behind.
    try:
        crossrun.check(crossrun.locate(runs, runs_dir), runs_dir, args.baseline, args.name)
    except Lab1Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        with temporary_server():
            out = compare_flow(
                runs=runs,
                runs_dir=runs_dir,
                baseline=args.baseline,
                name=args.name,
                report_lang=args.report_lang,
                paper=args.paper,
            )
        if is_store_url(args.runs_dir):
            name = Path(out["out"]).name
            where = StoreURL.parse(args.runs_dir).child("comparisons").child(name)
            push(out["out"], str(where))
            print(f"in the store: {where}")
    except Lab1Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"\ncomparison: {out['out']}")
    print(f"report: {out['report_html']}")
    if out["report_pdf"]:
        print(f"report on paper: {out['report_pdf']}")
    for run_id, what in out["history"].items():
        print(f"history: {run_id} {what}")
    return 0
