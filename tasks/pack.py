"""pack: a finished run as one zip to hand in (lab1.classroom.pack)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from lab1.classroom.pack import pack_run


@task(name="pack-run", cache_policy=NO_CACHE)
def pack(run_dir: str, out: str | None = None) -> dict:
    """The run's pack, written whole or not at all; its path, file count and size."""
    return pack_run(run_dir, out)
