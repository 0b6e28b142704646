"""Known noise from native libraries, kept off the terminal while lab1 profiles.

torch.profiler's C++ side writes straight to file descriptor 2, past Python's logging. On a
machine without a GPU a successful run printed, per process: kineto's
``ERROR:... DeviceProperties.cpp:56] gpuGetDeviceCount failed with code 35`` (CUDA's "no
driver": expected here, not a failure), c10's ``Memory block of unknown size was allocated
before the profiling started`` (the report already says the profiled memory covers the
profiled steps only) and a ``USDT: ... profiler_start`` / ``profiler_stop`` pair per profile.

The libraries' own switches are too coarse: ``KINETO_LOG_LEVEL`` is read once per process and
would hide every kineto error (CUPTI's, on a GPU run, carry information), and
``TORCH_CPP_LOG_LEVEL`` must be set before torch loads and hides every C++ warning. So fd 2 is
filtered instead, for those lines only and only around profiling; every other byte passes.
With the ``lab1`` logger at DEBUG (``LAB1_LOG_LEVEL=DEBUG``) nothing is filtered.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator

log = logging.getLogger("lab1.nativelog")

NOISE = (
    re.compile(rb"DeviceProperties\.cpp:\d+\] gpuGetDeviceCount failed with code \d+"),
    re.compile(rb"CPUAllocator\.cpp:\d+\] Memory block of unknown size was allocated before"),
    re.compile(rb"^USDT:.*SyncActivityProfilerHandler\.cpp:\d+\] profiler_(start|stop)\s*$"),
)


def _pump(read_fd: int, out_fd: int, patterns: tuple[re.Pattern, ...], dropped: list) -> None:
    """Copy read_fd to out_fd line by line until EOF, keeping back lines that match."""
    pending = b""
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                if any(p.search(line) for p in patterns):
                    dropped.append(line.decode(errors="replace"))
                else:
                    os.write(out_fd, line + b"\n")
    if pending:
        os.write(out_fd, pending)


@contextlib.contextmanager
def native_noise_filtered(patterns: tuple[re.Pattern, ...] = NOISE) -> Iterator[list[str]]:
    """Route fd 2 through a filter for the duration; yields the list of lines kept back."""
    dropped: list[str] = []
    if log.isEnabledFor(logging.DEBUG):
        yield dropped
        return
    sys.stderr.flush()
    saved = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    pump = threading.Thread(
        target=_pump, args=(read_fd, saved, patterns, dropped), name="lab1-stderr", daemon=True
    )
    pump.start()
    try:
        yield dropped
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last write end closes: the pump reads EOF and ends
        pump.join(timeout=10)
        if not pump.is_alive():  # else a child still holds the pipe: the pump keeps `saved`
            os.close(saved)
