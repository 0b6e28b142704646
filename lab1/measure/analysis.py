"""From a system perspective: the comparison's rows against the machine's measured limits.

Data only (lab1.report puts it into words). Inputs are the run's tables: op_stats (the
profiler's FLOP counts and inclusive times), limits (lab1.measure.limits), step_model
(lab1.measure.stepmodel) and the layer table's MACs per image.

* FLOPs per step: the model's, 2 × MACs × batch for inference and 3 × that for a train step
  (the backward pass computes two products per forward one: gradients of inputs and of
  weights), and the profiler's (with_flops counts conv2d, mm, addmm, add and mul, but not
  convolution_backward, so it undercounts a train step);
* achieved GFLOP/s = FLOPs per step / ms_per_step (profiler off), and its share of the
  matmul peak of the arithmetic it ran in, measured at the same device and thread count
  (``matmul_peaks``: bf16's for bf16, TF32's for fp32 where convolutions ran in TF32);
* roofline points: each operator with a FLOP count and ≥ 1 % of its config's time, its
  arithmetic intensity (FLOPs per byte of its inputs and output, at the element size of the
  dtype it runs in: ``element_bytes``) against its achieved GFLOP/s (FLOPs over its inclusive
  time, profiler on). mps gets no points: its CPU time is dispatch, not the kernel.
"""

from __future__ import annotations

import json
import math

import pandas as pd

from lab1.host.devices import device_time_measured
from lab1.identity import IDENTITY, PANEL, axes_except
from lab1.schemas import CONFIG_COLUMNS, ROOFLINE_SCHEMA

TRAIN_FLOP_FACTOR = 3  # forward + backward (≈ 2 × forward)
# Bytes per element of the tensors an operator reads and writes. op_stats keeps input shapes,
# not dtypes (key_averages drops them), so the dtype follows from the precision. Under bf16
# autocast, measured on this Net's train step (the Chrome trace's "Input type",
# AMD EPYC Zen 4 with avx512_bf16): conv2d, addmm, mm and dropout's mul read and write bf16
# tensors; the one counted operator left in fp32 is aten::add, Adadelta's square_avg.add(eps)
# on the fp32 optimizer state. (The first conv2d's outer autocast call reads the fp32 batch
# before casting it: counted at 2 bytes too, a slight underestimate of its bytes.)
BYTES_PER_ELEMENT = {"fp32": 4, "bf16": 2}
FP32_UNDER_AUTOCAST = frozenset({"aten::add"})
MIN_OP_SHARE = 0.01  # roofline: operators below 1 % of the config's time are left out
INCLUSIVE = {"self_cpu": "cpu_total_us", "self_device": "device_total_us"}


LIMIT_KEYS = ("machine_id", "device", "threads")  # what a limit is measured on


def peaks(
    limits: pd.DataFrame | None, what: str = "matmul_peak", dtype: str = "float32"
) -> dict[tuple, float]:
    """(machine_id, device, threads) → the limit ``what`` (GFLOP/s, GB/s or µs) in ``dtype``."""
    if limits is None:
        return {}
    rows = limits[(limits["what"] == what) & (limits["dtype"] == dtype)]
    rows = rows.dropna(subset=["value"])
    return {(r.machine_id, r.device, int(r.threads)): float(r.value) for r in rows.itertuples()}


def matmul_peaks(limits: pd.DataFrame | None) -> dict[tuple, float]:
    """(machine_id, device, threads, precision) → the matmul peak that precision's step is
    held against: bf16 → the bfloat16 peak; fp32 → the TF32 peak where the limits measured
    one (lab1.measure.limits does on a GPU whose fp32 convolutions run in TF32), else the fp32
    one."""
    fp32, tf32, bf16 = (peaks(limits, dtype=t) for t in ("float32", "tfloat32", "bfloat16"))
    out = {(*k, "fp32"): v for k, v in {**fp32, **tf32}.items()}
    return out | {(*k, "bf16"): v for k, v in bf16.items()}


def _limit_key(row) -> tuple:
    return (row.machine_id, row.device, int(row.threads))


def thread_columns(cmp: pd.DataFrame) -> pd.DataFrame:
    """speedup_vs_1_thread (ms at 1 thread / ms) and parallel_efficiency (that / threads) on
    cpu rows that have a 1-thread twin (the same config but for its threads, same phase);
    null elsewhere."""
    one = cmp[(cmp["device"] == "cpu") & (cmp["threads"] == 1)]
    same = [*axes_except("threads"), "phase"]
    base = one.set_index(same)["ms_per_step"]
    ms_1 = pd.Series(
        [
            base.get(k) if d == "cpu" else None
            for d, k in zip(
                cmp["device"], cmp[same].itertuples(index=False, name=None), strict=True
            )
        ],
        index=cmp.index,
        dtype="float64",
    )
    speedup = ms_1 / cmp["ms_per_step"]
    return cmp.assign(speedup_vs_1_thread=speedup, parallel_efficiency=speedup / cmp["threads"])


def flops_columns(
    cmp: pd.DataFrame,
    op_stats: pd.DataFrame | None = None,
    macs_per_image: int | None = None,
    limits: pd.DataFrame | None = None,
    step_model: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The comparison's FLOP, share-of-peak and step-model columns (COMPARISON_SCHEMA); a
    missing input leaves its columns empty (no op_stats: no FLOPs counted)."""
    keys = [*IDENTITY, "phase"]
    counted = pd.Series(dtype="float64")
    if op_stats is not None:
        ops = op_stats[op_stats["kind"] == "op"]
        counted = ops.groupby(keys)["flops"].sum() / ops.groupby(keys)["active_steps"].first()
    out = cmp.copy()
    out["profiler_gflop_per_step"] = [
        counted.get(tuple(k), 0.0) / 1e9 for k in out[keys].itertuples(index=False)
    ]
    if macs_per_image:
        factor = out["phase"].map(lambda p: TRAIN_FLOP_FACTOR if p == "train_step" else 1)
        out["model_gflop_per_step"] = 2 * macs_per_image * out["batch_size"] * factor / 1e9
        gflop = out["model_gflop_per_step"]
    else:
        out["model_gflop_per_step"] = math.nan
        gflop = out["profiler_gflop_per_step"]
    out["achieved_gflops"] = gflop / (out["ms_per_step"] / 1e3)
    peak = matmul_peaks(limits)
    out["share_of_peak"] = [
        a / peak.get((*_limit_key(r), r.precision), math.nan)
        for a, r in zip(out["achieved_gflops"], out.itertuples(), strict=True)
    ]
    # The ladder's fit belongs to the rows of its own config (its precision included).
    fits = ["fixed_ms", "per_sample_us"]
    if step_model is None:
        out[fits] = math.nan
        return out
    keys = [*PANEL, "phase"]
    fitted = out[keys].merge(step_model[[*keys, *fits]], on=keys, how="left")
    out[fits] = fitted[fits].to_numpy(dtype="float64")
    return out


def element_bytes(precision: str, op_name: str) -> int:
    """Bytes per element ``op_name`` moves in a ``precision`` config (see BYTES_PER_ELEMENT)."""
    if op_name in FP32_UNDER_AUTOCAST:
        return BYTES_PER_ELEMENT["fp32"]
    return BYTES_PER_ELEMENT[precision]


def _numel(shape: list[int]) -> int:
    return math.prod(shape) if shape else 0


def output_elements(op_name: str, shapes: list[list[int]], flops_per_call: float) -> float:
    """Output size from the inputs' shapes and torch's FLOP count (exact for these ops, and
    free of any stride or padding assumption for a convolution)."""
    if op_name == "aten::conv2d":  # flops = 2 × out × C_in × kh × kw; weight (O, C_in, kh, kw)
        return flops_per_call / (2 * _numel(shapes[1][1:]))
    if op_name == "aten::addmm":  # bias, (M, K), (K, N) → (M, N)
        return shapes[1][0] * shapes[2][1]
    if op_name in ("aten::mm", "aten::bmm"):
        return _numel(shapes[0][:-1]) * shapes[1][-1]
    # Elementwise: the broadcast operand's size. torch counts one FLOP per output element here,
    # so the FLOPs bound it from below: a 0-dim tensor's shape is recorded as [] (as is a
    # non-tensor argument), and the step's `loss_sum += loss * B` would otherwise move 0 bytes.
    return max(max((_numel(s) for s in shapes), default=0), flops_per_call)


def roofline_table(op_stats: pd.DataFrame, limits: pd.DataFrame | None, basis_of) -> pd.DataFrame:
    """ROOFLINE_SCHEMA rows; ``basis_of(device)`` is self_cpu or self_device."""
    config = CONFIG_COLUMNS
    ops = op_stats[op_stats["kind"] == "op"]
    peak = matmul_peaks(limits)
    out = []
    for key, g in ops.groupby(config, sort=True):
        named = dict(zip(config, key, strict=True))
        if not device_time_measured(named["device"]):
            continue  # mps: CPU time there is dispatch, not the kernel: no achieved GFLOP/s
        inclusive = INCLUSIVE[basis_of(named["device"])]
        self_col = "self_cpu_us" if inclusive == "cpu_total_us" else "self_device_us"
        total = g[self_col].sum()
        for r in g[(g["flops"] > 0) & (g[inclusive] >= MIN_OP_SHARE * total)].itertuples():
            shapes = [s for s in json.loads(r.input_shapes) if isinstance(s, list)]
            per_call = r.flops / r.calls
            elements = sum(_numel(s) for s in shapes) + output_elements(r.op_name, shapes, per_call)
            nbytes = element_bytes(named["precision"], r.op_name) * elements
            achieved = r.flops / (getattr(r, inclusive) * 1e3)
            p = peak.get((*(named[k] for k in LIMIT_KEYS), named["precision"]))
            out.append(
                {
                    **named,
                    "op_name": r.op_name,
                    "input_shapes": r.input_shapes,
                    "gflop_per_call": per_call / 1e9,
                    "mbytes_per_call": nbytes / 1e6,
                    "intensity": per_call / nbytes,
                    "achieved_gflops": achieved,
                    "share_of_peak": achieved / p if p else math.nan,
                }
            )
    return pd.DataFrame(out, columns=ROOFLINE_SCHEMA.names)
