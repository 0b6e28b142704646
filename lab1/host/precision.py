"""A run's arithmetic (fp32, or bf16 under torch.autocast) and the memory layout that suits it.

The layout choice is per device *and* precision because it was measured that way: oneDNN's
bf16 kernels (AMX / AVX512-BF16) gain from NHWC where its fp32 kernels do not.
"""

from __future__ import annotations

import torch

from lab1.host import machine

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
    capability = machine.cuda_capability(dev) if dev.type == "cuda" else None
    if capability is None or capability[0] < 8:
        return False, False
    return bool(torch.backends.cudnn.allow_tf32), bool(torch.backends.cuda.matmul.allow_tf32)


def use_channels_last(
    device: torch.device, precision: str = "fp32", requested: bool | None = None
) -> bool:
    """Whether a run on ``device`` in ``precision`` uses channels_last: as requested, else
    the measured default (on for CUDA; CPU_CHANNELS_LAST on CPU)."""
    if requested is not None:
        return requested
    return device.type == "cuda" or (device.type == "cpu" and CPU_CHANNELS_LAST[precision])
