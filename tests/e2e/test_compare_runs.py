"""Comparing runs across machines (flows/compare_flow.py, lab1.compare.crossrun) on real small runs.

Two runs are made with the lab1 functions (tiny data, one short epoch, CPU profiling of a
few configs): ``lap`` at 1 thread, batch sizes 8 and 16, with machine limits and a step-time
ladder; ``box`` at 2 threads, batch sizes 16 and 32, trained at another batch size. A third,
``srv``, is ``box`` copied and edited the way a run directory from another machine looks: its
own name, another CPU in its manifest and another device name in its tables.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import small_recipe, write_mnist_layout
from rundirs import read_history, start_run

from lab1 import fmt
from lab1.atomic import write_json
from lab1.compare import crossrun
from lab1.compare.within import combine_and_compare
from lab1.config import DRY_RUN_LADDER, DRY_RUN_SCHEDULE
from lab1.host.environment import capture_environment, machine_key, measured_on
from lab1.measure.profiling import profile_config
from lab1.measure.stepmodel import time_ladder
from lab1.report import crossfindings
from lab1.report.findings import Finding
from lab1.report.sentences import sentence
from lab1.run import data
from lab1.run.manifest import read_manifest, update_manifest, write_manifest
from lab1.run.train import train_and_log
from lab1.rundir import TABLES, ComparisonPaths, RunPaths
from lab1.schemas import (
    CROSS_COMPARISON_SCHEMA,
    LIMITS_SCHEMA,
    SCHEMAS,
    STEP_TIMES_SCHEMA,
    TIME_SPLIT_SCHEMA,
    read_parquet,
    write_parquet,
)

ROOT = Path(__file__).resolve().parents[2]
OTHER_CPU = "Intel(R) Xeon(R) Platinum 8480+ (edited by the test)"
OTHER_ID = machine_key(OTHER_CPU, 112, [], "other-host")


LAP_PEAK = 123.4  # GFLOP/s


def _limits(run_id: str, threads: int) -> list[dict]:
    """Limits rows as lab1.measure.limits writes them, with known values: the microbenchmarks (a
    512 MiB copy) have their own tests and would double this module's time on 2 busy cores."""
    base = {"run_id": run_id, **measured_on("cpu"), "threads": threads}
    return [
        {**base, "dtype": "float32", "what": "matmul_peak", "value": LAP_PEAK, "unit": "GFLOP/s",
         "note": "test"},
        {**base, "dtype": "bfloat16", "what": "matmul_peak", "value": None, "unit": "GFLOP/s",
         "note": "test: not supported"},
        {**base, "dtype": "float32", "what": "memory_bandwidth", "value": 9.5, "unit": "GB/s",
         "note": "test"},
        {**base, "dtype": "float32", "what": "dispatch_floor", "value": 3.25, "unit": "µs",
         "note": "test"},
    ]  # fmt: skip


def _make_run(runs: Path, datasets: Path, name: str, sizes, threads: int, train_bs: int) -> Path:
    run = start_run(
        runs / name,
        parameters={
            "epochs": 1,
            "batch_size": train_bs,
            "test_batch_size": 50,
            "dry_run": True,
            "batch_sizes": list(sizes),
            "cpu_threads": [str(threads)],
        },
        devices={"resolved": ["cpu"], "training": "cpu"},
        environment=capture_environment(),
    )
    info = data.prepare_dataset("mnist", datasets, run.data)
    recipe = small_recipe(info.checksum, train_bs)
    # 1 epoch of 3 batches, 1 test batch
    trained = train_and_log(info.path, "cpu", run.tensorboard, run.checkpoints, recipe, 1, 10, 3, 1)
    for bs in sizes:
        result = profile_config(
            info.path,
            "mnist",
            "cpu",
            bs,
            run,
            name,
            DRY_RUN_SCHEDULE,
            seed=1,
            lr=1.0,
            threads=threads,
        )
        write_json(run.profile_result("cpu", "fp32", bs, threads), result)
    if name == "lap":
        write_parquet(_limits(name, threads), LIMITS_SCHEMA, run.limits_part("cpu", threads))
    ladder = time_ladder(
        info.path, "mnist", "cpu", threads, name, seed=1, lr=1.0, sizes=DRY_RUN_LADDER
    )
    write_parquet(ladder, STEP_TIMES_SCHEMA, run.ladder_part("cpu", threads))
    combine_and_compare(run, name)
    update_manifest(run, dataset=info.to_dict(), training=trained, status="completed")
    return run.root


def copy_as_other_machine(src: Path, dst: Path, run_id: str, other_data_size: bool) -> Path:
    """``src`` copied as another machine's run: its own run id, another CPU in the manifest
    and in the tables' device names."""
    shutil.copytree(src, dst)
    paths = RunPaths(dst)
    m = read_manifest(paths)
    m.run_id = m.run_name = run_id
    m.run_dir = str(dst)
    m.environment = dataclasses.replace(
        m.environment, cpu_model=OTHER_CPU, vcpus=112, hostname="other-host", machine_id=OTHER_ID
    )
    if other_data_size:  # the other machine ran on the other kind of data (full / subset)
        m.dataset = dataclasses.replace(m.dataset, full=not m.dataset.full)
    write_manifest(paths, m)
    for name in TABLES:
        if paths.table(name).is_file():
            df = read_parquet(paths.table(name), SCHEMAS[name])
            df = df.assign(run_id=run_id, machine_id=OTHER_ID, device_name=OTHER_CPU)
            write_parquet(df, SCHEMAS[name], paths.table(name))
    return dst


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """The runs folder: lap, box (made here) and srv (box, as from another machine)."""
    root = tmp_path_factory.mktemp("cross")
    write_mnist_layout(root / "datasets")
    runs = root / "runs"
    _make_run(runs, root / "datasets", "lap", (4, 8), threads=1, train_bs=16)
    _make_run(runs, root / "datasets", "box", (8, 16), threads=1, train_bs=32)
    copy_as_other_machine(runs / "box", runs / "srv", "srv", other_data_size=True)
    return runs


def _own(run: Path) -> pd.DataFrame:
    return read_parquet(RunPaths(run).table("comparison"), SCHEMAS["comparison"])


@pytest.fixture(scope="module")
def flowed(runs, prefect_harness) -> dict:
    """The flow, once: lap (baseline), box and srv."""
    from flows.compare_flow import compare_flow

    return compare_flow(runs=["lap", str(runs / "box"), "srv"], runs_dir=str(runs), name="cmp")


def test_comparison_rows_equal_each_runs_own_table_and_the_ratio(runs, flowed):
    out = ComparisonPaths.named(runs, "cmp")
    assert flowed["out"] == str(out.root)
    cmp = read_parquet(out.table("comparison"), CROSS_COMPARISON_SCHEMA)
    own = {r: _own(runs / r).set_index(["batch_size", "phase"]) for r in ("lap", "box", "srv")}
    # lap: 2 sizes, box and srv: 2 sizes each; 2 phases
    assert sorted(cmp.groupby("run_id").size().items()) == [("box", 4), ("lap", 4), ("srv", 4)]
    for r in cmp.itertuples():
        mine = own[r.run_id].loc[(r.batch_size, r.phase)]
        assert (r.images_per_s, r.ms_per_step, r.us_per_sample) == (
            mine.images_per_s,
            mine.ms_per_step,
            mine.us_per_sample,
        )
        # Only batch 8 was run by lap (the baseline) and the others; batch 16 has no baseline row.
        if r.batch_size in own["lap"].index.get_level_values(0):
            base = own["lap"].loc[(r.batch_size, r.phase)]
            assert r.speedup_vs_baseline == pytest.approx(mine.images_per_s / base.images_per_s)
            assert (r.baseline_run_id, r.baseline_threads) == ("lap", 1)
        else:
            assert pd.isna(r.speedup_vs_baseline)
    # Operators and time splits only where every run profiled: batch 8.
    split = read_parquet(out.table("time_split"), TIME_SPLIT_SCHEMA)
    assert set(split["batch_size"]) == {8} and set(split["run_id"]) == {"lap", "box", "srv"}
    lap = cmp[cmp["run_id"] == "lap"]
    assert (lap["speedup_vs_baseline"] == 1.0).all()
    machines = cmp.drop_duplicates("run_id").set_index("run_id")["machine_id"]
    assert machines["lap"] == machines["box"] != machines["srv"] == OTHER_ID
    assert set(cmp.loc[cmp["run_id"] == "srv", "device_name"]) == {OTHER_CPU}


def test_report_puts_machines_throughput_model_and_training_side_by_side(runs, flowed):
    out = ComparisonPaths.named(runs, "cmp")
    md = out.report_md.read_text()
    sections = ("Machines", "Throughput per batch size", "Step-time model", "Training", "Top op")
    for section in sections:
        assert f"## {section}" in md
    # Both machines, with lap's measured limit (the only run that measured them).
    assert OTHER_CPU in md and read_manifest(RunPaths(runs / "lap")).environment.cpu_model in md
    assert "cpu · 1 thread: 123 GFLOP/s" in md  # LAP_PEAK, as fmt.gflops prints it
    # box trained at batch 32, lap at 16: box's accuracy is not comparable; srv's data is
    # full where the others' is a subset (or the other way round): the loud warning.
    training = md.split("## Training")[1].split("## ")[0]
    rows = {line.split("`")[1]: line for line in training.splitlines() if line.startswith("| `")}
    assert sorted(rows) == ["box", "lap", "srv"]
    assert "not comparable" in rows["box"] and "not comparable" in rows["srv"]
    assert "not comparable" not in rows["lap"]
    assert "> ⚠ **Subset beside full data**" in md.split("## Machines")[0]
    assert out.figure("throughput").is_file() and out.figure("roofline").is_file()
    assert "](figures/throughput.png)" in md and "](figures/roofline.png)" in md
    assert 'src="data:image/png;base64,' in out.report_html.read_text()
    assert not out.building.root.exists()


def test_history_gets_each_compared_run_once(runs, flowed):
    assert flowed["history"] == {"lap": "appended", "box": "appended", "srv": "appended"}
    before = read_history(runs, "comparison")
    assert sorted(before["run_id"].unique()) == ["box", "lap", "srv"]
    plan = {"runs": [str(runs / "srv")], "runs_dir": str(runs)}
    assert crossrun.add_to_history(plan) == {"srv": "already in history"}
    assert len(read_history(runs, "comparison")) == len(before)


def test_a_run_from_elsewhere_is_never_written_into_the_history(runs, flowed):
    """Someone else's run directory (outside runs_dir) is compared, never kept: its tables'
    bytes (or a table it links to) never become part of this runs folder's history."""
    other = _corrupt(runs, "elsewhere", _with_manifest(run_id="elsewhere"))
    done = crossrun.add_to_history({"runs": [other], "runs_dir": str(runs)})
    assert done == {"elsewhere": "not added (a run from elsewhere is compared, never kept)"}
    assert not (runs / "history" / "comparison" / "run_id=elsewhere").exists()


def test_chinese_report_has_the_same_numbers(runs, flowed):
    plan = crossrun.check(
        crossrun.locate(["lap", "srv"], runs), runs, baseline="srv", name="cmp-zh"
    )
    from lab1.report import crossrun as report

    crossrun.write_tables(plan)
    report.write_report(plan, "zh")
    out = ComparisonPaths.named(runs, "cmp-zh")
    md = out.report_md.read_text()
    cmp = read_parquet(out.table("comparison"), CROSS_COMPARISON_SCHEMA)
    lap8 = cmp[(cmp["run_id"] == "lap") & (cmp["batch_size"] == 8)].iloc[0]
    assert "## 机器" in md and "相对基准的加速比" in md
    assert fmt.ratio(lap8.speedup_vs_baseline) in md  # lap over srv, the baseline here
    assert "不可比较" in md


# --------------------------------------------------------------------------- bad inputs


def _corrupt(runs: Path, name: str, how) -> str:
    dst = runs.parent / "bad" / name
    shutil.copytree(runs / "lap", dst)
    how(RunPaths(dst))
    return str(dst)


def _with_manifest(**changes):
    def edit(paths: RunPaths) -> None:
        d = json.loads(paths.manifest.read_text())
        d.update(changes)
        paths.manifest.write_text(json.dumps(d))

    return edit


def _other_sizes(paths: RunPaths) -> None:
    """A run of its own (run id b32) that profiled batch sizes 32 and 64 only."""
    _with_manifest(run_id="b32")(paths)
    df = read_parquet(paths.table("comparison"), SCHEMAS["comparison"])
    df = df.assign(batch_size=df["batch_size"] * 4)
    write_parquet(df, SCHEMAS["comparison"], paths.table("comparison"))


def _nested(paths: RunPaths) -> None:
    """A manifest nested 5,000 lists deep: JSON, but no lab1 manifest."""
    paths.manifest.write_text('{"schema_version": 3, "x": ' + "[" * 5000 + "]" * 5000 + "}")


def _text_accuracy(paths: RunPaths) -> None:
    d = json.loads(paths.manifest.read_text())
    d["environment"]["vcpus"] = "64"
    paths.manifest.write_text(json.dumps(d))


def _huge_manifest(paths: RunPaths) -> None:
    with open(paths.manifest, "r+b") as f:  # 300 MB on paper (sparse: no disk is used)
        f.truncate(300 * 10**6)


def _linked(rel: str):
    def link(paths: RunPaths) -> None:
        target = paths.root.parent.parent / "secret" / Path(rel).name
        target.parent.mkdir(exist_ok=True)
        shutil.copy(paths.root / rel, target)
        (paths.root / rel).unlink()
        (paths.root / rel).symlink_to(target)

    return link


BAD = {
    "nested 5000 deep": (
        lambda runs: ["lap", _corrupt(runs, "deep", _nested)],
        "manifest.json is nested too deep",
    ),
    "a string where a number belongs": (
        lambda runs: ["lap", _corrupt(runs, "text", _text_accuracy)],
        "environment.vcpus: expected an integer, got str '64'",
    ),
    "a 300 MB manifest": (
        lambda runs: ["lap", _corrupt(runs, "huge", _huge_manifest)],
        "manifest.json is over 2 MiB",
    ),
    "a linked manifest": (
        lambda runs: ["lap", _corrupt(runs, "lnm", _linked("manifest.json"))],
        "manifest.json is a link: not followed",
    ),
    "a linked table": (
        lambda runs: ["lap", _corrupt(runs, "lnt", _linked("compare/comparison.parquet"))],
        "compare/comparison.parquet is a link: not followed",
    ),
    "missing": (lambda runs: ["lap", "no-such-run"], "no run directory 'no-such-run'"),
    "unreadable manifest": (
        lambda runs: ["lap", _corrupt(runs, "garbled", lambda p: p.manifest.write_text("{"))],
        "manifest.json is not JSON",
    ),
    "unknown version": (
        lambda runs: ["lap", _corrupt(runs, "v9", _with_manifest(schema_version=9))],
        "schema_version 9",
    ),
    "failed": (
        lambda runs: ["lap", _corrupt(runs, "f", _with_manifest(status="failed", run_id="f"))],
        "is failed",
    ),
    "interrupted": (
        lambda runs: ["lap", _corrupt(runs, "i", _with_manifest(status="interrupted", run_id="i"))],
        "is interrupted",
    ),
    "one run": (lambda runs: ["lap"], "two or more distinct runs"),
    "the same run twice": (lambda runs: ["lap", str(runs / "lap")], "two or more distinct runs"),
    "a copy of the same run": (
        lambda runs: ["lap", _corrupt(runs, "copy", lambda p: None)],
        "are the same run (lap)",
    ),
    "nothing in common": (
        lambda runs: ["lap", _corrupt(runs, "b32", _other_sizes)],
        "no configuration in common",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_exit_2_and_nothing_written(case, runs, capsys):
    from flows.compare_flow import main

    make_args, message = BAD[case]
    args = make_args(runs)
    before = sorted(p.name for p in runs.iterdir())
    name = f"never-{case.replace(' ', '-')}"  # its own: a case that wrongly wrote one fails alone
    assert main([*args, "--runs-dir", str(runs), "--name", name]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err
    assert not ComparisonPaths.named(runs, name).root.exists()
    assert not ComparisonPaths.named(runs, name).building.root.exists()
    assert sorted(p.name for p in runs.iterdir()) == before


def test_cli_exits_2_with_one_line_in_a_fresh_process(runs):
    proc = subprocess.run(
        [sys.executable, "flows/compare_flow.py", "lap", "gone", "--runs-dir", str(runs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"error: no run directory 'gone': not a directory, nor a run under {runs}"
    ]


# --------------------------------------------------------------------------- findings


def _model(run_id, fixed_ms, per_us):
    return {
        "run_id": run_id,
        "machine_id": f"m-{run_id}",
        "device": "cpu",
        "precision": "fp32",
        "threads": 1,
        "phase": "train_step",
        "fixed_ms": fixed_ms,
        "per_sample_us": per_us,
    }


def test_step_models_cross_where_fixed_and_per_image_costs_disagree():
    # t = 2 ms + B × 1 µs against t = 0.5 ms + B × 11 µs: equal at B = 1.5 ms / 10 µs = 150.
    model = pd.DataFrame([_model("gpu", 2.0, 1.0), _model("lap", 0.5, 11.0)])
    runs = pd.DataFrame({"run_id": ["lap", "gpu"], "baseline": [True, False]})
    (found,) = crossfindings.step_models(model, runs)
    assert found.kind == "crossover" and found.values["batch"] == pytest.approx(150.0)
    assert "below batch 150 lap · cpu · 1 thread is faster" in sentence(found)
    assert "小于 150 时 lap · CPU · 1 线程 更快" in sentence(found, "zh")
    # One model below the other everywhere: no crossing.
    model = pd.DataFrame([_model("gpu", 0.4, 1.0), _model("lap", 0.5, 11.0)])
    (found,) = crossfindings.step_models(model, runs)
    assert found == Finding("model_ahead", found.values)
    assert found.values["ahead"]["run"] == "gpu"
    # Crossing below one image per batch (at 0.5): the larger fixed cost wins at every batch.
    model = pd.DataFrame([_model("gpu", 1.0005, 1.0), _model("lap", 1.0, 2.0)])
    (found,) = crossfindings.step_models(model, runs)
    assert found.kind == "model_ahead" and found.values["ahead"]["run"] == "gpu"


def _rows(run_id, machine, *configs):
    """Comparison rows: (device, precision, threads, images/s) at batch 64, train_step."""
    return pd.DataFrame(
        [
            {"run_id": run_id, "machine_id": machine, "device": d, "precision": p,
             "threads": t, "batch_size": 64, "phase": "train_step", "images_per_s": ips}
            for d, p, t, ips in configs
        ]
    )  # fmt: skip


@pytest.mark.parametrize(
    "other, expected",
    [
        # a GPU server against a CPU-only laptop: its cuda row meets the laptop's most threads
        (_rows("gpu", "M2", ("cuda", "fp32", 16, 1500.0)), [1500 / 150]),
        # an fp32 + bf16 run against an fp32 run: precision is shared, bf16 has no baseline
        (_rows("b", "M1", ("cpu", "fp32", 2, 160.0), ("cpu", "bf16", 2, 300.0)), [160 / 150, None]),
        # a run at 1 thread against one at 1 and 2: 1 thread meets 1 thread
        (_rows("t1", "M1", ("cpu", "fp32", 1, 90.0)), [90 / 100]),
        # a run at 2 threads only against one at 1 only: no thread count shared
        (_rows("t2", "M1", ("cpu", "fp32", 2, 180.0)), "against 1 thread only"),
    ],
)
def test_each_row_meets_the_baseline_row_that_shares_its_axes(other, expected):
    base = _rows("lap", "M1", ("cpu", "fp32", 1, 100.0), ("cpu", "fp32", 2, 150.0))
    if expected == "against 1 thread only":
        base, expected = base[base["threads"] == 1], [180 / 100]
    got = list(crossrun.match_baseline(other, base)["speedup_vs_baseline"])
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert pd.isna(g) if e is None else g == pytest.approx(e)


@pytest.mark.slow
def test_the_comparison_prints_whole_on_a4(runs, flowed):
    """report.pdf beside report.html: every word of every table on the paper (the "kind of
    work" table is the widest), A4 (210 × 297 mm = 595.3 × 841.9 pt)."""
    from pdftext import PAGE_POINTS, missing_words, page_sizes, page_texts, unembedded_fonts

    from lab1.report.browser import find_chromium

    out = ComparisonPaths.named(runs, "cmp")
    if find_chromium() is None:
        assert flowed["report_pdf"] is None and not out.report_pdf.exists()
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is not installed: run scripts/ensure_chromium.sh (as root)")
        pytest.skip("chromium is not installed")
    assert flowed["report_pdf"] == str(out.report_pdf)
    ((w, h),) = page_sizes(out.report_pdf)
    assert (w, h) == pytest.approx(PAGE_POINTS["a4"], abs=1.0)
    assert not missing_words("\n".join(page_texts(out.report_pdf)), out.report_md.read_text())
    assert unembedded_fonts(out.report_pdf) == []
