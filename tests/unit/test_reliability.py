"""How sure a number is (lab1.reliability), and tables written before lab1 measured it."""

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lab1.errors import RunDirError
from lab1.reliability import (
    block_spread,
    judge,
    measurement_summary,
    relative_spread,
    training_rate,
)
from lab1.run.train import EpochStats
from lab1.schemas import STEP_TIMES_SCHEMA, read_parquet


@pytest.mark.parametrize(
    "contended, spread, expected",
    [
        (False, 0.05, True),
        (False, 0.20, True),  # exactly at the bound: reliable, as benchmarks/spread.py prints
        (False, 0.201, False),
        (True, 0.01, False),  # disturbed, however tight its blocks
        (None, 0.05, None),  # no /proc/stat: unknown, never "reliable"
        (None, 0.5, False),  # the spread alone already fails it
        (False, None, True),
    ],
)
def test_reliable_only_when_undisturbed_and_blocks_agree(contended, spread, expected):
    assert judge(contended, spread) is expected


@pytest.mark.parametrize(
    "blocks, spread",
    [
        # Inclusive quartiles, by hand. Five blocks: the 2nd and 4th of them sorted, so one
        # stray block (30) is not counted: (11.5 − 10.5) / 11.
        ([10.0, 30.0, 11.0, 10.5, 11.5], 1 / 11),
        # Blocks split in two still are: Q1 10, Q3 20, median 10.
        ([10.0, 20.0, 10.0, 20.0, 10.0], 1.0),
        # Three: halfway between neighbours, (11 − 9.5) / 10.
        ([9.0, 10.0, 12.0], 0.15),
        ([4.0], 0.0),
    ],
)
def test_block_spread_is_the_interquartile_range_over_the_median(blocks, spread):
    assert block_spread(blocks) == pytest.approx(spread)


def test_relative_spread_is_range_over_median():
    assert relative_spread([9.0, 10.0, 12.0]) == pytest.approx(0.3)  # (12 - 9) / 10
    assert relative_spread([4.0]) == 0.0


def test_a_table_from_before_reliability_reads_its_new_columns_as_null(tmp_path):
    old = [f for f in STEP_TIMES_SCHEMA if f.name not in ("contended", "other_cores")]
    row = {
        "run_id": "r",
        "machine_id": "m",
        "device": "cpu",
        "device_name": "AMD EPYC",
        "precision": "fp32",
        "threads": 2,
        "batch_size": 64,
        "phase": "train_step",
        "ms_per_step": 10.0,
        "timed_steps": 20,
    }
    path = tmp_path / "old.parquet"
    pq.write_table(pa.Table.from_pylist([row], schema=pa.schema(old)), path)
    df = read_parquet(path, STEP_TIMES_SCHEMA)
    assert df["ms_per_step"].tolist() == [10.0]
    assert df["contended"].isna().all() and df["other_cores"].isna().all()
    # A missing key column is still an older lab1's table, refused with its reason.
    keyless = pa.schema([f for f in old if f.name != "machine_id"])
    pq.write_table(pa.Table.from_pylist([row], schema=keyless), path)
    with pytest.raises(RunDirError, match="machine_id"):
        read_parquet(path, STEP_TIMES_SCHEMA)


def epoch(n: int, rate: float, contended: bool | None) -> EpochStats:
    return EpochStats(n, 0.1, 0.9, 0.1, 0.9, 1.0, rate, 60.0, other_cores=None, contended=contended)


def test_training_rate_is_the_median_of_its_undisturbed_steady_epochs():
    # Epoch 1 pays the warm-up; 3 and 5 ran beside other programs (158 images/s on a busy
    # machine): the median of 2, 4, 6 is 1,000.
    history = [
        epoch(1, 500.0, False),
        epoch(2, 990.0, False),
        epoch(3, 158.0, True),
        epoch(4, 1000.0, False),
        epoch(5, 170.0, True),
        epoch(6, 1010.0, False),
    ]
    rate = training_rate(history)
    assert (rate.images_per_s, rate.epochs, rate.disturbed, rate.reliable) == (
        1000.0,
        [2, 4, 6],
        [3, 5],
        True,
    )


def test_every_epoch_disturbed_gives_the_steady_median_marked_unreliable():
    history = [epoch(1, 100.0, True), epoch(2, 150.0, True), epoch(3, 170.0, True)]
    rate = training_rate(history)
    assert (rate.images_per_s, rate.epochs, rate.reliable) == (160.0, [2, 3], False)


def test_epochs_of_unknown_load_count_but_leave_the_rate_unsure():
    # A run from before epochs recorded their load, or a machine without /proc/stat.
    history = [epoch(1, 500.0, None), epoch(2, 990.0, None), epoch(3, 1010.0, False)]
    rate = training_rate(history)
    assert (rate.images_per_s, rate.epochs, rate.reliable) == (1000.0, [2, 3], None)
    assert training_rate([]) is None
    one = training_rate([epoch(1, 400.0, False)])  # a one-epoch run: its only epoch
    assert (one.images_per_s, one.epochs) == (400.0, [1])


def test_the_measurement_summary_counts_rows_by_hand():
    comparison = pd.DataFrame(
        {
            "contended": [True, False, None, False],
            "other_cores": [1.4, 0.1, None, 0.2],
            "reliable": [False, True, None, False],  # the last: its blocks spread
            "attempts": [3, 1, 1, 2],
        }
    )
    limits = pd.DataFrame(
        {"contended": [False], "other_cores": [0.05], "reliable": [True], "attempts": [1]}
    )
    got = measurement_summary([comparison, limits, None], 2)
    assert got == {
        "total": 5,
        "disturbed": 1,
        "unreliable": 2,
        "unknown": 1,
        "measured_again": 2,
        "max_other_cores": 1.4,
        "logical_cores": 2,
    }
    empty = measurement_summary([None], None)
    assert (empty["total"], empty["max_other_cores"]) == (0, None)
