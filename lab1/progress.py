"""Where long work is, said once for a pipe and for a terminal.

A progress line is a log record that carries a Tick (``log.info(..., extra=tick.extra())``).
In a pipe, a file or CI every such line is printed as it is; where the output is a terminal the
CLI (flows.console) moves a bar by the ticks instead, and prints only the lines a person reads
back later (``line=True``: an epoch's result, the config being profiled), not one per batch.
lab1 only logs: it never draws on a terminal itself.
"""

from __future__ import annotations

from dataclasses import dataclass

EXTRA = "lab1_tick"  # the LogRecord attribute a Tick is under


@dataclass(frozen=True)
class Tick:
    """``bar``'s work is ``done`` of ``total`` (``done == total`` ends the bar), now at
    ``label``; ``line``: the record is also a line on a terminal, not only the bar's."""

    bar: str
    label: str
    done: int
    total: int
    line: bool = False

    def extra(self) -> dict[str, Tick]:
        return {EXTRA: self}
