"""Turn the user's device list into torch devices that really exist here, say what each can run
natively (bf16), and hold the one table of what lab1 does differently per kind of device
(``DeviceTraits``, read through ``traits``). What the machine *is* comes from lab1.host.machine;
this module decides."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

import torch

from lab1.errors import DeviceError
from lab1.host import machine

# CPU flags (Linux /proc/cpuinfo) of native bf16 arithmetic: AVX512-BF16 dot products, AMX tiles.
# torch.backends.cpu.get_cpu_capability() stops at "AVX512", and oneDNN's own bf16 check also
# passes on plain AVX-512, where bf16 is emulated (slower than fp32): neither can tell them apart.
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def resolve_devices(requested: tuple[str, ...] | list[str]) -> list[str]:
    """``auto`` → every device here (cpu, then each CUDA GPU or mps); explicit names are checked.

    Raises DeviceError for an explicitly requested device this machine does not have.
    """
    if list(requested) == ["auto"]:
        found = ["cpu"]
        n_cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
        found += ["cuda"] if n_cuda == 1 else [f"cuda:{i}" for i in range(n_cuda)]
        if _mps_available():
            found.append("mps")
        return found
    resolved: list[str] = []
    for name in requested:
        if name.startswith("cuda"):
            if not torch.cuda.is_available():
                raise DeviceError(
                    f"--devices {name}: no CUDA GPU is visible to torch on this machine "
                    f"(torch {torch.__version__}, built for CUDA {torch.version.cuda}); "
                    "use --devices cpu or auto"
                )
            index = int(name.split(":")[1]) if ":" in name else 0
            if index >= torch.cuda.device_count():
                raise DeviceError(
                    f"--devices {name}: only {torch.cuda.device_count()} CUDA device(s) here"
                )
        elif name == "mps" and not _mps_available():
            raise DeviceError("--devices mps: Apple's MPS backend is not available here")
        if name not in resolved:
            resolved.append(name)
    return resolved


def training_device(devices: list[str]) -> str:
    """The device that trains: the first accelerator if there is one, else the CPU."""
    return next((d for d in devices if d != "cpu"), devices[0])


def _cuda_bf16_missing(dev: torch.device) -> str | None:
    # The device's own compute capability (cuda:1 may differ from cuda:0;
    # torch.cuda.is_bf16_supported answers for the current device only); bf16 tensor
    # cores start at 8.0 (Ampere). A described machine's GPUs answer for themselves.
    gpus = machine.gpus()
    if not gpus:
        return "no CUDA GPU is visible to torch"
    capability = machine.cuda_capability(dev)
    if capability is None:
        return f"no GPU {dev} here ({len(gpus)} visible)"
    if capability[0] >= 8:
        return None
    name = gpus[dev.index or 0].name
    return f"{name} has no native bf16 (it needs compute capability 8.0+)"


def _cpu_bf16_missing(dev: torch.device) -> str | None:
    flags = machine.cpu_flags()
    if flags is None:
        return (
            "could not determine whether this CPU has native bf16 (its feature flags are "
            "read from Linux's /proc/cpuinfo, which this system does not have)"
        )
    if flags & set(CPU_BF16_FLAGS):
        return None
    return f"this CPU has neither {' nor '.join(CPU_BF16_FLAGS)} (no native bf16)"


def _no_sync(dev: torch.device) -> None:
    """The work is done when the call returns (the CPU runs it in the calling thread)."""


@dataclass(frozen=True, kw_only=True)
class DeviceTraits:
    """What lab1 does differently on one kind of device (``torch.device(...).type``). Every
    branch on a device's kind reads this table, so a new kind is one row of ``TRAITS``."""

    kind: str
    # A fixed human name (None: the GPU's model where ``gpu``, else the CPU's).
    name: str | None
    # What an operator's time and share are of, and the step time of the time split:
    # "self_device" where the profiler records the device's own time, else "self_cpu".
    time_basis: str
    # The torch.profiler.ProfilerActivity member that records its kernels (None: CPU only).
    profiler_activity: str | None
    # The profiler sees the work, its time and memory: False where the device runs kernels
    # no profiler activity records, so only the CPU side that dispatches them is seen (mps).
    traced: bool
    # Wait for the queued work, so a wall-clock timing covers the work it claims to.
    synchronize: Callable[[torch.device], None]
    # The limits time one call with the device's own events (else wall clock around syncs).
    event_timer: bool
    # The training step can be captured once and replayed as a CUDA graph.
    cuda_graphs: bool
    # The measured default memory format by precision: channels_last (True) or NCHW.
    channels_last: Mapping[str, bool]
    # Why native bf16 is missing here (None: it is native); None: no bf16 check for the kind.
    bf16_missing: Callable[[torch.device], str | None] | None
    # fp32 convolutions may run in TF32 (cuDNN's default, on compute capability 8.0+).
    tf32: bool
    # Peak memory from the device allocator's own counter (else the profiler trace's).
    allocator_peak: bool
    # Fixed input shapes let cuDNN pick its kernels (torch.backends.cudnn.benchmark).
    cudnn_benchmark: bool
    # glibc's freed heap stays mapped for the step (lab1.host.allocator).
    heap_kept_mapped: bool
    # A GPU named by its model: the class view's machine kind, the GPU work pool, the GPU
    # lock named by UUID, the CUDA RNG state in a checkpoint.
    gpu: bool
    # The limits' sizes: an (n, n) matmul and a copy of this many bytes (beyond the caches).
    matmul_n: int
    copy_bytes: int


# channels_last on CPU, measured with benchmarks/bench_channels_last.py (setup_training +
# train_epoch, the median over 11 pairs of back-to-back blocks of the channels_last / default
# images/s ratio, glibc's heap kept mapped, 2 threads):
# fp32, AMD EPYC (no AMX), torch 2.14.1: batch 1: 0.985, 16: 0.974, 32: 1.014, 64: 0.997.
#   oneDNN gains in the convolutions are spent on the layout copies around flatten and
#   pooling: no batch size gains, so it stays off.
# Intel Xeon with AMX (amx_bf16, amx_tile, avx512_bf16; 2 vCPUs), torch 2.14.1, same script:
#   fp32: batch 1: 0.981, 16: 1.213, 64: 1.015 — no consistent gain (the machine was shared,
#   other processes ran beside the lock): fp32 keeps the AMD decision, off.
#   bf16: batch 1: 0.843, 16: 1.103, 64: 1.161 — the AMX convolutions read NHWC directly, so
#   the gain holds at the batch sizes that train (16, 64; default 64): on. (Batch 1 loses.)
CPU_CHANNELS_LAST = {"fp32": False, "bf16": True}

# A kind lab1 has no row for: measured like the CPU, from the CPU side, with no bf16.
_OTHER = DeviceTraits(
    kind="other",
    name=None,
    time_basis="self_cpu",
    profiler_activity=None,
    traced=True,
    synchronize=_no_sync,
    event_timer=False,
    cuda_graphs=False,
    channels_last=MappingProxyType({"fp32": False, "bf16": False}),
    bf16_missing=None,
    tf32=False,
    allocator_peak=False,
    cudnn_benchmark=False,
    heap_kept_mapped=False,
    gpu=False,
    matmul_n=2048,  # 17 GFLOP per product (1024 underrates 2 threads)
    copy_bytes=512 << 20,  # beyond a 300 MiB L3
)

TRAITS: Mapping[str, DeviceTraits] = MappingProxyType(
    {
        "cpu": replace(
            _OTHER,
            kind="cpu",
            channels_last=MappingProxyType(CPU_CHANNELS_LAST),
            bf16_missing=_cpu_bf16_missing,
            heap_kept_mapped=True,
        ),
        "cuda": replace(
            _OTHER,
            kind="cuda",
            time_basis="self_device",
            profiler_activity="CUDA",
            synchronize=lambda dev: torch.cuda.synchronize(dev),
            event_timer=True,
            cuda_graphs=True,
            channels_last=MappingProxyType({"fp32": True, "bf16": True}),
            bf16_missing=_cuda_bf16_missing,
            tf32=True,
            allocator_peak=True,
            cudnn_benchmark=True,
            gpu=True,
            matmul_n=8192,  # 1,100 GFLOP per product
            copy_bytes=2 << 30,  # beyond a GPU's L2
        ),
        "mps": replace(
            _OTHER,
            kind="mps",
            name="Apple MPS",
            traced=False,  # torch.profiler has no activity for it
            synchronize=lambda dev: torch.mps.synchronize(),
        ),
    }
)


def device_kind(device: torch.device | str) -> str:
    """``cuda:1`` → ``cuda``. A name read from a table is split, never parsed by torch (a run
    from elsewhere may hold any text)."""
    return device.type if isinstance(device, torch.device) else str(device).split(":")[0]


def traits(device: torch.device | str) -> DeviceTraits:
    """The row of ``TRAITS`` for ``device`` (a name or a torch.device); a kind with no row is
    measured like the CPU, from the CPU side, with no bf16."""
    kind = device_kind(device)
    return TRAITS.get(kind) or replace(_OTHER, kind=kind)


def synchronize(device: torch.device | str) -> None:
    """Wait for queued kernels, so wall-clock timings cover the work they claim to."""
    device = torch.device(device)
    traits(device).synchronize(device)


def device_name(device: str) -> str:
    """A human name: the GPU model, or the CPU model."""
    dev = torch.device(device)
    row = traits(dev)
    if row.name is not None:
        return row.name
    return torch.cuda.get_device_name(dev) if row.gpu else machine.cpu_model()


def bf16_missing(device: str) -> str | None:
    """Why ``device`` cannot train in native bf16, in a few words; None when it can."""
    dev = torch.device(device)
    check = traits(dev).bf16_missing
    if check is None:
        return f"bf16 training is supported on cpu and cuda only, not {dev.type}"
    return check(dev)


def device_time_measured(device: str) -> bool:
    """False where the device runs the work but the profiler cannot see it (mps)."""
    return traits(device).traced


def check_precision(device: str, precisions: Iterable[str]) -> None:
    """Raise DeviceError when ``device`` cannot run one of ``precisions`` natively (fp32 always
    can): bf16 is never used on a device that would only emulate it."""
    if "bf16" in precisions and (missing := bf16_missing(device)):
        raise DeviceError(f"--precision bf16 on {device}: {missing}; use --precision fp32")
