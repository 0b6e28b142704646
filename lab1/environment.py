"""Capture the machine and software a run used: the lab report's environment table, and the
machine's id that every measured table row carries."""

from __future__ import annotations

import hashlib
import os
import platform
import socket
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


def gpu_models() -> list[str]:
    """The machine's GPU models, one entry per GPU: the NVIDIA driver's list where it has one
    (every GPU of the machine, whatever CUDA_VISIBLE_DEVICES hides from this process, so a
    worker that sees one GPU and a flow that sees all agree on the machine), else torch's."""
    models = []
    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        try:
            lines = info.read_text().splitlines()
        except OSError:
            continue
        models += [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("Model:")]
    return models or [g["name"] for g in gpus()]


def machine_key(cpu: str, cores: int | None, gpu_list: list[str], hostname: str) -> str:
    """The id of a machine described by its CPU model, logical core count, GPU models (their
    count included) and host name: 12 hex digits of their SHA-256 (order of GPUs ignored)."""
    text = "\n".join([cpu, str(cores), ",".join(sorted(gpu_list)), hostname])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def machine_id() -> str:
    """This machine's id (machine_key of what it is now): the same on every call and in every
    process of the machine, different on another machine or after a CPU or GPU change. The
    one source of the ``machine_id`` column (measured_on) and of the manifest's."""
    return machine_key(cpu_model(), os.cpu_count(), gpu_models(), socket.gethostname())


def measured_on(device: str) -> dict[str, str]:
    """Where a row was measured, as its columns: this machine's id, the device and its model.
    Every measuring module (profiling, the ladder, the limits) takes them from here."""
    from lab1.devices import device_name  # devices imports this module

    return {"machine_id": machine_id(), "device": device, "device_name": device_name(device)}


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
    # The machine's identity (manifest schema 2; None in a schema-1 manifest): the id every
    # table row of the run carries (machine_id), and the host name and GPU models it hashes.
    hostname: str | None = None
    gpu_models: list[str] | None = None
    machine_id: str | None = None


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
        hostname=socket.gethostname(),
        gpu_models=gpu_models(),
        machine_id=machine_id(),
    )
