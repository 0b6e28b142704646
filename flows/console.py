"""What reaches the terminal, and what only the run's log file keeps.

A known error (lab1.errors.Lab1Error) ends a run in one line that the CLI prints. On the way
out Prefect logs it again with its traceback, and then the Failed state of the task, the
subflow and the flow; on the terminal that was 40 to 300 lines for one known fault. Those
records go to the run's ``run.log`` only (RunLog), with every traceback, and the terminal keeps
the normal progress lines and the CLI's one line.

Where the output is a terminal, progress (lab1.progress: the batches of an epoch, the configs
being profiled) is a bar under the lines instead of a line every few batches (Bars); a pipe, a
file, CI or a dumb terminal gets the plain lines, with no control characters.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.default_styles import DEFAULT_STYLES
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.theme import Theme

from lab1.atomic import disk_errno
from lab1.errors import Lab1Error
from lab1.progress import EXTRA, Tick

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


def on_terminal(stream) -> bool:
    """Bars only where a person watches them: stdout and the log's stream both a terminal (so
    that nothing meant for a pipe is drawn on), not in CI, not on a dumb terminal. NO_COLOR
    keeps the bars, without colour (the convention is about colour only)."""
    ci = os.environ.get("CI", "").lower() not in ("", "0", "false")
    dumb = os.environ.get("TERM", "") in ("dumb", "unknown")
    ttys = all(getattr(s, "isatty", lambda: False)() for s in (sys.stdout, stream))
    return ttys and not ci and not dumb


class Bars(logging.Filter):
    """On a terminal's console handler: a record that carries a lab1.progress.Tick moves its
    bar (one per kind of work, drawn under the lines) and is printed only where the tick says
    ``line``; ``done == total`` ends the bar. Every other record prints above the bars."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        # Prefect's console has its own styles only (Theme(inherit=False)): add rich's for bars.
        console.push_theme(
            Theme({k: v for k, v in DEFAULT_STYLES.items() if k.startswith(("bar.", "progress."))})
        )
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,  # a finished bar leaves no line: the epoch's own line says it
            refresh_per_second=4,  # the clock's tick; a few redraws a second cost nothing
        )
        self.tasks: dict[str, TaskID] = {}
        self.lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        tick = getattr(record, EXTRA, None)
        if not isinstance(tick, Tick):
            return True
        if tick.done >= tick.total:
            self.end(tick.bar)
        else:
            self.move(tick)
        return tick.line

    def move(self, tick: Tick) -> None:
        with self.lock:
            if not self.tasks:
                self.progress.start()
            if tick.bar not in self.tasks:
                self.tasks[tick.bar] = self.progress.add_task(tick.label, total=tick.total)
            self.progress.update(
                self.tasks[tick.bar], description=tick.label, completed=tick.done, total=tick.total
            )

    def end(self, bar: str | None = None) -> None:
        """End ``bar`` (every bar: None); the display goes with the last."""
        with self.lock:
            for name in [bar] if bar is not None else list(self.tasks):
                if name in self.tasks:
                    self.progress.remove_task(self.tasks.pop(name))
            if not self.tasks:
                self.progress.stop()


_bars: list[Bars] = []  # the installed Bars (none in a pipe)


def end_bars(bar: str | None = None) -> None:
    """End a bar (a device's profiling is done), or every bar (a new step starts, the
    command ends); nothing where no bar is drawn."""
    for bars in _bars:
        bars.end(bar)


def install() -> None:
    """For the CLI process: the filters on Prefect's console handler(s) (known errors, and the
    bars on a terminal), and the thread hook."""
    for handler in logging.getLogger().handlers:
        if type(handler).__name__ == "PrefectConsoleHandler":
            handler.addFilter(KnownErrorFilter())
            drawn = any(isinstance(f, Bars) for f in handler.filters)
            if not drawn and on_terminal(handler.stream):
                _bars.append(Bars(handler.console))
                handler.addFilter(_bars[-1])
                # The terminal's cursor and last line as they were, however the command ends.
                atexit.register(_bars[-1].end)
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
