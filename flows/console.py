"""What reaches the terminal, and what only the run's log file keeps.

A known error (lab1.errors.Lab1Error) ends a run in one line that the CLI prints. On the way
out Prefect logs it again with its traceback, and then the Failed state of the task, the
subflow and the flow; on the terminal that was 40 to 300 lines for one known fault. Those
records go to the run's ``run.log`` only (RunLog), with every traceback, and the terminal keeps
the normal progress lines and the CLI's one line.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lab1.atomic import disk_errno
from lab1.errors import Lab1Error

# Records for run.log only: tracebacks the terminal must not show (never propagates).
FILE_ONLY = logging.getLogger("lab1.runlog")
FILE_ONLY.propagate = False
FILE_ONLY.setLevel(logging.DEBUG)
_FORMAT = "%(asctime)s | %(levelname)-7s | %(name)s - %(message)s"


# Prefect's Failed-state lines: "… encountered an exception CheckpointError: …".
_FAILED_ON = re.compile(r"encountered an exception:? (\w+):")


def _known_names(cls: type = Lab1Error) -> set[str]:
    return {cls.__name__}.union(*(_known_names(sub) for sub in cls.__subclasses__()))


class KnownErrorFilter(logging.Filter):
    """On the console handler: drop the records Prefect logs about a Lab1Error (the exception
    with its traceback, the Failed states of task, subflow and flow); the CLI prints its line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, Lab1Error):
            return False
        if not record.name.startswith("prefect"):
            return True
        failed = _FAILED_ON.search(record.getMessage())
        return not (failed and failed.group(1) in _known_names())


def _thread_hook(args: threading.ExceptHookArgs) -> None:
    """TensorBoard writes events from a background thread; a full disk there would print a
    traceback. The main thread's next write raises it again, as one DiskError line."""
    if args.exc_value is not None and disk_errno(args.exc_value) is not None:
        FILE_ONLY.warning("in thread %s", args.thread, exc_info=args.exc_value)
        return
    threading.__excepthook__(args)


def install() -> None:
    """For the CLI process: the filter on Prefect's console handler(s), and the thread hook."""
    for handler in logging.getLogger().handlers:
        if type(handler).__name__ == "PrefectConsoleHandler":
            handler.addFilter(KnownErrorFilter())
    threading.excepthook = _thread_hook


class _RunLogHandler(logging.FileHandler):
    """Appends to run.log (a log, not an output: appended line by line, not written atomically).
    On a full disk it stops writing quietly instead of printing logging's own traceback."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8", delay=True)
        self.setFormatter(logging.Formatter(_FORMAT))
        self.broken = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.broken:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        self.broken = True


@contextmanager
def run_log(path: Path) -> Iterator[None]:
    """Every record of this process (Prefect's, lab1's, FILE_ONLY's) also goes to ``path``."""
    handler = _RunLogHandler(path)
    loggers = (logging.getLogger(), FILE_ONLY)
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        handler.close()
