"""Compare two or more runs, from this machine or copied from others, as a Prefect flow.

    python flows/compare_flow.py laptop-run server-run
    python flows/compare_flow.py runs/a /mnt/copied/b --baseline b --report-lang zh

A RUN is a run directory (copied as is from another machine is fine) or a run name under
--runs-dir. The output is <runs-dir>/comparisons/<name>/: comparison.parquet (one row per run
× configuration × phase, with speedup_vs_baseline), the report's tables, report.md,
report.html and report.pdf. Runs from elsewhere are added to <runs-dir>/history/ (never twice).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # --help and the first line at once, before the imports below
    from flows.cli import start

    sys.exit(start("compare", sys.argv[1:]))

import flows.settings  # noqa: F401  (before prefect: logging and telemetry settings)

# isort: split
from prefect import flow

from flows import console
from flows.cli import compare_parser
from flows.server import temporary_server
from lab1 import crossrun
from lab1.config import Lab1Config
from lab1.errors import Lab1Error
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
    # Every check before the engine starts: a bad input costs a second, prints one line, and
    # leaves nothing behind.
    try:
        crossrun.check(
            crossrun.locate(args.runs, args.runs_dir), args.runs_dir, args.baseline, args.name
        )
    except Lab1Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        with temporary_server():
            out = compare_flow(
                runs=args.runs,
                runs_dir=args.runs_dir,
                baseline=args.baseline,
                name=args.name,
                report_lang=args.report_lang,
                paper=args.paper,
            )
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
