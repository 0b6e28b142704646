"""Capture the machine and software a run used: the lab report's environment table, and the
machine's id that every measured table row carries."""

from __future__ import annotations

import hashlib
import os
import platform
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import torch

from lab1.allocator import glibc
from lab1.devices import cpu_flags
from lab1.exclusive import busy_seconds

PACKAGES = ("torch", "torchvision", "prefect", "tensorboard", "pyarrow", "numpy", "mlxtend")
# Linux's own sources; elsewhere the portable ones below, and what has none stays unknown (None).
PROC_CPUINFO = Path("/proc/cpuinfo")
PROC_MEMINFO = Path("/proc/meminfo")


def _sysctl(name: str) -> str | None:
    """``sysctl -n name`` on macOS (machdep.cpu.brand_string, hw.memsize), None elsewhere."""
    if platform.system() != "Darwin":
        return None
    try:
        out = subprocess.run(
            ["sysctl", "-n", name], capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _windows_cpu_name() -> str | None:
    if sys.platform != "win32":
        return None
    try:
        import winreg

        key = r"HARDWARE\DESCRIPTION\System\CentralProcessor\0"
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, key) as k:
            return str(winreg.QueryValueEx(k, "ProcessorNameString")[0]).strip() or None
    except OSError:
        return None


def cpu_model() -> str:
    """The CPU's marketing name: /proc/cpuinfo (Linux), sysctl (macOS), the registry (Windows),
    else whatever platform knows (an architecture at worst, never a blank)."""
    try:
        for line in PROC_CPUINFO.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return (
        _sysctl("machdep.cpu.brand_string")
        or _windows_cpu_name()
        or platform.processor()
        or platform.machine()
    )


def _windows_memory_bytes() -> int | None:
    if sys.platform != "win32":
        return None
    import ctypes

    class MemoryStatusEx(ctypes.Structure):  # GlobalMemoryStatusEx's MEMORYSTATUSEX
        _fields_ = [
            ("dwLength", ctypes.c_ulong),
            ("dwMemoryLoad", ctypes.c_ulong),
            ("ullTotalPhys", ctypes.c_ulonglong),
            ("ullAvailPhys", ctypes.c_ulonglong),
            ("ullTotalPageFile", ctypes.c_ulonglong),
            ("ullAvailPageFile", ctypes.c_ulonglong),
            ("ullTotalVirtual", ctypes.c_ulonglong),
            ("ullAvailVirtual", ctypes.c_ulonglong),
            ("ullAvailExtendedVirtual", ctypes.c_ulonglong),
        ]

    status = MemoryStatusEx(dwLength=ctypes.sizeof(MemoryStatusEx))
    if not ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):
        return None
    return int(status.ullTotalPhys)


def _sysconf_memory_bytes() -> int | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # no os.sysconf, or not this name here
        return None
    return pages * size if pages > 0 and size > 0 else None


def _memory_bytes() -> int | None:
    """Physical memory: /proc/meminfo, sysctl hw.memsize, Windows' GlobalMemoryStatusEx or
    sysconf; None where none answers."""
    try:
        for line in PROC_MEMINFO.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    memsize = _sysctl("hw.memsize")
    if memsize is not None and memsize.isdigit():
        return int(memsize)
    return _windows_memory_bytes() or _sysconf_memory_bytes()


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
    # What this system has no source for (UNMEASURED keys): its values are None, never a guess.
    unmeasured: list[str] = field(default_factory=list)


# What has a Linux-only source (or none for a device), in the report's order; the words for
# each are lab1.report.words.UNMEASURED and lab1.report.zh.UNMEASURED.
UNMEASURED = (
    "cpu_flags",  # /proc/cpuinfo: the CPU's feature flags, so native bf16 support
    "contention",  # /proc/stat: other processes' CPU time during a measurement
    "allocator",  # glibc: keep_heap_mapped (lab1.allocator)
    "memory",  # /proc/meminfo, sysctl, GlobalMemoryStatusEx, sysconf: none answered
    "device_time",  # mps: torch.profiler does not trace its kernels (decided per run)
)


def unmeasured_here(memory_bytes: int | None) -> list[str]:
    """The UNMEASURED keys this system lacks a source for (device_time: decided per run)."""
    gaps = {
        "cpu_flags": cpu_flags() is None,
        "contention": busy_seconds() is None,
        "allocator": not glibc(),
        "memory": memory_bytes is None,
    }
    return [k for k, missing in gaps.items() if missing]


def capture_environment() -> Environment:
    gpu_list, memory = gpus(), _memory_bytes()
    return Environment(
        os=_os_name(),
        kernel=platform.release(),
        machine=platform.machine(),
        cpu_model=cpu_model(),
        vcpus=os.cpu_count(),
        memory_bytes=memory,
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
        unmeasured=unmeasured_here(memory),
    )
