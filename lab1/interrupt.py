"""SIGTERM and Ctrl-C as a request to stop at the next safe point, not as a crash.

The handler only records the signal; the work checks it where stopping loses nothing (between
training batches, between profiled phases, between pipeline steps, while waiting for a device)
and raises Interrupted there. A checkpoint is never half-written (lab1.atomic), and a stop
mid-epoch resumes from the last whole epoch. A second signal stops at once.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from lab1.errors import Interrupted

log = logging.getLogger("lab1.interrupt")

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_requested: int | None = None


def _handler(signum: int, frame: object) -> None:
    global _requested
    if _requested is not None:
        raise Interrupted(signum)
    _requested = signum
    log.warning(
        "%s received: stopping at the next safe point (send it again to stop at once)",
        signal.Signals(signum).name,
    )


@contextmanager
def handling() -> Iterator[None]:
    """Within: SIGINT and SIGTERM request a stop (main thread only; a no-op elsewhere); the
    previous handlers come back on exit.

    The CLI enters it before the flow starts, the flow body again: Prefect's engine installs
    its own SIGTERM handler for a flow run, which kills the process at once (leaving the
    temporary server behind).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _handler) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def requested() -> int | None:
    """The signal that asked to stop, if one did."""
    return _requested


def check() -> None:
    """A safe point: raise Interrupted if a stop was requested."""
    if _requested is not None:
        raise Interrupted(_requested)


def reset() -> None:
    """Forget a request (a test's own process, between runs)."""
    global _requested
    _requested = None
