"""What this machine is: its CPU model and feature flags, logical cores, memory, GPUs and host
name. The one place lab1 asks the hardware; every other module asks here.

Each reader consults a *description* first: ``LAB1_MACHINE`` holds a machine as JSON (the text
itself, or the path of a file with it), and then that machine is what lab1 sees. Tests use it to
run the lab's machine-aware parts as an Intel laptop, a Mac without /proc or a Xeon with AMX on
whatever machine runs them (CI, a student's laptop); a subprocess inherits it with the
environment. A description changes what lab1 *reports and decides* about the machine (the
environment table, the machine id, whether bf16 is native); it never makes a device run that
torch cannot run here, so described GPUs are listed, not used.

Imports nothing of lab1's but its errors: devices and environment build on it, one direction."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import torch

from lab1.errors import ConfigError

ENV_VAR = "LAB1_MACHINE"
# Linux's own sources; elsewhere the portable ones below, and what has none stays unknown (None).
PROC_CPUINFO = Path("/proc/cpuinfo")
PROC_MEMINFO = Path("/proc/meminfo")
PROC_STAT = Path("/proc/stat")
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")


@dataclass(frozen=True)
class Gpu:
    """One GPU as the environment table lists it."""

    name: str
    memory_bytes: int | None = None
    capability: str | None = None  # CUDA compute capability, "9.0"


@dataclass(frozen=True)
class Machine:
    """A machine as lab1 sees it. ``cpu_flags`` None: unknown (no /proc/cpuinfo flags line),
    not "no flags". ``linux_proc`` False: no /proc at all (macOS, Windows), so no flags and no
    /proc/stat for other processes' CPU time either."""

    cpu_model: str
    cpu_flags: frozenset[str] | None
    logical_cores: int | None
    memory_bytes: int | None
    hostname: str
    gpus: tuple[Gpu, ...] = field(default_factory=tuple)
    linux_proc: bool = True

    def __post_init__(self) -> None:
        if not self.cpu_model.strip():
            raise ConfigError(f"{ENV_VAR}: cpu_model must not be empty")
        if self.cpu_flags is not None and not self.linux_proc:
            raise ConfigError(f"{ENV_VAR}: cpu_flags come from /proc/cpuinfo; linux_proc is false")
        for name, value in (("logical_cores", self.logical_cores), ("memory", self.memory_bytes)):
            if value is not None and value < 1:
                raise ConfigError(f"{ENV_VAR}: {name} must be positive, got {value}")

    def to_json(self) -> str:
        data = asdict(self)
        data["cpu_flags"] = None if self.cpu_flags is None else sorted(self.cpu_flags)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Machine:
        try:
            data = json.loads(text)
            flags = data.pop("cpu_flags", None)
            gpus = tuple(Gpu(**g) for g in data.pop("gpus", ()))
            return cls(**data, cpu_flags=None if flags is None else frozenset(flags), gpus=gpus)
        except (json.JSONDecodeError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{ENV_VAR} is not a machine description: {exc}") from None


@lru_cache(maxsize=8)
def _parse(value: str) -> Machine:
    if value.lstrip().startswith("{"):
        return Machine.from_json(value)
    try:
        return Machine.from_json(Path(value).read_text())
    except OSError as exc:
        raise ConfigError(f"{ENV_VAR}={value}: cannot read it ({exc.strerror})") from None


def described() -> Machine | None:
    """The machine ``LAB1_MACHINE`` describes, or None where the real one is read."""
    value = os.environ.get(ENV_VAR)
    return _parse(value) if value else None


# --------------------------------------------------------------------------- the readers


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
    if (m := described()) is not None:
        return m.cpu_model
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


def cpu_flags() -> set[str] | None:
    """The CPU's feature flags as Linux lists them; None where /proc/cpuinfo (or its flags line)
    is absent (macOS, Windows): unknown, not "no flags"."""
    if (m := described()) is not None:
        return None if m.cpu_flags is None else set(m.cpu_flags)
    try:
        text = PROC_CPUINFO.read_text()
    except OSError:
        return None
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), None)
    return None if line is None else set(line.partition(":")[2].split())


def logical_cores() -> int | None:
    """The machine's logical CPUs (all of them; a process may be allowed fewer:
    lab1.host.threads)."""
    if (m := described()) is not None:
        return m.logical_cores
    return os.cpu_count()


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


def memory_bytes() -> int | None:
    """Physical memory: /proc/meminfo, sysctl hw.memsize, Windows' GlobalMemoryStatusEx or
    sysconf; None where none answers."""
    if (m := described()) is not None:
        return m.memory_bytes
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


def hostname() -> str:
    if (m := described()) is not None:
        return m.hostname
    return socket.gethostname()


def gpus() -> list[Gpu]:
    """The GPUs torch sees (index order), or the described ones."""
    if (m := described()) is not None:
        return list(m.gpus)
    if not torch.cuda.is_available():
        return []
    out = []
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        out.append(Gpu(p.name, p.total_memory, f"{p.major}.{p.minor}"))
    return out


def gpu_models() -> list[str]:
    """The machine's GPU models, one entry per GPU: the NVIDIA driver's list where it has one
    (every GPU of the machine, whatever CUDA_VISIBLE_DEVICES hides from this process, so a
    worker that sees one GPU and a flow that sees all agree on the machine), else torch's."""
    if (m := described()) is not None:
        return [g.name for g in m.gpus]
    models = []
    for info in sorted(NVIDIA_GPUS.glob("*/information")):
        try:
            lines = info.read_text().splitlines()
        except OSError:
            continue
        models += [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("Model:")]
    return models or [g.name for g in gpus()]


def cuda_capability(dev: torch.device) -> tuple[int, int] | None:
    """The compute capability of CUDA device ``dev`` itself (cuda:1 may be another GPU than
    cuda:0; ``cuda`` is cuda:0), None where there is no such GPU."""
    found = gpus()
    index = dev.index or 0
    if index >= len(found) or not found[index].capability:
        return None
    major, minor = found[index].capability.split(".")
    return int(major), int(minor)


def proc_stat_text() -> str | None:
    """Linux's /proc/stat (every process's CPU time), None where the machine has no /proc."""
    if (m := described()) is not None and not m.linux_proc:
        return None
    try:
        return PROC_STAT.read_text()
    except OSError:
        return None
