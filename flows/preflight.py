"""The CLI's preflight: the checks the flow would make anyway, done before the Prefect engine
starts, so that bad input or a bad environment costs one clear line (exit 2) and leaves no
run directory behind."""

from __future__ import annotations

import logging
from dataclasses import fields
from pathlib import Path

import httpx
from prefect.settings import PREFECT_API_URL

from lab1.config import Lab1Config
from lab1.errors import PrefectAPIError, ResumeError, RunDirError
from lab1.host.devices import check_precision, resolve_devices, training_device
from lab1.run.checkpoints import latest_record
from lab1.run.data import check_data_dir
from lab1.run.manifest import read_manifest
from lab1.run.train import Recipe
from lab1.rundir import RunPaths, check_run_dir
from lab1.store import check_store, is_store_url, local_runs_dir
from lab1.store import exists as store_exists
from lab1.version import code_version

log = logging.getLogger("lab1.preflight")

_FIXES = "start one with `make server`, or unset PREFECT_API_URL to use a temporary server"
# What decides the data a resumed run trains on, besides the Recipe's own fields.
_DATA_SETTINGS = ("dataset", "data_dir", "offline", "dry_run")


def preflight(cfg: Lab1Config) -> None:
    check_prefect_api()
    found = resolve_devices(cfg.devices)
    check_precision(training_device(found), {cfg.precision, *cfg.precisions_to_profile})
    if is_store_url(cfg.runs_dir):
        check_store_run(cfg)
    check_run_dir(local_runs_dir(cfg.runs_dir), cfg.run_name, cfg.resume)
    check_data_dir(cfg.dataset, Path(cfg.data_dir))
    if cfg.resume:
        check_resume(cfg)


def check_store_run(cfg: Lab1Config) -> None:
    """A store --runs-dir: reachable, the bucket there and writable, and (a new run) no run of
    this name in it yet; before anything is written here or there."""
    where = check_store(cfg.runs_dir)
    if cfg.run_name and not cfg.resume and store_exists(str(where.child(cfg.run_name))):
        raise RunDirError(
            f"run {cfg.run_name!r} already exists under {cfg.runs_dir}: pick another --run-name"
        )


def check_prefect_api(timeout_s: float = 5.0) -> None:
    """A set PREFECT_API_URL must answer GET /health as a Prefect server does (``true``)."""
    url = PREFECT_API_URL.value()
    if not url:
        return  # the CLI starts a temporary server
    try:
        answer = httpx.get(f"{url.rstrip('/')}/health", timeout=timeout_s)
    except httpx.ConnectError as exc:
        raise PrefectAPIError(f"no Prefect API at PREFECT_API_URL={url} ({exc}): {_FIXES}") from exc
    except httpx.TimeoutException as exc:
        raise PrefectAPIError(
            f"PREFECT_API_URL={url} did not answer in {timeout_s:.0f} s: {_FIXES}"
        ) from exc
    except httpx.HTTPError as exc:  # it answered, but not in HTTP
        raise PrefectAPIError(
            f"PREFECT_API_URL={url} does not answer as a Prefect API ({type(exc).__name__}): "
            f"{_FIXES}"
        ) from exc
    if answer.status_code != 200 or answer.text.strip() != "true":
        raise PrefectAPIError(
            f"PREFECT_API_URL={url} does not answer as a Prefect API (GET /health: HTTP "
            f"{answer.status_code}, {answer.text[:40]!r}): {_FIXES}"
        )


def resume_settings() -> tuple[str, ...]:
    """The settings a resumed run must share with its run: the data's, and every Recipe field
    that is a Lab1Config field (so a field added to both is checked without a change here)."""
    config = {f.name for f in fields(Lab1Config)}
    recipe = tuple(f.name for f in fields(Recipe) if f.name in config)
    return _DATA_SETTINGS + tuple(n for n in recipe if n not in _DATA_SETTINGS)


def check_resume(cfg: Lab1Config) -> None:
    """Refuse, in one line naming them, settings that differ from the run's (its manifest,
    and its newest checkpoint's recipe where there is one). --epochs may grow, never below
    the epochs already trained. A changed code version is allowed, with a warning."""
    paths = RunPaths(Path(local_runs_dir(cfg.runs_dir)).expanduser().resolve() / cfg.run_name)
    manifest = read_manifest(paths)
    record = latest_record(paths.checkpoints)
    saved = {name: getattr(manifest.parameters, name) for name in resume_settings()}
    saved.update({k: v for k, v in (record or {}).get("recipe", {}).items() if k in saved})
    differences = [
        f"--{name.replace('_', '-')} {saved[name]} → {getattr(cfg, name)}"
        for name in saved
        if saved[name] != getattr(cfg, name)
    ]
    trained = record["epoch"] if record else 0
    if cfg.effective_epochs < trained:
        differences.append(f"--epochs {cfg.effective_epochs} < the {trained} already trained")
    if differences:
        raise ResumeError(
            f"--resume {cfg.run_name}: settings differ from the run's: {'; '.join(differences)} "
            "(resume with the run's settings, or start a new run)"
        )
    if manifest.code_version and manifest.code_version != code_version():
        log.warning(
            "the code changed since this run started (%s → %s): steps whose code changed are "
            "redone; training continues from its checkpoint",
            manifest.code_version,
            code_version(),
        )
