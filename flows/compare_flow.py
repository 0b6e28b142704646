"""Compare two or more runs, from this machine or copied from others, as a Prefect flow.

    python flows/compare_flow.py laptop-run server-run
    python flows/compare_flow.py runs/a /mnt/copied/b --baseline b --report-lang zh

A RUN is a run directory (copied as is from another machine is fine) or a run name under
--runs-dir. The output is <runs-dir>/comparisons/<name>/: comparison.parquet (one row per run
× configuration × phase, with speedup_vs_baseline), the report's tables, report.md,
report.html and report.pdf. Runs of --runs-dir are added to <runs-dir>/history/ (never twice);
a run from elsewhere is read as untrusted input (lab1.submission's reader and caps) and never
written into the history.
"""

from __future__ import annotations

import argparse
import sys

import flows.settings  # noqa: F401  (before prefect: logging and telemetry settings)

# isort: split
from prefect import flow

from flows import console
from flows.server import temporary_server
from lab1 import crossrun
from lab1.config import PAPERS, REPORT_LANGUAGES, Lab1Config
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python flows/compare_flow.py",
        description=(
            "Compare two or more lab1 runs (other machines, devices, precisions, thread "
            "counts) into <runs-dir>/comparisons/<name>/: comparison.parquet and a report."
        ),
    )
    parser.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="a run directory (one copied from another machine as is) or a run name under "
        "--runs-dir; two or more distinct runs",
    )
    parser.add_argument(
        "--name", help="the comparison's folder name (default: the run ids joined by -vs-)"
    )
    parser.add_argument(
        "--baseline",
        metavar="RUN",
        help="the run the speed-ups are over: a run id, name or directory (default: the first)",
    )
    parser.add_argument(
        "--report-lang", choices=REPORT_LANGUAGES, default="en", help="report language"
    )
    parser.add_argument(
        "--paper", choices=PAPERS, default="a4", help="paper of report.pdf (default: a4)"
    )
    parser.add_argument(
        "--runs-dir",
        default=RUNS_DIR,
        help=f"where run names are looked up and comparisons/ is written (default: {RUNS_DIR})",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
