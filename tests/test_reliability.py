"""How sure a number is (lab1.reliability), and tables written before lab1 measured it."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lab1.errors import RunDirError
from lab1.reliability import judge, relative_spread
from lab1.tables import STEP_TIMES_SCHEMA, read_parquet


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
