"""The flow's bookkeeping, kept out of its body: the run directory, manifest and task timings.

RunBook opens (or reopens, to resume) the run directory, writes the manifest's first version,
records each step's result as a typed manifest section, times every task, and marks the run
failed or completed. The flow body then reads as the pipeline's steps.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from prefect import get_run_logger

from lab1.config import Lab1Config
from lab1.devices import check_precision, resolve_devices, training_device
from lab1.environment import capture_environment
from lab1.manifest import Devices, Manifest, now, read_manifest, update_manifest, write_manifest
from lab1.rundir import RunPaths, create_run_dir
from lab1.version import code_version


def digest(*results: Any) -> str:
    """A digest of task results: the report's cache key changes when what it shows changes."""
    return hashlib.sha256(json.dumps(results, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class RunBook:
    cfg: Lab1Config
    paths: RunPaths
    devices: list[str]  # every device found (profiled); the first GPU, else cpu, trains
    resuming: bool
    timings: dict[str, float] = field(default_factory=dict)

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
        paths = create_run_dir(cfg.runs_dir, cfg.run_name, resume=resuming)
        book = cls(cfg, paths, found, resuming)
        manifest = Manifest(run_id=book.run_id, run_name=cfg.run_name, run_dir=str(paths.root),
                            parameters=cfg)  # fmt: skip
        if resuming:  # keep what the earlier attempt recorded; its timings are its own
            manifest = read_manifest(paths)
            manifest.parameters, manifest.status, manifest.error = cfg, "running", None
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
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        self.timings[name] = round(time.perf_counter() - start, 3)
        self.record(timings=self.timings)
        return result

    def step(self, name: str, task: Any, **kwargs: Any) -> Any:
        """Run a task, timed; cached results are reused only when resuming."""
        return self.timed(name, task.with_options(refresh_cache=not self.resuming), **kwargs)

    @contextmanager
    def failing_on_error(self) -> Iterator[None]:
        try:
            yield
        except BaseException as exc:
            self.record(status="failed", error=f"{type(exc).__name__}: {exc}")
            raise

    def complete(self, **sections: Any) -> None:
        self.record(status="completed", finished_at=now(), **sections)
