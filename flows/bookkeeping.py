"""The flow's bookkeeping, kept out of its body: the run directory, manifest and task timings.

RunBook opens (or reopens, to resume) the run directory, writes the manifest's first version,
records each step's result as a typed manifest section, times every task, and marks the run
failed or completed. The flow body then reads as the pipeline's steps.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from prefect import get_run_logger
from prefect.exceptions import TerminationSignal

from flows import console
from flows.console import FILE_ONLY
from lab1 import interrupt
from lab1.config import Lab1Config, default_data_dir
from lab1.errors import Interrupted, Lab1Error
from lab1.host.devices import check_precision, resolve_devices, training_device
from lab1.host.environment import capture_environment
from lab1.run.manifest import Devices, Manifest, now, read_manifest, update_manifest, write_manifest
from lab1.rundir import RunPaths, create_run_dir
from lab1.store import Mirror, StoreError, StoreURL, is_store_url, local_runs_dir
from lab1.version import code_version

FLOW_SCRIPT = Path(__file__).with_name("lab1_flow.py")


def _shown(path: str | Path) -> str:
    """A path relative to the current directory when it is below it, else absolute."""
    path = Path(os.path.abspath(path))  # not resolve(): the venv's python is a symlink
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def resume_command(cfg: Lab1Config) -> str:
    """The exact command line that continues this run: every setting that differs from the
    defaults, then --resume."""
    args = [_shown(sys.executable), _shown(FLOW_SCRIPT)]
    for f in fields(Lab1Config):
        value = getattr(cfg, f.name)
        if f.name in ("resume", "run_name") or value in (f.default, False):
            continue
        if f.name == "data_dir" and value == default_data_dir():
            continue
        flag = "--" + f.name.replace("_", "-")
        if value is True:
            args.append(flag)
        elif isinstance(value, tuple):
            args += [flag, *map(str, value)]
        else:
            local = f.name == "runs_dir" and not is_store_url(value)
            args += [flag, os.path.abspath(value) if local else str(value)]
    return shlex.join([*args, "--run-name", cfg.run_name, "--resume"])


def outcome(exc: BaseException) -> tuple[str, str]:
    """(manifest status, one-line message) of a run that stopped on ``exc``."""
    if isinstance(exc, (Interrupted, KeyboardInterrupt, TerminationSignal)):
        return "interrupted", str(exc) or type(exc).__name__
    if isinstance(exc, Lab1Error):
        return "failed", str(exc)
    return "failed", f"{type(exc).__name__}: {exc}"


def digest(*results: Any) -> str:
    """A digest of task results: the report's cache key changes when what it shows changes."""
    return hashlib.sha256(json.dumps(results, sort_keys=True, default=str).encode()).hexdigest()


def push_command(local: str | Path, url: str) -> str:
    """The command that pushes a finished local run to the store again."""
    script = FLOW_SCRIPT.with_name("push_flow.py")
    return shlex.join([_shown(sys.executable), _shown(script), str(local), url])


@dataclass
class RunBook:
    cfg: Lab1Config
    paths: RunPaths
    devices: list[str]  # every device found (profiled); the first GPU, else cpu, trains
    resuming: bool
    timings: dict[str, float] = field(default_factory=dict)
    # A store --runs-dir: the run is made locally and pushed after each step, manifest last.
    mirror: Mirror | None = None
    push_error: str | None = None
    # The run's steps in order: each says "[3/6] train-and-log" on the terminal as it starts.
    stages: tuple[str, ...] = ()

    @property
    def run_id(self) -> str:
        return self.cfg.run_name  # unique under runs_dir: reused only to resume

    @property
    def device(self) -> str:
        return training_device(self.devices)

    @classmethod
    def open(cls, cfg: Lab1Config, resuming: bool) -> RunBook:
        found = resolve_devices(cfg.devices)
        # Before the run directory exists: bf16 is refused on a device that would emulate it.
        check_precision(training_device(found), {cfg.precision, *cfg.precisions_to_profile})
        if cfg.devices == ("auto",):
            get_run_logger().info("devices auto: %s found (cuda is used only if listed)", found)
        paths = create_run_dir(local_runs_dir(cfg.runs_dir), cfg.run_name, resume=resuming)
        book = cls(cfg, paths, found, resuming)
        if is_store_url(cfg.runs_dir):
            book.mirror = Mirror(paths.root, str(StoreURL.parse(cfg.runs_dir).child(cfg.run_name)))
        manifest = Manifest(
            run_id=book.run_id, run_name=cfg.run_name, run_dir=str(paths.root), parameters=cfg
        )
        if resuming:  # keep what the earlier attempt recorded; its timings are its own
            manifest = read_manifest(paths)
            manifest.parameters, manifest.status, manifest.error = cfg, "running", None
            manifest.run_dir, manifest.resume_command = str(paths.root), None  # it may have moved
        manifest.started_at = now()
        manifest.devices = Devices(resolved=found, training=book.device)
        manifest.environment = capture_environment()
        manifest.code_version = code_version()
        write_manifest(paths, manifest)
        return book

    def record(self, **sections: Any) -> None:
        update_manifest(self.paths, **sections)

    def timed(self, name: str, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        """Call fn and record its wall time under ``name`` in the manifest."""
        if name in self.stages:
            console.end_bars()  # the step before is over, whatever its bars last said
            n = self.stages.index(name) + 1
            get_run_logger().info("[%d/%d] %s", n, len(self.stages), name)
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        self.timings[name] = round(time.perf_counter() - start, 3)
        self.record(timings=self.timings)
        return result

    def step(self, name: str, task: Any, **kwargs: Any) -> Any:
        """Run a task, timed; cached results are reused only when resuming. Between steps is
        a safe point to stop."""
        interrupt.check()
        result = self.timed(name, task.with_options(refresh_cache=not self.resuming), **kwargs)
        self.push()
        return result

    def push(self) -> None:
        """Push what the last step wrote to the store, if the run has one. An upload that
        fails does not stop the run: it finishes locally, and the CLI says how to push it."""
        if self.mirror is None or self.push_error:
            return
        try:
            self.mirror.sync()
        except StoreError as exc:
            self.push_error = str(exc)
            get_run_logger().warning("%s: the run goes on locally in %s", exc, self.paths.root)

    @property
    def push_again(self) -> str | None:
        """The command that pushes the run where an upload failed, else None."""
        if self.mirror is None or not self.push_error:
            return None
        return push_command(self.paths.root, self.cfg.runs_dir)

    @contextmanager
    def failing_on_error(self) -> Iterator[None]:
        """Mark the run failed, or interrupted, with its message and the command that resumes
        it (none where resuming would stop on the same error); the traceback goes to run.log.
        Where the manifest cannot be written (a full disk) the error still propagates; the CLI
        then says the manifest is stale."""
        try:
            yield
        except BaseException as exc:
            status, message = outcome(exc)
            FILE_ONLY.error("run %s: %s", status, message, exc_info=exc)
            again = resume_command(self.cfg) if getattr(exc, "resumable", True) else None
            with contextlib.suppress(Lab1Error, OSError):
                self.record(status=status, error=message, finished_at=now(), resume_command=again)
            self.push()
            raise

    def complete(self, **sections: Any) -> None:
        self.record(status="completed", finished_at=now(), **sections)
        self.push()
