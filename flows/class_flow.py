"""A class's submissions, checked and put side by side.

    python flows/class_flow.py ~/Downloads/lab1-submissions
    python flows/class_flow.py alice.lab1.zip bob.lab1.zip --name week3 --report-lang zh

Each DIR_OR_ZIP is a folder holding one folder or file per student (the student is the first
path part under it), or one student's file (its stem). A student's entry holds a pack
(flows/pack_flow.py) or an unpacked run directory. Each submission is opened as untrusted
input (lab1/submission.py) and checked (lab1/checks.py) in its own task; the class is written
to <runs-dir>/classes/<name>/ (lab1/classview.py). A bad submission is refused with its reason
and the others go on; bad input to the command is one error line and exit 2.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # --help and the first line at once, before the imports below
    from flows.cli import start

    sys.exit(start("class", sys.argv[1:]))

import flows.settings  # noqa: F401  (before prefect: logging and telemetry settings)

# isort: split
from prefect import flow

from flows import console
from flows.cli import class_parser
from flows.server import temporary_server
from lab1.classview import check_inputs
from lab1.config import Lab1Config
from lab1.errors import Lab1Error
from tasks.classview import assess_submission, build_class_view

RUNS_DIR = Lab1Config().runs_dir


@flow(name="lab1-class-view")
def class_flow(
    inputs: list[str],
    name: str | None = None,
    runs_dir: str = RUNS_DIR,
    report_lang: str = "en",
) -> dict:
    """check-inputs → assess-submission (one task per submission) → build-class-view."""
    plan = check_inputs(inputs, runs_dir, name)
    students, entries, roots = zip(*plan["submissions"], strict=True)
    futures = assess_submission.map(list(students), list(entries), list(roots))
    return build_class_view(plan, futures.result(), report_lang)


def main(argv: list[str] | None = None) -> int:
    args = class_parser().parse_args(argv)
    console.install()
    try:  # before the engine starts: a bad input costs a second and writes nothing
        check_inputs(args.inputs, args.runs_dir, args.name)
        with temporary_server():
            out = class_flow(
                inputs=args.inputs,
                name=args.name,
                runs_dir=args.runs_dir,
                report_lang=args.report_lang,
            )
    except Lab1Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"\n{out['students']} submissions: {out['accepted']} accepted, "
        f"{out['flagged']} flagged, {out['refused']} refused"
    )
    print(f"report: {out['report_html']}")
    print(out["out"])
    return 0
