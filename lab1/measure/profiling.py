"""Profile one config (device × precision × threads × batch size): op stats, time split, Chrome
traces, throughput.

Two labelled phases, each on real batches of exactly ``batch_size`` training images:

* ``train_step``: zero_grad, forward, nll_loss, backward, Adadelta step (the training recipe),
  labelled ``optimizer`` (zero_grad and step), ``forward``, ``loss``, ``backward``;
* ``inference``: forward only (labelled ``forward``), ``model.eval()`` under
  ``torch.inference_mode()``.

Each config runs at a given CPU thread count (lab1.host.threads), which is part of its identity.

In bf16 both phases' forward runs under torch.autocast, as training does (the loss in fp32).

Each phase is profiled with a wait / warmup / active schedule (operator table + one Chrome trace,
which opens in Perfetto and TensorBoard's trace viewer), then timed again with the profiler off,
so images/s are not inflated by the profiler and its overhead can be reported.

The steps are training's own (lab1.run.step.build_steps: the same memory format, autocast, process
settings and Adadelta), and each gathers its batch from the dataset on the device by index, as
training does; the indices are drawn before either loop, so data loading is never measured.
The phase and part labels are on only under the profiler: the timed steps are unlabelled.
"""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import json
import logging
import math
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.profiler import ProfilerAction, ProfilerActivity, profile, record_function, schedule

from lab1 import interrupt
from lab1.atomic import atomic_write, rename
from lab1.config import PRECISIONS, ProfileSchedule
from lab1.errors import ConfigError
from lab1.host.devices import synchronize, traits
from lab1.host.environment import measured_on
from lab1.host.exclusive import MachineLoad, device_lock, others_seconds
from lab1.host.threads import using_threads
from lab1.identity import ConfigId, spelled_out
from lab1.measure.breakdown import split_rows, time_split
from lab1.measure.remeasure import Patience, TimedBlock, attempt_records, measure_blocks
from lab1.nativelog import native_noise_filtered
from lab1.run.data import load_tensors
from lab1.run.step import InferenceStep, Steps, TrainStep, build_steps
from lab1.rundir import RunPaths, config_tag
from lab1.schemas import OP_STATS_SCHEMA, PHASES, TIME_SPLIT_SCHEMA, write_parquet

log = logging.getLogger("lab1.measure.profiling")

# torch's profiler is process-global (one session at a time), and two configs timed at once
# would slow each other down: configs of one process run one after the other (and configs of
# other processes on the same device wait for lab1.host.exclusive.device_lock).
_PROFILER_LOCK = threading.Lock()
_RECORDING = (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE)
TIMING_CHUNKS = 5

Step = TrainStep | InferenceStep


def batch_indices(n: int, batch_size: int, steps: int, generator: torch.Generator) -> torch.Tensor:
    """(steps, batch_size) indices into n images: seeded permutations laid end to end, so a
    dataset smaller than steps × batch_size (or than one batch) is cycled, never padded."""
    need = steps * batch_size
    perms = [torch.randperm(n, generator=generator) for _ in range(math.ceil(need / n))]
    return torch.cat(perms)[:need].view(steps, batch_size)


def check_batch(data: torch.Tensor, target: torch.Tensor, batch_size: int) -> None:
    """The guard: what reaches the model is a full batch, not one image or a short tail."""
    if data.shape[0] != batch_size or target.shape[0] != batch_size:
        raise RuntimeError(
            f"profiling batch has {data.shape[0]} images / {target.shape[0]} labels, "
            f"configured batch size is {batch_size}"
        )


@dataclass(frozen=True)
class Batches:
    """The dataset on the device and the (steps, B) indices of the batches to run on it."""

    x: torch.Tensor  # (N,1,28,28) float32, normalized, in the step's memory format
    y: torch.Tensor  # (N,) int64
    idx: torch.Tensor  # (steps, B) int64, on the device

    def __getitem__(self, rows: slice) -> Batches:
        return Batches(self.x, self.y, self.idx[rows])

    def __len__(self) -> int:
        return self.idx.shape[0]


def _run(step: Step, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, bs: int) -> None:
    check_batch(idx, idx, bs)  # (B,) indices: one per image (and label) the step gathers
    step(x, y, idx)


# The profiler's own synchronisation: lab1.measure.profiling synchronizes around every profiled step
# (its wall time must cover its kernels); the step itself never calls it. Named as the
# profiler's, so it is kept in op_stats but never ranked among the step's operators.
PROFILER_SYNC = frozenset({"cudaDeviceSynchronize"})


def _kind(event) -> str:
    if event.is_user_annotation:
        return "annotation"
    if event.key in PROFILER_SYNC:
        return "profiler_sync"
    return "op" if event.device_type == torch.autograd.DeviceType.CPU else "kernel"


def _op_rows(prof: profile, config: dict, active: int) -> list[dict]:
    """One row per (operator, input shapes) of the active steps: the op_stats table."""
    rows = []
    for e in prof.key_averages(group_by_input_shape=True):
        rows.append(
            {
                **config,
                "active_steps": active,
                "kind": _kind(e),
                "op_name": e.key,
                "input_shapes": json.dumps(e.input_shapes or []),
                "calls": e.count,
                "self_cpu_us": float(e.self_cpu_time_total),
                "cpu_total_us": float(e.cpu_time_total),
                "self_device_us": float(e.self_device_time_total),
                "device_total_us": float(e.device_time_total),
                "self_cpu_memory_bytes": e.self_cpu_memory_usage,
                "cpu_memory_bytes": e.cpu_memory_usage,
                "self_device_memory_bytes": e.self_device_memory_usage,
                "device_memory_bytes": e.device_memory_usage,
                "flops": e.flops or 0,
            }
        )
    return rows


def _trace_peak_bytes(trace_path: Path, device_type: int = 0) -> int:
    """Peak of the net allocations the profiler saw during the recorded steps.

    The ``[memory]`` events of a Chrome trace carry each allocation's signed size; their
    running sum is the working set of the profiled steps (activations, gradients, temporaries;
    tensors allocated before the profiler started, such as the dataset, are not in it).
    """
    with gzip.open(trace_path, "rt") as f:
        events = json.load(f)["traceEvents"]
    mem = sorted(
        (e["ts"], e["args"]["Bytes"])
        for e in events
        if e.get("name") == "[memory]" and e["args"].get("Device Type") == device_type
    )
    peak = total = 0
    for _, nbytes in mem:
        total += nbytes
        peak = max(peak, total)
    return peak


def _export_trace(prof: profile, path: Path) -> None:
    """The Chrome trace, gzipped (Perfetto and chrome://tracing open .json.gz; 1.5 MB of JSON
    per CPU phase becomes about a tenth) and written atomically like every output."""

    def write(tmp: Path) -> None:
        prof.export_chrome_trace(str(tmp))
        tmp.write_bytes(gzip.compress(tmp.read_bytes(), compresslevel=6))

    atomic_write(path, write)


def _profile_phase(
    phase: str,
    step: Step,
    batches: Batches,
    batch_size: int,
    dev: torch.device,
    sched: Callable[[int], ProfilerAction],
    trace_path: Path,
) -> tuple[profile, list[float]]:
    """Run len(batches) steps under the profiler, each inside its phase label and with the
    step's own labels on; returns the profiler and the active steps' wall seconds (each step
    synchronized, so its wall time covers its kernels)."""
    activities = [ProfilerActivity.CPU]
    if (activity := traits(dev).profiler_activity) is not None:
        activities.append(getattr(ProfilerActivity, activity))
    seconds = []
    step.start()
    step.labelled = True
    try:
        with profile(
            activities=activities,
            schedule=sched,
            on_trace_ready=lambda p: _export_trace(p, trace_path),
            record_shapes=True,
            profile_memory=True,
            with_flops=True,
        ) as prof:
            for i, idx in enumerate(batches.idx):
                synchronize(dev)
                start = time.perf_counter()
                with record_function(phase):
                    _run(step, batches.x, batches.y, idx, batch_size)
                synchronize(dev)  # the step's kernels belong to the step's wall time
                if sched(i) in _RECORDING:
                    seconds.append(time.perf_counter() - start)
                prof.step()
    finally:
        step.labelled = False
    return prof, seconds


def time_steps(
    step: Step,
    batches: Batches,
    batch_size: int,
    dev: torch.device,
    warmup: int,
    min_block_s: float = 0.0,
) -> list[TimedBlock]:
    """Each timed block over batches[warmup:], profiler off and no labels: the step exactly as
    training runs it (lab1.run.step), gather from the device tensors included.

    The timed steps run in up to TIMING_CHUNKS blocks with a sync only between blocks (a
    per-step sync would stall a GPU's queue); callers report the median block, so a burst of
    load from another process on a shared machine moves it less than a plain mean, and the
    blocks' spread says how sure it is (lab1.reliability). A block whose steps take less
    than ``min_block_s`` runs them again (the same batches) until it has run that long.
    Each block also records the CPU other programs used while it ran (read outside its
    timed span), so a disturbed measurement can be read from its undisturbed blocks
    (lab1.measure.remeasure).
    """
    step.start()
    x, y = batches.x, batches.y
    for idx in batches.idx[:warmup]:
        _run(step, x, y, idx, batch_size)
    timed = batches.idx[warmup:]
    chunks = min(TIMING_CHUNKS, len(timed))
    bounds = [round(i * len(timed) / chunks) for i in range(chunks + 1)]
    blocks = []
    synchronize(dev)
    others = others_seconds()
    for lo, hi in itertools.pairwise(bounds):
        start, steps = time.perf_counter(), 0
        while True:  # once, or until the block has run min_block_s
            for idx in timed[lo:hi]:
                _run(step, x, y, idx, batch_size)
            synchronize(dev)
            steps += hi - lo
            wall = time.perf_counter() - start
            if wall >= min_block_s:
                break
        before, others = others, others_seconds()
        used = None if before is None or others is None else max(0.0, others - before)
        blocks.append(TimedBlock(wall / steps, wall, used, steps))
    return blocks


def setup_steps(
    data_path: str,
    dataset: str,
    device: str,
    precision: str,
    threads: int,
    *,
    seed: int,
    lr: float,
) -> tuple[Steps, torch.Tensor, torch.Tensor]:
    """The steps training would build for this device × precision (lab1.run.step.build_steps, with
    training's memory format rule and the process settings), and the training images on the
    device in that format: (steps, x (N,1,28,28), y (N,))."""
    steps = build_steps(device, precision, lr=lr, seed=seed, threads=threads)
    tensors = load_tensors(data_path)
    x = steps.images(tensors["train_images"], dataset)  # once, before any timing
    y = tensors["train_labels"].to(steps.device)
    return steps, x, y


def _peak_memory(dev: torch.device, trace: Path, resident: int = 0) -> tuple[int | None, str]:
    """Peak memory means one thing on every device: the most the steps themselves allocate
    above what was already resident before them (the dataset, the model, the optimizer state
    are not in it). CPU: the profiler trace's net allocations; CUDA: the allocator's peak over
    the timed steps less ``resident``, what was allocated when its peak was reset."""
    if traits(dev).allocator_peak:
        peak = torch.cuda.max_memory_allocated(dev) - resident
        source = "torch.cuda.max_memory_allocated of the timed steps, less what was resident"
        return peak, source + " before them (dataset, model, optimizer state)"
    if not traits(dev).traced:  # mps: the trace's allocations are the CPU's only
        return None, f"not measured: torch has no peak-memory counter or trace for {dev.type}"
    source = "profiler trace: peak net CPU allocations of the profiled steps"
    return _trace_peak_bytes(trace), source


def _measure_phase(
    phase: str,
    step: Step,
    batches: Batches,
    config: dict,
    sched: ProfileSchedule,
    dev: torch.device,
    trace: Path,
) -> tuple[tuple[list[dict], list[dict], dict], list[TimedBlock]]:
    """Profile, then time with the profiler off, one phase: its op rows, time split rows and
    the throughput row's profiled columns, and the timed blocks (throughput_row makes the
    row from the blocks the number is read from)."""
    profiled_steps = sched.wait + sched.warmup + sched.active
    torch_sched = schedule(wait=sched.wait, warmup=sched.warmup, active=sched.active, repeat=1)
    bs = config["batch_size"]
    prof, profiled_s = _profile_phase(
        phase, step, batches[:profiled_steps], bs, dev, torch_sched, trace
    )
    rows = _op_rows(prof, {**config, "phase": phase}, sched.active)
    split = _split_rows(prof, {**config, "phase": phase}, sched.active, dev, sum(profiled_s))
    del prof  # its event tree is large; the rows have what we keep
    resident = 0
    if traits(dev).allocator_peak:
        torch.cuda.reset_peak_memory_stats(dev)
        resident = torch.cuda.memory_allocated(dev)
    time_warmup = max(2, sched.throughput_steps // 10)
    blocks = time_steps(step, batches[profiled_steps:], bs, dev, time_warmup, sched.min_block_s)
    peak, source = _peak_memory(dev, trace, resident)
    profiled = {
        **config,
        "phase": phase,
        "profiled_ms_per_step": 1e3 * statistics.median(profiled_s),
        "active_steps": sched.active,
        "peak_memory_bytes": None if peak is None else int(peak),
        "peak_memory_source": source,
        "num_threads": torch.get_num_threads(),
        "num_interop_threads": torch.get_num_interop_threads(),
    }
    return (rows, split, profiled), blocks


def throughput_row(profiled: dict, seconds: float) -> dict:
    """A phase's throughput row: its profiled columns and ``seconds`` per step, the median of
    the blocks its number is read from (lab1.measure.remeasure.timed_number)."""
    bs, ms = profiled["batch_size"], 1e3 * seconds
    profiled_ms = profiled["profiled_ms_per_step"]
    log.info(
        "profile %s %s: %.2f ms/step, %.0f images/s, %.1f µs/sample "
        "(profiled %.2f ms/step, %.2f× overhead)",
        spelled_out(ConfigId.of(profiled)),  # as the report names it: lab1.identity
        profiled["phase"],
        ms,
        bs / seconds,
        1e6 * seconds / bs,
        profiled_ms,
        profiled_ms / ms,
    )
    return {
        **profiled,
        "images_per_s": bs / seconds,
        "ms_per_step": ms,
        "us_per_sample": 1e6 * seconds / bs,
        "profiler_overhead": profiled_ms / ms,
    }


def _split_rows(
    prof: profile, config: dict, active: int, dev: torch.device, wall_s: float
) -> list[dict]:
    """The phase's time split (lab1.measure.breakdown). Step time on CPU: the phase label's own
    inclusive time; on a GPU: the synchronized wall time of the active steps."""
    events = prof.events()
    phase = config["phase"]
    basis = traits(dev).time_basis
    if basis == "self_device":
        wall_us = 1e6 * wall_s
    else:
        wall_us = sum(e.cpu_time_total for e in events if e.name == phase)
    return split_rows(time_split(events, phase, basis, wall_us), config, active, basis)


def _check_config(batch_size: int, precision: str) -> None:
    if batch_size < 1:
        raise ConfigError(f"profiling needs a batch size >= 1, got {batch_size}")
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def profile_config(
    data_path: str,
    dataset: str,
    device: str,
    batch_size: int,
    paths: RunPaths,
    run_id: str,
    sched: ProfileSchedule,
    *,
    seed: int,
    lr: float,
    precision: str = "fp32",
    threads: int | None = None,
    tries: int = 1,
    quiet_wait_s: float = 0.0,
) -> dict:
    """Profile and time both phases of one config at ``threads`` CPU threads (None: the
    current count); write its op_stats and time_split parts and Chrome traces where ``paths``
    says. ``seed`` and ``lr`` are the run's: the weights, dropout masks, batch order and
    optimizer are the training recipe's; ``precision``: fp32, or bf16 (autocast).
    A phase other programs disturbed is measured again, whole, up to ``tries`` times in all,
    after waiting for a quiet machine (at most ``quiet_wait_s`` for the config:
    lab1.measure.remeasure).
    Returns a small JSON-ready dict: paths, settings, one ``throughput`` row per phase and
    every attempt (``attempts``)."""
    _check_config(batch_size, precision)
    threads = threads or torch.get_num_threads()
    holder = f"run {run_id} {config_tag(device, precision, batch_size, threads)}"
    # The profiler's native libraries print known noise to fd 2 (see lab1.nativelog).
    with (
        _PROFILER_LOCK,
        device_lock(device, holder),
        native_noise_filtered(),
        using_threads(threads),
    ):
        started = time.perf_counter()
        dev = torch.device(device)
        per_phase = sched.wait + sched.warmup + sched.active
        per_phase += max(2, sched.throughput_steps // 10) + sched.throughput_steps
        steps, x, y = setup_steps(data_path, dataset, device, precision, threads, seed=seed, lr=lr)
        generator = torch.Generator().manual_seed(seed)  # batch order, the same on every device
        idx = batch_indices(x.shape[0], batch_size, 2 * per_phase, generator).to(dev)
        config = {
            "run_id": run_id,
            "torch_version": torch.__version__,
            **measured_on(device),  # machine_id, device, device_name
            "precision": precision,
            "threads": threads,
            "batch_size": batch_size,
        }
        rows, splits, throughput, attempts = [], [], [], []
        phase_steps = {"train_step": steps.train, "inference": steps.inference}
        patience = Patience(tries, quiet_wait_s)  # one wait budget for the config's phases
        for p, phase in enumerate(PHASES):
            # Each step gathers its (B,1,28,28) and (B,) from x and y by these indices, as
            # training's step does.
            batches = Batches(x, y, idx[p * per_phase : (p + 1) * per_phase])
            trace = paths.trace(device, precision, batch_size, threads, phase)

            tries_traces: list[Path] = []

            def attempt(phase=phase, batches=batches, traces=tries_traces, final=trace):
                interrupt.check()  # before each phase or try: a safe point
                # Each try its own trace: the one kept is the kept attempt's, not the last's.
                traces.append(final.with_name(f"try{len(traces) + 1}-{final.name}"))
                with MachineLoad.measure(threads) as load:
                    measured, blocks = _measure_phase(
                        phase, phase_steps[phase], batches, config, sched, dev, traces[-1]
                    )
                return measured, blocks, load

            what = f"profile {spelled_out(ConfigId.of(config))} {phase}"
            (phase_rows, split, profiled), timed, tried = measure_blocks(
                attempt, patience, what=what
            )
            kept = next(a for a in tried if a.kept)
            for a, path in zip(tried, tries_traces, strict=True):
                if a.kept:
                    rename(path, trace)
                else:
                    path.unlink(missing_ok=True)
            rows, splits = rows + phase_rows, splits + split
            window = {k: getattr(kept, k) for k in ("window_start", "window_end", "other_cpu_s")}
            row = {**throughput_row(profiled, timed.seconds), "throughput_steps": timed.steps}
            throughput.append({**row, **window, **timed.sureness(len(tried))})
            attempts += attempt_records(
                tried,
                kind="profile",
                device=device,
                precision=precision,
                threads=threads,
                batch_size=batch_size,
                name=phase,
            )
        tag = (device, precision, batch_size, threads)
        part = write_parquet(rows, OP_STATS_SCHEMA, paths.op_stats_part(*tag))
        split_part = write_parquet(splits, TIME_SPLIT_SCHEMA, paths.time_split_part(*tag))
        return {
            **config,
            "op_stats": str(part),
            "time_split": str(split_part),
            "traces": {ph: str(paths.trace(*tag, ph)) for ph in PHASES},
            "throughput": throughput,
            "attempts": attempts,
            "num_threads": torch.get_num_threads(),
            "num_interop_threads": torch.get_num_interop_threads(),
            "schedule": dataclasses.asdict(sched),
            "seed": seed,
            "lr": lr,
            "first_batch": idx[0].tolist(),  # the train_step's first batch, as indices
            "execution": steps.execution.to_dict(),  # the manifest's record of how it ran
            "seconds": round(time.perf_counter() - started, 3),
        }
