"""Runs in an S3-compatible object store (lab1/store.py, --runs-dir s3://, flows/push_flow.py):
against moto's S3 server on 127.0.0.1 (in memory, started by the session, fake credentials)."""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from prefect_server import PREFECT, PrefectServer

from lab1 import store
from lab1.rundir import MANIFEST
from lab1.store import Mirror, StoreError, StoreURL

ROOT = Path(__file__).resolve().parents[2]
FAKE_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 server on a free port of 127.0.0.1, stopped when the session ends."""
    from moto.server import ThreadedMotoServer

    # Its request log would pass through whatever handlers a CLI under test installs.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_endpoint, monkeypatch, tmp_path) -> dict:
    """This test's environment: the server, fake keys, no AWS file or instance metadata to
    fall back on, and its own scratch cache. Returned for subprocesses too."""
    env = {
        **FAKE_KEYS,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    return {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL_S3",)}


@pytest.fixture
def bucket(s3_env) -> str:
    """A fresh, empty bucket of this test's own."""
    name = f"course-{secrets.token_hex(4)}"
    store.filesystem().mkdir(name)
    return name


def objects(bucket: str) -> dict[str, bytes]:
    fs = store.filesystem()
    return {k.split("/", 1)[1]: fs.cat_file(k) for k in fs.find(bucket)}


class PutRecorder:
    """A filesystem that records the order of puts and passes every call on."""

    def __init__(self, fs):
        self.fs, self.puts = fs, []

    def put_file(self, local, key):
        self.puts.append(key)
        return self.fs.put_file(local, key)

    def __getattr__(self, name):
        return getattr(self.fs, name)


# --------------------------------------------------------------------------- lab1/store.py


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://course", "course", ""),
        ("s3://course/", "course", ""),
        ("s3://course/runs/week3/", "course", "runs/week3"),
    ],
)
def test_a_store_url_is_bucket_and_prefix(url, bucket, prefix):
    where = StoreURL.parse(url)
    assert (where.bucket, where.prefix) == (bucket, prefix)
    assert where.child("r1").key("manifest.json") == "/".join(
        p for p in (bucket, prefix, "r1", "manifest.json") if p
    )


@pytest.mark.parametrize("url", ["s3://", "s3:///runs", "s3://b/../x", "s3://b/a//c", "/tmp/x"])
def test_a_malformed_store_url_is_refused(url):
    with pytest.raises(StoreError):
        StoreURL.parse(url)


def test_a_run_is_pushed_whole_with_the_manifest_last(bucket, tmp_path):
    run = tmp_path / "r1"
    (run / "profiles").mkdir(parents=True)
    (run / MANIFEST).write_text('{"status": "running"}')
    (run / "a.txt").write_text("a")
    (run / "profiles" / "op_stats.parquet").write_bytes(b"pq")
    (run / ".report.md.123.tmp").write_text("a half-written file of the atomic writer")
    rec = PutRecorder(store.filesystem())
    mirror = Mirror(run, f"s3://{bucket}/runs/r1", fs=rec)
    assert mirror.sync() == 3
    assert rec.puts[-1] == f"{bucket}/runs/r1/manifest.json"
    assert objects(bucket) == {
        "runs/r1/manifest.json": b'{"status": "running"}',
        "runs/r1/a.txt": b"a",
        "runs/r1/profiles/op_stats.parquet": b"pq",
    }
    # The next step: only what changed goes again (the manifest still last); what the run
    # removed (an old checkpoint) leaves the store.
    rec.puts.clear()
    (run / "b.txt").write_text("b")
    (run / MANIFEST).write_text('{"status": "completed"}')
    (run / "a.txt").unlink()
    assert mirror.sync() == 2
    assert rec.puts == [f"{bucket}/runs/r1/b.txt", f"{bucket}/runs/r1/manifest.json"]
    assert objects(bucket) == {
        "runs/r1/manifest.json": b'{"status": "completed"}',
        "runs/r1/b.txt": b"b",
        "runs/r1/profiles/op_stats.parquet": b"pq",
    }


def test_listing_gives_runs_and_packs_with_sizes_from_metadata(bucket):
    fs = store.filesystem()
    fs.pipe_file(f"{bucket}/subs/alice.lab1.zip", b"x" * 10)
    fs.pipe_file(f"{bucket}/subs/bob/manifest.json", b"{}")
    fs.pipe_file(f"{bucket}/subs/bob/report.md", b"12345")
    fs.pipe_file(f"{bucket}/subs/notes/readme.txt", b"not a run")
    fs.pipe_file(f"{bucket}/subs/.hidden.zip", b"z")
    got = [(e.name, e.kind, e.bytes, e.files) for e in store.list_entries(f"s3://{bucket}/subs")]
    assert got == [("alice.lab1.zip", "pack", 10, 1), ("bob", "run directory", 7, 2)]


def test_pull_checks_the_total_size_before_reading_a_byte(bucket, tmp_path):
    fs = store.filesystem()
    fs.pipe_file(f"{bucket}/runs/r1/manifest.json", b"{}")  # 2 bytes
    fs.pipe_file(f"{bucket}/runs/r1/compare/comparison.parquet", b"12345678")  # 8 bytes
    fs.pipe_file(f"{bucket}/runs/r1/checkpoints/epoch_1.pt", b"w" * 100)
    with pytest.raises(StoreError, match="holds 110 bytes to fetch"):
        store.pull(f"s3://{bucket}/runs/r1", tmp_path / "big", cap=109)
    assert not (tmp_path / "big").exists()
    dest = store.pull(f"s3://{bucket}/runs/r1", tmp_path / "r1", cap=10, skip=("checkpoints/",))
    got = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert got == ["compare/comparison.parquet", "manifest.json"]


def test_a_worker_pulls_only_what_it_reads_and_pushes_only_what_it_wrote(bucket, tmp_path):
    fs = store.filesystem()
    fs.pipe_file(f"{bucket}/runs/r1/{MANIFEST}", b"{}")  # 2 bytes
    fs.pipe_file(f"{bucket}/runs/r1/data/mnist.pt", b"d" * 8)
    fs.pipe_file(f"{bucket}/runs/r1/checkpoints/epoch_1.pt", b"w" * 100)
    fs.pipe_file(f"{bucket}/runs/r1/manifest.json.bak", b"named like the manifest, not it")
    url = f"s3://{bucket}/runs/r1"
    with pytest.raises(StoreError, match="holds 10 bytes to fetch"):
        Mirror(tmp_path / "small", url).pull((MANIFEST, "data/"), cap=9)
    assert not (tmp_path / "small").exists()

    rec = PutRecorder(store.filesystem())
    mirror = Mirror(tmp_path / "w", url, fs=rec)
    assert mirror.pull((MANIFEST, "data/"), cap=10) == ["data/mnist.pt", MANIFEST]
    got = sorted(p.relative_to(mirror.local).as_posix() for p in mirror.local.rglob("*.*"))
    assert got == ["data/mnist.pt", MANIFEST]
    (mirror.local / "profiles").mkdir()
    (mirror.local / "profiles" / "cpu.json").write_text("[]")
    assert mirror.sync() == 1
    assert rec.puts == [f"{bucket}/runs/r1/profiles/cpu.json"]


def test_read_capped_checks_the_size_from_metadata(bucket):
    store.filesystem().pipe_file(f"{bucket}/subs/a.zip", b"x" * 11)
    with pytest.raises(StoreError, match="is 11 bytes"):
        store.read_capped(f"s3://{bucket}/subs/a.zip", cap=10)
    assert store.read_capped(f"s3://{bucket}/subs/a.zip", cap=11) == b"x" * 11


# --------------------------------------------------------------------------- bad input


def _read_only_keys(endpoint: str) -> dict:
    """An IAM user of the server that may read the store but not write to it."""
    import boto3

    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
    user = f"reader-{secrets.token_hex(3)}"
    iam.create_user(UserName=user)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"},
        ],
    }
    arn = iam.create_policy(PolicyName=user, PolicyDocument=json.dumps(policy))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unreachable", "does not answer"),
        ("no credentials", "no AWS credentials"),
        ("no bucket", "does not exist"),
        ("write denied", "may not write to bucket"),
    ],
)
def test_a_bad_store_is_one_line_before_training_and_nothing_is_written(
    case, message, bucket, s3_endpoint, tmp_path, capsys
):
    from flows.lab1_flow import main

    url = f"s3://{bucket}/runs"
    with pytest.MonkeyPatch.context() as mp:
        if case == "unreachable":
            mp.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard: nothing there
        elif case == "no credentials":
            for key in FAKE_KEYS:
                mp.delenv(key)
        elif case == "no bucket":
            url = f"s3://{bucket}-missing/runs"
        else:
            for key, value in _read_only_keys(s3_endpoint).items():
                mp.setenv(key, value)
            import moto.settings

            mp.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
        code = main(["--offline", "--dry-run", "--runs-dir", url, "--run-name", "r1"])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not (tmp_path / "cache" / "lab1").exists()  # no scratch folder
    assert objects(bucket) == {}


def test_a_run_name_taken_in_the_store_is_refused(bucket, tmp_path, capsys):
    from flows.lab1_flow import main

    store.filesystem().pipe_file(f"{bucket}/runs/r1/{MANIFEST}", b"{}")
    code = main(["--offline", "--dry-run", "--runs-dir", f"s3://{bucket}/runs", "--run-name", "r1"])
    err = capsys.readouterr().err
    assert code == 2 and "run 'r1' already exists under s3://" in err, err
    assert not (tmp_path / "cache" / "lab1").exists()


def test_a_failed_upload_leaves_the_run_local_and_names_the_command_that_pushes_it(
    bucket, s3_env, tmp_path, prefect_harness
):
    from flows.bookkeeping import RunBook

    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / MANIFEST).write_text("{}")
    (run / "report.md").write_text("# r1")
    book = RunBook.__new__(RunBook)
    book.cfg = type("Cfg", (), {"runs_dir": f"s3://{bucket}-gone/runs"})()
    book.paths = type("Paths", (), {"root": run})()
    book.mirror, book.push_error = Mirror(run, f"s3://{bucket}-gone/runs/r1"), None
    from prefect import flow

    flow(lambda: book.push())()  # the logger of a flow run, as in the pipeline
    assert "upload of report.md" in book.push_error
    command = book.push_again
    assert command.split()[1:] == ["flows/push_flow.py", str(run), f"s3://{bucket}-gone/runs"]
    # The bucket is back: the printed command (with the store that works) pushes the run.
    proc = subprocess.run(
        [*command.split()[:3], f"s3://{bucket}/runs"],
        cwd=ROOT,
        env={**s3_env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == f"s3://{bucket}/runs/r1"
    assert objects(bucket) == {"runs/r1/manifest.json": b"{}", "runs/r1/report.md": b"# r1"}


# --------------------------------------------------------------------------- a real run


@pytest.mark.slow
def test_a_tiny_lab_run_lands_in_the_store_as_a_run_directory(bucket, s3_env, tmp_path):
    url = f"s3://{bucket}/runs"
    tiny = ["--offline", "--dry-run", "--devices", "cpu", "--batch-sizes", "1", "16"]
    tiny += ["--cpu-threads", "1", "--runs-dir", url, "--run-name", "tiny"]
    proc = subprocess.run(
        [sys.executable, "flows/lab1_flow.py", *tiny],
        cwd=ROOT,
        env={**s3_env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=1200,  # a hang guard: the busy 2-core CI machine takes minutes
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"in the store: {url}/tiny" in proc.stdout
    local = tmp_path / "cache" / "lab1" / "store" / bucket / "runs" / "tiny"
    stored = objects(bucket)
    on_disk = {
        f"runs/tiny/{p.relative_to(local).as_posix()}": p.read_bytes()
        for p in local.rglob("*")
        if p.is_file()
    }
    assert stored == on_disk  # every file, each whole, nothing the run removed
    manifest = json.loads(stored["runs/tiny/manifest.json"])
    assert manifest["status"] == "completed"
    for key in ("report.md", "report.html", "compare/comparison.parquet", "model.pt", "run.log"):
        assert f"runs/tiny/{key}" in stored, key


# --------------------------------------------------------------------------- reading from it


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> dict[str, Path]:
    """Two finished runs (tests/classruns.py: the real compare step and report), each packed."""
    from classruns import handed_in_run

    from lab1.classroom.pack import pack_run

    made = tmp_path_factory.mktemp("store-runs")
    runs = {
        "alice": handed_in_run(made / "runs" / "alice-run"),
        "bob": handed_in_run(made / "runs" / "bob-run", devices=("cpu",)),
    }
    for name, run in list(runs.items()):
        runs[f"{name}.pack"] = Path(pack_run(run, made / f"{name}.lab1.zip")["pack"])
    return runs


def _cli(script: str, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, f"flows/{script}", *args],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_two_runs_compared_from_the_store_as_from_disk(two_runs, bucket, s3_env, tmp_path):
    import pandas as pd

    for name in ("alice", "bob"):
        store.push(two_runs[name], f"s3://{bucket}/runs/{name}-run")
    urls = [f"s3://{bucket}/runs/alice-run", f"s3://{bucket}/runs/bob-run"]
    proc = _cli("compare_flow.py", *urls, "--runs-dir", str(tmp_path / "out"), env=s3_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = tmp_path / "out" / "comparisons" / "alice-run-vs-bob-run" / "comparison.parquet"
    got = pd.read_parquet(table)
    assert sorted(got["run_id"].unique()) == ["alice-run", "bob-run"]
    # Each run's rows carry its own numbers: the images/s of its own comparison table.
    for name in ("alice", "bob"):
        own = pd.read_parquet(two_runs[name] / "compare" / "comparison.parquet")
        rows = got[got["run_id"] == f"{name}-run"]
        assert sorted(rows["images_per_s"]) == sorted(own["images_per_s"])


@pytest.mark.slow
def test_a_run_in_the_store_is_packed_beside_it(two_runs, bucket, s3_env, tmp_path):
    import hashlib
    import zipfile

    run = two_runs["alice"]
    (run / "checkpoints").mkdir(exist_ok=True)
    (run / "checkpoints" / "epoch_1.pt").write_bytes(b"weights, never in a pack")
    store.push(run, f"s3://{bucket}/runs/alice-run")
    proc = _cli("pack_flow.py", f"s3://{bucket}/runs/alice-run", env=s3_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == f"s3://{bucket}/runs/alice-run.lab1.zip"
    data = objects(bucket)["runs/alice-run.lab1.zip"]
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        index = json.loads(z.read("pack.json"))
        names = set(z.namelist())
    assert "checkpoints/epoch_1.pt" not in names
    assert {"manifest.json", "report.md", "compare/comparison.parquet"} <= names
    for name, rec in index["files"].items():  # every member is the run's file, byte for byte
        assert rec["sha256"] == hashlib.sha256((run / name).read_bytes()).hexdigest(), name


@pytest.mark.slow
def test_class_view_over_the_store_on_a_dask_cluster_gives_the_local_verdicts(
    two_runs, bucket, s3_env, tmp_path
):
    import pandas as pd
    from daskcluster import dask_cluster

    from lab1.classroom import classview
    from lab1.classroom.submission import MAX_ARCHIVE_BYTES

    local = tmp_path / "class"
    local.mkdir()
    for student, pack in (("alice", "alice"), ("carol", "alice"), ("bob", "bob")):
        (local / f"{student}.lab1.zip").write_bytes(two_runs[f"{pack}.pack"].read_bytes())
    (local / "frank.lab1.zip").write_bytes(b"not a zip at all")
    fs = store.filesystem()
    for p in local.iterdir():
        fs.put_file(str(p), f"{bucket}/submissions/{p.name}")
    # Over the cap by one byte: refused from its listed size, never downloaded.
    fs.pipe_file(f"{bucket}/submissions/mallory.lab1.zip", bytes(MAX_ARCHIVE_BYTES + 1))

    plan = classview.check_inputs([str(local)], tmp_path / "local-runs", "week1")
    assessed = [classview.assess(*s) for s in plan["submissions"]]
    out = classview.build(plan, assessed)
    here = pd.read_parquet(Path(out["out"]) / "class.parquet")
    expected = {r.student: (r.status, r.reasons) for r in here.itertuples()}
    assert {s: v[0] for s, v in expected.items()} == {
        "alice": "flagged", "carol": "flagged", "bob": "accepted", "frank": "refused"
    }  # fmt: skip

    # A scheduler and two workers, as an operator starts them; the workers import this
    # checkout's lab1 and read the store with the same keys.
    with dask_cluster(workers=2, env={**s3_env, "PYTHONPATH": str(ROOT)}) as cluster:
        proc = _cli(
            "class_flow.py",
            f"s3://{bucket}/submissions",
            *("--runs-dir", f"s3://{bucket}/views", "--name", "week1"),
            *("--dask", cluster.address),
            env=s3_env,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == f"s3://{bucket}/views/classes/week1"
    stored = objects(bucket)
    table = pd.read_parquet(io.BytesIO(stored["views/classes/week1/class.parquet"]))
    got = {r.student: (r.status, r.reasons) for r in table.itertuples()}
    mallory = got.pop("mallory")
    assert got == expected
    assert mallory == ("refused", f"the archive is {MAX_ARCHIVE_BYTES + 1} bytes (cap 33554432)")
    assert "views/classes/week1/report.html" in stored


@pytest.mark.parametrize(
    ("dask", "message"),
    [
        ("tcp://127.0.0.1:9", "--dask tcp://127.0.0.1:9: no Dask scheduler answers"),
        ("local:0", "--dask 'local:0': give tcp://HOST:PORT, or local:N"),
        ("10.0.0.5", "--dask '10.0.0.5': give tcp://HOST:PORT, or local:N"),
    ],
)
def test_a_bad_dask_address_is_one_line_before_anything_starts(dask, message, tmp_path, capsys):
    from flows.class_flow import main

    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "alice.lab1.zip").write_bytes(b"a pack")
    runs = tmp_path / "runs"
    code = main([str(tmp_path / "class"), "--runs-dir", str(runs), "--dask", dask])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), lines
    assert not runs.exists()


# --------------------------------------------------------------------------- a worker elsewhere

# What a GPU host's checkout needs to run the profiling deployment: the code, nothing else.
CODE = ("lab1", "flows", "tasks", "prefect.yaml")
RESULTS_BLOCK = "s3-bucket/lab1-results"


@pytest.fixture(scope="module")
def far_server(tmp_path_factory):
    """A Prefect server of this module's own (no other test's worker polls its pools), with
    the profiling deployments of prefect.yaml on pools lab1-cpu and lab1-gpu."""
    with PrefectServer(tmp_path_factory.mktemp("prefect-home-parent")) as server:
        try:
            for pool in ("lab1-cpu", "lab1-gpu"):
                server.cli("work-pool", "create", pool, "--type", "process")
            # docs/operations.md's command: the two profiling deployments, nothing else.
            server.cli(
                "deploy", "--name", "profile-cpu", "--name", "profile-gpu", cwd=ROOT, timeout=240
            )
            yield server
        finally:
            server.stop()
            assert not server.leftovers(), f"processes left running: {server.leftovers()}"


def _paths_in(value) -> list[str]:
    """Every string of a record that names a path of some host's disk."""
    if isinstance(value, str):
        return [value] if value.startswith(("/", "~")) or ":\\" in value else []
    if isinstance(value, list):
        return [p for v in value for p in _paths_in(v)]
    if isinstance(value, dict):
        return [p for v in value.values() for p in _paths_in(v)]
    return []


@pytest.mark.slow
def test_a_profiling_worker_on_another_host_shares_only_the_store(
    far_server, bucket, s3_env, tmp_path
):
    """--dispatch deployments with an s3:// --runs-dir: the profiling worker runs in a folder
    of its own, with its own checkout, PREFECT_HOME and cache (its runs folder empty), and
    shares nothing with the run's parent but the store and the Prefect server."""
    import shutil

    import pandas as pd

    server = far_server
    host = tmp_path / "gpu-host"  # the other host: its checkout, home and caches
    for part in CODE:
        copy = shutil.copytree if (ROOT / part).is_dir() else shutil.copy2
        copy(ROOT / part, host / "checkout" / part)
    (host / "work" / "runs").mkdir(parents=True)
    store_env = {k: v for k, v in s3_env.items() if k.startswith("AWS_")}
    results = {"PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK": RESULTS_BLOCK}
    # The result storage block: saved once on the server, read by every host.
    save = (
        "from prefect_aws import AwsCredentials, S3Bucket; "
        f"S3Bucket(bucket_name={bucket!r}, bucket_folder='prefect-results', "
        "credentials=AwsCredentials()).save('lab1-results')"
    )
    server.run([sys.executable, "-c", save], env=store_env)

    worker_env = {
        **server.env,
        **store_env,
        **results,
        "PREFECT_HOME": str(host / "prefect-home"),
        "XDG_CACHE_HOME": str(host / "cache"),
        "LAB1_HOME": str(host / "checkout"),
        "PYTHONPATH": str(host / "checkout"),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
    }
    worker = server._popen(
        [PREFECT, "--no-prompt", "worker", "start", "--pool", "lab1-cpu", "--name", "gpu-host"],
        env=worker_env,
        cwd=host / "work",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"s3://{bucket}/runs"
    tiny = ["--offline", "--dry-run", "--devices", "cpu", "--batch-sizes", "2", "--cpu-threads"]
    tiny += ["1", "--dispatch", "deployments", "--runs-dir", url, "--run-name", "far"]
    try:
        proc = subprocess.run(
            [sys.executable, "flows/lab1_flow.py", *tiny],
            cwd=ROOT,
            env={**server.env, **s3_env, **results, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=1200,  # a hang guard: the busy 2-core CI machine takes minutes
        )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a busy machine: the worker did not stop in time
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    stored = objects(bucket)

    # The worker's return value, as Prefect stored it in the result storage block.
    deployments = {d["id"]: d["name"] for d in server.api("POST", "/deployments/filter", {})}
    (child,) = [r for r in server.flow_runs() if deployments.get(r["deployment_id"])]
    assert child["state"]["type"] == "COMPLETED", server.logs(child["id"])
    value = json.loads(stored[f"prefect-results/{child['state']['data']['storage_key']}"])
    (returned,) = value  # one config profiled: one result
    assert _paths_in(value) == []
    part = "profiles/parts/op_stats_cpu_fp32_t1_bs2.parquet"  # RunPaths' name, by hand
    assert returned["op_stats"] == part

    # Its tables in the store, made in the worker's own folder, and in the parent's report.
    assert (
        f"runs/far/{part}" in stored and "runs/far/profiles/results/cpu_fp32_t1_bs2.json" in stored
    )
    made = host / "cache" / "lab1" / "store" / "profiling" / "cpu" / bucket / "runs" / "far"
    assert (made / part).read_bytes() == stored[f"runs/far/{part}"]
    assert list((host / "work" / "runs").iterdir()) == []
    comparison = pd.read_parquet(io.BytesIO(stored["runs/far/compare/comparison.parquet"]))
    worker_rate = {r["phase"]: r["images_per_s"] for r in returned["throughput"]}
    assert dict(zip(comparison["phase"], comparison["images_per_s"], strict=True)) == worker_rate
    manifest = json.loads(stored["runs/far/manifest.json"])
    assert manifest["status"] == "completed"
    # The report's top operators come from the worker's table: its costliest op is named.
    ops = pd.read_parquet(io.BytesIO(stored[f"runs/far/{part}"]))
    ops = ops[(ops["kind"] == "op") & (ops["phase"] == "train_step")]
    costliest = ops.groupby("op_name")["self_cpu_us"].sum().idxmax()
    assert f"{costliest}" in stored["runs/far/report.md"].decode(), costliest
