"""The reference recipe (Adadelta, StepLR step 1) on preloaded tensors, logged to TensorBoard.

Same Net, optimizer, schedule and loss as pytorch/examples mnist/main.py; what differs is only
how batches reach the model: the dataset is decoded once, normalized once and kept on the
training device, and each epoch indexes it with a fresh permutation. The loss is read back to
the host only at log intervals and at the end of an epoch, so the GPU is never stalled per step.

``precision="bf16"`` runs the forward pass under torch.autocast (bf16 matmuls and convolutions;
the weights, gradients, loss and Adadelta's state stay fp32); "fp32" is the reference recipe.

Speed-ups that keep the math: on CPU, freed memory stays mapped between steps instead of being
page-faulted back in every step (keep_heap_mapped); the channels_last memory format (auto: on
for CUDA, off on CPU, where it measured no faster); and, opt-in on CUDA, the whole training
step captured once in a CUDA graph and replayed (``cuda_graph=True``; GraphedStep).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import Adadelta
from torch.optim.lr_scheduler import StepLR
from torch.utils.tensorboard import SummaryWriter

from lab1 import interrupt
from lab1.allocator import keep_heap_mapped
from lab1.atomic import writing
from lab1.checkpoints import (
    checkpoint_path,
    latest_checkpoint,
    load_newest_valid,
    prune,
    save_checkpoint,
    save_weights,
)
from lab1.data import load_tensors, normalized_images
from lab1.devices import synchronize
from lab1.errors import ConfigError, ResumeError
from lab1.model import Net
from lab1.precision import autocast, use_channels_last
from lab1.tblog import log_hparams, log_layout

log = logging.getLogger("lab1.train")


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


class TrainStep:
    """One step of the recipe on x[idx], y[idx]: zero_grad, forward, nll_loss, backward, step.

    It also adds loss × batch and the correct count to totals kept on the device, so an epoch's
    means cost one host sync at its end instead of one per step.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        device: torch.device,
        precision: str = "fp32",
    ):
        self.model = model
        self.optimizer = optimizer
        self.precision = precision
        self.loss_sum = torch.zeros((), device=device)
        self.correct = torch.zeros((), dtype=torch.long, device=device)

    @property
    def mode(self) -> str:
        return "eager"

    def reset(self) -> None:
        """Zero the totals in place (a captured graph holds their addresses)."""
        self.loss_sum.zero_()
        self.correct.zero_()

    def __call__(self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Train on the batch x[idx], y[idx]; returns its loss (on the device, not read)."""
        return self._eager(x, y, idx)

    def _eager(self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        # (B,1,28,28) float32, (B,) int64; index_select, as in the graph, so cuDNN's autotuning
        # in the warm-up steps sees exactly the layouts the captured step will use.
        data, target = x.index_select(0, idx), y.index_select(0, idx)
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(x.device, self.precision):
            output = self.model(data)  # (B,10) log-probabilities, bf16 under autocast
        loss = F.nll_loss(output.float(), target)  # batch mean, as in the reference; fp32
        loss.backward()
        self.optimizer.step()
        self.loss_sum += loss.detach() * idx.shape[0]  # stays on device: no host sync per step
        self.correct += (output.argmax(dim=1) == target).sum()
        return loss


class GraphedStep(TrainStep):
    """The same step captured once into a CUDA graph and replayed: one launch, not dozens.

    The graph gathers its batch itself, from the dataset tensors it was captured with, through
    a static index buffer; a replayed step is one (B,) int64 copy and one graph launch. Eager
    steps, on the same model, optimizer state and totals: the first WARMUP steps (cuDNN
    autotuning and the optimizer's lazy state must happen before capture, on a side stream as
    torch.cuda.graphs asks), batches of another size (only the last, partial batch of an epoch:
    it is trained on eagerly, never dropped, so an epoch sees every sample) and calls with other
    tensors. If capture raises, a warning is logged and every later step runs eagerly.

    The optimizer must be Adadelta(..., capturable=True, foreach=True): its step counters stay
    on the device, and the foreach update reads a tensor learning rate. The graph reads the lr
    from its own device tensor, swapped into the param groups only while capturing and
    refreshed from them at every reset(), so StepLR and checkpoints keep plain floats.
    """

    WARMUP = 3

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        device: torch.device,
        batch_size: int,
    ):
        super().__init__(model, optimizer, device)
        self.batch_size = batch_size
        self.graph: torch.cuda.CUDAGraph | None = None
        self.failed = False
        self.warm_steps = 0
        self._lrs = [torch.tensor(float(g["lr"]), device=device) for g in optimizer.param_groups]
        self._idx = torch.zeros(batch_size, dtype=torch.long, device=device)  # (B,) static input
        self._inputs: tuple[torch.Tensor, torch.Tensor] | None = None  # what the graph gathers
        self._loss: torch.Tensor | None = None  # the graph's static output

    @property
    def mode(self) -> str:
        if self.graph is not None:
            return "cuda_graph"
        return "cuda_graph-failed-eager" if self.failed else "cuda_graph-not-captured"

    def reset(self) -> None:
        super().reset()
        for lr, group in zip(self._lrs, self.optimizer.param_groups, strict=True):
            lr.fill_(float(group["lr"]))  # stream-ordered before the epoch's replays

    def __call__(self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        if self.failed or idx.shape[0] != self.batch_size:
            return self._eager(x, y, idx)
        if self.graph is None:
            if self.warm_steps < self.WARMUP:
                self.warm_steps += 1
                return self._side_stream_step(x, y, idx)
            if not self._capture(x, y):
                return self._eager(x, y, idx)
        elif self._inputs[0] is not x or self._inputs[1] is not y:
            return self._eager(x, y, idx)
        self._idx.copy_(idx, non_blocking=True)  # device to device, stream-ordered
        self.graph.replay()
        return self._loss

    def _side_stream_step(self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor):
        stream = torch.cuda.Stream(x.device)
        stream.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(stream):
            loss = self._eager(x, y, idx)
        torch.cuda.current_stream(x.device).wait_stream(stream)
        # Three steps per run: a full sync makes the side stream's allocations safe to reuse.
        torch.cuda.synchronize(x.device)
        return loss

    def _capture(self, x: torch.Tensor, y: torch.Tensor) -> bool:
        groups = self.optimizer.param_groups
        floats = [g["lr"] for g in groups]
        graph = torch.cuda.CUDAGraph()
        # .grad = None, so backward allocates the gradients from the graph's private pool.
        self.optimizer.zero_grad(set_to_none=True)
        try:
            for group, lr in zip(groups, self._lrs, strict=True):
                group["lr"] = lr
            with torch.cuda.graph(graph):
                data = x.index_select(0, self._idx)  # (B,1,28,28)
                target = y.index_select(0, self._idx)  # (B,)
                output = self.model(data)
                loss = F.nll_loss(output, target)
                loss.backward()
                self.optimizer.step()
                self.loss_sum += loss.detach() * self.batch_size
                self.correct += (output.argmax(dim=1) == target).sum()
        except Exception as exc:  # any capture failure: the eager step is always correct
            log.warning("CUDA graph capture failed, training eagerly instead: %s", exc)
            self.failed = True
            torch.cuda.synchronize(x.device)
            return False
        finally:
            for group, lr in zip(groups, floats, strict=True):
                group["lr"] = lr
        self.graph, self._loss, self._inputs = graph, loss.detach(), (x, y)
        log.info("captured the training step (batch %d) in a CUDA graph", self.batch_size)
        return True


def make_optimizer(model: nn.Module, lr: float, cuda_graph: bool = False) -> Adadelta:
    """The recipe's Adadelta; capturable with a foreach update when its step is graphed."""
    if not cuda_graph:
        return Adadelta(model.parameters(), lr=lr)
    optimizer = Adadelta(model.parameters(), lr=lr, capturable=True, foreach=True)
    # torch warns once when a capturable optimizer steps outside a capture, as our warm-up and
    # partial-batch steps do by design; that warning would only mislead here.
    optimizer._warned_capturable_if_run_uncaptured = True
    return optimizer


@dataclass
class Training:
    """One run's working set: the data on the device, the model, its optimizer and step."""

    device: torch.device
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: StepLR
    generator: torch.Generator  # CPU: the shuffling order is the same on every device
    step: TrainStep
    x_train: torch.Tensor  # (N,1,28,28) float32, normalized
    y_train: torch.Tensor  # (N,) int64
    x_test: torch.Tensor
    y_test: torch.Tensor
    channels_last: bool
    precision: str

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
) -> Training:
    """Seed, put the decoded dataset on the device, build Net, Adadelta, StepLR and the step.

    ``channels_last=None`` is auto (see use_channels_last); ``cuda_graph`` is honoured on CUDA
    only (elsewhere it logs and trains eagerly), and not with bf16 (ConfigError).
    """
    dev = torch.device(device)
    if cuda_graph and precision != "fp32" and dev.type == "cuda":
        raise ConfigError("--cuda-graph does not support --precision bf16 yet")
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick kernels
    if cuda_graph and dev.type != "cuda":
        log.info("cuda_graph needs a CUDA device; %s trains eagerly", device)
        cuda_graph = False
    if dev.type == "cpu":
        keep_heap_mapped()
    cl = use_channels_last(dev, precision, channels_last)
    fmt = torch.channels_last if cl else torch.contiguous_format

    def images(split: str) -> torch.Tensor:
        x = normalized_images(tensors[f"{split}_images"], dataset, dev)
        return x.contiguous(memory_format=fmt)

    x_train, x_test = images("train"), images("test")
    y_train = tensors["train_labels"].to(dev, non_blocking=True)
    y_test = tensors["test_labels"].to(dev, non_blocking=True)
    model = Net().to(dev)
    if cl:
        model = model.to(memory_format=torch.channels_last)  # conv weights NHWC
    optimizer = make_optimizer(model, lr, cuda_graph)
    scheduler = StepLR(optimizer, step_size=1, gamma=gamma)
    step = (
        GraphedStep(model, optimizer, dev, batch_size)
        if cuda_graph
        else TrainStep(model, optimizer, dev, precision)
    )
    return Training(
        dev,
        model,
        optimizer,
        scheduler,
        generator,
        step,
        x_train,
        y_train,
        x_test,
        y_test,
        channels_last=cl,
        precision=precision,
    )


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
    model.train()
    step = step if step is not None else TrainStep(model, optimizer, x.device)
    step.reset()
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
    """Mean per-sample NLL and accuracy over (x, y), dropout off, in the run's precision."""
    model.eval()
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), dtype=torch.long, device=x.device)
    seen = 0
    for i, start in enumerate(range(0, x.shape[0], batch_size)):
        if max_batches is not None and i >= max_batches:
            break
        data, target = x[start : start + batch_size], y[start : start + batch_size]
        with autocast(x.device, precision):
            output = model(data).float()  # (B,10)
        loss_sum += F.nll_loss(output, target, reduction="sum")
        correct += (output.argmax(dim=1) == target).sum()
        seen += target.shape[0]
    return loss_sum.item() / seen, correct.item() / seen


def _rng_state(generator: torch.Generator, device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state(), "shuffle": generator.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _restore_rng(state: dict, generator: torch.Generator, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["shuffle"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _load_optimizer(optimizer: torch.optim.Optimizer, saved: dict) -> None:
    """Load a checkpoint's optimizer state in this optimizer's mode (capturable or not, foreach
    or not), so a run resumes across the eager and the CUDA-graph step."""
    modes = [{k: g.get(k) for k in ("capturable", "foreach")} for g in optimizer.param_groups]
    groups = [{**g, **m} for g, m in zip(saved["param_groups"], modes, strict=True)]
    optimizer.load_state_dict({**saved, "param_groups": groups})


def _resume(t: Training, ckpt_dir: Path, recipe: Recipe) -> tuple[list[dict], int, Path | None]:
    """Load the newest valid checkpoint into t if there is one (lab1.checkpoints sets aside
    the ones that are not): (history, first epoch to run, path)."""
    found = load_newest_valid(ckpt_dir, t.device)
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
    train_loss, train_acc, images, seconds = t.train_epoch(
        recipe.batch_size, epoch, log_interval, max_train_batches
    )
    test_loss, test_acc = evaluate(
        t.model, t.x_test, t.y_test, recipe.test_batch_size, max_test_batches, recipe.precision
    )
    t.scheduler.step()
    stats = EpochStats(
        epoch, train_loss, train_acc, test_loss, test_acc, lr, images / seconds, seconds
    )
    log.info(
        "epoch %d: train loss %.4f acc %.4f | test loss %.4f acc %.4f | lr %.4g | %.0f images/s",
        epoch,
        train_loss,
        train_acc,
        test_loss,
        test_acc,
        lr,
        stats.images_per_s,
    )
    return stats


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
    the HParams session (lab1.tblog); writes ckpt_dir/epoch_N.pt after every epoch, keeping the
    newest ``keep_checkpoints``; the final weights alone go to ``weights_path``. Returns a
    small JSON-ready summary (the manifest's TrainingSummary).

    ``channels_last``: None = auto (lab1.precision.use_channels_last).
    ``cuda_graph``: on CUDA, replay the training step from a CUDA graph (same math; dropout
    masks come from the graph's RNG offsets, so results are not bit-identical to eager).
    ``on_epoch``: called with each finished epoch's EpochStats dict, after its checkpoint.
    """
    ckpt_dir = Path(ckpt_dir)  # created by the first checkpoint's atomic write
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
    history, start_epoch, resumed_from = _resume(t, ckpt_dir, recipe)
    # purge_step drops any events a crashed attempt logged past the checkpoint we resume from.
    tb_events = f"TensorBoard events under {tb_dir}"
    with writing(tb_events), SummaryWriter(log_dir=str(tb_dir), purge_step=start_epoch) as writer:
        log_layout(writer)
        for epoch in range(start_epoch, epochs + 1):
            stats = _epoch(t, recipe, epoch, log_interval, max_train_batches, max_test_batches)
            history.append(asdict(stats))
            log_scalars(writer, stats)
            _checkpoint(t, recipe, epoch, history, checkpoint_path(ckpt_dir, epoch))
            prune(ckpt_dir, keep_checkpoints)  # only now that the newer one is safely written
            if on_epoch is not None:
                on_epoch(asdict(stats))
        if history:  # the HParams tab: this run's recipe → its final metrics
            hparams = {k: v for k, v in asdict(recipe).items() if k != "data_checksum"}
            log_hparams(writer, {**hparams, "epochs": epochs, "device": device}, history[-1])
    if weights_path is not None:
        save_weights(t.model, Path(weights_path))
    resumed = start_epoch - 1 if resumed_from else None
    return _summary(t, device, recipe, history, resumed, ckpt_dir, weights_path)


def _summary(
    t: Training,
    device: str,
    recipe: Recipe,
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
        "execution": {
            "channels_last": t.channels_last,
            "step": t.step.mode,
            "precision": recipe.precision,
        },
    }
