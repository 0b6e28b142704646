"""The system view's arithmetic on hand-made rows: roofline intensity, model FLOPs per step,
the peak each precision is held against. (On a real tiny run, with its report:
tests/e2e/test_system_view.py.)"""

import json

import pandas as pd
import pytest

from lab1.measure.analysis import roofline_table


def _op(precision: str, op_name: str, shapes: list, flops_per_call: int) -> dict:
    """One op_stats row: 2 calls over 2 profiled steps, 10 µs inclusive."""
    return {
        "run_id": "r",
        "torch_version": "2.14.1",
        "machine_id": "a1b2c3d4e5f6",
        "device": "cpu",
        "device_name": "Test CPU",
        "precision": precision,
        "threads": 1,
        "batch_size": 16,
        "phase": "train_step",
        "active_steps": 2,
        "kind": "op",
        "op_name": op_name,
        "input_shapes": json.dumps(shapes),
        "calls": 2,
        "self_cpu_us": 10.0,
        "cpu_total_us": 10.0,
        "self_device_us": 0.0,
        "device_total_us": 0.0,
        "flops": 2 * flops_per_call,
    }


def test_roofline_intensity_counts_bf16_tensors_at_2_bytes_and_fp32_state_at_4():
    # fc1's addmm at batch 16: bias (128), input (16, 9216), weight (9216, 128) → (16, 128).
    # FLOPs 2 × 16 × 9216 × 128 = 37,748,736; elements 128 + 147,456 + 1,179,648 + 2,048 =
    # 1,329,280: 2,658,560 bytes in bf16 (intensity 14.199), 5,317,120 in fp32 (7.0994).
    addmm = [[128], [16, 9216], [9216, 128], [], []]
    # Adadelta's square_avg.add(eps) on fc1's weight: fp32 state under autocast too,
    # 1,179,648 FLOPs, in + out = 2,359,296 elements × 4 bytes → exactly 0.125 FLOP/byte.
    add = [[128, 9216], [], []]
    ops = pd.DataFrame(
        [
            _op("bf16", "aten::addmm", addmm, 37_748_736),
            _op("fp32", "aten::addmm", addmm, 37_748_736),
            _op("bf16", "aten::add", add, 1_179_648),
        ]
    )
    got = roofline_table(ops, None, lambda device: "self_cpu")
    by = {(r.precision, r.op_name): r for r in got.itertuples()}
    assert by[("bf16", "aten::addmm")].mbytes_per_call == pytest.approx(2.658560)
    assert by[("bf16", "aten::addmm")].intensity == pytest.approx(14.19894, rel=1e-6)
    assert by[("fp32", "aten::addmm")].intensity == pytest.approx(7.09947, rel=1e-6)
    assert by[("bf16", "aten::add")].intensity == pytest.approx(0.125)


def test_model_flops_per_step_are_two_per_mac_and_three_passes_for_training():
    """The Net's 11,992,448 MACs per image (conv1 194,688 + conv2 10,616,832 + fc1 1,179,648
    + fc2 1,280; tests/unit/test_graph.py checks them layer by layer) at batch 64: inference is
    2 FLOPs per MAC, 1.535 GFLOP a step; a train step three passes, 4.605 GFLOP."""
    import pandas as pd

    from lab1.measure.analysis import flops_columns

    macs = 32 * 26 * 26 * 9 + 64 * 24 * 24 * 32 * 9 + 9216 * 128 + 128 * 10
    assert macs == 11_992_448
    cmp = pd.DataFrame(
        {
            "machine_id": ["a1b2c3d4e5f6"] * 2,
            "device": ["cpu", "cpu"],
            "precision": ["fp32", "fp32"],
            "threads": [2, 2],
            "batch_size": [64, 64],
            "phase": ["train_step", "inference"],
            "ms_per_step": [100.0, 50.0],
        }
    )
    limits = pd.DataFrame(
        {
            "machine_id": ["a1b2c3d4e5f6"],
            "device": ["cpu"],
            "threads": [2],
            "what": ["matmul_peak"],
            "dtype": ["float32"],
            "value": [200.0],
        }
    )
    out = flops_columns(cmp, macs_per_image=macs, limits=limits)
    assert out["model_gflop_per_step"].tolist() == pytest.approx([4.605100032, 1.535033344])
    # GFLOP over seconds: 4.605 / 0.1 s and 1.535 / 0.05 s; as a share of the 200 GFLOP/s peak.
    assert out["achieved_gflops"].tolist() == pytest.approx([46.05100032, 30.70066688])
    assert out["share_of_peak"].tolist() == pytest.approx([0.2302550016, 0.1535033344])


def test_each_precision_is_held_against_the_peak_of_the_arithmetic_it_ran_in():
    """A bf16 row is divided by the bf16 matmul peak, and an fp32 row on a GPU whose
    convolutions ran in TF32 by the TF32 peak the limits measured there (a "tfloat32" row);
    an fp32 row where no TF32 peak was measured (the CPU) keeps the fp32 one. Achieved
    GFLOP/s: 4.605 GFLOP a train step at batch 64 (the test above) over 1 ms = 4,605."""
    import pandas as pd

    from lab1.measure.analysis import flops_columns

    macs = 11_992_448
    rows = [("cuda", "fp32"), ("cuda", "bf16"), ("cpu", "fp32")]
    cmp = pd.DataFrame(
        {
            "machine_id": ["m"] * 3,
            "device": [d for d, _ in rows],
            "precision": [p for _, p in rows],
            "threads": [1] * 3,
            "batch_size": [64] * 3,
            "phase": ["train_step"] * 3,
            "ms_per_step": [1.0] * 3,
        }
    )
    peaks = [
        ("cuda", "float32", 50_000.0),
        ("cuda", "tfloat32", 400_000.0),
        ("cuda", "bfloat16", 800_000.0),
        ("cpu", "float32", 200.0),
        ("cpu", "bfloat16", None),
    ]
    limits = pd.DataFrame(
        {
            "machine_id": ["m"] * 5,
            "device": [d for d, _, _ in peaks],
            "threads": [1] * 5,
            "what": ["matmul_peak"] * 5,
            "dtype": [t for _, t, _ in peaks],
            "value": [v for _, _, v in peaks],
        }
    )
    out = flops_columns(cmp, macs_per_image=macs, limits=limits)
    achieved = 4605.100032
    assert out["share_of_peak"].tolist() == pytest.approx(
        [achieved / 400_000, achieved / 800_000, achieved / 200]
    )
