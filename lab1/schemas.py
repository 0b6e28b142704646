"""The profiling tables' explicit pyarrow schemas, and atomic Parquet I/O that enforces them.

Units: times are microseconds (``_us``) and **totals over the ``active_steps`` profiled steps**
(the profiler schedule's active window), exactly as ``key_averages()`` reports them, so
``self_cpu_us / active_steps`` is the per-step cost. Memory is bytes (net allocations, so it can
be negative for an op that frees more than it allocates); flops are totals like the times.
Shares are fractions 0..1. Every table carries ``run_id``, so tables of many runs concatenate.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lab1.atomic import atomic_write
from lab1.errors import RunDirError
from lab1.identity import (
    PHASES as PHASES,  # re-exported: lab1.measure.profiling names them from here
)
from lab1.identity import fields

_STR, _I32, _I64, _F64 = pa.string(), pa.int32(), pa.int64(), pa.float64()


def _key(name: str, type_: pa.DataType) -> pa.Field:
    """A column that identifies a row: never null."""
    return pa.field(name, type_, nullable=False)


# A profiled config's columns: its identity (lab1.identity: machine × device × precision ×
# threads × batch size), the run, and the phase beside the identity.
_DEVICE_NAME = _key("device_name", _STR)  # CPU or GPU model
_PHASE = _key("phase", _STR)  # train_step | inference
_CONFIG = [
    _key("run_id", _STR),
    _key("torch_version", _STR),
    *fields("machine_id", "device"),
    _DEVICE_NAME,
    *fields("precision", "threads", "batch_size"),
    _PHASE,
]
CONFIG_COLUMNS = [f.name for f in _CONFIG]  # what one profiled config × phase is, as columns
_OP_MEASURES = [
    _key("calls", _I64),
    _key("self_cpu_us", _F64),
    _key("cpu_total_us", _F64),
    _key("self_device_us", _F64),  # 0 on CPU-only configs
    _key("device_total_us", _F64),
    _key("self_cpu_memory_bytes", _I64),
    _key("cpu_memory_bytes", _I64),
    _key("self_device_memory_bytes", _I64),
    _key("device_memory_bytes", _I64),
    _key("flops", _I64),  # only ops torch counts (conv, mm, addmm, add, mul); 0 elsewhere
]

OP_STATS_SCHEMA = pa.schema(
    [
        *_CONFIG,
        _key("active_steps", _I32),  # per-step value = total / active_steps
        # op: an aten/autograd operator; annotation: a record_function label (the phase,
        # forward/loss/backward, Optimizer.step, ProfilerStep*); kernel: a GPU kernel or memcpy;
        # profiler_sync: the profiler's own cudaDeviceSynchronize around each step
        # (lab1.measure.profiling).
        # Annotations and kernels overlap the ops' time, so shares use kind == "op" only.
        _key("kind", _STR),
        _key("op_name", _STR),
        _key("input_shapes", _STR),  # JSON list of the recorded input shapes
        *_OP_MEASURES,
    ],
    metadata={"units": "us and bytes, totals over active_steps profiled steps"},
)

TOP10_SCHEMA = pa.schema(
    [
        *_CONFIG,
        _key("sort_key", _STR),  # self_cpu | self_device (GPU configs only)
        _key("rank", _I32),  # 1..10
        _key("op_name", _STR),  # input shapes merged, like key_averages()
        _key("share", _F64),  # of the sort key's total over all ops of the config and phase
        _key("active_steps", _I32),
        *_OP_MEASURES,
    ],
    metadata={"units": "us and bytes, totals over active_steps profiled steps"},
)

# How sure a timed number is (lab1.reliability), on every table of timed measurements.
# Nullable: tables written before lab1 measured them read back as null (read_parquet).
_SURENESS = [
    pa.field("other_cores", _F64),  # other processes' mean cores in the window; null: unknown
    pa.field("timing_spread", _F64),  # interquartile range / median of the timed blocks
    pa.field("attempts", _I32),  # times measured (again after a disturbed attempt)
    pa.field("reliable", pa.bool_()),  # lab1.reliability.judge; null: unknown
]
# Numbers timed in blocks of steps (lab1.measure.remeasure.Timed): the number is the median of
# blocks_used blocks, of blocks_timed in all its attempts; fewer when a disturbed attempt's
# undisturbed blocks alone make it. Null: a table written before lab1 counted them.
_BLOCKS = [pa.field("blocks_used", _I32), pa.field("blocks_timed", _I32)]

COMPARISON_SCHEMA = pa.schema(
    [
        *_CONFIG,
        # Profiler off: throughput_steps timed steps after a warm-up (the schedule's, or more where
        # a block of short steps repeated them to run min_block_s: lab1.measure.profiling).
        _key("images_per_s", _F64),
        _key("ms_per_step", _F64),
        _key("us_per_sample", _F64),
        _key("throughput_steps", _I32),
        # Profiler on: wall time of the active steps, and its ratio to the unprofiled time.
        _key("profiled_ms_per_step", _F64),
        _key("profiler_overhead", _F64),  # profiled_ms_per_step / ms_per_step
        _key("active_steps", _I32),
        pa.field("top_op", _STR),
        pa.field("top_op_share", _F64),
        _key("share_basis", _STR),  # self_cpu on CPU, self_device on GPU
        pa.field("peak_memory_bytes", _I64),  # null where not measured (mps)
        _key("peak_memory_source", _STR),  # how peak_memory_bytes was measured
        _key("num_threads", _I32),  # torch.get_num_threads()
        _key("num_interop_threads", _I32),
        # ms_per_step on cpu (at its most threads) / on this device, same precision, batch
        # size and phase; null where cpu did not run that config.
        pa.field("speedup_vs_cpu", _F64),
        # ms_per_step in fp32 / in this precision, same device, threads, batch size and phase;
        # 1.0 on fp32 rows, null where fp32 did not run that config.
        pa.field("speedup_vs_fp32", _F64),
        # cpu only: ms_per_step at 1 thread / at this row's threads, and that / threads.
        pa.field("speedup_vs_1_thread", _F64),
        pa.field("parallel_efficiency", _F64),
        # FLOPs per step: model = 2 × MACs × batch (inference), 3 × that (train step: the
        # backward pass ≈ 2 × the forward); profiler = what with_flops counts (conv2d, mm,
        # addmm, add, mul: not convolution_backward). Achieved = model / ms_per_step.
        pa.field("model_gflop_per_step", _F64),
        _key("profiler_gflop_per_step", _F64),
        pa.field("achieved_gflops", _F64),
        pa.field("share_of_peak", _F64),  # achieved / the fp32 matmul_peak (lab1.measure.limits)
        # The step-time model of the device × threads × phase (STEP_MODEL_SCHEMA).
        pa.field("fixed_ms", _F64),
        pa.field("per_sample_us", _F64),
        # The kept attempt's measurement window (unix seconds) and the CPU seconds other
        # processes used during it; contended: they used cores the number's timed blocks
        # needed (its threads plus theirs exceed the machine's, lab1.host.exclusive; judged
        # block by block where a disturbed phase's undisturbed blocks make it: _BLOCKS).
        _key("window_start", _F64),
        _key("window_end", _F64),
        pa.field("other_cpu_s", _F64),  # null where /proc/stat is missing
        pa.field("contended", pa.bool_()),  # null: unknown (no /proc/stat), never a guess
        *_SURENESS,
        *_BLOCKS,
    ]
)

SHARE_CHANGE_SCHEMA = pa.schema(
    [
        _key("run_id", _STR),
        *fields("machine_id", "device", "precision", "threads"),  # a panel: no batch size
        _PHASE,
        _key("share_basis", _STR),
        _key("op_name", _STR),
        _key("share_at_min_bs", _F64),
        _key("share_at_max_bs", _F64),
        _key("change", _F64),  # share_at_max_bs - share_at_min_bs
        _key("min_bs", _I32),
        _key("max_bs", _I32),
    ]
)


# The machine's limits (lab1.measure.limits): one row per device × threads × dtype × what.
LIMITS_SCHEMA = pa.schema(
    [
        _key("run_id", _STR),
        *fields("machine_id", "device"),
        _DEVICE_NAME,
        *fields("threads"),  # no precision: each row's dtype is its own
        _key("dtype", _STR),  # float32 | bfloat16
        _key("what", _STR),  # matmul_peak | memory_bandwidth | dispatch_floor
        pa.field("value", _F64),  # null: not supported here (the note says why), never faked
        _key("unit", _STR),  # GFLOP/s | GB/s | µs
        _key("note", _STR),  # how it was measured, or why it was not
        pa.field("contended", pa.bool_()),
        *_SURENESS,
    ]
)

# The batch-size ladder (lab1.measure.stepmodel): profiler off, one row per timed batch size.
STEP_TIMES_SCHEMA = pa.schema(
    [
        _key("run_id", _STR),
        *fields("machine_id", "device"),
        _DEVICE_NAME,
        *fields("precision", "threads", "batch_size"),
        _PHASE,
        _key("ms_per_step", _F64),
        _key("timed_steps", _I32),  # in the blocks ms_per_step is the median of
        pa.field("contended", pa.bool_()),
        *_SURENESS,
        *_BLOCKS,
    ]
)

# The least-squares fit ms_per_step = fixed_ms + batch × per_sample_us / 1000, per ladder.
STEP_MODEL_SCHEMA = pa.schema(
    [
        _key("run_id", _STR),
        *fields("machine_id", "device", "precision", "threads"),  # one fit per ladder
        _PHASE,
        _key("fixed_ms", _F64),
        _key("per_sample_us", _F64),
        _key("r2", _F64),  # of the fit over the ladder's points
        _key("sizes", _I32),  # distinct batch sizes fitted
        # Smallest batch size whose fixed cost is < 10 % of its modelled step (null: none
        # within 2**20); the smallest ladder batch size no larger one beats by 10 % in images/s.
        pa.field("fixed_below_10pct_bs", _I32),
        pa.field("plateau_bs", _I32),
    ]
)

# Where a profiled step's time goes (lab1.measure.breakdown): shares of the phase's step time.
TIME_SPLIT_SCHEMA = pa.schema(
    [
        *_CONFIG,
        _key("split", _STR),  # part: forward/loss/backward/optimizer | category (OP_CATEGORIES)
        _key("name", _STR),  # the part or category; "outside any operator", "outside labels"
        _key("us_per_step", _F64),
        _key("share", _F64),  # of the step time; each (config, phase, split) sums to 1
        _key("basis", _STR),  # self_cpu on CPU, self_device on GPU
    ]
)

# Roofline points: each compute-heavy operator (input shapes kept apart) of each config.
ROOFLINE_SCHEMA = pa.schema(
    [
        *_CONFIG,
        _key("op_name", _STR),
        _key("input_shapes", _STR),
        _key("gflop_per_call", _F64),  # with_flops' count
        _key("mbytes_per_call", _F64),  # inputs + output at the op's element size (analysis)
        _key("intensity", _F64),  # FLOP per byte
        _key("achieved_gflops", _F64),  # FLOPs / the op's inclusive time (profiler on)
        pa.field("share_of_peak", _F64),  # of the fp32 matmul_peak at the same threads
    ]
)


# ---------------------------------------------------------------- comparisons of runs
# (lab1.compare.crossrun, under <runs_dir>/comparisons/<name>/). Rows of several runs and machines:
# the configuration identity (lab1.identity) includes the machine.
CROSS_COMPARISON_SCHEMA = pa.schema(
    [
        _key("run_id", _STR),
        _key("torch_version", _STR),
        *fields("machine_id", "device"),
        _DEVICE_NAME,
        *fields("precision", "threads", "batch_size"),
        _PHASE,
        # As in the run's own compare/comparison.parquet, copied, never recomputed.
        _key("images_per_s", _F64),
        _key("ms_per_step", _F64),
        _key("us_per_sample", _F64),
        pa.field("achieved_gflops", _F64),
        pa.field("share_of_peak", _F64),  # of this machine's own fp32 matmul peak
        pa.field("contended", pa.bool_()),  # null: unknown (that run had no /proc/stat)
        pa.field("reliable", pa.bool_()),  # as in the run's own table; null: unknown
        # The baseline run's row this row is compared with (lab1.compare.crossrun.match_baseline),
        # and
        # images_per_s / that row's images_per_s; null where the baseline has no such config.
        _key("baseline_run_id", _STR),
        pa.field("baseline_machine_id", _STR),
        pa.field("baseline_device", _STR),
        pa.field("baseline_precision", _STR),
        pa.field("baseline_threads", _I32),
        pa.field("speedup_vs_baseline", _F64),
    ]
)

# One row per compared run: its machine, data, recipe, code, and training outcome.
CROSS_RUNS_SCHEMA = pa.schema(
    [
        _key("run_id", _STR),
        *fields("machine_id"),
        _key("order", _I32),  # as given on the command line
        _key("baseline", pa.bool_()),
        _key("run_dir", _STR),
        _key("machine", _STR),  # the machine in words (CPU model, vCPUs, GPUs, host)
        _key("cpu_model", _STR),
        pa.field("vcpus", _I32),
        pa.field("memory_bytes", _I64),
        _key("gpus", _STR),  # "" where torch saw none
        pa.field("hostname", _STR),
        _key("os", _STR),
        _key("torch_version", _STR),
        pa.field("cuda_version", _STR),
        pa.field("code_version", _STR),
        _key("dataset", _STR),
        _key("dataset_source", _STR),
        _key("dataset_full", pa.bool_()),
        _key("train_size", _I64),
        _key("test_size", _I64),
        _key("data_checksum", _STR),
        _key("recipe", _STR),  # what training must agree on for accuracies to compare
        _key("epochs", _I32),
        pa.field("seconds_per_epoch", _F64),  # mean train_seconds over the epochs
        pa.field("train_images_per_s", _F64),  # mean over the epochs
        pa.field("test_accuracy", _F64),  # after the last epoch
        pa.field("test_loss", _F64),
    ]
)

# The heaviest operators of each run at each batch size every run profiled (share of the
# config's self time on its share basis), for "how the top operators change between runs".
CROSS_TOP_OPS_SCHEMA = pa.schema(
    [
        _key("run_id", _STR),
        *fields(),
        _PHASE,
        _key("rank", _I32),
        _key("op_name", _STR),
        _key("share", _F64),
    ]
)

# Table name (lab1.rundir.COMPARISON_TABLES) → its schema. The limits and step-time models of
# every run keep their own tables' schemas: their rows already carry run and machine.
CROSS_SCHEMAS = {
    "comparison": CROSS_COMPARISON_SCHEMA,
    "runs": CROSS_RUNS_SCHEMA,
    "limits": LIMITS_SCHEMA,
    "step_model": STEP_MODEL_SCHEMA,
    "top_ops": CROSS_TOP_OPS_SCHEMA,
    "time_split": TIME_SPLIT_SCHEMA,
    "roofline": ROOFLINE_SCHEMA,
}


def records(df: pd.DataFrame, schema: pa.Schema) -> list[dict]:
    """``df``'s rows as JSON-ready dicts (a manifest's): null → None, and an integer column's
    values as ints (pandas reads a nullable integer column with a null as floats: 1.0)."""
    ints = {f.name for f in schema if pa.types.is_integer(f.type)}
    return [
        {k: None if v != v or v is None else int(v) if k in ints else v for k, v in r.items()}
        for r in df.to_dict("records")
    ]


def to_arrow(rows: list[dict] | pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """Rows or a DataFrame → a table of exactly ``schema`` (extra columns dropped; a missing
    column, a null key or a value of the wrong type raises)."""
    if isinstance(rows, pd.DataFrame):
        table = pa.Table.from_pandas(rows[schema.names], schema=schema, preserve_index=False)
    else:
        table = pa.Table.from_pylist(list(rows), schema=schema)
    return table.replace_schema_metadata(schema.metadata)  # drop pandas' own metadata


# Table name (as in lab1.rundir.TABLES and the history datasets) → its schema.
SCHEMAS = {
    "op_stats": OP_STATS_SCHEMA,
    "top10": TOP10_SCHEMA,
    "comparison": COMPARISON_SCHEMA,
    "share_change": SHARE_CHANGE_SCHEMA,
    "limits": LIMITS_SCHEMA,
    "step_times": STEP_TIMES_SCHEMA,
    "step_model": STEP_MODEL_SCHEMA,
    "time_split": TIME_SPLIT_SCHEMA,
    "roofline": ROOFLINE_SCHEMA,
}


def write_parquet(rows: list[dict] | pd.DataFrame | pa.Table, schema: pa.Schema, path) -> Path:
    """Write atomically (lab1.atomic): a reader never sees half a table."""
    table = rows if isinstance(rows, pa.Table) else to_arrow(rows, schema)
    if not table.schema.equals(schema):
        table = table.cast(schema)
    return atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def with_older_columns(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with each nullable column of ``schema`` it lacks added as nulls: a column an
    older lab1 did not write is unknown, not an error (a run's own tables and a submission's)."""
    for field in schema:
        if field.nullable and field.name not in table.column_names:
            table = table.append_column(field.name, pa.nulls(table.num_rows, field.type))
    return table


def read_parquet(path: str | Path, schema: pa.Schema) -> pd.DataFrame:
    """A table as a DataFrame of exactly ``schema``'s columns, checked against it."""
    table = with_older_columns(pq.read_table(path), schema)
    missing = [n for n in schema.names if n not in table.column_names]
    if missing:  # e.g. machine_id: tables written before rows carried the machine
        raise RunDirError(
            f"{path} has no column(s) {', '.join(missing)}: it was written by an older lab1; "
            "open the run with that version"
        )
    return table.select(schema.names).cast(schema).to_pandas()
