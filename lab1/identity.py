"""A configuration's identity, defined once: its columns, its order and its label in each
report language.

A configuration is what was measured: on which machine (``machine_id``, lab1.host.environment),
which device, in which precision, at how many CPU threads and at which batch size. Every table
row carries these columns (lab1.schemas takes its schema fields from ``fields``); the phase
(train_step, inference) is a column of its own, beside the identity. Code that groups, merges,
sorts or names configurations does it through this module, so a new axis is added here once:

* ``IDENTITY`` the columns; ``PANEL`` a config less its batch size (what a batch-size sweep is
  compared within); ``axes_except`` the keys of a comparison along one axis (fp32 vs bf16 on the
  same machine, device, threads and batch: ``axes_except("precision")``);
* ``ordered`` the one display order: machines (the caller's ``home`` first, then by id), cpu
  before other devices (by name), fp32 before bf16, threads ascending, then the phase
  (train_step before inference), then batch sizes ascending: a config's batch-size sweep of
  each phase reads as one block (the report passes no ``home`` yet: a run's rows normally come
  from one machine; where workers on other hosts profiled some configs, machines follow by id);
* ``named`` / ``labels`` what a reader sees: ``cpu``, ``cpu bf16``, ``cpu bf16 · 1 thread``
  (zh: ``CPU``, ``CPU bf16``, ``CPU bf16 · 1 线程``). The device is always named; the precision
  where it is not the reference fp32; the thread count where the same device of the same
  machine ran at several among the rows named (or where a sentence asks for it); the machine,
  as ``[<machine_id>]`` in front, only where the rows come from more than one machine. An axis
  the caller shows in a column of its own (``beside``) is left out of the label.

A table may hold only part of the identity (the limits have no precision or batch size): an
axis whose column a frame lacks is simply not part of that frame's identity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from lab1.catalog import AXES
from lab1.config import PRECISIONS
from lab1.config import REPORT_LANGUAGES as LANGUAGES

IDENTITY = ("machine_id", "device", "precision", "threads", "batch_size")
PANEL = IDENTITY[:-1]  # a config less its batch size
PHASES = ("train_step", "inference")  # the profiled phases, in display order

_TYPES = {
    "machine_id": pa.string(),  # lab1.host.environment.machine_id: where the row was measured
    "device": pa.string(),  # as requested: cpu, cuda, cuda:1 …
    "precision": pa.string(),  # fp32 | bf16 (torch.autocast)
    "threads": pa.int32(),  # torch's intra-op CPU threads (lab1.host.threads)
    "batch_size": pa.int32(),
}


def fields(*names: str) -> list[pa.Field]:
    """The identity's columns (all of them, or those named) as never-null schema fields, in
    the identity's order."""
    unknown = set(names) - set(IDENTITY)
    if unknown:
        raise ValueError(f"not identity columns: {sorted(unknown)}")
    return [pa.field(n, _TYPES[n], nullable=False) for n in IDENTITY if not names or n in names]


def axes_except(*names: str) -> list[str]:
    """The identity's columns less ``names``: the keys two rows must share to be compared
    along the axes left out."""
    return [n for n in IDENTITY if n not in names]


@dataclass(frozen=True)
class ConfigId:
    """One configuration. None: an axis the row's table does not hold (the limits have no
    precision), or, for the batch size, a statement about every batch size of a sweep."""

    machine_id: str
    device: str
    precision: str | None = None
    threads: int | None = None
    batch_size: int | None = None

    @classmethod
    def of(cls, row) -> ConfigId:
        """The identity of a row (itertuples' tuple, a Series or a dict)."""
        get = row.get if isinstance(row, dict) else lambda n, d=None: getattr(row, n, d)
        threads, bs = get("threads"), get("batch_size")
        return cls(
            machine_id=get("machine_id"),
            device=get("device"),
            precision=get("precision"),
            threads=None if threads is None else int(threads),
            batch_size=None if bs is None else int(bs),
        )


@dataclass(frozen=True)
class Label:
    """A config as a reader sees it: which of its axes the sentence or cell names."""

    config: ConfigId
    threads: bool = False  # name the thread count
    machine: bool = False  # name the machine (rows from more than one machine)
    precision: bool = True  # name a precision other than fp32

    def text(self, lang: str = "en") -> str:
        if lang not in LANGUAGES:
            raise ValueError(f"label language {lang!r} is not one of {LANGUAGES}")
        c = self.config
        out = c.device.upper() if lang == "zh" else c.device
        if self.precision and c.precision is not None and c.precision != PRECISIONS[0]:
            out += f" {c.precision}"
        if self.threads and c.threads is not None:
            n = c.threads
            out += " · " + AXES["thread" if n == 1 else "threads"].of(lang).format(n=n)
        if self.machine:
            out = f"[{c.machine_id}] {out}"
        return out


def spelled_out(config: ConfigId, lang: str = "en") -> str:
    """A config named on its own, as a log line or a one-off message needs it: the report's
    label with every axis it holds (the thread count always, the precision where not fp32),
    then the batch size: ``cpu · 1 thread · batch 64``, ``cpu bf16 · 2 threads · batch 16``
    (zh: ``CPU · 1 线程 · 批大小 64``). The machine is the one the log runs on: not named."""
    text = Label(config, threads=True).text(lang)
    if config.batch_size is not None:
        text += " · " + AXES["batch"].of(lang).format(n=config.batch_size)
    return text


def named(df: pd.DataFrame, *, beside: Iterable[str] = (), show: Iterable[str] = ()) -> list[Label]:
    """Each row's Label, by the rule of this module's docstring: the thread count where the
    row's machine and device ran at several among ``df``'s rows, the machine where ``df`` holds
    more than one. ``beside``: axes the caller shows in columns of their own (never in the
    label); ``show``: axes named on every row (a sentence that states the thread count)."""
    beside, show = set(beside), set(show)
    configs = [ConfigId.of(r) for r in df.itertuples(index=False)]
    machines = {c.machine_id for c in configs}
    counts: dict[tuple, set] = {}
    for c in configs:
        counts.setdefault((c.machine_id, c.device), set()).add(c.threads)
    return [
        Label(
            c,
            threads="threads" not in beside
            and ("threads" in show or len(counts[c.machine_id, c.device]) > 1),
            machine="machine_id" not in beside and ("machine_id" in show or len(machines) > 1),
            precision="precision" not in beside,
        )
        for c in configs
    ]


def labels(
    df: pd.DataFrame, lang: str = "en", *, beside: Iterable[str] = (), show: Iterable[str] = ()
) -> list[str]:
    """Each row's label text in ``lang`` (see named)."""
    return [lab.text(lang) for lab in named(df, beside=beside, show=show)]


def _device_rank(device: str) -> tuple:
    return (not device.startswith("cpu"), device)


def _rank(value, order: tuple) -> int:
    return order.index(value) if value in order else len(order)


def ordered(df: pd.DataFrame, *keys: str, home: str | None = None) -> pd.DataFrame:
    """``df``'s rows in the display order (module docstring), then by ``keys``. ``home``: the
    machine listed first (the caller's own run's); the others follow by id."""
    ranks = {
        "machine_id": lambda m: (m != home, m),
        "device": _device_rank,
        "precision": lambda p: _rank(p, PRECISIONS),
        "threads": int,
        "phase": lambda p: _rank(p, PHASES),
        "batch_size": int,
    }
    ranks = {f"_{c}": df[c].map(f) for c, f in ranks.items() if c in df}
    by = list(dict.fromkeys([*ranks, *keys]))
    return (
        df.assign(**ranks)
        .sort_values(by, kind="stable")
        .drop(columns=list(ranks))
        .reset_index(drop=True)
    )
