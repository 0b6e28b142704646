"""download-data: find, fetch (with retries) or fall back offline; decode once."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.runtime import task_run
from prefect.tasks import exponential_backoff

from lab1.run import data
from tasks.caching import RUN_CACHE

FETCH_RETRIES = 2


@task(
    name="fetch-mirrors",
    retries=FETCH_RETRIES,
    retry_delay_seconds=exponential_backoff(backoff_factor=1),
    retry_jitter_factor=0.5,
)
def fetch_mirrors(dataset: str, data_dir: str, timeout_s: float = 10.0) -> str | None:
    """Download the IDX files from torchvision's mirrors (MD5-checked) into data_dir.

    Failures raise, so Prefect retries with backoff; the last attempt returns None instead, so
    an unreachable mirror (the usual case on lab machines) is one warning, not a traceback, and
    download-data falls back to the offline source.
    """
    try:
        return str(data.download(dataset, Path(data_dir), timeout_s=timeout_s))
    except data.DataError as exc:
        if task_run.run_count <= FETCH_RETRIES:
            raise
        get_run_logger().warning(
            "mirrors failed %d times, giving up: %s", FETCH_RETRIES + 1, str(exc)[:300]
        )
        return None


@task(name="download-data", cache_policy=RUN_CACHE, persist_result=True)
def download_data(dataset: str, data_dir: str, offline: bool, out_dir: str) -> dict:
    """Returns the DatasetInfo dict: source, sizes, checksum and the decoded tensors' path."""
    fetch = None if offline else (lambda: fetch_mirrors(dataset, data_dir))
    return data.prepare_dataset(dataset, Path(data_dir), Path(out_dir), fetch=fetch).to_dict()
