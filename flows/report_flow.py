"""A finished run's report written again, in any language, from its tables: no retraining.

    python flows/report_flow.py runs/my-run --lang zh     # → report.zh.md/.html/.pdf, figures.zh/
    python flows/report_flow.py my-run --lang en,zh --paper letter

Each language has its own files beside the others (report.md, report.zh.md; figures/,
figures.zh/), so adding one never overwrites another. Seconds, not a run: the report reads the
run's manifest, tables and event files (lab1.run.reader) and prints its PDF where a browser is.
No Prefect server is started: writing a report is one library call.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # --help and the first line at once, before the imports below
    from flows.cli import start

    sys.exit(start("report", sys.argv[1:]))

from flows.cli import report_parser
from lab1.compare import crossrun
from lab1.errors import Lab1Error, ManifestError
from lab1.report import print_report
from lab1.run.manifest import read_manifest


def main(argv: list[str] | None = None) -> int:
    args = report_parser().parse_args(argv)
    try:
        paths = crossrun.resolve(args.run, args.runs_dir)
        manifest = read_manifest(paths)
    except Lab1Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if manifest.status != "completed":
        print(
            f"error: run {manifest.run_id} is {manifest.status}, not completed: finish it "
            "(python flows/lab1_flow.py --resume --run-name …) first",
            file=sys.stderr,
        )
        return 2
    paper = args.paper or manifest.parameters.paper
    for lang in args.lang:
        try:
            written = print_report(paths.root, lang, paper)
        except (ManifestError, OSError) as exc:
            print(f"error: the {lang} report of {paths.root}: {exc}", file=sys.stderr)
            return 1
        print(f"report: {written['report_html']}")
        if written["report_pdf"]:
            print(f"report on paper: {written['report_pdf']}")
    return 0
