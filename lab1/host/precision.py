"""A run's arithmetic (fp32, or bf16 under torch.autocast) and the memory layout that suits it.

The layout choice is per device *and* precision because it was measured that way: oneDNN's
bf16 kernels (AMX / AVX512-BF16) gain from NHWC where its fp32 kernels do not (the measurement is
beside CPU_CHANNELS_LAST in lab1.host.devices, the device traits' table).
"""

from __future__ import annotations

import torch

from lab1.host import machine
from lab1.host.devices import traits


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """The forward pass's arithmetic: bf16 autocast, or (fp32) a disabled, no-op context."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def tf32_math(dev: torch.device) -> tuple[bool, bool]:
    """(convolutions, matmuls) that run in TF32 on ``dev`` when a step asks for fp32.

    The reference runs what PyTorch does by default and says so: on a CUDA GPU of compute
    capability 8.0+ (Ampere and newer), cuDNN's convolutions use TF32 (10-bit mantissa inputs,
    torch.backends.cudnn.allow_tf32 is True by default) while matmuls stay full fp32
    (torch.backends.cuda.matmul.allow_tf32 is False). Elsewhere there is no TF32: (False, False).
    The capability is the device's own (``dev``), never device 0's."""
    capability = machine.cuda_capability(dev) if traits(dev).tf32 else None
    if capability is None or capability[0] < 8:
        return False, False
    return bool(torch.backends.cudnn.allow_tf32), bool(torch.backends.cuda.matmul.allow_tf32)


def use_channels_last(
    device: torch.device, precision: str = "fp32", requested: bool | None = None
) -> bool:
    """Whether a run on ``device`` in ``precision`` uses channels_last: as requested, else
    the measured default (the device's traits: lab1.host.devices.TRAITS)."""
    if requested is not None:
        return requested
    return traits(device).channels_last[precision]
