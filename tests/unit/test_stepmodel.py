"""The step-time model: the fit on synthetic timings, its refusals, and a real ladder."""

import pandas as pd
import pytest

from lab1.errors import AnalysisError, Lab1Error
from lab1.measure.stepmodel import (
    fit_step_time,
    fixed_below,
    plateau,
    step_model_table,
    time_ladder,
)
from lab1.schemas import PHASES, STEP_MODEL_SCHEMA, STEP_TIMES_SCHEMA, to_arrow

LADDER = [1, 2, 4, 8, 16, 32, 64, 128, 256]


def _synthetic(fixed_ms, per_sample_us, sizes=LADDER, noise=0.0):
    # Alternating ± noise, so the error does not just scale the slope.
    return [
        (fixed_ms + b * per_sample_us / 1e3) * (1 + noise * (-1) ** i) for i, b in enumerate(sizes)
    ]


@pytest.mark.parametrize(("fixed", "per_sample"), [(2.5, 40.0), (0.3, 900.0), (12.0, 1.5)])
def test_the_fit_recovers_known_fixed_and_per_sample_costs(fixed, per_sample):
    f, p, r2 = fit_step_time(LADDER, _synthetic(fixed, per_sample))
    assert f == pytest.approx(fixed, rel=1e-9) and p == pytest.approx(per_sample, rel=1e-9)
    assert r2 == pytest.approx(1.0)


@pytest.mark.parametrize(("fixed", "per_sample"), [(2.5, 40.0), (0.3, 900.0)])
def test_the_fit_survives_two_percent_noise(fixed, per_sample):
    f, p, _ = fit_step_time(LADDER, _synthetic(fixed, per_sample, noise=0.02))
    assert f == pytest.approx(fixed, rel=0.1) and p == pytest.approx(per_sample, rel=0.05)


def test_the_fit_refuses_fewer_than_three_distinct_batch_sizes():
    with pytest.raises(AnalysisError, match=r"at least 3 distinct batch sizes .* got \[1, 4\]"):
        fit_step_time([1, 4, 4, 1], [1.0, 2.0, 2.1, 1.1])
    assert issubclass(AnalysisError, Lab1Error)  # one line for a person, no traceback


def test_a_negative_intercept_is_refitted_through_the_origin():
    f, p, _ = fit_step_time([1, 2, 4], [0.1, 0.3, 0.7])
    assert f == 0.0 and p > 0


def test_where_the_fixed_cost_stops_mattering_and_throughput_stops_improving():
    # 2 ms fixed, 100 µs per image: fixed < 10 % of a step once B > 9 × 2000 / 100 = 180.
    assert fixed_below(2.0, 100.0) == 181
    assert fixed_below(0.0, 100.0) == 1 and fixed_below(2.0, 0.0) is None
    times = _synthetic(2.0, 100.0)  # images/s: B / (2 + 0.1 B) ms → 10,000/s asymptote
    # 64: 7,619/s; 128: 8,649/s (+13.5 %); 256: 9,275/s (+7.2 % over 128)
    assert plateau(LADDER, times) == 128
    assert plateau([1, 2, 4], [1.0, 1.0, 1.0]) == 4  # still doubling at the end


def test_step_model_table_has_one_fit_per_ladder():
    rows = [
        {
            "run_id": "r",
            "machine_id": "m",
            "device": "cpu",
            "device_name": "x",
            "precision": "fp32",
            "threads": t,
            "phase": ph,
            "batch_size": b,
            "ms_per_step": ms,
            "timed_steps": 3,
        }
        for t in (1, 2)
        for ph in PHASES
        for b, ms in zip(LADDER, _synthetic(1.0 * t, 50.0 / t), strict=True)
    ]
    model = step_model_table(pd.DataFrame(rows))
    to_arrow(model, STEP_MODEL_SCHEMA)  # the schema accepts it
    assert len(model) == 4
    two = model[(model.threads == 2) & (model.phase == "train_step")].iloc[0]
    assert two.fixed_ms == pytest.approx(2.0) and two.per_sample_us == pytest.approx(25.0)


def test_a_real_ladder_times_both_phases_at_every_size(tiny_dataset):
    rows = time_ladder(
        tiny_dataset.path, "mnist", "cpu", 1, "r", seed=1, lr=1.0, sizes=(1, 2, 4), steps=1
    )
    to_arrow(rows, STEP_TIMES_SCHEMA)
    assert sorted((r["phase"], r["batch_size"]) for r in rows) == sorted(
        (p, b) for p in PHASES for b in (1, 2, 4)
    )
    assert all(r["ms_per_step"] > 0 and r["threads"] == 1 for r in rows)
