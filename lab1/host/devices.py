"""Turn the user's device list into torch devices that really exist here, and say what each can
run natively (bf16). What the machine *is* comes from lab1.host.machine; this module decides."""

from __future__ import annotations

from collections.abc import Iterable

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


def synchronize(device: torch.device | str) -> None:
    """Wait for queued kernels, so wall-clock timings cover the work they claim to."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def device_name(device: str) -> str:
    """A human name: the GPU model, or the CPU model."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    if dev.type == "mps":
        return "Apple MPS"
    return machine.cpu_model()


def bf16_missing(device: str) -> str | None:
    """Why ``device`` cannot train in native bf16, in a few words; None when it can."""
    dev = torch.device(device)
    if dev.type == "cuda":
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
    if dev.type == "cpu":
        flags = machine.cpu_flags()
        if flags is None:
            return (
                "could not determine whether this CPU has native bf16 (its feature flags are "
                "read from Linux's /proc/cpuinfo, which this system does not have)"
            )
        if flags & set(CPU_BF16_FLAGS):
            return None
        return f"this CPU has neither {' nor '.join(CPU_BF16_FLAGS)} (no native bf16)"
    return f"bf16 training is supported on cpu and cuda only, not {dev.type}"


# torch.profiler has no activity for these: their kernels' time and memory are not recorded,
# only the CPU side that dispatches them.
UNTRACED_DEVICE_TYPES = ("mps",)


def device_time_measured(device: str) -> bool:
    """False where the device runs the work but the profiler cannot see it (mps)."""
    return torch.device(device).type not in UNTRACED_DEVICE_TYPES


def check_precision(device: str, precisions: Iterable[str]) -> None:
    """Raise DeviceError when ``device`` cannot run one of ``precisions`` natively (fp32 always
    can): bf16 is never used on a device that would only emulate it."""
    if "bf16" in precisions and (missing := bf16_missing(device)):
        raise DeviceError(f"--precision bf16 on {device}: {missing}; use --precision fp32")
