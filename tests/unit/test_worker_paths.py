"""What a profiling worker on another host sends back and keys its cache by: paths relative to
the run (lab1.rundir.RunPaths.relative, .located) and a scratch folder's place, the same on
every host (lab1.store.scratch_identity, worker_scratch)."""

from __future__ import annotations

from pathlib import Path

from lab1.rundir import RunPaths
from lab1.store import scratch_identity, worker_scratch


def test_a_workers_record_names_the_runs_files_relative_to_the_run(tmp_path):
    root = tmp_path / "scratch" / "r1"
    paths = RunPaths(root)
    record = {
        "op_stats": f"{root}/profiles/parts/op_stats_cpu_fp32_t1_bs2.parquet",
        "traces": {"inference": f"{root}/profiles/traces/t/inference.pt.trace.json.gz"},
        "runs": [f"{root}/data/mnist.pt", f"{tmp_path}/elsewhere/mnist.pt"],
        "sibling": f"{root}-other/x.json",  # a neighbour whose name starts like the run's
        "device": "cpu",
        "batch_size": 2,
    }
    assert paths.relative(record) == {
        "op_stats": "profiles/parts/op_stats_cpu_fp32_t1_bs2.parquet",
        "traces": {"inference": "profiles/traces/t/inference.pt.trace.json.gz"},
        "runs": ["data/mnist.pt", f"{tmp_path}/elsewhere/mnist.pt"],
        "sibling": f"{root}-other/x.json",
        "device": "cpu",
        "batch_size": 2,
    }


def test_a_recorded_path_is_found_under_the_run_that_reads_it(tmp_path):
    paths = RunPaths(tmp_path / "parent" / "r1")
    assert (
        paths.located("profiles/parts/a.parquet") == tmp_path / "parent/r1/profiles/parts/a.parquet"
    )
    # An older run's record holds absolute paths: they stay as they are.
    assert paths.located("/srv/runs/r1/profiles/parts/a.parquet") == Path(
        "/srv/runs/r1/profiles/parts/a.parquet"
    )


def test_a_scratch_path_is_named_the_same_on_every_host(tmp_path, monkeypatch):
    url = "s3://course/runs/week1/r1"
    named = []
    for host in ("gpu-host", "laptop"):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / host / ".cache"))
        run = worker_scratch(url, "cuda:0")
        assert run == tmp_path / host / ".cache/lab1/store/profiling/cuda0/course/runs/week1/r1"
        named.append((scratch_identity(str(run)), scratch_identity(str(run / "data/mnist.pt"))))
    assert (
        named[0]
        == named[1]
        == (
            "scratch:profiling/cuda0/course/runs/week1/r1",
            "scratch:profiling/cuda0/course/runs/week1/r1/data/mnist.pt",
        )
    )
    # A path outside the scratch folder is its own name; none is none.
    assert scratch_identity(str(tmp_path / "runs" / "r1")) == str(tmp_path / "runs" / "r1")
    assert scratch_identity(None) is None
