"""The thread axis: how many CPU threads torch's intra-op pool uses for a config."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

ALL = "all"


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's core count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def resolve_threads(spec: tuple[str, ...] | list[str], device: str) -> list[int]:
    """``("1", "all")`` → ``[1, 2]`` on a 2-CPU machine, duplicates dropped. A GPU config gets
    the process's own thread count only: its host threads are not the axis studied there."""
    if device != "cpu":
        return [torch.get_num_threads()]
    counts = [available_cpus() if s == ALL else int(s) for s in spec]
    return sorted(set(counts))


@contextmanager
def using_threads(threads: int) -> Iterator[None]:
    """torch's intra-op thread count set for the block, the previous one restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
