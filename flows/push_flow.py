"""Push a finished local run to an object store, the manifest last.

    python flows/push_flow.py runs/my-run s3://course-bucket/runs     # → s3://…/runs/my-run/

What a run with a store --runs-dir does after each step, done again by hand: for a run whose
upload failed (it says so, and prints this command), or one made with a local --runs-dir.
Endpoint and credentials: the standard AWS variables (lab1/store.py). The store URL is the
last line printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lab1.errors import Lab1Error, RunDirError
from lab1.rundir import RunPaths
from lab1.store import check_store, push


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python flows/push_flow.py",
        description="Push a local lab1 run to s3://BUCKET/PREFIX/<run name>/ (manifest last).",
    )
    parser.add_argument("run", metavar="RUN_DIR", help="the local run directory")
    parser.add_argument("store", metavar="S3_URL", help="s3://BUCKET/PREFIX: the runs' place")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        paths = RunPaths(Path(args.run).expanduser().resolve())
        if not paths.manifest.is_file():
            raise RunDirError(f"{args.run} is not a run directory (no manifest.json)")
        target = str(check_store(args.store).child(paths.root.name))
        files = push(paths.root, target)
    except Lab1Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{files} files pushed")
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
