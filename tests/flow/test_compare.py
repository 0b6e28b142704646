"""compare's arithmetic on small synthetic tables, the Parquet schemas, history, the task."""

import json
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from rundirs import read_history, start_run, write_profile_results

from lab1.compare import within as cmp
from lab1.compare.history import append_history
from lab1.report import findings, grids, read_run, write_compare_texts
from lab1.report.blocks import block_markdown
from lab1.report.sentences import sentences
from lab1.rundir import RunPaths
from lab1.schemas import (
    COMPARISON_SCHEMA,
    OP_STATS_SCHEMA,
    SCHEMAS,
    SHARE_CHANGE_SCHEMA,
    TOP10_SCHEMA,
    read_parquet,
    write_parquet,
)

RUN = "syn-run"
MACHINE = "0123456789ab"  # every synthetic row was measured on one machine
FILLERS = [f"aten::f{i}" for i in range(9)]
# Self times per config: each config's operators sum to 100, so shares are easy to read.
SELF_CPU = {  # same on both devices
    1: {"aten::mm": 40, "aten::conv2d": 30, "aten::add": 20, "aten::gone": 2}
    | dict.fromkeys(FILLERS[:8], 1),
    8: {"aten::conv2d": 60, "aten::mm": 20, "aten::add": 11} | dict.fromkeys(FILLERS, 1),
}
SELF_DEVICE = {  # cuda only
    1: {"aten::mm": 70, "aten::conv2d": 10, "aten::add": 10, "aten::gone": 2}
    | dict.fromkeys(FILLERS[:8], 1),
    8: {"aten::conv2d": 80, "aten::mm": 5, "aten::add": 6} | dict.fromkeys(FILLERS, 1),
}
MS_PER_STEP = {("cpu", 1): 10.0, ("cpu", 8): 40.0, ("cuda", 1): 2.0, ("cuda", 8): 4.0}
PHASES = ("train_step", "inference")


def _row(device, bs, phase, op, self_cpu, self_device=0.0, kind="op", shapes="[]"):
    return {
        "run_id": RUN,
        "torch_version": "2.x",
        "machine_id": MACHINE,
        "device": device,
        "device_name": "Test GPU" if device == "cuda" else "Test CPU",
        "precision": "fp32",
        "threads": 2,
        "batch_size": bs,
        "phase": phase,
        "active_steps": 2,
        "kind": kind,
        "op_name": op,
        "input_shapes": shapes,
        "calls": 2,
        "self_cpu_us": float(self_cpu),
        "cpu_total_us": float(self_cpu),
        "self_device_us": float(self_device),
        "device_total_us": float(self_device),
        "self_cpu_memory_bytes": 0,
        "cpu_memory_bytes": 1024,
        "self_device_memory_bytes": 0,
        "device_memory_bytes": 0,
        "flops": 0,
    }


def _config_rows(device, bs, phase):
    rows = []
    for op, t in SELF_CPU[bs].items():
        dev = SELF_DEVICE[bs][op] if device == "cuda" else 0.0
        if op == "aten::conv2d":  # two input shapes: merged into one operator by compare
            rows.append(_row(device, bs, phase, op, t / 3, dev / 3, shapes=f"[[{bs}, 1, 28, 28]]"))
            rows.append(_row(device, bs, phase, op, 2 * t / 3, 2 * dev / 3, shapes="[[2]]"))
        else:
            rows.append(_row(device, bs, phase, op, t, dev))
    # Labels and kernels overlap the operators' time: never counted in shares.
    rows.append(_row(device, bs, phase, phase, 1000, 1000, kind="annotation"))
    if device == "cuda":
        rows.append(_row(device, bs, phase, "void sgemm_kernel", 0, 500, kind="kernel"))
    return rows


def _throughput(device, bs, phase):
    ms = MS_PER_STEP[device, bs]
    return {
        "run_id": RUN,
        "torch_version": "2.x",
        "machine_id": MACHINE,
        "device": device,
        "device_name": "Test GPU" if device == "cuda" else "Test CPU",
        "precision": "fp32",
        "threads": 2,
        "batch_size": bs,
        "phase": phase,
        "images_per_s": bs / ms * 1e3,
        "ms_per_step": ms,
        "us_per_sample": ms * 1e3 / bs,
        "throughput_steps": 3,
        "profiled_ms_per_step": 1.5 * ms,
        "profiler_overhead": 1.5,
        "active_steps": 2,
        "peak_memory_bytes": 1 << 20,
        "peak_memory_source": "test",
        "num_threads": 2,
        "num_interop_threads": 2,
        "window_start": 1000.0,
        "window_end": 1001.0,
        "other_cpu_s": 0.01,
        "contended": False,
        "other_cores": 0.01,
        "timing_spread": 0.05,
        "attempts": 1,
        "reliable": True,
        "blocks_used": 3,  # throughput_steps: one block per step, each its number's
        "blocks_timed": 3,
    }


CONFIGS = [(d, b) for d in ("cpu", "cuda") for b in (1, 8)]


@pytest.fixture
def op_stats():
    rows = [r for d, b in CONFIGS for p in PHASES for r in _config_rows(d, b, p)]
    return pd.DataFrame(rows)


@pytest.fixture
def throughput():
    return [_throughput(d, b, p) for d, b in CONFIGS for p in PHASES]


def test_top_ops_ranks_ten_operators_per_config_phase_and_sort_key(op_stats):
    top = cmp.top_ops(op_stats)
    sizes = top.groupby(["device", "batch_size", "phase", "sort_key"]).size()
    assert (sizes == 10).all()
    assert set(sizes.index) == {
        (d, b, p, k)
        for d, b in CONFIGS
        for p in PHASES
        for k in (("self_cpu", "self_device") if d == "cuda" else ("self_cpu",))
    }
    cpu1 = top[(top["device"] == "cpu") & (top["batch_size"] == 1) & (top["phase"] == "train_step")]
    assert cpu1["rank"].tolist() == list(range(1, 11))
    assert cpu1["op_name"].tolist()[:4] == ["aten::mm", "aten::conv2d", "aten::add", "aten::gone"]
    assert cpu1["share"].tolist()[:4] == pytest.approx([0.40, 0.30, 0.20, 0.02])
    conv = cpu1[cpu1["op_name"] == "aten::conv2d"].iloc[0]  # both shapes summed
    assert conv["self_cpu_us"] == pytest.approx(30) and conv["calls"] == 4
    assert not top["op_name"].isin(["train_step", "inference", "void sgemm_kernel"]).any()
    gpu8 = top[
        (top["device"] == "cuda") & (top["batch_size"] == 8) & (top["sort_key"] == "self_device")
    ]
    assert gpu8.iloc[0][["op_name", "share"]].tolist() == ["aten::conv2d", pytest.approx(0.80)]


def test_comparison_shares_speedup_and_per_sample_cost(op_stats, throughput):
    top = cmp.top_ops(op_stats)
    c = cmp.comparison_table(throughput, top, RUN)
    assert len(c) == 8 and list(c.columns) == COMPARISON_SCHEMA.names
    by = c.set_index(["device", "batch_size", "phase"])
    assert by.loc[("cpu", 1, "train_step"), "top_op"] == "aten::mm"
    assert by.loc[("cpu", 1, "train_step"), "top_op_share"] == pytest.approx(0.40)
    assert by.loc[("cpu", 8, "train_step"), "top_op"] == "aten::conv2d"
    assert by.loc[("cpu", 8, "train_step"), "share_basis"] == "self_cpu"
    # On the GPU the share is of device time: mm leads at batch 1 (70 %), conv at 8 (80 %).
    assert by.loc[("cuda", 1, "inference"), ["top_op", "share_basis"]].tolist() == [
        "aten::mm",
        "self_device",
    ]
    assert by.loc[("cuda", 8, "inference"), "top_op_share"] == pytest.approx(0.80)
    assert by.loc[("cuda", 1, "train_step"), "speedup_vs_cpu"] == pytest.approx(10.0 / 2.0)
    assert by.loc[("cuda", 8, "train_step"), "speedup_vs_cpu"] == pytest.approx(40.0 / 4.0)
    assert (by.xs("cpu")["speedup_vs_cpu"] == 1.0).all()
    assert by.loc[("cpu", 8, "train_step"), "us_per_sample"] == pytest.approx(5000.0)
    # Without a cpu run there is nothing to compare with.
    gpu_only = cmp.comparison_table([t for t in throughput if t["device"] == "cuda"], top, RUN)
    assert gpu_only["speedup_vs_cpu"].isna().all()


def test_profile_results_or_rows_are_accepted_and_duplicates_refused(op_stats, throughput):
    results = [{"op_stats": "p", "throughput": throughput[:2]}, {"throughput": throughput[2:]}]
    assert cmp.throughput_rows(results) == throughput == cmp.throughput_rows(throughput)
    with pytest.raises(ValueError, match="profiled twice"):
        cmp.comparison_table([*throughput, throughput[0]], cmp.top_ops(op_stats), RUN)
    with pytest.raises(ValueError, match="at least one profiled config"):
        cmp.combine_and_compare(RunPaths(Path("/nonexistent")), RUN)


def test_share_change_from_smallest_to_largest_batch(op_stats):
    top = cmp.top_ops(op_stats)
    change = cmp.share_change_table(cmp.op_shares(op_stats), top, RUN)
    assert list(change.columns) == SHARE_CHANGE_SCHEMA.names
    cpu = change[(change["device"] == "cpu") & (change["phase"] == "train_step")]
    cpu = cpu.set_index("op_name")
    assert (cpu["min_bs"] == 1).all() and (cpu["max_bs"] == 8).all()
    assert cpu.loc["aten::conv2d", ["share_at_min_bs", "share_at_max_bs"]].tolist() == (
        pytest.approx([0.30, 0.60])
    )
    assert cpu.loc["aten::mm", "change"] == pytest.approx(-0.20)
    assert cpu.loc["aten::gone", ["share_at_min_bs", "share_at_max_bs"]].tolist() == (
        pytest.approx([0.02, 0.0])  # not run at the largest batch: share 0
    )
    assert cpu.index[0] == "aten::conv2d"  # sorted by the share at the largest batch
    gpu = change[(change["device"] == "cuda") & (change["phase"] == "inference")]
    gpu = gpu.set_index("op_name")
    assert (gpu["share_basis"] == "self_device").all()
    assert gpu.loc["aten::conv2d", "share_at_max_bs"] == pytest.approx(0.80)
    one_size = op_stats[op_stats["batch_size"] == 8]
    assert cmp.share_change_table(cmp.op_shares(one_size), top, RUN).empty


def _words(comparison, change):
    return "\n".join(sentences(findings.profiling(comparison, change)))


def test_summary_sentences_are_computed_from_the_tables(op_stats, throughput):
    top = cmp.top_ops(op_stats)
    c = cmp.comparison_table(throughput, top, RUN)
    change = cmp.share_change_table(cmp.op_shares(op_stats), top, RUN)
    md = _words(c, change)
    assert (
        "cpu · train_step: from batch 1 to 8 the throughput goes from 100 to 200 images/s "
        "(2.00×) and the cost per image falls from 10,000.0 to 5,000.0 µs" in md
    )
    assert (
        "`aten::conv2d`'s share of self CPU time, which grows from 30.00% at batch 1 to 60.00% "
        "at batch 8" in md
    )
    assert "self device time, which grows from 10.00% at batch 1 to 80.00% at batch 8" in md
    assert "cuda over cpu (train_step): the speedup ranges from 5.00× at batch 1 to 10.00×" in md
    assert "makes a step take 1.50× as long as without it" in md
    # A config where the GPU loses says so.
    slow = [dict(t, ms_per_step=80.0) if t["device"] == "cuda" else t for t in throughput]
    md_slow = _words(cmp.comparison_table(slow, top, RUN), change)
    assert "from 0.12× at batch 1" in md_slow
    assert "the GPU is slower than the CPU at batch 1, 8." in md_slow


def test_top10_tables_rank_ten_ops_per_config_phase_and_sort_key(op_stats):
    md = "\n\n".join(block_markdown(b, Path()) for b in grids.top10_blocks(cmp.top_ops(op_stats)))
    titles = [line for line in md.splitlines() if line.startswith("**")]
    assert len(titles) == 2 * 2 + 2 * 2 * 2  # cpu: 1 sort key, cuda: 2; × 2 sizes × 2 phases
    assert (
        titles[0] == "**cpu · 2 threads (Test CPU) · batch 1 · train_step** (ranked by self CPU "
        "time, "
        "2 profiled steps)"
    )
    assert "| # | operator | calls/step | self CPU (µs/step) | CPU total (µs/step) | share |" in md
    assert "| 1 | `aten::mm` | 1 | 20.0 | 20.0 | 40.00% |" in md
    assert "self device (µs/step)" in md and "ranked by self device time" in md


def test_precision_is_part_of_the_config_identity(op_stats, throughput):
    """bf16 rows beside fp32 ones: compared per device (speedup_vs_fp32), never merged."""
    bf16_ops = op_stats.assign(precision="bf16")
    bf16_ops.loc[bf16_ops["op_name"] == "aten::mm", "self_cpu_us"] /= 4  # mm got faster
    ops = pd.concat([op_stats, bf16_ops], ignore_index=True)
    bf16 = [dict(t, precision="bf16", ms_per_step=t["ms_per_step"] / 2) for t in throughput]
    top = cmp.top_ops(ops)
    c = cmp.comparison_table([*throughput, *bf16], top, RUN)
    assert len(c) == 16
    by = c.set_index(["device", "precision", "batch_size", "phase"])
    assert (by.xs("fp32", level="precision")["speedup_vs_fp32"] == 1.0).all()
    assert by.xs("bf16", level="precision")["speedup_vs_fp32"].tolist() == [pytest.approx(2.0)] * 8
    # vs cpu compares the same precision: bf16 cuda against bf16 cpu.
    assert by.loc[("cuda", "bf16", 8, "train_step"), "speedup_vs_cpu"] == pytest.approx(10.0)
    assert by.loc[("cpu", "bf16", 1, "train_step"), "top_op"] == "aten::conv2d"
    assert by.loc[("cpu", "fp32", 1, "train_step"), "top_op"] == "aten::mm"
    change = cmp.share_change_table(cmp.op_shares(ops), top, RUN)
    assert set(change["precision"]) == {"fp32", "bf16"}
    mm = change[(change["op_name"] == "aten::mm") & (change["device"] == "cpu")]
    assert mm.groupby("precision")["share_at_min_bs"].count().to_dict() == {"bf16": 2, "fp32": 2}
    # fp32 first within a device and phase: the one display order of every table.
    cpu_train = c[(c["device"] == "cpu") & (c["phase"] == "train_step")]
    assert cpu_train["precision"].tolist() == ["fp32", "fp32", "bf16", "bf16"]


def test_precision_and_threads_together_are_the_config_identity(op_stats, throughput):
    """fp32/bf16 × 1/2 threads on cpu: each speed-up compares along one axis only, and the
    labels name both axes where they differ from the default."""
    cpu_ops = op_stats[op_stats["device"] == "cpu"]
    cpu = [t for t in throughput if t["device"] == "cpu"]
    ops, rows = [], []
    for precision, threads, scale in (
        ("fp32", 2, 1.0),
        ("fp32", 1, 2.0),
        ("bf16", 2, 0.5),
        ("bf16", 1, 1.5),
    ):
        ops.append(cpu_ops.assign(precision=precision, threads=threads))
        rows += [
            dict(t, precision=precision, threads=threads, ms_per_step=t["ms_per_step"] * scale)
            for t in cpu
        ]
    ops = pd.concat(ops, ignore_index=True)
    c = cmp.comparison_table(rows, cmp.top_ops(ops), RUN)
    assert len(c) == 16
    by = c.set_index(["precision", "threads", "batch_size", "phase"])
    assert by.loc[("bf16", 2, 8, "inference"), "speedup_vs_fp32"] == pytest.approx(2.0)
    assert by.loc[("bf16", 1, 8, "inference"), "speedup_vs_fp32"] == pytest.approx(2 / 1.5)
    assert by.loc[("fp32", 2, 8, "inference"), "speedup_vs_1_thread"] == pytest.approx(2.0)
    assert by.loc[("bf16", 2, 8, "inference"), "speedup_vs_1_thread"] == pytest.approx(3.0)
    assert by.loc[("bf16", 1, 8, "inference"), "speedup_vs_cpu"] == pytest.approx(0.5 / 1.5)
    said = " ".join(sentences(findings.profiling(c, None)))
    assert "cpu bf16 · 1 thread · train_step" in said and "cpu · 2 threads · inference" in said
    change = cmp.share_change_table(cmp.op_shares(ops), cmp.top_ops(ops), RUN)
    assert change.groupby(["precision", "threads"]).ngroups == 4


def _dtype_ok(series: pd.Series, type_: pa.DataType) -> bool:
    if pa.types.is_string(type_):
        return pd.api.types.is_string_dtype(series)
    return series.dtype == type_.to_pandas_dtype()


@pytest.fixture
def compared(op_stats, throughput, tmp_path):
    paths = start_run(tmp_path / "run")
    write_profile_results(paths, op_stats, throughput)
    result = cmp.combine_and_compare(paths, RUN)
    return {**result, **write_compare_texts(read_run(paths.root))}


def test_combine_and_compare_writes_typed_tables_plots_and_markdown(compared, tmp_path):
    run = tmp_path / "run"
    assert compared["tables"] == {
        "op_stats": str(run / "profiles" / "op_stats.parquet"),
        "top10": str(run / "profiles" / "top10.parquet"),
        "comparison": str(run / "compare" / "comparison.parquet"),
        "share_change": str(run / "compare" / "share_change.parquet"),
        # Written for every profiled run; empty here: the synthetic configs have no time
        # split and count no FLOPs. (limits and the step model: only where measured.)
        "time_split": str(run / "compare" / "time_split.parquet"),
        "roofline": str(run / "compare" / "roofline.parquet"),
    }
    for name, path in compared["tables"].items():
        schema = SCHEMAS[name]
        assert pq.read_schema(path).equals(schema, check_metadata=True), name
        df = pd.read_parquet(path)
        assert list(df.columns) == schema.names
        assert len(df) > 0 or name in ("time_split", "roofline"), name
        for field in schema:
            assert _dtype_ok(df[field.name], field.type), (name, field.name, df[field.name].dtype)
    top10 = read_parquet(compared["tables"]["top10"], TOP10_SCHEMA)
    assert (top10.groupby(["device", "batch_size", "phase", "sort_key"]).size() == 10).all()
    for png in compared["plots"].values():
        data = Path(png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    # The synthetic configs' numbers, worked out by hand: cuda 2 ms vs cpu 10 ms at batch 1
    # (5×), 4 ms vs 40 ms at batch 8 (10×); 8 images in 4 ms are 2,000 images/s.
    summary = Path(compared["summary"]).read_text()
    assert run.joinpath("compare", "summary.md").read_text() == summary
    assert (
        "- cuda over cpu (train_step): the speedup ranges from 5.00× at batch 1 to 10.00× at "
        "batch 8." in summary
    )
    assert (
        "| cuda | 2 | train_step | 8 | 2,000 | 4.000 | 500.0 | `aten::conv2d` | 80.00% |" in summary
    )
    top10_md = Path(compared["top10_markdown"]).read_text()
    assert "**cuda · 2 threads (Test GPU) · batch 8 · inference**" in top10_md
    assert len(compared["rows"]) == 8
    assert len(json.dumps(compared)) < 20_000  # small and JSON-ready


def test_write_parquet_refuses_rows_that_do_not_fit_the_schema(tmp_path):
    bad = [_row("cpu", 1, "train_step", "aten::mm", 1.0) | {"batch_size": None}]
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError, ValueError)):
        write_parquet(bad, OP_STATS_SCHEMA, tmp_path / "bad.parquet")
    missing = [{k: v for k, v in bad[0].items() if k != "calls"}]
    with pytest.raises((pa.ArrowInvalid, ValueError, KeyError)):
        write_parquet(missing, OP_STATS_SCHEMA, tmp_path / "bad.parquet")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_history_appends_runs_and_replaces_a_rerun(compared, tmp_path):
    runs = tmp_path / "runs"
    beside = RunPaths(runs / "any-run")  # history lives beside the run directories
    tables = compared["tables"]
    first = append_history(beside, "run-a", tables)
    assert first["comparison"] == str(
        runs / "history" / "comparison" / "run_id=run-a" / "part-0.parquet"
    )
    append_history(beside, "2024", tables)  # a numeric-looking run id stays a string
    # Re-appending run-a with a smaller table replaces its partition instead of adding to it.
    small = tmp_path / "small.parquet"
    comparison = read_parquet(tables["comparison"], COMPARISON_SCHEMA)
    write_parquet(comparison.head(3), COMPARISON_SCHEMA, small)
    append_history(beside, "run-a", {"comparison": small})

    path = runs / "history" / "comparison"
    table = ds.dataset(path, partitioning="hive").to_table()
    assert table.num_rows == 3 + 8
    assert sorted(p.name for p in path.iterdir()) == ["run_id=2024", "run_id=run-a"]
    df = read_history(runs, "comparison")
    assert df["run_id"].map(type).eq(str).all()
    assert df.groupby("run_id").size().to_dict() == {"2024": 8, "run-a": 3}
    assert set(pd.read_parquet(path)["run_id"].astype(str)) == {"2024", "run-a"}
    op_stats = read_parquet(tables["op_stats"], OP_STATS_SCHEMA)
    assert len(read_history(runs, "op_stats")) == 2 * len(op_stats)
    with pytest.raises(ValueError, match="cannot name a partition"):
        append_history(beside, "../escape", tables)
    with pytest.raises(ValueError, match="history table name"):
        append_history(beside, "run-c", {"Bad/Name": small})


def test_compare_task_publishes_table_and_markdown_artifacts(
    prefect_harness, op_stats, throughput, tmp_path
):
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from tasks.compare import SUMMARY_KEY, TABLE_KEY, compare

    assert all(re.fullmatch(r"[a-z0-9-]+", k) for k in (TABLE_KEY, SUMMARY_KEY))
    paths = start_run(tmp_path / "runs" / RUN)
    write_profile_results(paths, op_stats, throughput)

    @flow(name="compare-artifacts-test")
    def run_compare():
        # Artifacts belong to a task run: made outside any run, Prefect 3 only warns (deprecated).
        return compare(str(paths.root), RUN)

    result = run_compare()
    assert set(result["history"]) == set(result["tables"])
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[TABLE_KEY, SUMMARY_KEY])),
        )
    latest = {}
    for a in sorted(found, key=lambda a: a.created):
        latest[a.key] = a
    assert latest[TABLE_KEY].type == "table" and latest[TABLE_KEY].task_run_id is not None
    rows = json.loads(latest[TABLE_KEY].data)
    # One row per config and phase, cpu first, in the synthetic tables' (hand-set) numbers.
    assert [(r["device"], r["phase"], r["batch size"], r["images/s"]) for r in rows] == [
        ("cpu", "train_step", "1", "100"),
        ("cpu", "train_step", "8", "200"),
        ("cpu", "inference", "1", "100"),
        ("cpu", "inference", "8", "200"),
        ("cuda", "train_step", "1", "500"),
        ("cuda", "train_step", "8", "2,000"),
        ("cuda", "inference", "1", "500"),
        ("cuda", "inference", "8", "2,000"),
    ]
    assert latest[SUMMARY_KEY].type == "markdown"
    assert "the speedup ranges from 5.00× at batch 1 to 10.00× at batch 8" in (
        latest[SUMMARY_KEY].data
    )
