"""A class's submissions, checked and put side by side.

    python flows/class_flow.py ~/Downloads/lab1-submissions
    python flows/class_flow.py alice.lab1.zip bob.lab1.zip --name week3 --report-lang zh
    python flows/class_flow.py s3://course/submissions --dask local:4
    python flows/class_flow.py s3://course/submissions --dask tcp://10.0.0.5:8786

Each DIR_OR_ZIP is a folder holding one folder or file per student (the student is the first
path part under it), or one student's file (its stem). A student's entry holds a pack
(flows/pack_flow.py) or an unpacked run directory. Each submission is opened as untrusted
input (lab1/classroom/submission.py) and checked (lab1/classroom/checks.py) in its own task; the
class is written
to <runs-dir>/classes/<name>/ (lab1/classroom/classview.py). A bad submission is refused with its
reason
and the others go on; bad input to the command is one error line and exit 2.

An s3:// input is a prefix holding one pack per student (lab1/store.py); each pack's size is
checked from the store's metadata before it is read. An s3:// --runs-dir gets the class view
pushed to <runs-dir>/classes/<name>/. --dask runs the per-submission tasks on a Dask cluster
(prefect-dask): a scheduler's address, or local:N for N worker processes here; each worker
holds one submission at a time (start a cluster's workers with --nthreads 1).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

if __name__ == "__main__":  # --help and the first line at once, before the imports below
    from flows.cli import start

    sys.exit(start("class", sys.argv[1:]))

import flows.settings  # noqa: F401  (before prefect: logging and telemetry settings)

# isort: split
from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from flows import console
from flows.cli import class_parser
from flows.server import temporary_server
from lab1.classroom.classview import check_inputs
from lab1.config import Lab1Config
from lab1.errors import ClassError, Lab1Error
from lab1.store import StoreURL, is_store_url, push
from tasks.classview import assess_submission, build_class_view

RUNS_DIR = Lab1Config().runs_dir
# Each thread holds one submission (its pack's bytes, its tables) in memory. Prefect's thread
# pool is unbounded: over the store every download waited at once, and 300 submissions peaked
# at 5669 MiB against 1414 MiB from disk (benchmarks/bench_store.py). ThreadPoolExecutor's own
# default bound: the cores, and a few more to overlap the store's waits.
ASSESS_THREADS = min(32, (os.cpu_count() or 1) + 4)


@flow(name="lab1-class-view", task_runner=ThreadPoolTaskRunner(max_workers=ASSESS_THREADS))
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


_LOCAL = re.compile(r"^local:([1-9][0-9]{0,2})$")


def task_runner(dask: str):
    """prefect-dask's runner for --dask: one thread per worker, so a worker holds one
    submission in memory at a time."""
    from prefect_dask import DaskTaskRunner

    local = _LOCAL.match(dask)
    if local:
        workers = int(local.group(1))
        kwargs = {"n_workers": workers, "threads_per_worker": 1, "processes": True}
        return DaskTaskRunner(
            cluster_class="distributed.LocalCluster",
            cluster_kwargs={**kwargs, "host": "127.0.0.1", "dashboard_address": None},
        )
    if not re.match(r"^(tcp|tls)://[^\s/]+:[0-9]+$", dask):
        raise ClassError(f"--dask {dask!r}: give tcp://HOST:PORT, or local:N (N workers here)")
    return DaskTaskRunner(address=dask)


def check_scheduler(address: str, timeout_s: float = 10) -> None:
    """A --dask address must answer as a Dask scheduler, before the engine starts."""
    from distributed import Client

    try:
        with Client(address, timeout=timeout_s) as client:
            workers = len(client.scheduler_info()["workers"])
    except Exception as exc:  # OSError, TimeoutError: nothing there
        raise ClassError(f"--dask {address}: no Dask scheduler answers ({exc})") from exc
    if not workers:
        raise ClassError(f"--dask {address}: the scheduler has no workers")


def main(argv: list[str] | None = None) -> int:
    args = class_parser().parse_args(argv)
    console.install()
    try:  # before the engine starts: a bad input costs a second and writes nothing
        check_inputs(args.inputs, args.runs_dir, args.name)
        flow_fn = class_flow
        if args.dask:
            flow_fn = class_flow.with_options(task_runner=task_runner(args.dask))
            if not _LOCAL.match(args.dask):
                check_scheduler(args.dask)
        with temporary_server():
            out = flow_fn(
                inputs=args.inputs,
                name=args.name,
                runs_dir=args.runs_dir,
                report_lang=args.report_lang,
            )
        if is_store_url(args.runs_dir):
            where = StoreURL.parse(args.runs_dir).child("classes").child(Path(out["out"]).name)
            push(out["out"], str(where))
            out["out"] = str(where)
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
