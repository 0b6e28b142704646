"""Every command line of the lab, light: parsers and the ``lab1`` command, before any heavy
import.

    lab1 run --offline                 python flows/lab1_flow.py --offline
    lab1 compare RUN RUN …             python flows/compare_flow.py RUN RUN …
    lab1 pack RUN                      python flows/pack_flow.py RUN
    lab1 class DIR_OR_ZIP …            python flows/class_flow.py DIR_OR_ZIP …
    lab1 report RUN --lang zh          python flows/report_flow.py RUN --lang zh
    lab1 remeasure RUN_DIR             python flows/remeasure_flow.py RUN_DIR

Loading PyTorch, Prefect and the lab takes seconds (26 s on a busy 2-vCPU machine), so each
command parses its arguments here first: ``--help`` and a usage error answer at once, and a
command that goes on says so in its first line before it loads anything. This module imports
only the standard library, lab1.config and lab1.rundir.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import typing
from dataclasses import fields

from lab1.config import PAPERS, Lab1Config
from lab1.rundir import REPORT_LANGUAGES

RUNS_DIR = Lab1Config().runs_dir


def run_parser(prog: str = "python flows/lab1_flow.py") -> argparse.ArgumentParser:
    """One option per Lab1Config field; help and defaults come from the dataclass."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run AI-System Lab 1 (MNIST end to end) as a Prefect flow.",
    )
    hints = typing.get_type_hints(Lab1Config)
    for f in fields(Lab1Config):
        flag = "--" + f.name.replace("_", "-")
        hint, help_text = hints[f.name], f.metadata.get("help", "")
        # default=None everywhere: only what the user typed overrides the dataclass.
        if hint is bool:
            parser.add_argument(flag, action="store_true", default=None, help=help_text)
            continue
        if typing.get_origin(hint) is tuple:
            kwargs = {"nargs": "+", "type": typing.get_args(hint)[0]}
        else:
            base = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
            kwargs = {"type": base}
        if f.default not in (None, ()):
            shown = " ".join(map(str, f.default)) if kwargs.get("nargs") else f.default
            help_text += f" (default: {shown})"
        parser.add_argument(flag, default=None, help=help_text, **kwargs)
    # Not a flow parameter: only the person at this terminal has a browser.
    parser.add_argument(
        "--open-report", action="store_true", help="open report.html in a browser at the end"
    )
    return parser


def compare_parser(prog: str = "python flows/compare_flow.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
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


def pack_parser(prog: str = "python flows/pack_flow.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Pack a finished lab1 run into one zip to upload (<runs-dir>/<run>.lab1.zip).",
    )
    parser.add_argument(
        "run", metavar="RUN", help="a run directory, or a run name under --runs-dir"
    )
    parser.add_argument("--runs-dir", default=RUNS_DIR, help=f"where RUN is looked up ({RUNS_DIR})")
    parser.add_argument("--out", help="the zip to write (default: <runs-dir>/<run>.lab1.zip)")
    return parser


def class_parser(prog: str = "python flows/class_flow.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Check a class's lab1 submissions and put them side by side "
        "(<runs-dir>/classes/<name>/).",
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="DIR_OR_ZIP",
        help="a folder with one folder or file per student, or one student's pack",
    )
    parser.add_argument("--name", help="the class view's folder name (default: the first input's)")
    parser.add_argument(
        "--runs-dir", default=RUNS_DIR, help=f"classes/ is written here (default: {RUNS_DIR})"
    )
    parser.add_argument(
        "--report-lang", choices=REPORT_LANGUAGES, default="en", help="report language"
    )
    parser.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="assess the submissions on a Dask cluster: its scheduler (tcp://HOST:8786), or "
        "local:N for N worker processes on this machine",
    )
    return parser


def remeasure_parser(prog: str = "python flows/remeasure_flow.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Profile a finished lab1 run again (no retraining) and rewrite its "
        "profiles, tables, manifest and reports in place.",
    )
    parser.add_argument("run_dir", help="the run directory (runs/<run name>)")
    f = {x.name: x for x in fields(Lab1Config)}
    for name, flag in (("measure_tries", "--measure-tries"), ("quiet_wait_s", "--quiet-wait-s")):
        kind = int if name == "measure_tries" else float
        help_text = f"{f[name].metadata['help']} (default: the run's own)"
        parser.add_argument(flag, type=kind, default=None, help=help_text)
    return parser


def _languages(text: str) -> tuple[str, ...]:
    """--lang: one report language or several joined by commas (en,zh)."""
    langs = tuple(text.split(","))
    if not set(langs) <= set(REPORT_LANGUAGES) or len(set(langs)) != len(langs):
        raise argparse.ArgumentTypeError(
            f"{text!r}: one of {', '.join(REPORT_LANGUAGES)}, or en,zh"
        )
    return langs


def report_parser(prog: str = "python flows/report_flow.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Write a finished lab1 run's report in the languages asked for, from its "
        "tables (report.md, report.zh.md, … side by side), without training again.",
    )
    parser.add_argument(
        "run", metavar="RUN", help="a run directory, or a run name under --runs-dir"
    )
    parser.add_argument("--runs-dir", default=RUNS_DIR, help=f"where RUN is looked up ({RUNS_DIR})")
    parser.add_argument(
        "--lang",
        default=("zh",),
        type=_languages,
        help="en, zh, or both as en,zh (default: zh)",
    )
    parser.add_argument("--paper", choices=PAPERS, help="paper of the PDF (default: the run's own)")
    return parser


# command → (the flow module whose main() runs it, its parser, what its first line says)
COMMANDS = {
    "run": ("flows.lab1_flow", run_parser, "starting the lab (loading PyTorch and Prefect)"),
    "compare": ("flows.compare_flow", compare_parser, "comparing runs (loading Prefect)"),
    "pack": ("flows.pack_flow", pack_parser, "packing the run (loading Prefect)"),
    "class": ("flows.class_flow", class_parser, "checking the submissions (loading Prefect)"),
    "report": ("flows.report_flow", report_parser, "writing the report from the run's tables"),
    "remeasure": (
        "flows.remeasure_flow",
        remeasure_parser,
        "profiling the finished run again (loading PyTorch and Prefect)",
    ),
}


def start(command: str, argv: list[str], prog: str | None = None) -> int:
    """Parse ``argv`` for ``command`` (``--help`` and usage errors end here, in a fraction of
    a second), say what starts, then load the flow and run its main()."""
    module, parser, doing = COMMANDS[command]
    (parser(prog) if prog else parser()).parse_args(argv)
    print(f"lab1 {command}: {doing} …", flush=True)
    return importlib.import_module(module).main(argv)


def main(argv: list[str] | None = None) -> int:
    """The ``lab1`` command (pyproject's [project.scripts]): one entry point for every flow."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="lab1",
        description="AI-System Lab 1: run the lab, compare runs, pack a run to hand in, check "
        "a class's submissions, or write a finished run's report in another language.",
    )
    parser.add_argument("command", choices=list(COMMANDS), help="what to do")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="its options (lab1 COMMAND --help)")
    if not argv or argv[0] in ("-h", "--help"):
        parser.parse_args(argv or ["--help"])
    ns = parser.parse_args(argv[:1])
    return start(ns.command, argv[1:], prog=f"lab1 {ns.command}")


if __name__ == "__main__":
    sys.exit(main())
