"""The single source of defaults: the pytorch/examples MNIST recipe, validated on creation."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lab1.errors import ConfigError
from lab1.rundir import REPORT_LANGUAGES, new_run_name

DATASETS = ("mnist", "fashion-mnist")
DISPATCH = ("local", "deployments")
PRECISIONS = ("fp32", "bf16")  # in display order; fp32 is the reference recipe
# The batch sizes Lab 1 asks to compare: profiled by default, and the class view's columns.
LAB_BATCH_SIZES = (1, 16, 64)
PAPERS = ("a4", "letter")  # report.pdf's paper (lab1.report.pdf)
RUN_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# Accepted device spellings; availability is checked later by lab1.host.devices.
DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
THREADS_RE = re.compile(r"^(all|[1-9]\d{0,3})$")  # lab1.host.threads resolves "all"
# The batch-size ladder of the step-time model (lab1.measure.stepmodel); a dry run keeps 3 sizes.
LADDER = (1, 2, 4, 8, 16, 32, 64, 128, 256)
MIN_BLOCK_S = 0.05  # the shortest timed block (ProfileSchedule.min_block_s, the ladder's too)
DRY_RUN_LADDER = (1, 2, 4)


@dataclass(frozen=True)
class ProfileSchedule:
    """How each profiled phase runs: the profiler's wait / warmup / active steps, then
    ``throughput_steps`` timed steps with the profiler off."""

    wait: int = 1
    warmup: int = 2
    active: int = 5
    throughput_steps: int = 30
    # Each timed block repeats its steps until it has run this long: a block of a few
    # millisecond steps is mostly the scheduler's jitter, and too short for /proc/stat's
    # ticks to say whether other programs disturbed it (lab1.measure.remeasure).
    min_block_s: float = MIN_BLOCK_S
    # The machine limits' matrix side is divided by this and their copy by its square
    # (lab1.measure.limits): a dry run's limits are quick shapes, not the machine's peaks.
    limits_divisor: int = 1

    def __post_init__(self) -> None:
        if type(self.limits_divisor) is not int or not 1 <= self.limits_divisor <= 64:
            raise ConfigError(f"limits_divisor must be an integer from 1 to 64, got {self}")
        if not 0 <= self.min_block_s <= 10:
            raise ConfigError(f"min_block_s must be seconds between 0 and 10, got {self}")
        if min(self.active, self.throughput_steps) < 1 or min(self.wait, self.warmup) < 0:
            raise ConfigError(
                "profiling needs active and throughput_steps >= 1 and wait, warmup >= 0; "
                f"got {self}"
            )


# A dry run keeps one step of each, so the smoke test still exercises every code path, and
# times them once (its numbers are shapes, not speeds); its limits multiply 256×256 matrices on
# a CPU, where a CPU described with bf16 but without it natively takes 13 s per 2048×2048 product.
DRY_RUN_SCHEDULE = ProfileSchedule(
    wait=0, warmup=1, active=1, throughput_steps=2, min_block_s=0, limits_divisor=8
)


def default_lock_dir() -> Path:
    """Where the per-device profiling locks live (lab1.host.exclusive), per user: $LAB1_LOCK_DIR,
    else $XDG_RUNTIME_DIR/lab1/locks, else ~/.cache/lab1/locks."""
    if os.environ.get("LAB1_LOCK_DIR"):
        return Path(os.environ["LAB1_LOCK_DIR"])
    if os.environ.get("XDG_RUNTIME_DIR"):
        return Path(os.environ["XDG_RUNTIME_DIR"]) / "lab1" / "locks"
    return Path.home() / ".cache" / "lab1" / "locks"


def default_data_dir() -> str:
    """A per-user dataset cache, shared by runs (downloads never land in the current directory)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "lab1" / "datasets")


def store_scratch_dir() -> Path:
    """Where runs bound for an object store are made on this machine before they are pushed
    (lab1.store), kept after the run so that a failed upload can be pushed again."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lab1" / "store"


def worker_scratch_dir() -> Path:
    """Where a profiling worker makes its part of a run that lives in an object store
    (lab1.store.worker_scratch): inside the store scratch, apart from the runs made here."""
    return store_scratch_dir() / "profiling"


@dataclass
class Lab1Config:
    """Every knob of a lab run. Field metadata holds the CLI help text."""

    dataset: str = field(default="mnist", metadata={"help": f"one of {', '.join(DATASETS)}"})
    data_dir: str | None = field(
        default=None,
        metadata={
            "help": "dataset cache in torchvision's layout (DIR/MNIST/raw/...); "
            "default: $XDG_CACHE_HOME/lab1/datasets"
        },
    )
    offline: bool = field(default=False, metadata={"help": "never try the download mirrors"})
    epochs: int = field(default=14, metadata={"help": "training epochs (reference: 14)"})
    batch_size: int = field(default=64, metadata={"help": "training batch size"})
    test_batch_size: int = field(default=1000, metadata={"help": "evaluation batch size"})
    lr: float = field(default=1.0, metadata={"help": "Adadelta learning rate"})
    gamma: float = field(default=0.7, metadata={"help": "StepLR decay per epoch"})
    seed: int = field(default=1, metadata={"help": "random seed"})
    log_interval: int = field(default=10, metadata={"help": "batches between progress lines"})
    precision: str = field(
        default="fp32",
        metadata={
            "help": "training arithmetic: fp32 (the reference), or bf16 (torch.autocast; loss "
            "and optimizer state stay fp32; needs native bf16: AMX/AVX512-BF16 or a CUDA GPU "
            "of compute capability 8.0+)"
        },
    )
    cuda_graph: bool = field(
        default=False,
        metadata={
            "help": "GPU only: replay the training step as a CUDA graph (falls back to eager "
            "if capture fails; dropout masks then differ from the eager run)"
        },
    )
    devices: tuple[str, ...] = field(
        default=("auto",),
        metadata={"help": "auto, or any of cpu, cuda, cuda:N, mps (training uses the first GPU)"},
    )
    batch_sizes: tuple[int, ...] = field(
        default=LAB_BATCH_SIZES,
        metadata={"help": "batch sizes to profile (each on every device)"},
    )
    cpu_threads: tuple[str, ...] = field(
        default=("1", "all"),
        metadata={
            "help": "CPU thread counts to profile the cpu configs at: positive integers or "
            "'all' (the CPUs this process may use); each is its own config"
        },
    )
    profile_precisions: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "precisions to profile (each on every device and batch size); default: "
            "--precision, plus fp32 when that is bf16"
        },
    )
    dispatch: str = field(
        default="local",
        metadata={
            "help": "local: profile every device in this process; deployments: send each "
            "device's profiling to its work pool (see prefect.yaml)"
        },
    )
    tensorboard_screenshots: bool = field(
        default=False,
        metadata={
            "help": "photograph the run's TensorBoard (Graphs and Scalars tabs) in headless "
            "Chromium into screenshots/ for the report (adds about 12 s; skipped, with "
            "one warning, where no chromium is installed)"
        },
    )
    keep_checkpoints: int = field(
        default=2,
        metadata={
            "help": "epoch checkpoints kept for --resume (older ones are pruned once a "
            "newer one is safely written; the final weights are always kept as model.pt)"
        },
    )
    measure_tries: int = field(
        default=3,
        metadata={
            "help": "times a measurement is taken at most: one that other programs disturbed "
            "(they used cores it needed) is taken again once the machine is quiet; the least "
            "disturbed is kept (1: never again)"
        },
    )
    quiet_wait_s: float = field(
        default=30.0,
        metadata={
            "help": "seconds to wait at most, per profiled config, ladder or device's limits, "
            "for a busy machine to quieten before measuring again (training is never repeated)"
        },
    )
    report_lang: str = field(
        default="en",
        metadata={
            "help": "report language(s): en, zh (the course's Chinese report template), or "
            "en,zh for both side by side (report.md and report.zh.md, each with its PDF)"
        },
    )
    paper: str = field(
        default="a4",
        metadata={"help": "paper of report.pdf: a4, or letter (US Letter)"},
    )
    runs_dir: str = field(default="./runs", metadata={"help": "parent of all run directories"})
    run_name: str | None = field(
        default=None,
        metadata={"help": "run directory name (default: timestamp-dataset-random)"},
    )
    resume: bool = field(
        default=False, metadata={"help": "continue an existing run from its last checkpoint"}
    )
    dry_run: bool = field(
        default=False,
        metadata={"help": "smoke test: at most 2 epochs of 3 train batches and 1 test batch"},
    )

    def __post_init__(self) -> None:
        self.devices = tuple(self.devices)
        self.batch_sizes = tuple(self.batch_sizes)
        self.cpu_threads = tuple(str(t) for t in self.cpu_threads)
        self.profile_precisions = tuple(self.profile_precisions)
        if self.dataset not in DATASETS:
            raise ConfigError(
                f"--dataset {self.dataset!r} is not supported; choose one of {', '.join(DATASETS)}"
            )
        positive = ("epochs", "batch_size", "test_batch_size", "log_interval", "keep_checkpoints")
        for name in (*positive, "measure_tries"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{flag} must be a positive integer, got {value!r}")
        if not self.batch_sizes or any(
            isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in self.batch_sizes
        ):
            raise ConfigError(
                f"--batch-sizes must be positive integers, got {list(self.batch_sizes)}"
            )
        if len(set(self.batch_sizes)) != len(self.batch_sizes):
            raise ConfigError(f"--batch-sizes has duplicates: {list(self.batch_sizes)}")
        self._check_profile_axes()
        if self.dispatch not in DISPATCH:
            raise ConfigError(
                f"--dispatch must be one of {', '.join(DISPATCH)}, got {self.dispatch!r}"
            )
        langs = self.report_lang.split(",")
        if not set(langs) <= set(REPORT_LANGUAGES) or len(set(langs)) != len(langs):
            raise ConfigError(
                f"--report-lang must be one of {', '.join(REPORT_LANGUAGES)} or several "
                f"of them joined by commas (en,zh), got {self.report_lang!r}"
            )
        if self.paper not in PAPERS:
            raise ConfigError(f"--paper must be one of {', '.join(PAPERS)}, got {self.paper!r}")
        if isinstance(self.quiet_wait_s, bool) or not (
            isinstance(self.quiet_wait_s, int | float) and 0 <= self.quiet_wait_s <= 3600
        ):
            raise ConfigError(
                f"--quiet-wait-s must be seconds between 0 and 3600, got {self.quiet_wait_s!r}"
            )
        if not self.lr > 0:
            raise ConfigError(f"--lr must be > 0, got {self.lr!r}")
        if not 0 < self.gamma <= 1:
            raise ConfigError(f"--gamma must be in (0, 1], got {self.gamma!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"--seed must be a non-negative integer, got {self.seed!r}")
        if not self.devices:
            raise ConfigError("--devices needs at least one device")
        for dev in self.devices:
            if not DEVICE_RE.match(dev):
                raise ConfigError(
                    f"--devices {dev!r} is not a device; use auto, cpu, cuda, cuda:N or mps"
                )
        if "auto" in self.devices and len(self.devices) > 1:
            raise ConfigError("--devices auto cannot be combined with explicit devices")
        if self.run_name is not None and not RUN_NAME_RE.match(self.run_name):
            raise ConfigError(
                f"--run-name {self.run_name!r} must be 1-100 characters of letters, digits, "
                "'.', '_' or '-', starting with a letter or digit"
            )
        if self.resume and self.run_name is None:
            raise ConfigError("--resume needs --run-name of the run to continue")
        if self.data_dir is None:
            self.data_dir = default_data_dir()
        if self.run_name is None:
            self.run_name = new_run_name(self.dataset)

    def _check_profile_axes(self) -> None:
        """--precision, --profile-precisions (and --cpu-threads: the other profiling axis)."""
        if not self.cpu_threads or not all(THREADS_RE.match(t) for t in self.cpu_threads):
            raise ConfigError(
                f"--cpu-threads takes positive integers or 'all', got {list(self.cpu_threads)}"
            )
        choices = ", ".join(PRECISIONS)
        if self.precision not in PRECISIONS:
            raise ConfigError(f"--precision must be one of {choices}, got {self.precision!r}")
        bad = [p for p in self.profile_precisions if p not in PRECISIONS]
        if bad:
            raise ConfigError(f"--profile-precisions must be among {choices}, got {bad}")
        if len(set(self.profile_precisions)) != len(self.profile_precisions):
            raise ConfigError(
                f"--profile-precisions has duplicates: {list(self.profile_precisions)}"
            )
        if self.cuda_graph and self.precision == "bf16":
            # Capturing autocast needs its cast cache off and a GPU to verify it on: not yet.
            raise ConfigError(
                "--cuda-graph does not support --precision bf16 yet; use one or the other"
            )

    @property
    def report_langs(self) -> tuple[str, ...]:
        """The languages a run writes its report in, in the order asked (--report-lang)."""
        return tuple(self.report_lang.split(","))

    @property
    def precisions_to_profile(self) -> tuple[str, ...]:
        """--profile-precisions, or the training precision plus fp32 to compare it with."""
        chosen = self.profile_precisions or {"fp32", self.precision}
        return tuple(p for p in PRECISIONS if p in chosen)

    @property
    def train_batches_limit(self) -> int | None:
        """Batches per training epoch in a dry run (None: the whole epoch)."""
        return 3 if self.dry_run else None

    @property
    def test_batches_limit(self) -> int | None:
        return 1 if self.dry_run else None

    @property
    def profile_schedule(self) -> ProfileSchedule:
        return DRY_RUN_SCHEDULE if self.dry_run else ProfileSchedule()

    @property
    def ladder(self) -> tuple[int, ...]:
        return DRY_RUN_LADDER if self.dry_run else LADDER

    @property
    def effective_epochs(self) -> int:
        return min(self.epochs, 2) if self.dry_run else self.epochs

    def to_dict(self) -> dict:
        d = asdict(self)
        d["devices"] = list(self.devices)
        d["batch_sizes"] = list(self.batch_sizes)
        d["cpu_threads"] = list(self.cpu_threads)
        d["profile_precisions"] = list(self.profile_precisions)
        return d
