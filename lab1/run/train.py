"""The reference recipe (Adadelta, StepLR step 1) on preloaded tensors, logged to TensorBoard.

Same Net, optimizer, schedule and loss as pytorch/examples mnist/main.py; what differs is only
how batches reach the model: the dataset is decoded once, normalized once and kept on the
training device, and each epoch indexes it with a fresh permutation. The loss is read back to
the host only at log intervals and at the end of an epoch, so the GPU is never stalled per step.

``precision="bf16"`` runs the forward pass under torch.autocast (bf16 matmuls and convolutions;
the weights, gradients, loss and Adadelta's state stay fp32); "fp32" is the reference recipe.

The step itself (and the speed-ups that keep the math: glibc's heap kept mapped on CPU, the
channels_last memory format where it measured faster, opt-in on CUDA the whole step replayed
from a CUDA graph) is built by lab1.run.step, the same code profiling runs. Training runs at every
CPU this process may use (training_threads), the thread count of the profiled "all" config.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import StepLR
from torch.utils.tensorboard import SummaryWriter

from lab1 import interrupt
from lab1.atomic import writing
from lab1.config import Lab1Config
from lab1.errors import ConfigError, ResumeError
from lab1.host.devices import synchronize, traits
from lab1.host.exclusive import MachineLoad
from lab1.host.threads import ALL, resolve_threads, using_threads
from lab1.progress import Tick
from lab1.run.checkpoints import (
    checkpoint_path,
    latest_checkpoint,
    load_newest_valid,
    prune,
    save_checkpoint,
    save_weights,
)
from lab1.run.data import load_tensors
from lab1.run.step import Execution, InferenceStep, TrainStep, build_steps
from lab1.run.tblog import log_hparams, log_layout

log = logging.getLogger("lab1.run.train")


# TensorBoard scalar tag → the EpochStats field it logs (once per epoch, step = epoch).
SCALARS = {
    "Loss/train": "train_loss",
    "Accuracy/train": "train_accuracy",
    "Loss/test": "test_loss",
    "Accuracy/test": "test_accuracy",
    "LR": "lr",
    "Throughput/train_images_per_s": "images_per_s",
}


@dataclass(frozen=True)
class Recipe:
    """The settings a checkpoint must agree with before a run may resume from it."""

    dataset: str
    data_checksum: str
    batch_size: int
    test_batch_size: int
    lr: float
    gamma: float
    seed: int
    precision: str  # fp32 | bf16: a run continues in the arithmetic it started in

    @classmethod
    def from_config(cls, cfg: Lab1Config, data_checksum: str) -> Recipe:
        """The recipe of a run's config: every field but the checksum is the config's own."""
        values = {f.name: getattr(cfg, f.name) for f in fields(cls) if f.name != "data_checksum"}
        return cls(data_checksum=data_checksum, **values)


# The recipe's fields that set how the model is trained (the Recipe's, less the data's), and
# with the number of epochs (which a resumed run may extend), what two runs' accuracies are
# compared on: a class's checks hold these against the reference (Lab1Config's defaults) and
# the comparison of runs writes them, each reading a run's manifest through this tuple.
TRAINING_FIELDS = tuple(
    f.name for f in fields(Recipe) if f.name not in ("dataset", "data_checksum")
)
COMPARED_FIELDS = ("epochs", *TRAINING_FIELDS)


def compared_recipe(cfg: Lab1Config) -> dict:
    """A run's compared recipe, from its config (a manifest's parameters): field → value."""
    return {f: getattr(cfg, f) for f in COMPARED_FIELDS}


def recipe_mismatch(saved: dict, recipe: Recipe) -> str | None:
    """The settings a checkpoint's recipe differs in from ``recipe``, in words; None if none.

    Checkpoints written before ``precision`` was part of the recipe were trained in fp32.
    """
    saved = {"precision": "fp32", **saved}
    wanted = asdict(recipe)
    diffs = [f"{k} {saved.get(k)!r} (now {v!r})" for k, v in wanted.items() if saved.get(k) != v]
    return ", ".join(diffs) or None


@dataclass
class EpochStats:
    epoch: int
    train_loss: float  # mean per-sample NLL over the epoch: comparable across batch sizes
    train_accuracy: float  # fraction 0..1, with dropout active
    test_loss: float
    test_accuracy: float
    lr: float  # the learning rate used during this epoch
    images_per_s: float  # training throughput, evaluation excluded
    train_seconds: float
    # Other programs' mean cores while this epoch trained, and whether they took cores training
    # needed (lab1.host.exclusive); None: unknown (no /proc/stat, or a run from before lab1 measured
    # it). Training is never repeated for this: lab1.reliability.training_rate leaves such
    # epochs out of its steady images/s.
    other_cores: float | None = None
    contended: bool | None = None


@dataclass
class Training:
    """One run's working set: the data on the device, the model, its optimizer and step."""

    device: torch.device
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: StepLR
    generator: torch.Generator  # CPU: the shuffling order is the same on every device
    step: TrainStep
    x_train: torch.Tensor  # (N,1,28,28) float32, normalized, in the step's memory format
    y_train: torch.Tensor  # (N,) int64
    x_test: torch.Tensor
    y_test: torch.Tensor
    execution: Execution  # how the step runs (lab1.run.step); the manifest records it

    @property
    def channels_last(self) -> bool:
        return self.execution.channels_last

    @property
    def precision(self) -> str:
        return self.execution.precision

    def train_epoch(
        self, batch_size: int, epoch: int, log_interval: int, max_batches: int | None = None
    ) -> tuple[float, float, int, float]:
        return train_epoch(
            self.model,
            self.optimizer,
            self.x_train,
            self.y_train,
            batch_size,
            self.generator,
            epoch,
            log_interval,
            max_batches,
            step=self.step,
        )


def setup_training(
    tensors: dict[str, torch.Tensor],
    dataset: str,
    device: str,
    batch_size: int,
    lr: float,
    gamma: float,
    seed: int,
    *,
    channels_last: bool | None = None,
    cuda_graph: bool = False,
    precision: str = "fp32",
    threads: int | None = None,
) -> Training:
    """Build the step (lab1.run.step.build_steps: process settings, Net, Adadelta, the step), put
    the decoded dataset on the device in the step's memory format, add StepLR and the shuffler.

    ``channels_last=None`` is auto (see use_channels_last); ``cuda_graph`` is honoured on CUDA
    only (elsewhere it logs and trains eagerly), and not with bf16 (ConfigError). ``threads``:
    torch's intra-op threads (None: training_threads(device)); it stays set after the call.
    """
    dev = torch.device(device)
    if cuda_graph and precision != "fp32" and traits(dev).cuda_graphs:
        raise ConfigError("--cuda-graph does not support --precision bf16 yet")
    s = build_steps(
        device,
        precision,
        lr=lr,
        seed=seed,
        threads=threads or training_threads(device),
        channels_last=channels_last,
        cuda_graph=cuda_graph,
        batch_size=batch_size,
    )
    return Training(
        device=dev,
        model=s.model,
        optimizer=s.optimizer,
        scheduler=StepLR(s.optimizer, step_size=1, gamma=gamma),
        generator=torch.Generator().manual_seed(seed),
        step=s.train,
        x_train=s.images(tensors["train_images"], dataset),
        y_train=tensors["train_labels"].to(dev, non_blocking=True),
        x_test=s.images(tensors["test_images"], dataset),
        y_test=tensors["test_labels"].to(dev, non_blocking=True),
        execution=s.execution,
    )


def training_threads(device: str) -> int:
    """The thread count training runs at: on CPU every CPU this process may use (the profiled
    "all" config); on a GPU the process's own (lab1.host.threads.resolve_threads)."""
    return resolve_threads([ALL], device)[0]


# A terminal shows the batches of the epoch under way as one bar (lab1.progress), the epoch's
# line when it ends; a pipe gets every progress line.
TRAIN_BAR = "train"


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
    epoch: int,
    log_interval: int,
    max_batches: int | None = None,
    step: TrainStep | None = None,
) -> tuple[float, float, int, float]:
    """One pass over (x, y) in a fresh random order. Returns (loss, accuracy, images, seconds).

    ``step`` runs each batch (default: an eager TrainStep over model and optimizer).
    """
    step = step if step is not None else TrainStep(model, optimizer, x.device)
    step.start()  # training mode, totals zeroed
    n = x.shape[0]
    # The permutation comes from a CPU generator, so the order is the same on every device.
    order = torch.randperm(n, generator=generator).to(x.device, non_blocking=True)
    batches = math.ceil(n / batch_size)
    if max_batches is not None:
        batches = min(batches, max_batches)
    seen = 0
    synchronize(x.device)
    start = time.perf_counter()
    for i in range(batches):
        interrupt.check()  # a safe point: the last checkpoint is whole, this epoch is redone
        idx = order[i * batch_size : (i + 1) * batch_size]  # (B,) int64, on x's device
        loss = step(x, y, idx)
        seen += idx.shape[0]
        if log_interval and i % log_interval == 0:
            log.info(
                "train epoch %d [%d/%d (%.0f%%)] loss %.6f",
                epoch,
                seen,
                n,
                100.0 * (i + 1) / batches,
                loss.item(),  # the one sync, at the log interval only
                extra=Tick(TRAIN_BAR, f"train epoch {epoch}", i + 1, batches).extra(),
            )
    synchronize(x.device)
    seconds = time.perf_counter() - start
    return step.loss_sum.item() / seen, step.correct.item() / seen, seen, seconds


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    max_batches: int | None = None,
    precision: str = "fp32",
) -> tuple[float, float]:
    """Mean per-sample NLL and accuracy over (x, y), dropout off, in the run's precision
    (lab1.run.step.InferenceStep's forward pass, on contiguous slices: no gather needed here)."""
    step = InferenceStep(model, precision)
    step.start()
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), dtype=torch.long, device=x.device)
    seen = 0
    for i, start in enumerate(range(0, x.shape[0], batch_size)):
        if max_batches is not None and i >= max_batches:
            break
        data, target = x[start : start + batch_size], y[start : start + batch_size]
        output = step.forward(data)  # (B,10) fp32
        loss_sum += F.nll_loss(output, target, reduction="sum")
        correct += (output.argmax(dim=1) == target).sum()
        seen += target.shape[0]
    return loss_sum.item() / seen, correct.item() / seen


def _rng_state(generator: torch.Generator, device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state(), "shuffle": generator.get_state()}
    if traits(device).gpu:
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _restore_rng(state: dict, generator: torch.Generator, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["shuffle"])
    if traits(device).gpu and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _load_optimizer(optimizer: torch.optim.Optimizer, saved: dict) -> None:
    """Load a checkpoint's optimizer state in this optimizer's mode (capturable or not, foreach
    or not), so a run resumes across the eager and the CUDA-graph step."""
    modes = [{k: g.get(k) for k in ("capturable", "foreach")} for g in optimizer.param_groups]
    groups = [{**g, **m} for g, m in zip(saved["param_groups"], modes, strict=True)]
    optimizer.load_state_dict({**saved, "param_groups": groups})


def _resume(t: Training, ckpt_dir: Path, recipe: Recipe) -> tuple[list[dict], int, Path | None]:
    """Load the newest valid checkpoint into t if there is one (lab1.run.checkpoints sets aside
    the ones that are not): (history, first epoch to run, path)."""
    found = load_newest_valid(ckpt_dir)
    if found is None:
        return [], 1, None
    state, resumed_from = found
    if diffs := recipe_mismatch(state["recipe"], recipe):  # the CLI preflight checks first
        raise ResumeError(f"cannot resume from {resumed_from}: it was trained with {diffs}")
    t.model.load_state_dict(state["model"])
    _load_optimizer(t.optimizer, state["optimizer"])
    t.scheduler.load_state_dict(state["scheduler"])
    _restore_rng(state["rng"], t.generator, t.device)
    log.info("resuming from %s (epoch %d done)", resumed_from, state["epoch"])
    return state["history"], state["epoch"] + 1, resumed_from


def _checkpoint(t: Training, recipe: Recipe, epoch: int, history: list[dict], path: Path) -> None:
    state = {
        "epoch": epoch,
        "model": t.model.state_dict(),
        "optimizer": t.optimizer.state_dict(),
        "scheduler": t.scheduler.state_dict(),
        "rng": _rng_state(t.generator, t.device),
        "recipe": asdict(recipe),
        "history": history,
    }
    save_checkpoint(state, path)  # atomic, then its checksum record


def log_scalars(writer: SummaryWriter, stats: EpochStats) -> None:
    for tag, name in SCALARS.items():
        writer.add_scalar(tag, getattr(stats, name), global_step=stats.epoch)
    writer.flush()


def time_left(seconds_per_epoch: float, epochs_left: int) -> str:
    """What the terminal says after an epoch: the remaining epochs at this attempt's mean wall
    time per epoch (training, evaluation and checkpoint all in it)."""
    if not epochs_left:
        return "training done"
    return f"about {fmt_duration(seconds_per_epoch * epochs_left)} left"


def fmt_duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _epoch(
    t: Training,
    recipe: Recipe,
    epoch: int,
    log_interval: int,
    max_train_batches: int | None,
    max_test_batches: int | None,
) -> EpochStats:
    """Train one epoch, evaluate, step the schedule."""
    lr = t.scheduler.get_last_lr()[0]
    with MachineLoad.measure(torch.get_num_threads()) as load:
        train_loss, train_acc, images, seconds = t.train_epoch(
            recipe.batch_size, epoch, log_interval, max_train_batches
        )
    test_loss, test_acc = evaluate(
        t.model, t.x_test, t.y_test, recipe.test_batch_size, max_test_batches, recipe.precision
    )
    t.scheduler.step()
    stats = EpochStats(
        epoch,
        train_loss,
        train_acc,
        test_loss,
        test_acc,
        lr,
        images / seconds,
        seconds,
        other_cores=None if load.other_cores is None else round(load.other_cores, 3),
        contended=load.contended,
    )
    return stats


def _log_epoch(stats: EpochStats, epochs: int, left: str) -> None:
    log.info(
        "epoch %d/%d: train loss %.4f acc %.4f | test loss %.4f acc %.4f | lr %.4g "
        "| %.0f images/s | %s",
        stats.epoch,
        epochs,
        stats.train_loss,
        stats.train_accuracy,
        stats.test_loss,
        stats.test_accuracy,
        stats.lr,
        stats.images_per_s,
        left,
        extra=Tick(TRAIN_BAR, f"epoch {stats.epoch}/{epochs}", 1, 1, line=True).extra(),
    )


def train_and_log(
    data_path: str | Path,
    device: str,
    tb_dir: str | Path,
    ckpt_dir: str | Path,
    recipe: Recipe,
    epochs: int,
    log_interval: int = 10,
    max_train_batches: int | None = None,
    max_test_batches: int | None = None,
    *,
    channels_last: bool | None = None,
    cuda_graph: bool = False,
    on_epoch: Callable[[dict], None] | None = None,
    keep_checkpoints: int = 2,
    weights_path: str | Path | None = None,
) -> dict:
    """Train ``epochs`` epochs (resuming from the newest valid checkpoint in ckpt_dir if any).

    Logs the SCALARS once per epoch (step = epoch), the custom-scalars layout and, at the end,
    the HParams session (lab1.run.tblog); writes ckpt_dir/epoch_N.pt after every epoch, keeping the
    newest ``keep_checkpoints``; the final weights alone go to ``weights_path``. Returns a
    small JSON-ready summary (the manifest's TrainingSummary).

    ``channels_last``: None = auto (lab1.host.precision.use_channels_last).
    ``cuda_graph``: on CUDA, replay the training step from a CUDA graph (same math; dropout
    masks come from the graph's RNG offsets, so results are not bit-identical to eager).
    ``on_epoch``: called with each finished epoch's EpochStats dict, after its checkpoint.
    """
    ckpt_dir = Path(ckpt_dir)  # created by the first checkpoint's atomic write
    # The thread count is process-wide: set for training, the caller's restored after it.
    with using_threads(training_threads(device)):
        t = setup_training(
            load_tensors(data_path),
            recipe.dataset,
            device,
            recipe.batch_size,
            recipe.lr,
            recipe.gamma,
            recipe.seed,
            channels_last=channels_last,
            cuda_graph=cuda_graph,
            precision=recipe.precision,
        )
        history, start_epoch, resumed_from = _train(
            t,
            recipe,
            Path(tb_dir),
            ckpt_dir,
            epochs,
            log_interval,
            max_train_batches,
            max_test_batches,
            keep_checkpoints,
            on_epoch,
            device,
        )
    if weights_path is not None:
        save_weights(t.model, Path(weights_path))
    resumed = start_epoch - 1 if resumed_from else None
    return _summary(t, device, history, resumed, ckpt_dir, weights_path)


def _train(
    t: Training,
    recipe: Recipe,
    tb_dir: Path,
    ckpt_dir: Path,
    epochs: int,
    log_interval: int,
    max_train_batches: int | None,
    max_test_batches: int | None,
    keep_checkpoints: int,
    on_epoch: Callable[[dict], None] | None,
    device: str,
) -> tuple[list[dict], int, Path | None]:
    """Resume if a checkpoint allows, then train to ``epochs``, logging and checkpointing each
    epoch: (history, first epoch run, the checkpoint resumed from)."""
    history, start_epoch, resumed_from = _resume(t, ckpt_dir, recipe)
    # purge_step drops any events a crashed attempt logged past the checkpoint we resume from.
    tb_events = f"TensorBoard events under {tb_dir}"
    with writing(tb_events), SummaryWriter(log_dir=str(tb_dir), purge_step=start_epoch) as writer:
        log_layout(writer)
        started = time.perf_counter()
        for epoch in range(start_epoch, epochs + 1):
            stats = _epoch(t, recipe, epoch, log_interval, max_train_batches, max_test_batches)
            history.append(asdict(stats))
            per_epoch = (time.perf_counter() - started) / (epoch - start_epoch + 1)
            _log_epoch(stats, epochs, time_left(per_epoch, epochs - epoch))
            log_scalars(writer, stats)
            _checkpoint(t, recipe, epoch, history, checkpoint_path(ckpt_dir, epoch))
            prune(ckpt_dir, keep_checkpoints)  # only now that the newer one is safely written
            if on_epoch is not None:
                on_epoch(asdict(stats))
        if history:  # the HParams tab: this run's recipe → its final metrics
            hparams = {k: v for k, v in asdict(recipe).items() if k != "data_checksum"}
            log_hparams(writer, {**hparams, "epochs": epochs, "device": device}, history[-1])
    return history, start_epoch, resumed_from


def _summary(
    t: Training,
    device: str,
    history: list[dict],
    resumed_from_epoch: int | None,
    ckpt_dir: Path,
    weights_path: str | Path | None,
) -> dict:
    """train_and_log's JSON-ready result (the manifest's TrainingSummary)."""
    last = history[-1] if history else {}
    return {
        "device": device,
        "epochs_completed": len(history),
        "resumed_from_epoch": resumed_from_epoch,
        **{k: last.get(k) for k in ("test_accuracy", "test_loss", "train_loss", "train_accuracy")},
        "history": history,
        "checkpoint": str(latest_checkpoint(ckpt_dir)),
        "model_weights": str(weights_path) if weights_path is not None else None,
        # What ran: a CUDA graph that failed to capture shows as cuda_graph-failed-eager.
        "execution": replace(t.execution, mode=t.step.mode).to_dict(),
    }
