"""The reference recipe (Adadelta, StepLR step 1) on preloaded tensors, logged to TensorBoard.

Same Net, optimizer, schedule and loss as pytorch/examples mnist/main.py; what differs is only
how batches reach the model: the dataset is decoded once, normalized once and kept on the
training device, and each epoch indexes it with a fresh permutation. The loss is read back to
the host only at log intervals and at the end of an epoch, so the GPU is never stalled per step.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import Adadelta
from torch.optim.lr_scheduler import StepLR
from torch.utils.tensorboard import SummaryWriter

from lab1.data import load_tensors, normalized_images
from lab1.devices import synchronize
from lab1.errors import RunDirError
from lab1.model import Net

log = logging.getLogger("lab1.train")

CKPT_RE = re.compile(r"^epoch_(\d+)\.pt$")


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
) -> tuple[float, float, int, float]:
    """One pass over (x, y) in a fresh random order. Returns (loss, accuracy, images, seconds)."""
    model.train()
    n = x.shape[0]
    # The permutation comes from a CPU generator, so the order is the same on every device.
    order = torch.randperm(n, generator=generator).to(x.device, non_blocking=True)
    batches = math.ceil(n / batch_size)
    if max_batches is not None:
        batches = min(batches, max_batches)
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), dtype=torch.long, device=x.device)
    seen = 0
    synchronize(x.device)
    start = time.perf_counter()
    for i in range(batches):
        idx = order[i * batch_size : (i + 1) * batch_size]
        data, target = x[idx], y[idx]  # (B,1,28,28) float32, (B,) int64
        optimizer.zero_grad(set_to_none=True)
        output = model(data)
        loss = F.nll_loss(output, target)  # batch mean, as in the reference
        loss.backward()
        optimizer.step()
        b = idx.shape[0]
        seen += b
        loss_sum += loss.detach() * b  # stays on device: no host sync per step
        correct += (output.argmax(dim=1) == target).sum()
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
    return loss_sum.item() / seen, correct.item() / seen, seen, seconds


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    max_batches: int | None = None,
) -> tuple[float, float]:
    """Mean per-sample NLL and accuracy over (x, y), dropout off."""
    model.eval()
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), dtype=torch.long, device=x.device)
    seen = 0
    for i, start in enumerate(range(0, x.shape[0], batch_size)):
        if max_batches is not None and i >= max_batches:
            break
        data, target = x[start : start + batch_size], y[start : start + batch_size]
        output = model(data)
        loss_sum += F.nll_loss(output, target, reduction="sum")
        correct += (output.argmax(dim=1) == target).sum()
        seen += target.shape[0]
    return loss_sum.item() / seen, correct.item() / seen


def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    found = [
        (int(m.group(1)), p)
        for p in Path(ckpt_dir).glob("epoch_*.pt")
        if (m := CKPT_RE.match(p.name))
    ]
    return max(found)[1] if found else None


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


def _save_atomic(obj: dict, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)  # a crash mid-save never leaves a half checkpoint behind


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
) -> dict:
    """Train ``epochs`` epochs (resuming from the newest checkpoint in ckpt_dir if any).

    Logs Loss/train, Accuracy/train, Loss/test, Accuracy/test, LR and
    Throughput/train_images_per_s once per epoch (step = epoch), and writes
    ckpt_dir/epoch_N.pt after every epoch. Returns a small JSON-ready summary.
    """
    dev = torch.device(device)
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick kernels

    tensors = load_tensors(data_path)
    x_train = normalized_images(tensors["train_images"], recipe.dataset, dev)
    y_train = tensors["train_labels"].to(dev)
    x_test = normalized_images(tensors["test_images"], recipe.dataset, dev)
    y_test = tensors["test_labels"].to(dev)

    model = Net().to(dev)
    optimizer = Adadelta(model.parameters(), lr=recipe.lr)
    scheduler = StepLR(optimizer, step_size=1, gamma=recipe.gamma)

    history: list[dict] = []
    start_epoch = 1
    resumed_from = latest_checkpoint(ckpt_dir)
    if resumed_from is not None:
        state = torch.load(resumed_from, map_location=dev, weights_only=True)
        if state["recipe"] != asdict(recipe):
            raise RunDirError(
                f"cannot resume from {resumed_from}: it was trained with {state['recipe']}, "
                f"this run asks for {asdict(recipe)}"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _restore_rng(state["rng"], generator, dev)
        history = state["history"]
        start_epoch = state["epoch"] + 1
        log.info("resuming from %s (epoch %d done)", resumed_from, state["epoch"])

    # purge_step drops any events a crashed attempt logged past the checkpoint we resume from.
    with SummaryWriter(log_dir=str(tb_dir), purge_step=start_epoch) as writer:
        for epoch in range(start_epoch, epochs + 1):
            lr = scheduler.get_last_lr()[0]
            train_loss, train_acc, images, seconds = train_epoch(
                model,
                optimizer,
                x_train,
                y_train,
                recipe.batch_size,
                generator,
                epoch,
                log_interval,
                max_train_batches,
            )
            test_loss, test_acc = evaluate(
                model, x_test, y_test, recipe.test_batch_size, max_test_batches
            )
            scheduler.step()
            stats = EpochStats(
                epoch, train_loss, train_acc, test_loss, test_acc, lr, images / seconds, seconds
            )
            history.append(asdict(stats))
            for tag, value in (
                ("Loss/train", train_loss),
                ("Accuracy/train", train_acc),
                ("Loss/test", test_loss),
                ("Accuracy/test", test_acc),
                ("LR", lr),
                ("Throughput/train_images_per_s", stats.images_per_s),
            ):
                writer.add_scalar(tag, value, global_step=epoch)
            writer.flush()
            log.info(
                "epoch %d: train loss %.4f acc %.4f | test loss %.4f acc %.4f | lr %.4g | "
                "%.0f images/s",
                epoch,
                train_loss,
                train_acc,
                test_loss,
                test_acc,
                lr,
                stats.images_per_s,
            )
            _save_atomic(
                {
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rng": _rng_state(generator, dev),
                    "recipe": asdict(recipe),
                    "history": history,
                },
                ckpt_dir / f"epoch_{epoch}.pt",
            )

    last = history[-1] if history else {}
    return {
        "device": device,
        "epochs_completed": len(history),
        "resumed_from_epoch": start_epoch - 1 if resumed_from else None,
        "test_accuracy": last.get("test_accuracy"),
        "test_loss": last.get("test_loss"),
        "train_loss": last.get("train_loss"),
        "train_accuracy": last.get("train_accuracy"),
        "history": history,
        "checkpoint": str(latest_checkpoint(ckpt_dir)),
    }
