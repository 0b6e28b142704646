"""download-data: find, fetch (with retries) or fall back offline; decode once."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.tasks import exponential_backoff

from lab1 import data
from tasks.caching import RUN_CACHE


@task(
    name="fetch-mirrors",
    retries=2,
    retry_delay_seconds=exponential_backoff(backoff_factor=1),
    retry_jitter_factor=0.5,
)
def fetch_mirrors(dataset: str, data_dir: str, timeout_s: float = 10.0) -> str:
    """Download the IDX files from torchvision's mirrors (MD5-checked) into data_dir."""
    return str(data.download(dataset, Path(data_dir), timeout_s=timeout_s))


@task(name="download-data", cache_policy=RUN_CACHE, persist_result=True)
def download_data(dataset: str, data_dir: str, offline: bool, out_dir: str) -> dict:
    """Returns the DatasetInfo dict: source, sizes, checksum and the decoded tensors' path."""
    fetch = None if offline else (lambda: Path(fetch_mirrors(dataset, data_dir)))
    return data.prepare_dataset(dataset, Path(data_dir), Path(out_dir), fetch=fetch).to_dict()
