"""One step: the training step and the inference step of a device × precision × memory format ×
execution mode, and the process settings they run under.

Training (lab1.run.train), profiling (lab1.measure.profiling) and the batch ladder
(lab1.measure.stepmodel) all build
their steps here, so what is profiled is what was trained: the same gather from the device
tensors by index, the same autocast, the loss in fp32, the same Adadelta. ``build_steps`` also
applies the process-wide settings itself (glibc's heap kept mapped on CPU, the intra-op thread
count, cuDNN autotuning on CUDA), so a step does not depend on what ran earlier in the process
(a Prefect worker that only profiles gets the allocator setting a local run got from training).
It returns the frozen ``Execution`` it ran under, which the manifest records.

The profiler's phase labels (``optimizer``, ``forward``, ``loss``, ``backward``;
lab1.measure.breakdown
reads them) are on only while a step's ``labelled`` is True: an unprofiled step pays no
record_function calls (five per train step, a few µs each, which is 1 % of a 1 ms step).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import Adadelta
from torch.profiler import record_function

from lab1.host.allocator import keep_heap_mapped
from lab1.host.devices import traits
from lab1.host.precision import autocast, tf32_math, use_channels_last
from lab1.run.data import normalized_images
from lab1.run.model import Net

log = logging.getLogger("lab1.run.step")

EAGER, CUDA_GRAPH = "eager", "cuda_graph"


@dataclass(frozen=True)
class Execution:
    """How a step runs: what the manifest records for the trained step and each profiled config.

    ``mode`` is what ran: eager, cuda_graph, or (training only) cuda_graph-failed-eager /
    cuda_graph-not-captured. ``heap_kept_mapped``: glibc's heap kept mapped (lab1.host.allocator);
    None where the step is not a CPU step (the setting is not applied there).
    """

    device: str
    precision: str
    channels_last: bool
    mode: str
    heap_kept_mapped: bool | None
    threads: int  # torch's intra-op threads while the step runs
    cudnn_benchmark: bool  # cuDNN autotuning (CUDA only; False elsewhere)
    # fp32 work that runs in TF32 (lab1.host.precision.tf32_math): PyTorch's default on CUDA 8.0+
    # is TF32 convolutions and full-fp32 matmuls. False off CUDA (and in records made before).
    tf32_convolutions: bool = False
    tf32_matmuls: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def _label(on: bool, name: str):
    return record_function(name) if on else contextlib.nullcontext()


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
        self.labelled = False  # the profiler's phase labels (set while profiling)
        self.loss_sum = torch.zeros((), device=device)
        self.correct = torch.zeros((), dtype=torch.long, device=device)

    @property
    def mode(self) -> str:
        return EAGER

    def start(self) -> None:
        """Before a run of steps: training mode (dropout on), totals zeroed."""
        self.model.train()
        self.reset()

    def reset(self) -> None:
        """Zero the totals in place (a captured graph holds their addresses)."""
        self.loss_sum.zero_()
        self.correct.zero_()

    def __call__(self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Train on the batch x[idx], y[idx]; returns its loss (on the device, not read)."""
        return self._eager(x, y, idx)

    def _eager(self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        with _label(self.labelled, "optimizer"):
            self.optimizer.zero_grad(set_to_none=True)
        return self._body(x, y, idx)

    def _body(self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Gather, forward, loss, backward, optimizer step, totals: what a CUDA graph captures."""
        # (B,1,28,28) float32, (B,) int64; index_select, as in the graph, so cuDNN's autotuning
        # in the warm-up steps sees exactly the layouts the captured step will use.
        data, target = x.index_select(0, idx), y.index_select(0, idx)
        with _label(self.labelled, "forward"), autocast(x.device, self.precision):
            output = self.model(data)  # (B,10) log-probabilities, bf16 under autocast
        with _label(self.labelled, "loss"):
            loss = F.nll_loss(output.float(), target)  # batch mean, as in the reference; fp32
        with _label(self.labelled, "backward"):
            loss.backward()
        with _label(self.labelled, "optimizer"):
            self.optimizer.step()  # torch labels it Optimizer.step#Adadelta.step inside
        self.loss_sum += loss.detach() * idx.shape[0]  # stays on device: no host sync per step
        self.correct += (output.argmax(dim=1) == target).sum()
        return loss


class InferenceStep:
    """The forward pass with dropout off, under inference_mode and the run's autocast."""

    def __init__(self, model: nn.Module, precision: str = "fp32"):
        self.model = model
        self.precision = precision
        self.labelled = False

    def start(self) -> None:
        self.model.eval()

    def forward(self, data: torch.Tensor) -> torch.Tensor:
        """(B,1,28,28) → (B,10) fp32 log-probabilities."""
        with (
            torch.inference_mode(),
            _label(self.labelled, "forward"),
            autocast(data.device, self.precision),
        ):
            return self.model(data).float()

    def __call__(self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """The forward pass on x[idx] (y is not read: the same call as TrainStep's)."""
        with torch.inference_mode():
            data = x.index_select(0, idx)  # (B,1,28,28)
        return self.forward(data)


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
    The captured body is TrainStep._body, unlabelled, in fp32 (bf16 is refused by build_steps).
    """

    WARMUP = 3

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        device: torch.device,
        batch_size: int,
    ):
        super().__init__(model, optimizer, device, "fp32")
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
            return CUDA_GRAPH
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
        with torch.cuda.device(x.device):  # cuda:N's streams, whatever device is current
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
        # .grad = None, so backward allocates the gradients from the graph's private pool.
        self.optimizer.zero_grad(set_to_none=True)
        try:
            for group, lr in zip(groups, self._lrs, strict=True):
                group["lr"] = lr
            # The graph and its capture stream on the step's device: torch.cuda.graph's own
            # default stream is made once, on whichever device was current (cuda:0).
            with torch.cuda.device(x.device):
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, stream=torch.cuda.Stream(x.device)):
                    loss = self._body(x, y, self._idx)
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
class Steps:
    """A fresh model, its optimizer, both steps over them, and the Execution they run under."""

    execution: Execution
    model: nn.Module
    optimizer: torch.optim.Optimizer
    train: TrainStep
    inference: InferenceStep

    @property
    def device(self) -> torch.device:
        return torch.device(self.execution.device)

    def images(self, raw: torch.Tensor, dataset: str) -> torch.Tensor:
        """uint8 (N,28,28) → normalized float32 (N,1,28,28) on the device, in the step's
        memory format (what the steps gather their batches from)."""
        fmt = torch.channels_last if self.execution.channels_last else torch.contiguous_format
        x = normalized_images(raw, dataset, self.device)
        return x.contiguous(memory_format=fmt)


def apply_process_settings(dev: torch.device, threads: int) -> tuple[bool | None, bool]:
    """The process-wide settings every step runs under: (heap kept mapped, cudnn.benchmark).

    The thread count stays set after the call: a caller that must restore it wraps the work in
    lab1.host.threads.using_threads.
    """
    torch.set_num_threads(threads)
    row = traits(dev)
    heap = keep_heap_mapped() if row.heap_kept_mapped else None
    if row.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick kernels
    return heap, row.cudnn_benchmark and torch.backends.cudnn.benchmark


def build_steps(
    device: str,
    precision: str,
    *,
    lr: float,
    seed: int,
    threads: int,
    channels_last: bool | None = None,
    cuda_graph: bool = False,
    batch_size: int | None = None,
) -> Steps:
    """Seed, apply the process settings, build Net (in its memory format), Adadelta and both
    steps. ``channels_last=None``: the measured default (lab1.host.precision.use_channels_last).
    ``cuda_graph`` is honoured on CUDA only (elsewhere it logs and steps eagerly) and needs
    ``batch_size`` (the captured size); bf16 with it is refused by the caller (ConfigError)."""
    dev = torch.device(device)
    if cuda_graph and not traits(dev).cuda_graphs:
        log.info("cuda_graph needs a CUDA device; %s steps eagerly", device)
        cuda_graph = False
    heap, cudnn = apply_process_settings(dev, threads)
    cl = use_channels_last(dev, precision, channels_last)
    torch.manual_seed(seed)  # the weights (and the dropout masks after them)
    model = Net().to(dev)
    if cl:
        model = model.to(memory_format=torch.channels_last)  # conv weights NHWC
    optimizer = make_optimizer(model, lr, cuda_graph)
    if cuda_graph:
        train: TrainStep = GraphedStep(model, optimizer, dev, batch_size)
    else:
        train = TrainStep(model, optimizer, dev, precision)
    execution = Execution(
        device=device,
        precision=precision,
        channels_last=cl,
        mode=CUDA_GRAPH if cuda_graph else EAGER,
        heap_kept_mapped=heap,
        threads=torch.get_num_threads(),
        cudnn_benchmark=cudnn,
        **dict(zip(("tf32_convolutions", "tf32_matmuls"), tf32_math(dev), strict=True)),
    )
    return Steps(execution, model, optimizer, train, InferenceStep(model, precision))


def differences(trained: Execution, profiled: Execution) -> list[str]:
    """The fields in which a profiled step's execution differs from the trained one's."""
    a, b = trained.to_dict(), profiled.to_dict()
    return [k for k in a if a[k] != b[k]]
