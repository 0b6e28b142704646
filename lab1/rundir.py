"""The run directory contract: every file and folder a run has, named in one place.

    <runs_dir>/<run name>/
        manifest.json                  the typed manifest (lab1.run.manifest)
        data/<dataset>.pt              decoded tensors
        graph/layers.json, model.pt2   the traced layer table; the torch.export program
        tensorboard/                   event files (graph, image grid, scalars)
        checkpoints/epoch_N.pt, .json  the newest few epochs (lab1.run.checkpoints), with checksums
        model.pt                       the final weights alone (torch.load(weights_only=True))
        run.log                        every log line of the run, tracebacks included
        profiles/parts/…, traces/<config>/<phase>.pt.trace.json.gz, results/…,
                 op_stats.parquet, top10.parquet
        profiles/limits/…, ladder/… (per device × threads), limits.parquet, step_times.parquet
        screenshots/                   TensorBoard screenshots (--tensorboard-screenshots)
        compare/comparison.parquet, share_change.parquet, step_model.parquet,
                time_split.parquet, roofline.parquet, *.png, summary.md, top10.md
        figures/*.png                  the report's own figures
        report.md, report.html, report.pdf (where written)
        figures.zh/, report.zh.md, report.zh.html, report.zh.pdf   the same in Chinese
    <runs_dir>/<run name>.lab1.zip     the run packed for handing in (lab1.classroom.pack)
    <runs_dir>/classes/<name>/         a class's submissions checked side by side
    (lab1.classroom.classview)
    <runs_dir>/history/<table>/run_id=<run>/part-0.parquet   every run's tables
    (lab1.compare.history)
    <runs_dir>/comparisons/<name>/     a comparison of runs (lab1.compare.crossrun):
    comparison.parquet,
                                       runs.parquet, limits.parquet, step_model.parquet,
                                       top_ops.parquet, time_split.parquet, roofline.parquet,
                                       figures/*.png, report.md, report.html

No other module composes a run-relative path: it asks RunPaths.
"""

from __future__ import annotations

import re
import secrets
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from lab1.errors import RunDirError

MANIFEST = "manifest.json"

# Table name → file under the run directory. The history datasets use the same names.
TABLES = {
    "op_stats": "profiles/op_stats.parquet",
    "top10": "profiles/top10.parquet",
    "comparison": "compare/comparison.parquet",
    "share_change": "compare/share_change.parquet",
    "limits": "profiles/limits.parquet",
    "step_times": "profiles/step_times.parquet",
    "step_model": "compare/step_model.parquet",
    "time_split": "compare/time_split.parquet",
    "roofline": "compare/roofline.parquet",
}
# The compare step's plots (compare/<name>.png), in the report's order.
COMPARE_PLOTS = ("throughput", "op_share")
# An epoch checkpoint's file name (its record is the same name with .json).
CHECKPOINT_RE = re.compile(r"^epoch_(\d+)\.pt$")


def device_tag(device: str) -> str:
    """A device name usable in file names: ``cuda:0`` → ``cuda0``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "", device)


def threads_tag(device: str, threads: int) -> str:
    """A device at a thread count in file names: ``cpu_t2``."""
    return f"{device_tag(device)}_t{threads}"


def config_tag(device: str, precision: str, batch_size: int, threads: int) -> str:
    """How one profiled config (device × precision × threads × batch size) is named in file
    names: ``cpu_fp32_t1_bs16``."""
    return f"{device_tag(device)}_{precision}_t{threads}_bs{batch_size}"


# The report's languages (--report-lang); the first has the plain names (report.md).
REPORT_LANGUAGES = ("en", "zh")


def report_suffix(lang: str) -> str:
    """What a report's file names carry for ``lang``: ``""`` for English (report.md,
    figures/), ``".zh"`` for Chinese (report.zh.md, figures.zh/)."""
    if lang not in REPORT_LANGUAGES:
        raise ValueError(f"report language {lang!r} is not one of {REPORT_LANGUAGES}")
    return "" if lang == REPORT_LANGUAGES[0] else f".{lang}"


_Folder = TypeVar("_Folder", bound="ReportFolder")
_Record = TypeVar("_Record")


@dataclass(frozen=True)
class ReportFolder:
    """A folder with a report and its figures: a run's, a comparison's, a class view's. The
    report's files and the figures' paths are named once here for all three.

    A run keeps one report per language side by side (``in_language``: report.md and
    report.zh.md, figures/ and figures.zh/), so that neither overwrites the other; a
    comparison or a class view is a folder of its own in the one language asked for."""

    root: Path
    lang: str = REPORT_LANGUAGES[0]

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))
        report_suffix(self.lang)  # a language with no file names is refused here

    def in_language(self: _Folder, lang: str) -> _Folder:
        """The same folder, its report files named for ``lang``."""
        return replace(self, lang=lang)

    def _named(self, stem: str, ext: str = "") -> Path:
        return self.root / f"{stem}{report_suffix(self.lang)}{ext}"

    @property
    def report_md(self) -> Path:
        return self._named("report", ".md")

    @property
    def report_html(self) -> Path:
        return self._named("report", ".html")

    @property
    def report_pdf(self) -> Path:
        return self._named("report", ".pdf")

    @property
    def figures(self) -> Path:
        return self._named("figures")

    def figure(self, name: str) -> Path:
        return self.figures / f"{name}.png"


@dataclass(frozen=True)
class RunPaths(ReportFolder):
    """Where each artifact of a run lives. ``root`` is ``<runs_dir>/<run name>``."""

    # -- top level
    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    @property
    def runs_dir(self) -> Path:
        return self.root.parent

    @property
    def run_log(self) -> Path:
        """The run's full log: what the terminal shows, plus every traceback."""
        return self.root / "run.log"

    @property
    def model_weights(self) -> Path:
        return self.root / "model.pt"

    def located(self, recorded: str) -> Path:
        """A path a record holds: relative to the run (a worker's record) or absolute."""
        return self.root / recorded

    def relative(self, record: _Record) -> _Record:
        """A record (str, list, dict) with every path under the run made relative to it: what
        a worker on another host sends back, where its own folder means nothing."""
        if isinstance(record, str):
            path = Path(record)
            inside = path.is_absolute() and path.is_relative_to(self.root)
            return path.relative_to(self.root).as_posix() if inside else record
        if isinstance(record, list):
            return [self.relative(v) for v in record]
        if isinstance(record, dict):
            return {k: self.relative(v) for k, v in record.items()}
        return record

    # -- data, graph, training
    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def graph(self) -> Path:
        return self.root / "graph"

    @property
    def layers_json(self) -> Path:
        return self.graph / "layers.json"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def exported_program(self) -> Path:
        return self.graph / "model.pt2"

    @property
    def screenshots(self) -> Path:
        return self.root / "screenshots"

    def screenshot(self, tab: str) -> Path:
        """One TensorBoard tab photographed (--tensorboard-screenshots)."""
        return self.screenshots / f"tensorboard_{tab}.png"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def checkpoint(self, epoch: int) -> Path:
        return checkpoint_file(self.checkpoints, epoch)

    # -- profiling
    @property
    def profiles(self) -> Path:
        return self.root / "profiles"

    def op_stats_part(self, device: str, precision: str, batch_size: int, threads: int) -> Path:
        tag = config_tag(device, precision, batch_size, threads)
        return self.profiles / "parts" / f"op_stats_{tag}.parquet"

    def time_split_part(self, device: str, precision: str, batch_size: int, threads: int) -> Path:
        tag = config_tag(device, precision, batch_size, threads)
        return self.profiles / "parts" / f"time_split_{tag}.parquet"

    def trace(self, device: str, precision: str, batch_size: int, threads: int, phase: str) -> Path:
        """One folder per config, one gzipped Chrome trace per phase in it.

        Perfetto and chrome://tracing open ``.json.gz`` directly; the ``.pt.trace.json.gz``
        suffix and the folder per config are what TensorBoard's profiler plugin and Holistic
        Trace Analysis look for (a folder of traces per run).
        """
        tag = config_tag(device, precision, batch_size, threads)
        return self.profiles / "traces" / tag / f"{phase}.pt.trace.json.gz"

    def profile_result(self, device: str, precision: str, batch_size: int, threads: int) -> Path:
        """Where one config's profiling summary lands, for the parent flow to gather."""
        tag = config_tag(device, precision, batch_size, threads)
        return self.profiles / "results" / f"{tag}.json"

    def profile_results(self) -> list[Path]:
        return sorted((self.profiles / "results").glob("*.json"))

    def limits_part(self, device: str, threads: int) -> Path:
        """One device × threads' microbenchmarks (lab1.measure.limits)."""
        return self.profiles / "limits" / f"{threads_tag(device, threads)}.parquet"

    def limits_parts(self) -> list[Path]:
        return sorted((self.profiles / "limits").glob("*.parquet"))

    def ladder_part(self, device: str, threads: int) -> Path:
        """One device × threads' batch-size ladder (lab1.measure.stepmodel)."""
        return self.profiles / "ladder" / f"{threads_tag(device, threads)}.parquet"

    def ladder_parts(self) -> list[Path]:
        return sorted((self.profiles / "ladder").glob("*.parquet"))

    def attempts_log(self, kind: str, device: str, threads: int) -> Path:
        """Every attempt of one device × threads' limits or ladder (kind), as JSON: how often
        each was measured and how busy the machine was (lab1.measure.remeasure)."""
        return self.profiles / "attempts" / f"{kind}_{threads_tag(device, threads)}.json"

    def attempts_logs(self) -> list[Path]:
        return sorted((self.profiles / "attempts").glob("*.json"))

    # -- comparison
    @property
    def compare(self) -> Path:
        return self.root / "compare"

    def compare_plot(self, name: str) -> Path:
        return self.compare / f"{name}.png"

    @property
    def summary_md(self) -> Path:
        return self.compare / "summary.md"

    @property
    def top10_md(self) -> Path:
        return self.compare / "top10.md"

    def table(self, name: str) -> Path:
        """A Parquet table of this run by its name in TABLES."""
        return self.root / TABLES[name]

    def history(self, table: str) -> Path:
        return history_path(self.runs_dir, table)

    # -- what a pack holds (lab1.classroom.pack): results and their words, never weights, traces or
    # data
    def pack_members(self) -> list[Path]:
        """The files of this run that a pack carries, those that exist, in a fixed order: the
        manifest, tables, reports, figures, TensorBoard event files, the layer table, run.log.
        Not checkpoints, model.pt, graph/model.pt2, traces, parts or the decoded dataset."""
        reports = [self.in_language(lang) for lang in REPORT_LANGUAGES]
        fixed = [self.manifest]
        fixed += [p for r in reports for p in (r.report_md, r.report_html, r.report_pdf)]
        fixed += [self.run_log, self.layers_json, self.summary_md, self.top10_md]
        fixed += [self.table(name) for name in TABLES]
        globbed = [
            *(p for r in reports for p in sorted(r.figures.glob("*.png"))),
            *sorted(self.compare.glob("*.png")),
            *sorted(self.screenshots.glob("*.png")),
            *sorted(p for p in self.tensorboard.rglob("events.out.tfevents.*") if p.is_file()),
        ]
        return [p for p in fixed if p.is_file()] + globbed


PACK_SUFFIX = ".lab1.zip"


def pack_file(runs_dir: str | Path, run_name: str) -> Path:
    """Where a run's pack goes by default: beside the run, ``<runs_dir>/<run name>.lab1.zip``."""
    return Path(runs_dir) / f"{run_name}{PACK_SUFFIX}"


def classes_path(runs_dir: str | Path) -> Path:
    """Where class views are written: ``<runs_dir>/classes/<name>/``."""
    return Path(runs_dir) / "classes"


@dataclass(frozen=True)
class ClassPaths(ReportFolder):
    """Where each file of a class view lives (lab1.classroom.classview); ``root`` is
    ``<runs_dir>/classes/<name>`` or the hidden folder it is built in."""

    @property
    def class_table(self) -> Path:
        return self.root / "class.parquet"

    @property
    def configs_table(self) -> Path:
        return self.root / "class_configs.parquet"

    @property
    def checks_table(self) -> Path:
        return self.root / "checks.parquet"

    def feedback(self, file_name: str) -> Path:
        """A student's feedback; ``file_name`` is made safe by
        lab1.classroom.classview.feedback_name."""
        return self.root / "feedback" / f"{file_name}.md"


# Table name → file under a comparison's directory (lab1.compare.crossrun; schemas in lab1.schemas).
COMPARISON_TABLES = {
    "comparison": "comparison.parquet",
    "runs": "runs.parquet",
    "limits": "limits.parquet",
    "step_model": "step_model.parquet",
    "top_ops": "top_ops.parquet",
    "time_split": "time_split.parquet",
    "roofline": "roofline.parquet",
}


@dataclass(frozen=True)
class ComparisonPaths(ReportFolder):
    """Where each file of a comparison of runs lives; ``root`` is
    ``<runs_dir>/comparisons/<name>`` (ComparisonPaths.named)."""

    @classmethod
    def named(cls, runs_dir: str | Path, name: str) -> ComparisonPaths:
        return cls(comparisons_path(runs_dir) / name)

    @property
    def building(self) -> ComparisonPaths:
        """The hidden sibling a comparison is written into first, then renamed into place:
        a comparison is there whole or not at all."""
        return ComparisonPaths(self.root.with_name(f".{self.root.name}.building"))

    def table(self, name: str) -> Path:
        return self.root / COMPARISON_TABLES[name]


def comparisons_path(runs_dir: str | Path) -> Path:
    """Every comparison of runs under the runs directory."""
    return Path(runs_dir) / "comparisons"


def history_path(runs_dir: str | Path, table: str) -> Path:
    """The history dataset of one table, shared by every run under the runs directory."""
    return Path(runs_dir) / "history" / table


def history_part(runs_dir: str | Path, table: str, run_id: str) -> Path:
    """The one file of run_id's partition (hive layout: the folder name gives the column)."""
    return history_path(runs_dir, table) / f"run_id={run_id}" / "part-0.parquet"


# The two below take a folder, not a run: training and data preparation also run on folders
# outside any run directory (benchmarks, the GPU check, tests); in a run, the folders are
# RunPaths.checkpoints and RunPaths.data.
def checkpoint_file(folder: str | Path, epoch: int) -> Path:
    return Path(folder) / f"epoch_{epoch}.pt"


def decoded_dataset(folder: str | Path, name: str) -> Path:
    """The decoded tensors of one dataset (lab1.run.data.prepare_dataset)."""
    return Path(folder) / f"{name}.pt"


def new_run_name(dataset: str) -> str:
    """Timestamp + dataset + a random suffix: two runs started in the same second differ."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{dataset}-{secrets.token_hex(2)}"


def check_runs_dir(runs_dir: str | Path) -> Path:
    """Create the runs directory if needed and prove it is writable (leaves nothing behind)."""
    runs = Path(runs_dir).expanduser().resolve()
    try:
        runs.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=runs):
            pass
    except OSError as exc:
        raise RunDirError(f"--runs-dir {runs_dir} is not writable: {exc.strerror or exc}") from exc
    return runs


_EXISTS = (
    "run {name!r} already exists under {runs}: pick another --run-name, "
    "or pass --resume to continue it"
)


def check_run_dir(runs_dir: str | Path, run_name: str, resume: bool = False) -> Path:
    """The run's directory path, checked (not created): a new run never reuses a name, and
    --resume requires an existing run."""
    runs = check_runs_dir(runs_dir)
    run_dir = runs / run_name
    if run_dir.resolve().parent != runs:  # names are validated, but never trust a path
        raise RunDirError(f"run name {run_name!r} escapes the runs directory")
    if resume and not (run_dir / MANIFEST).is_file():
        raise RunDirError(f"--resume: no run {run_name!r} with a manifest under {runs}")
    if not resume and run_dir.exists():
        raise RunDirError(_EXISTS.format(name=run_name, runs=runs))
    return run_dir


def create_run_dir(runs_dir: str | Path, run_name: str, resume: bool = False) -> RunPaths:
    """The run's own directory (see check_run_dir); created atomically for a new run."""
    run_dir = check_run_dir(runs_dir, run_name, resume)
    if not resume:
        try:
            run_dir.mkdir()
        except FileExistsError as exc:  # another run took the name since the check
            raise RunDirError(_EXISTS.format(name=run_name, runs=run_dir.parent)) from exc
    return RunPaths(run_dir)
