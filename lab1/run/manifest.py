"""manifest.json: the typed, versioned record of one run.

The flow writes it through ``start_manifest`` / ``update_manifest``; the report and the tests'
fixtures read it through ``read_manifest``. Every section is a dataclass, so a field the code
does not know is an error at write time, not a silent ``.get(..., "–")`` at read time. Each
file carries ``schema_version``: a reader refuses a manifest of a version it does not know
(a newer lab1 wrote it) with one clear line, instead of failing deep inside the report.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from lab1.atomic import write_json
from lab1.config import Lab1Config
from lab1.errors import ManifestError
from lab1.host.environment import Environment
from lab1.run.data import DatasetInfo
from lab1.run.step import Execution
from lab1.run.train import EpochStats
from lab1.rundir import RunPaths

# 2: the environment names the machine (hostname, gpu_models, machine_id: the id on every
# table row); training.execution is a typed Execution (lab1.run.step), and comparison.executions
# records each profiled config's. A version-1 manifest still reads: those fields are None.
# 3: comparison.table_sha256, the SHA-256 of each table file as it was written (a table edited
# by hand afterwards no longer matches; lab1.classroom.checks holds a submission's tables against
# it).
SCHEMA_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
STATUSES = ("running", "completed", "failed", "interrupted")


@dataclass
class Devices:
    resolved: list[str]  # what the run found and profiles: cpu, cuda, cuda:1 …
    training: str  # the one it trained on


@dataclass
class GraphSummary:
    parameters: int
    macs_per_image: int
    layers: int
    layer_table: str
    grid_images: int
    exported_program: str | None = None  # graph/model.pt2; None where torch.export failed


@dataclass
class TrainingSummary:
    device: str
    epochs_completed: int
    resumed_from_epoch: int | None
    test_accuracy: float | None
    test_loss: float | None
    train_loss: float | None
    train_accuracy: float | None
    history: list[EpochStats]
    checkpoint: str | None
    execution: Execution  # how the trained step ran (mode: what ran, e.g. cuda_graph)
    model_weights: str | None = None  # model.pt: the final weights alone

    def complete_history(self) -> list[EpochStats]:
        """Epochs with every metric (a dry run's test pass may be partial, never missing); an
        epoch's load (other_cores, contended) may be unknown."""
        load = {"other_cores", "contended"}
        return [
            h
            for h in self.history
            if all(
                getattr(h, f.name) is not None for f in dataclasses.fields(h) if f.name not in load
            )
        ]


@dataclass
class Results:
    test_accuracy: float | None
    test_loss: float | None
    epochs_completed: int


@dataclass
class MachineLimit:
    """One measured limit of a device at a thread count (a row of the limits table)."""

    device: str
    threads: int
    dtype: str
    what: str  # matmul_peak | memory_bandwidth | dispatch_floor
    value: float | None  # None: not supported here (note says why)
    unit: str
    note: str
    machine_id: str | None = None  # where it was measured (None in a schema-1 manifest)
    # How sure it is (lab1.schemas' columns; None in a manifest written before they existed).
    contended: bool | None = None
    other_cores: float | None = None
    timing_spread: float | None = None
    attempts: int | None = None
    reliable: bool | None = None


@dataclass
class MeasurementAttempt:
    """One try of one timed measurement (lab1.measure.remeasure): a profiled phase, a limit or a
    ladder size, how long it waited for a quiet machine first, and how busy the machine was."""

    kind: str  # profile | limits | ladder
    device: str
    precision: str | None  # None: the limits (each row's dtype is in name)
    threads: int
    batch_size: int | None
    name: str  # the phase (profile, ladder), or "what dtype" (limits)
    attempt: int
    waited_s: float
    window_start: float
    window_end: float
    other_cpu_s: float | None
    other_cores: float | None
    contended: bool | None
    kept: bool


@dataclass
class Measurements:
    """How sure the run's timed numbers are, in a few counts (lab1.reliability.measurement_summary):
    rows of its comparison, limits and step_times tables."""

    total: int
    disturbed: int  # other programs used cores the measurement needed (its kept attempt)
    unreliable: int  # lab1.reliability.judge False: disturbed, or its blocks spread too much
    unknown: int  # no /proc/stat: disturbance unknown
    measured_again: int  # taken more than once
    max_other_cores: float | None  # the most cores other programs used during one
    logical_cores: int | None  # the machine's


@dataclass
class ComparisonSummary:
    tables: dict[str, str]  # table name → Parquet file
    plots: dict[str, str]
    summary: str  # compare/summary.md
    top10_markdown: str
    history: dict[str, str] = field(default_factory=dict)  # table → history partition
    limits: list[MachineLimit] = field(
        default_factory=list
    )  # lab1.measure.limits, per device × threads
    # How each profiled config's step ran (one per device × precision × threads: batch sizes
    # share it), to hold against training.execution.
    executions: list[Execution] = field(default_factory=list)
    # Table name → SHA-256 of its Parquet file, taken when it was written (empty before schema 3).
    table_sha256: dict[str, str] = field(default_factory=dict)
    # How sure the timed numbers are, and every attempt of each (None / empty in a run made
    # before lab1 measured again on a busy machine).
    measurements: Measurements | None = None
    attempts: list[MeasurementAttempt] = field(default_factory=list)


@dataclass
class ReportPaths:
    report_md: str
    report_html: str
    figures: dict[str, str]
    report_pdf: str | None = None  # None: no browser printed it (lab1.report.pdf)


@dataclass
class Manifest:
    run_id: str
    run_name: str
    run_dir: str
    parameters: Lab1Config
    status: str = "running"
    schema_version: int = SCHEMA_VERSION
    started_at: str = ""
    updated_at: str = ""
    finished_at: str | None = None
    code_version: str | None = None
    devices: Devices | None = None
    environment: Environment | None = None
    dataset: DatasetInfo | None = None
    graph: GraphSummary | None = None
    training: TrainingSummary | None = None
    results: Results | None = None
    comparison: ComparisonSummary | None = None
    report: ReportPaths | None = None
    screenshots: dict[str, str] | None = None  # TensorBoard tab → PNG (--tensorboard-screenshots)
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    # Set when the run stopped short (failed or interrupted): the exact command that continues it.
    resume_command: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["parameters"] = self.parameters.to_dict()
        return d


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _build(tp: Any, value: Any, where: str, strict: bool = False) -> Any:
    """``value`` (JSON data or already typed) as type ``tp``: dataclasses built recursively,
    unknown keys refused. ``strict`` (a manifest from someone else's run) also checks every
    scalar's type against the schema: a string where a number belongs, a number where text
    belongs or a non-finite float is an error naming the field, before any code reads it."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if value is None and strict and tp is not Any and type(None) not in args:
        raise ManifestError(f"manifest {where.lstrip('.')}: expected a value, got null")
    if value is None or tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        inner = next(a for a in args if a is not type(None))
        return _build(inner, value, where, strict)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ManifestError(f"manifest {where}: expected an object, got {value!r:.80}")
        hints = typing.get_type_hints(tp)
        unknown = sorted(set(value) - set(hints))
        if unknown:
            raise ManifestError(f"manifest {where}: unknown field(s) {', '.join(unknown)}")
        built = {k: _build(hints[k], v, f"{where}.{k}", strict) for k, v in value.items()}
        try:
            return tp(**built)
        except TypeError as exc:  # a required field is missing
            raise ManifestError(f"manifest {where}: {exc}") from exc
    if origin in (list, tuple):
        if strict and not isinstance(value, list | tuple):
            raise ManifestError(f"manifest {where}: expected a list, got {_shown(value)}")
        return [_build(args[0], v, f"{where}[]", strict) for v in value]
    if origin is dict:
        if strict and not isinstance(value, dict):
            raise ManifestError(f"manifest {where}: expected an object, got {_shown(value)}")
        return {k: _build(args[1], v, f"{where}.{k}", strict) for k, v in value.items()}
    if strict:
        _check_scalar(tp, value, where)
    return value


def _shown(value: Any) -> str:
    return f"{type(value).__name__} {value!r:.40}"


def _check_scalar(tp: Any, value: Any, where: str) -> None:
    """A JSON scalar of the schema's type: bool is not a number, a number is not text, and a
    float is finite (JSON has no Infinity or NaN; Python's reader accepts them)."""
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    elif tp is str:
        ok = isinstance(value, str)
    elif tp is dict:
        ok = isinstance(value, dict)
    else:
        ok = True
    if not ok:
        want = {bool: "true or false", int: "an integer", float: "a finite number"}
        raise ManifestError(
            f"manifest {where.lstrip('.')}: expected {want.get(tp, tp.__name__)}, "
            f"got {_shown(value)}"
        )


def manifest_from_dict(data: dict[str, Any], strict: bool = False) -> Manifest:
    version = data.get("schema_version")
    if version not in READABLE_VERSIONS:
        raise ManifestError(
            f"manifest schema_version {version!r} is not one this lab1 reads "
            f"({', '.join(map(str, READABLE_VERSIONS))}): it was written by another version "
            "of lab1; open it with that version"
        )
    return _build(Manifest, data, "", strict)


def write_manifest(paths: RunPaths, manifest: Manifest) -> Manifest:
    if manifest.status not in STATUSES:
        raise ManifestError(f"manifest status {manifest.status!r} is not one of {STATUSES}")
    manifest.updated_at = now()
    manifest.schema_version = SCHEMA_VERSION  # what is written follows this lab1's schema
    write_json(paths.manifest, manifest.to_dict())
    return manifest


def read_manifest(paths: RunPaths) -> Manifest:
    if not paths.manifest.is_file():
        raise ManifestError(f"no manifest.json in {paths.root}: not a lab1 run directory")
    try:
        data = json.loads(paths.manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{paths.manifest} cannot be read: {exc}") from exc
    return manifest_from_dict(data)


def update_manifest(paths: RunPaths, **changes: Any) -> Manifest:
    """Set whole sections (typed values, or their dicts as tasks return them) and rewrite."""
    hints = typing.get_type_hints(Manifest)
    unknown = sorted(set(changes) - set(hints))
    if unknown:
        raise ManifestError(f"manifest has no section(s) {', '.join(unknown)}")
    typed = {k: _build(hints[k], v, k) for k, v in changes.items()}
    return write_manifest(paths, dataclasses.replace(read_manifest(paths), **typed))
