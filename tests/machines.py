"""Machines described to lab1 through its one seam (lab1.host.machine, LAB1_MACHINE), so the tests
run the lab's machine-aware parts as a student's laptop, a Mac or a Xeon on whatever machine
runs them. Expectations about the machine come from here (the description a test gives) or
from what a test reads of the machine at hand itself, never from a list typed into a test.

``LAB1_TEST_MACHINE=<name>`` runs a whole pytest session as one of these (conftest), e.g.
``LAB1_TEST_MACHINE=apple-m2-pro .venv/bin/python -m pytest tests/e2e/test_precision.py``;
``make test-machines`` runs the machine-aware files as each."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from lab1.host import machine
from lab1.host.machine import ENV_VAR, Gpu, Machine, described

GIB = 2**30

# Flags as Linux lists them on each (a subset: the ones any lab1 decision could read, plus
# their neighbours, so no test can pass by a flag list being empty).
_X86 = "fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma f16c bmi1 bmi2 popcnt"
_AVX512 = "avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni avx512ifma avx512vbmi"

MACHINES: dict[str, Machine] = {
    # A student's Intel laptop: Alder Lake, AVX-512 fused off, no native bf16.
    "intel-laptop": Machine(
        cpu_model="12th Gen Intel(R) Core(TM) i7-1260P",
        cpu_flags=frozenset(f"{_X86} avx_vnni".split()),
        logical_cores=16,
        memory_bytes=16 * GIB,
        hostname="student-laptop",
    ),
    # An AMD laptop: Zen 4 mobile, AVX-512 with bf16.
    "amd-laptop": Machine(
        cpu_model="AMD Ryzen 7 7840U w/ Radeon 780M Graphics",
        cpu_flags=frozenset(f"{_X86} {_AVX512} avx512_bf16".split()),
        logical_cores=16,
        memory_bytes=32 * GIB,
        hostname="ryzen-laptop",
    ),
    # A Mac: no /proc at all, so no flags (bf16 undetermined) and no /proc/stat.
    "apple-m2-pro": Machine(
        cpu_model="Apple M2 Pro",
        cpu_flags=None,
        logical_cores=12,
        memory_bytes=32 * GIB,
        hostname="macbook-pro",
        linux_proc=False,
    ),
    # The Intel Xeon CI ran on: AMX and AVX512-BF16.
    "xeon-amx": Machine(
        cpu_model="Intel(R) Xeon(R) Processor",
        cpu_flags=frozenset(f"{_X86} {_AVX512} avx512_bf16 amx_bf16 amx_tile amx_int8".split()),
        logical_cores=2,
        memory_bytes=24 * GIB,
        hostname="ci-xeon",
    ),
    # An AMD EPYC (Zen 4) VM: AVX512-BF16, no AMX.
    "epyc-bf16": Machine(
        cpu_model="AMD EPYC",
        cpu_flags=frozenset(f"{_X86} {_AVX512} avx512_bf16".split()),
        logical_cores=2,
        memory_bytes=24 * GIB,
        hostname="ci-epyc",
    ),
    # A GPU server: two Hopper GPUs beside a server CPU.
    "h100-server": Machine(
        cpu_model="Intel(R) Xeon(R) Platinum 8480+",
        cpu_flags=frozenset(f"{_X86} {_AVX512} avx512_bf16 amx_bf16 amx_tile".split()),
        logical_cores=224,
        memory_bytes=2048 * GIB,
        hostname="gpu-node-07",
        gpus=(Gpu("NVIDIA H100 80GB HBM3", 80 * GIB, "9.0"),) * 2,
    ),
}

# The laptops and servers a class brings: each must run the machine-aware tests.
LAPTOPS_AND_SERVERS = ("intel-laptop", "amd-laptop", "apple-m2-pro", "xeon-amx", "epyc-bf16")
BF16_FLAGS = {"amx_bf16", "avx512_bf16"}  # Intel's and AMD's names, from their manuals


def native_bf16(m: Machine) -> bool | None:
    """Whether the description's CPU has native bf16; None: unknown (no flags)."""
    return None if m.cpu_flags is None else bool(m.cpu_flags & BF16_FLAGS)


def read_cpuinfo_flags() -> set[str] | None:
    """The machine at hand's flags, read by the test itself (not through lab1)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return None


def flags_here() -> set[str] | None:
    """The flags lab1 must see now: the session's description (LAB1_MACHINE) where there is
    one, else what /proc/cpuinfo says."""
    if (m := described()) is not None:
        return None if m.cpu_flags is None else set(m.cpu_flags)
    return read_cpuinfo_flags()


def cpu_has_native_bf16_here() -> bool | None:
    flags = flags_here()
    return None if flags is None else bool(flags & BF16_FLAGS)


def describe(monkeypatch, machine: Machine | str) -> Machine:
    """Describe ``machine`` (or a MACHINES name) to lab1 for one test; subprocesses inherit it."""
    m = MACHINES[machine] if isinstance(machine, str) else machine
    monkeypatch.setenv(ENV_VAR, m.to_json())
    return m


def with_bf16(m: Machine) -> Machine:
    """``m`` with AVX512-BF16 added: opens lab1's bf16 gate on a CPU that only emulates it
    (torch then runs the same bf16 code path, slower). For tests of bf16's behaviour."""
    return replace(
        m, cpu_flags=frozenset((m.cpu_flags or set()) | {"avx512_bf16"}), linux_proc=True
    )


def this_machine() -> Machine:
    """The machine at hand as one record: its description where there is one, else what lab1
    reads of it."""
    if (m := described()) is not None:
        return m
    flags = machine.cpu_flags()
    return Machine(
        cpu_model=machine.cpu_model(),
        cpu_flags=None if flags is None else frozenset(flags),
        logical_cores=machine.logical_cores(),
        memory_bytes=machine.memory_bytes(),
        hostname=machine.hostname(),
        gpus=tuple(machine.gpus()),
        linux_proc=machine.PROC_CPUINFO.exists() or machine.PROC_STAT.exists(),
    )
