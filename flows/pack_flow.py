"""Pack a finished run into one zip to hand in.

    python flows/pack_flow.py my-run                  # → runs/my-run.lab1.zip
    python flows/pack_flow.py runs/my-run --out ~/upload/alice.lab1.zip
    python flows/pack_flow.py s3://course/runs/my-run  # → s3://course/runs/my-run.lab1.zip

The zip holds the manifest, tables, reports, figures, TensorBoard event files, the layer table
and run.log, with a list of every file and its SHA-256 (pack.json); never checkpoints, weights,
traces or the dataset (lab1/classroom/pack.py). Its path is the last line printed. A run in an
object
store is fetched without those, packed here, and its pack put beside it in the store (or at
--out).
"""

from __future__ import annotations

import argparse
import sys
import tempfile

if __name__ == "__main__":  # --help and the first line at once, before the imports below
    from flows.cli import start

    sys.exit(start("pack", sys.argv[1:]))

import flows.settings  # noqa: F401  (before prefect: logging and telemetry settings)

# isort: split
from prefect import flow

from flows import console
from flows.cli import pack_parser
from flows.server import temporary_server
from lab1.classroom.pack import check_packable
from lab1.compare import crossrun
from lab1.config import Lab1Config
from lab1.errors import Lab1Error, PackError
from lab1.rundir import PACK_SUFFIX, pack_file
from lab1.store import check_store, fetch_run, is_store_url, push
from lab1.store import exists as store_exists
from tasks.pack import pack

RUNS_DIR = Lab1Config().runs_dir


@flow(name="lab1-pack-run")
def pack_flow(run_dir: str, out: str | None = None) -> dict:
    """pack-run: one task, so the pack is in the Prefect UI beside the run that made it."""
    return pack(run_dir, out)


def main(argv: list[str] | None = None) -> int:
    args = pack_parser().parse_args(argv)
    console.install()
    if is_store_url(args.run):
        return _pack_from_store(args)
    try:  # before the engine starts: a bad RUN or --out costs a second and writes nothing
        run_dir = str(crossrun.resolve(args.run, args.runs_dir).root)
        check_packable(run_dir, args.out)
        with temporary_server():
            out = pack_flow(run_dir=run_dir, out=args.out)
    except Lab1Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{out['files']} files, {out['bytes'] / 2**20:.2f} MB")
    print(out["pack"])
    return 0


def _pack_from_store(args: argparse.Namespace) -> int:
    """RUN in the store: fetched to a temporary folder, packed there, the pack put beside
    the run in the store (or written to --out)."""
    run_url = args.run.rstrip("/")
    target = run_url + PACK_SUFFIX
    with tempfile.TemporaryDirectory(prefix="lab1-pack-") as tmp:
        try:
            if not args.out:
                check_store(run_url)
                if store_exists(target):
                    raise PackError(f"{target} already exists: remove it or pass --out")
            run_dir = fetch_run(run_url, tmp)
            local_out = args.out or str(pack_file(tmp, run_dir.name))
            check_packable(run_dir, local_out)
            with temporary_server():
                out = pack_flow(run_dir=str(run_dir), out=local_out)
            if not args.out:
                push(out["pack"], target)
                out["pack"] = target
        except Lab1Error as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print(f"{out['files']} files, {out['bytes'] / 2**20:.2f} MB")
    print(out["pack"])
    return 0
