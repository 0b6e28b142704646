"""Cache keys (tasks/caching.py): a task cached by a profiling worker is found by another host's
worker resuming the same run, and never by another run."""

from __future__ import annotations

from types import SimpleNamespace

from tasks.caching import RUN_CACHE
from tasks.profile import profile


def _key(run_dir: str, data_path: str, **changed) -> str:
    inputs = {
        "data_path": data_path,
        "dataset": "mnist",
        "device": "cuda",
        "batch_size": 64,
        "run_dir": run_dir,
        "run_id": "r1",
        "schedule": {"wait": 1, "warmup": 1, "active": 3},
        "seed": 1,
        "lr": 1.0,
        **changed,
    }
    return RUN_CACHE.compute_key(
        task_ctx=SimpleNamespace(task=profile), inputs=inputs, flow_parameters={}
    )


def test_the_same_run_profiled_on_two_hosts_has_one_cache_key(tmp_path, monkeypatch):
    keys = {}
    for host in ("gpu-host-a", "gpu-host-b"):
        cache = tmp_path / host / ".cache"
        monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
        run = cache / "lab1" / "store" / "profiling" / "cuda" / "course" / "runs" / "r1"
        keys[host] = _key(str(run), str(run / "data" / "mnist.pt"))
    assert keys["gpu-host-a"] == keys["gpu-host-b"]
    # Another run of the same name elsewhere in the bucket, or another batch size: not the same.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "gpu-host-a" / ".cache"))
    other = tmp_path / "gpu-host-a/.cache/lab1/store/profiling/cuda/course/runs-2025/r1"
    assert _key(str(other), str(other / "data" / "mnist.pt")) != keys["gpu-host-a"]
    run = tmp_path / "gpu-host-a/.cache/lab1/store/profiling/cuda/course/runs/r1"
    assert _key(str(run), str(run / "data/mnist.pt"), batch_size=32) != keys["gpu-host-a"]


def test_local_runs_in_two_folders_keep_two_cache_keys(tmp_path):
    a, b = tmp_path / "a" / "runs" / "r1", tmp_path / "b" / "runs" / "r1"
    assert _key(str(a), str(a / "data/mnist.pt")) != _key(str(b), str(b / "data/mnist.pt"))
