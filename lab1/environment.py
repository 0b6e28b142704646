"""Capture the machine and software a run used: the lab report's environment table."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import torch

PACKAGES = ("torch", "torchvision", "prefect", "tensorboard", "pyarrow", "numpy", "mlxtend")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


def package_versions() -> dict[str, str | None]:
    """Installed versions, read from metadata (never imports the packages, prefect included)."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def gpus() -> list[dict]:
    if not torch.cuda.is_available():
        return []
    out = []
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        out.append(
            {
                "index": i,
                "name": p.name,
                "memory_bytes": p.total_memory,
                "capability": f"{p.major}.{p.minor}",
            }
        )
    return out


@dataclass
class Environment:
    """Everything the lab report's environment table asks for."""

    os: str
    kernel: str
    machine: str
    cpu_model: str
    vcpus: int | None
    memory_bytes: int | None
    torch_threads: int
    python: str
    packages: dict[str, str | None]
    cuda_available: bool
    cuda_version: str | None  # the CUDA torch was built with (None: a CPU build)
    cudnn_version: int | None
    gpu_count: int
    gpus: list[dict] = field(default_factory=list)  # index, name, memory_bytes, capability


def capture_environment() -> Environment:
    gpu_list = gpus()
    return Environment(
        os=_os_name(),
        kernel=platform.release(),
        machine=platform.machine(),
        cpu_model=cpu_model(),
        vcpus=os.cpu_count(),
        memory_bytes=_memory_bytes(),
        torch_threads=torch.get_num_threads(),
        python=platform.python_version(),
        packages=package_versions(),
        cuda_available=torch.cuda.is_available(),
        cuda_version=torch.version.cuda,
        cudnn_version=torch.backends.cudnn.version() if torch.cuda.is_available() else None,
        gpu_count=len(gpu_list),
        gpus=gpu_list,
    )
