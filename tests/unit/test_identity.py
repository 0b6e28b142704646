"""One configuration identity (lab1.identity) and the machine id every table row carries:
a second machine's rows, made from a real small run's tables as a copied run would look, sort
and read correctly in both languages and never merge with this machine's."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from machines import GIB, describe
from rundirs import profiled_run

from lab1.compare.within import comparison_table, top_ops
from lab1.config import ProfileSchedule
from lab1.host import environment, machine
from lab1.host.machine import Gpu, Machine
from lab1.identity import ConfigId, Label, labels, ordered, spelled_out
from lab1.report import findings
from lab1.report.sentences import sentences
from lab1.rundir import RunPaths
from lab1.schemas import COMPARISON_SCHEMA, OP_STATS_SCHEMA, read_parquet, write_parquet

ROOT = Path(__file__).resolve().parents[2]
# Names and identities are the subject here, not timings: each block timed once.
SMALL = ProfileSchedule(wait=0, warmup=1, active=2, throughput_steps=3, min_block_s=0)
OTHER = "b0b0b0b0b0b0"  # the second machine's id, as its own run's tables would carry it


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A real run directory: cpu fp32 at 1 thread, batch 4, profiled and compared here."""
    return profiled_run(tmp_path_factory.mktemp("identity"), [("cpu", 4, 1)], SMALL)


def _tables(paths: RunPaths) -> tuple[pd.DataFrame, list[dict], pd.DataFrame]:
    cmp = read_parquet(paths.table("comparison"), COMPARISON_SCHEMA)
    (result,) = [json.loads(p.read_text()) for p in paths.profile_results()]
    ops = read_parquet(paths.table("op_stats"), OP_STATS_SCHEMA)
    return cmp, result["throughput"], ops


def _copied(df: pd.DataFrame, **changes) -> pd.DataFrame:
    """The rows as another machine's run directory holds them."""
    return df.assign(machine_id=OTHER, device_name="Other CPU 7000", **changes)


def test_every_row_carries_this_machines_id(run):
    mine = environment.machine_id()
    assert len(mine) == 12 and int(mine, 16) >= 0  # 12 hex digits
    for name in ("op_stats", "top10", "comparison", "share_change", "time_split", "roofline"):
        path = run.table(name)
        if path.is_file():
            df = pd.read_parquet(path)
            assert set(df["machine_id"]) <= {mine}, name


def test_a_second_machines_rows_sort_after_the_runs_own_and_are_named_in_both_languages(run):
    cmp, _, _ = _tables(run)
    mine = environment.machine_id()
    # The other machine ran the same config at 1 and at 4 threads, and in bf16 at 1 thread.
    other = pd.concat(
        [
            _copied(cmp),
            _copied(cmp, threads=4),
            _copied(cmp, precision="bf16"),
        ],
        ignore_index=True,
    )
    both = pd.concat([other, cmp], ignore_index=True)  # the copied run's rows come first here
    rows = ordered(both, home=mine)
    assert rows["machine_id"].tolist() == [mine] * 2 + [OTHER] * 6
    got = list(zip(rows["precision"], rows["threads"], rows["phase"], strict=True))
    assert got == [
        ("fp32", 1, "train_step"),
        ("fp32", 1, "inference"),
        ("fp32", 1, "train_step"),  # fp32 before bf16, then threads ascending
        ("fp32", 1, "inference"),
        ("fp32", 4, "train_step"),
        ("fp32", 4, "inference"),
        ("bf16", 1, "train_step"),
        ("bf16", 1, "inference"),
    ]
    assert ordered(both, home=OTHER)["machine_id"].tolist()[:6] == [OTHER] * 6
    # The machine is named because the rows come from two; the threads where a machine's
    # device ran at several counts (only on the other machine).
    assert labels(rows)[::2] == [
        f"[{mine}] cpu",
        f"[{OTHER}] cpu · 1 thread",
        f"[{OTHER}] cpu · 4 threads",
        f"[{OTHER}] cpu bf16 · 1 thread",
    ]
    assert labels(rows, "zh")[::2] == [
        f"[{mine}] CPU",
        f"[{OTHER}] CPU · 1 线程",
        f"[{OTHER}] CPU · 4 线程",
        f"[{OTHER}] CPU bf16 · 1 线程",
    ]
    assert labels(cmp) == ["cpu", "cpu"]  # one machine: not named
    # Sentences in both languages carry the same names.
    found = findings.profiling(both, None)
    en = " ".join(sentences(found))
    cn = " ".join(sentences(found, "zh"))
    assert f"[{OTHER}] cpu · 4 threads · train_step: " in en
    assert f"[{OTHER}] cpu bf16 · 1 thread · inference: " in en
    assert f"[{mine}] cpu · inference: " in en
    assert f"[{OTHER}] CPU · 4 线程 · 训练步：批大小 4 时" in cn
    assert f"[{OTHER}] CPU bf16 · 1 线程 · 推理：批大小 4 时" in cn


def test_labels_name_each_axis_as_written_by_hand():
    cpu_bf16 = ConfigId("a1", "cpu", "bf16", 1, 64)
    assert Label(cpu_bf16).text() == "cpu bf16"
    assert Label(cpu_bf16, threads=True).text("en") == "cpu bf16 · 1 thread"
    assert Label(cpu_bf16, threads=True).text("zh") == "CPU bf16 · 1 线程"
    gpu = ConfigId("a1", "cuda:1", "fp32", 16, 64)
    assert Label(gpu, threads=True, machine=True).text() == "[a1] cuda:1 · 16 threads"
    assert Label(gpu, precision=False).text("zh") == "CUDA:1"


def test_the_identity_round_trips_through_parquet(run, tmp_path):
    cmp, _, _ = _tables(run)
    both = pd.concat([cmp, _copied(cmp, threads=4, precision="bf16")], ignore_index=True)
    path = write_parquet(both, COMPARISON_SCHEMA, tmp_path / "comparison.parquet")
    back = read_parquet(path, COMPARISON_SCHEMA)
    expected = {
        ConfigId(environment.machine_id(), "cpu", "fp32", 1, 4),
        ConfigId(OTHER, "cpu", "bf16", 4, 4),
    }
    assert {ConfigId.of(r) for r in back.itertuples()} == expected
    assert labels(back, "zh") == labels(both, "zh")


def test_configs_differing_only_in_threads_or_only_in_machine_never_merge(run):
    _, throughput, ops = _tables(run)
    other_ops = _copied(ops)
    threads_ops = ops.assign(threads=4)
    top = top_ops(pd.concat([ops, other_ops, threads_ops], ignore_index=True))
    assert len(top) == 3 * len(top_ops(ops))  # ranked per config: none summed with another
    other = [dict(r, machine_id=OTHER, ms_per_step=2 * r["ms_per_step"]) for r in throughput]
    four = [dict(r, threads=4, ms_per_step=r["ms_per_step"] / 2) for r in throughput]
    table = comparison_table([*throughput, *other, *four], top, "run")
    assert len(table) == 3 * 2  # three configs × two phases
    by = table.set_index(["machine_id", "threads", "phase"])
    mine = environment.machine_id()
    # 4 threads against 1 on the same machine: twice as fast.
    assert by.loc[(mine, 4, "train_step"), "speedup_vs_1_thread"] == pytest.approx(2.0)
    # The other machine's 1-thread row is its own baseline, never this machine's.
    assert by.loc[(OTHER, 1, "train_step"), "speedup_vs_1_thread"] == pytest.approx(1.0)
    assert by.loc[(OTHER, 1, "inference"), "ms_per_step"] == pytest.approx(
        2 * by.loc[(mine, 1, "inference"), "ms_per_step"]
    )


def test_a_gpu_of_another_machine_is_not_compared_with_this_cpu(run):
    _, throughput, ops = _tables(run)
    gpu = [dict(r, machine_id=OTHER, device="cuda", device_name="Other GPU") for r in throughput]
    top = top_ops(pd.concat([ops, _copied(ops, device="cuda")], ignore_index=True))
    table = comparison_table([*throughput, *gpu], top, "run")
    on_gpu = table[table["device"] == "cuda"]
    assert len(on_gpu) == 2 and on_gpu["speedup_vs_cpu"].isna().all()  # no CPU ran there
    assert findings.speedups(table).empty
    # With the other machine's own CPU rows, its GPU is compared with them: 4× as fast.
    cpu = [dict(r, machine_id=OTHER, ms_per_step=4 * r["ms_per_step"]) for r in throughput]
    table = comparison_table([*throughput, *gpu, *cpu], top, "run")
    on_gpu = table[table["device"] == "cuda"]
    assert on_gpu["speedup_vs_cpu"].tolist() == [pytest.approx(4.0)] * 2


@pytest.mark.parametrize(
    ("config", "en", "zh"),
    [
        (ConfigId("m", "cpu", "fp32", 1, 64), "cpu · 1 thread · batch 64",
         "CPU · 1 线程 · 批大小 64"),
        (ConfigId("m", "cpu", "fp32", 2, 64), "cpu · 2 threads · batch 64",
         "CPU · 2 线程 · 批大小 64"),
        (ConfigId("m", "cpu", "bf16", 2, 16), "cpu bf16 · 2 threads · batch 16",
         "CPU bf16 · 2 线程 · 批大小 16"),
        (ConfigId("m", "cuda:1", "fp32", 8, 1), "cuda:1 · 8 threads · batch 1",
         "CUDA:1 · 8 线程 · 批大小 1"),
    ],
)  # fmt: skip
def test_a_config_spelled_out_names_every_axis_it_holds(config, en, zh):
    """A log line stands alone: the thread count is always named (two lines
    'profile cpu fp32 batch 64 train_step' at 1 and 2 threads read alike)."""
    assert spelled_out(config) == en and spelled_out(config, "zh") == zh


def test_the_machine_id_is_stable_and_changes_with_the_cpu_or_the_gpu_count(monkeypatch):
    h200 = Gpu("NVIDIA H200", 141 * GIB, "9.0")
    lab = Machine("Test CPU 9000", frozenset({"avx2"}), 8, 64 * GIB, "lab-host", gpus=(h200,))
    describe(monkeypatch, lab)
    base = environment.machine_id()
    assert environment.machine_id() == base
    # By another route: the 12 hex digits of the SHA-256 of the lines the id promises.
    text = "Test CPU 9000\n8\nNVIDIA H200\nlab-host"
    assert base == hashlib.sha256(text.encode()).hexdigest()[:12]
    describe(monkeypatch, replace(lab, gpus=(h200, h200)))
    two_gpus = environment.machine_id()
    describe(monkeypatch, replace(lab, cpu_model="Other CPU 7000"))
    other_cpu = environment.machine_id()
    assert len({base, two_gpus, other_cpu}) == 3
    describe(monkeypatch, replace(lab, hostname="another-host"))
    assert environment.machine_id() not in {base, two_gpus, other_cpu}
    describe(monkeypatch, replace(lab, memory_bytes=128 * GIB))  # more memory: the same machine
    assert environment.machine_id() == base


def test_the_machine_id_is_the_same_in_another_process_and_in_the_manifest():
    code = "from lab1.host.environment import machine_id; print(machine_id())"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == environment.machine_id()
    captured = environment.capture_environment()
    assert captured.machine_id == environment.machine_id()
    assert captured.hostname and captured.gpu_models == machine.gpu_models()


def test_a_table_written_before_rows_carried_the_machine_is_one_clear_error(run, tmp_path):
    import pyarrow.parquet as pq

    from lab1.errors import RunDirError

    old = pq.read_table(run.table("comparison")).drop_columns(["machine_id"])
    pq.write_table(old, tmp_path / "comparison.parquet")
    with pytest.raises(RunDirError, match=r"no column\(s\) machine_id: it was written by an older"):
        read_parquet(tmp_path / "comparison.parquet", COMPARISON_SCHEMA)
