"""Capture the machine and software a run used: the lab report's environment table, and the
machine's id that every measured table row carries."""

from __future__ import annotations

import hashlib
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import torch

from lab1.host import machine
from lab1.host.allocator import glibc
from lab1.host.devices import device_name
from lab1.host.exclusive import busy_seconds

PACKAGES = ("torch", "torchvision", "prefect", "tensorboard", "pyarrow", "numpy", "mlxtend")


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
    """The GPUs as the environment table lists them (lab1.host.machine reads or is described)."""
    return [
        {"index": i, "name": g.name, "memory_bytes": g.memory_bytes, "capability": g.capability}
        for i, g in enumerate(machine.gpus())
    ]


def machine_key(cpu: str, cores: int | None, gpu_list: list[str], hostname: str) -> str:
    """The id of a machine described by its CPU model, logical core count, GPU models (their
    count included) and host name: 12 hex digits of their SHA-256 (order of GPUs ignored)."""
    text = "\n".join([cpu, str(cores), ",".join(sorted(gpu_list)), hostname])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def machine_id() -> str:
    """This machine's id (machine_key of what it is now): the same on every call and in every
    process of the machine, different on another machine or after a CPU or GPU change. The
    one source of the ``machine_id`` column (measured_on) and of the manifest's."""
    return machine_key(
        machine.cpu_model(), machine.logical_cores(), machine.gpu_models(), machine.hostname()
    )


def measured_on(device: str) -> dict[str, str]:
    """Where a row was measured, as its columns: this machine's id, the device and its model.
    Every measuring module (profiling, the ladder, the limits) takes them from here."""
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
    # What this system has no source for (UNMEASURED keys): its values are None, never a guess.
    unmeasured: list[str] = field(default_factory=list)
    # True where LAB1_MACHINE described the machine (lab1.host.machine): the table is the
    # description's, the measurements the real machine's; the report says so.
    described: bool = False


# What has a Linux-only source (or none for a device), in the report's order; the words for
# each are lab1.catalog.UNMEASURED.
UNMEASURED = (
    "cpu_flags",  # /proc/cpuinfo: the CPU's feature flags, so native bf16 support
    "contention",  # /proc/stat: other processes' CPU time during a measurement
    "allocator",  # glibc: keep_heap_mapped (lab1.host.allocator)
    "memory",  # /proc/meminfo, sysctl, GlobalMemoryStatusEx, sysconf: none answered
    "device_time",  # mps: torch.profiler does not trace its kernels (decided per run)
)


def unmeasured_here(memory_bytes: int | None) -> list[str]:
    """The UNMEASURED keys this system lacks a source for (device_time: decided per run)."""
    gaps = {
        "cpu_flags": machine.cpu_flags() is None,
        "contention": busy_seconds() is None,
        "allocator": not glibc(),
        "memory": memory_bytes is None,
    }
    return [k for k, missing in gaps.items() if missing]


def capture_environment() -> Environment:
    gpu_list, memory = gpus(), machine.memory_bytes()
    return Environment(
        os=_os_name(),
        kernel=platform.release(),
        machine=platform.machine(),
        cpu_model=machine.cpu_model(),
        vcpus=machine.logical_cores(),
        memory_bytes=memory,
        torch_threads=torch.get_num_threads(),
        python=platform.python_version(),
        packages=package_versions(),
        cuda_available=torch.cuda.is_available(),
        cuda_version=torch.version.cuda,
        cudnn_version=torch.backends.cudnn.version() if torch.cuda.is_available() else None,
        gpu_count=len(gpu_list),
        gpus=gpu_list,
        hostname=machine.hostname(),
        gpu_models=machine.gpu_models(),
        machine_id=machine_id(),
        unmeasured=unmeasured_here(memory),
        described=machine.described() is not None,
    )
