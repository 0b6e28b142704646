"""A class's submissions (lab1.classroom.submission, lab1.classroom.checks,
lab1.classroom.classview, flows/class_flow.py).

One class folder, built once for the module from make_run's runs (the real compare step and
report), packed with lab1.classroom.pack: good packs, an unpacked run directory, a copy of another
student's pack, a pack with a table edited by hand (its pack.json redone to match), a zip
with a ``../`` member, random bytes named .lab1.zip, a zip bomb, a folder without a run, a
pack whose model.pt would write a file if unpickled, and a run with markup in its CPU name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from classruns import handed_in_run
from test_report import ENV
from test_untrusted_text import EVIL_CPU, live_markup

from lab1.classroom import checks, classreport, classview
from lab1.classroom.pack import pack_run
from lab1.classroom.submission import (
    MAX_MEMBER_BYTES,
    Refused,
    check_member_name,
    open_submission,
    read_table_bytes,
)
from lab1.errors import ClassError
from lab1.rundir import ClassPaths

ROOT = Path(__file__).resolve().parents[2]


class Trap:
    """Unpickled, it creates ``path`` (pickle calls open(path, "w"))."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def rezip(src: Path, dst: Path, change=None, add: dict | None = None) -> Path:
    """A copy of a pack with members changed (name → bytes → bytes) or added."""
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    for name, fn in (change or {}).items():
        members[name] = fn(members[name])
    members.update(add or {})
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in members.items():
            z.writestr(n, data)
    return dst


def edited_table(data: bytes) -> bytes:
    """The comparison table with every images/s made 10× faster, as a student might."""
    t = pq.read_table(pa.BufferReader(data)).to_pandas()
    t["images_per_s"] = t["images_per_s"] * 10
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(t, preserve_index=False), buf)
    return buf.getvalue()


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    root = tmp_path_factory.mktemp("klass")
    made = root / "made"
    runs = {
        n: handed_in_run(made / f"{n}-run", **kw)
        for n, kw in {
            "alice": {},
            "bob": {"devices": ("cpu",)},
            "dave": {},
            "judy": {"env": {**ENV, "cpu_model": EVIL_CPU}},
        }.items()
    }
    packs = {n: Path(pack_run(r, made / f"{n}.lab1.zip")["pack"]) for n, r in runs.items()}
    cls = root / "class"
    cls.mkdir()
    (cls / "alice").mkdir()
    shutil.copy(packs["alice"], cls / "alice" / "submission.lab1.zip")
    shutil.copytree(runs["bob"], cls / "bob" / "lab1" / "bob-run")  # unpacked, one level down
    shutil.copy(packs["alice"], cls / "carol.lab1.zip")  # a copy of alice's pack

    def redo_index(raw: bytes) -> bytes:  # the edited table's new hash written in pack.json
        index = json.loads(raw)
        index["files"]["compare/comparison.parquet"]["sha256"] = hashlib.sha256(edited).hexdigest()
        return json.dumps(index).encode()

    with zipfile.ZipFile(packs["dave"]) as z:
        edited = edited_table(z.read("compare/comparison.parquet"))
    rezip(
        packs["dave"],
        cls / "dave.lab1.zip",
        {"compare/comparison.parquet": lambda _: edited, "pack.json": redo_index},
    )
    with zipfile.ZipFile(cls / "eve.lab1.zip", "w") as z:
        z.writestr("manifest.json", "{}")
        z.writestr("../escaped.txt", "out of the folder")
    (cls / "frank.lab1.zip").write_bytes(os.urandom(4096))
    bomb = zipfile.ZipFile(cls / "grace.lab1.zip", "w", zipfile.ZIP_DEFLATED)
    with bomb, bomb.open("manifest.json", "w", force_zip64=True) as f:
        for _ in range(24):  # 24 MiB of zeros (under the member cap) deflate to ~24 KiB
            f.write(bytes(1 << 20))
    (cls / "heidi").mkdir()
    (cls / "heidi" / "notes.txt").write_text("I ran it, honest")
    marker = root / "UNPICKLED"
    trap = pickle.dumps(Trap(marker))
    rezip(packs["alice"], made / "ivan-base.lab1.zip")
    rezip(packs["judy"], cls / "ivan.lab1.zip", add={"model.pt": trap})
    # ivan is judy's run with a trap beside it: judy hands in her own pack, too.
    (cls / "judy").mkdir()
    shutil.copy(packs["judy"], cls / "judy" / "judy.lab1.zip")
    before = files_under(root)
    runs_dir = root / "runs"
    plan = classview.check_inputs([str(cls)], runs_dir, "week1")
    assessed = [classview.assess(s, e, r) for s, e, r in plan["submissions"]]
    out = classview.build(plan, assessed, "en")
    return {
        "root": root,
        "cls": cls,
        "runs_dir": runs_dir,
        "out": Path(out["out"]),
        "result": out,
        "assessed": assessed,
        "before": before,
        "marker": marker,
        "trap": trap,
        "plan": plan,
    }


def status(klass) -> dict[str, tuple[str, str]]:
    df = pd.read_parquet(klass["out"] / "class.parquet")
    return {r.student: (r.status, r.reasons) for r in df.itertuples()}


def test_each_submission_gets_its_verdict(klass):
    s = status(klass)
    assert set(s) == {
        "alice", "bob", "carol", "dave", "eve", "frank", "grace", "heidi", "ivan", "judy"
    }  # fmt: skip
    assert s["bob"] == ("accepted", "")
    assert s["alice"][0] == s["carol"][0] == "flagged"
    assert "the same run and tables as carol" in s["alice"][1]
    assert "the same run and tables as alice" in s["carol"][1]
    assert s["dave"][0] == "flagged"
    assert "table(s) comparison changed after the run wrote them" in s["dave"][1]
    assert s["eve"] == ("refused", "member '../escaped.txt' climbs out of the archive ('..')")
    assert s["frank"][0] == "refused" and s["frank"][1].startswith("not a zip archive")
    assert s["grace"][0] == "refused" and "a zip bomb" in s["grace"][1]
    assert s["heidi"][0] == "refused" and s["heidi"][1].startswith("no run")
    assert s["ivan"][0] == "flagged"
    assert "model.pt is not in pack.json (not opened)" in s["ivan"][1]
    # ivan's pack is judy's run: both are flagged as copies, each naming the other.
    assert "the same run and tables as ivan" in s["judy"][1]


def test_the_trap_never_fires_and_is_a_real_one(klass, tmp_path):
    assert not klass["marker"].exists()
    control = tmp_path / "control"  # the same payload, unpickled here on purpose, does write
    pickle.loads(pickle.dumps(Trap(control)))
    assert control.exists()
    with zipfile.ZipFile(klass["cls"] / "ivan.lab1.zip") as z:
        assert z.read("model.pt") == klass["trap"]


def test_nothing_is_written_outside_the_output_folder(klass):
    after = files_under(klass["root"])
    new = after - klass["before"]
    out_rel = klass["out"].relative_to(klass["root"]).as_posix()
    assert new and all(
        n == out_rel or n.startswith(out_rel + "/") or n in ("runs", "runs/classes") for n in new
    ), sorted(n for n in new if not n.startswith(out_rel))
    assert not (klass["root"] / "escaped.txt").exists()
    hidden = [p for p in (klass["runs_dir"] / "classes").iterdir() if p.name.startswith(".")]
    assert hidden == []  # the building folder was renamed into place


def test_class_tables_hold_each_students_numbers_as_their_run(klass):
    df = pd.read_parquet(klass["out"] / "class.parquet").set_index("student")
    cfg = pd.read_parquet(klass["out"] / "class_configs.parquet")
    bob_own = pd.read_parquet(
        klass["cls"] / "bob" / "lab1" / "bob-run" / "compare" / "comparison.parquet"
    )
    bob = cfg[cfg["student"] == "bob"].drop(columns="student").reset_index(drop=True)
    pd.testing.assert_frame_equal(bob, bob_own, check_dtype=False)
    assert set(cfg["student"]) == set(df.index[df["status"] != "refused"])
    # bob trained on cpu at its 16 threads: his bs-16 train step is that row's images/s.
    row = bob_own[
        (bob_own.device == "cpu")
        & (bob_own.threads == 16)
        & (bob_own.batch_size == 16)
        & (bob_own.phase == "train_step")
    ]
    assert df.loc["bob", "train_step_images_per_s_bs16"] == row["images_per_s"].iloc[0]
    assert df.loc["bob", "test_accuracy"] == 0.94  # make_run's last epoch: 0.85 + 3 × 0.03
    assert df.loc["bob", "machine_kind"] == "laptop CPU"  # "Test CPU 9000", 16 vCPUs
    assert df.loc["judy", "cpu_model"] == EVIL_CPU
    assert df.loc["alice", "dataset_full"] == False  # noqa: E712  (a nullable bool column)
    chk = pd.read_parquet(klass["out"] / "checks.parquet")
    assert set(chk.columns) >= {"student", "name", "passed", "detail"}
    assert chk[(chk.student == "dave") & (chk.name == "integrity.tables")]["passed"].tolist() == [
        False
    ]


def test_report_and_feedback_show_no_markup_of_a_submission(klass):
    md = (klass["out"] / "report.md").read_text()
    html = (klass["out"] / "report.html").read_text()
    assert "<img" not in md and not live_markup(html)
    assert "Evil CPU &lt;img" in html
    fb = (klass["out"] / "feedback" / "dave.md").read_text()
    assert "integrity.tables" in fb and "changed after the run wrote them" in fb
    assert sorted(p.name for p in (klass["out"] / "feedback").iterdir()) == [
        f"{s}.md"
        for s in ("alice", "bob", "carol", "dave", "eve", "frank", "grace", "heidi", "ivan", "judy")
    ]
    assert "1 accepted, 5 flagged, 4 refused of 10 submissions." in md


def test_chinese_report_is_written_in_chinese(klass, tmp_path):
    plan = {**klass["plan"], "out": str(tmp_path / "zh" / "week1")}
    classview.build(plan, klass["assessed"], "zh")
    md = (tmp_path / "zh" / "week1" / "report.md").read_text()
    assert "共 10 份提交：1 份通过，5 份待复核，4 份拒收。" in md
    assert "## 全部学生" in md


def test_bad_input_to_the_command_is_one_error_and_nothing_written(klass, tmp_path):
    with pytest.raises(ClassError, match="does not exist"):
        classview.check_inputs([str(tmp_path / "nope")], tmp_path / "runs", None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ClassError, match="no submission found"):
        classview.check_inputs([str(tmp_path / "empty")], tmp_path / "runs", None)
    with pytest.raises(ClassError, match="already exists"):
        classview.check_inputs([str(klass["cls"])], klass["runs_dir"], "week1")
    assert not (tmp_path / "runs").exists()


def test_cli_bad_input_exits_2_with_one_line(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "flows/class_flow.py",
            str(tmp_path / "nope"),
            "--runs-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "does not exist" in lines[0]
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- archive limits


def test_member_names_that_leave_the_folder_are_refused():
    for bad in ("/etc/passwd", "../x", "a/../../x", "C:/x", "a\\b", ""):
        with pytest.raises(Refused):
            check_member_name(bad)
    check_member_name("compare/comparison.parquet")


def test_a_link_member_and_an_oversized_member_are_refused_before_inflating(tmp_path):
    link = zipfile.ZipInfo("manifest.json")
    link.external_attr = (0o120777) << 16  # a symlink's mode
    with zipfile.ZipFile(tmp_path / "link.zip", "w") as z:
        z.writestr(link, "/etc/passwd")
    (tmp_path / "s").mkdir()
    shutil.move(tmp_path / "link.zip", tmp_path / "s" / "link.zip")
    with pytest.raises(Refused, match="is a link"):
        open_submission("s", tmp_path / "s", tmp_path)
    big = zipfile.ZipInfo("run.log")
    with zipfile.ZipFile(tmp_path / "big.zip", "w", zipfile.ZIP_STORED) as z:
        z.writestr(big, b"x")
    # The central directory says the member inflates past the cap; nothing is inflated.
    raw = bytearray((tmp_path / "big.zip").read_bytes())
    cd = raw.rfind(b"PK\x01\x02")
    raw[cd + 24 : cd + 28] = (MAX_MEMBER_BYTES + 1).to_bytes(4, "little")
    (tmp_path / "big.zip").write_bytes(bytes(raw))
    with pytest.raises(Refused, match="inflates to"):
        open_submission("big", tmp_path / "big.zip", tmp_path)


def test_a_member_that_inflates_past_its_declared_size_is_stopped(tmp_path):
    with zipfile.ZipFile(tmp_path / "lie.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("run.log", bytes(200_000))
    raw = bytearray((tmp_path / "lie.zip").read_bytes())
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # both headers say 100 bytes
        at = raw.find(sig)
        raw[at + off : at + off + 4] = (100).to_bytes(4, "little")
    (tmp_path / "lie.zip").write_bytes(bytes(raw))
    with pytest.raises(Refused, match=r"run\.log"):
        open_submission("lie", tmp_path / "lie.zip", tmp_path)


def test_table_row_cap_is_read_from_the_footer(monkeypatch):
    from lab1.run import foreign

    buf = io.BytesIO()
    pq.write_table(pa.table({"x": list(range(10))}), buf)
    monkeypatch.setattr(foreign, "MAX_TABLE_ROWS", 5)
    with pytest.raises(Refused, match="10 rows"):
        read_table_bytes(buf.getvalue(), "comparison")


# --------------------------------------------------------------------------- checks alone


@pytest.fixture(scope="module")
def good(klass):
    """bob's submission, opened: each test changes a copy in memory."""
    return open_submission("bob", klass["cls"] / "bob", klass["cls"])


def _copy(sub):
    import copy

    return copy.deepcopy(sub)


def test_throughput_over_the_runs_own_peak_is_flagged(good):
    sub = _copy(good)
    cmp = sub.tables["comparison"]
    # A peak so that the fastest row's model GFLOP/s is 2× it (images/s × GFLOP/step / bs).
    claimed = (cmp.images_per_s * cmp.model_gflop_per_step / cmp.batch_size).max()
    r = cmp.iloc[0]
    sub.tables["limits"] = pd.DataFrame(
        [
            {
                "device": r.device,
                "threads": r.threads,
                "what": "matmul_peak",
                "dtype": "float32",
                "value": claimed / 2,
                "contended": False,
                "other_cores": 0.0,
                "reliable": True,
            }
        ]
    )
    (c,) = [c for c in checks.plausibility(sub) if c.name == "plausibility.peak"]
    assert c.passed is False and "2.00×" in c.detail
    # The same peak measured while other programs used 1.4 cores: no evidence either way.
    sub.tables["limits"].loc[0, ["contended", "other_cores", "reliable"]] = [True, 1.4, False]
    (c,) = [c for c in checks.plausibility(sub) if c.name == "plausibility.peak"]
    assert c.passed is None
    assert c.detail.startswith("not judged: measured while other programs used 1.4 cores")
    sub.tables["limits"].loc[0, ["contended", "other_cores", "reliable"]] = [False, 0.0, True]
    sub.tables["limits"].loc[0, "value"] = claimed  # at the peak: plausible
    (c,) = [c for c in checks.plausibility(sub) if c.name == "plausibility.peak"]
    assert c.passed


def test_profiled_vs_trained_outside_085_115_is_flagged(good):
    sub = _copy(good)
    tr = sub.manifest.training
    cmp = sub.tables["comparison"]
    e = tr.execution
    row = cmp[
        (cmp.device == e.device)
        & (cmp.threads == e.threads)
        & (cmp.batch_size == 64)
        & (cmp.phase == "train_step")
    ]
    profiled = row["images_per_s"].iloc[0]
    for h in tr.history:  # training at 2× the profiled rate: ratio 0.5
        h.images_per_s = 2 * profiled
    (c,) = [c for c in checks.plausibility(sub) if c.name == "plausibility.profiled_vs_trained"]
    assert not c.passed and "0.50×" in c.detail
    for h in tr.history:  # at the profiled rate ÷ 1.1: ratio 1.10, inside
        h.images_per_s = profiled / 1.1
    (c,) = [c for c in checks.plausibility(sub) if c.name == "plausibility.profiled_vs_trained"]
    assert c.passed and "1.10×" in c.detail


def test_accuracy_outside_its_dataset_and_epochs_is_flagged(good):
    sub = _copy(good)
    sub.manifest.results.test_accuracy = 0.5  # 3 epochs on the subset: floor 80 %
    (c,) = [c for c in checks.plausibility(sub) if c.name == "plausibility.accuracy"]
    assert not c.passed and "outside 80.00%" in c.detail
    sub.manifest.dataset = dataclasses.replace(sub.manifest.dataset, full=True)
    sub.manifest.results.test_accuracy = 0.9995  # full MNIST: over the best published
    (c,) = [c for c in checks.plausibility(sub) if c.name == "plausibility.accuracy"]
    assert not c.passed


def test_a_run_on_a_described_machine_is_flagged(good):
    """LAB1_MACHINE makes lab1 see another machine (tests do it); a handed-in run made so
    names hardware that never ran."""
    sub = _copy(good)
    (c,) = [c for c in checks.consistency(sub) if c.name == "consistency.machine_read"]
    assert c.passed
    sub.manifest.environment = dataclasses.replace(
        sub.manifest.environment, described=True, cpu_model="Apple M2 Pro"
    )
    (c,) = [c for c in checks.consistency(sub) if c.name == "consistency.machine_read"]
    assert not c.passed and "Apple M2 Pro" in c.detail and "LAB1_MACHINE" in c.detail


def test_report_numbers_are_checked_against_the_report_the_recipe_against_the_manifest(good):
    sub = _copy(good)
    by = {c.name: c for c in checks.consistency(sub)}
    assert by["consistency.report_numbers"].passed
    assert by["consistency.recipe"].passed
    assert by["consistency.recipe"].detail == "changed from the reference: epochs 3 (reference 14)"
    assert by["consistency.not_the_result"].passed
    sub.report_md = sub.report_md.replace("3 epochs", "14 epochs").replace(
        "not as the lab's result", "as the result"
    )
    sub.tables["comparison"].loc[0, "images_per_s"] = 123456.0
    by = {c.name: c for c in checks.consistency(sub)}
    assert (
        not by["consistency.report_numbers"].passed
        and "123,456" in by["consistency.report_numbers"].detail
    )
    # The report's prose is never read for the recipe or the subset: the manifest's fields are.
    assert by["consistency.recipe"].detail == "changed from the reference: epochs 3 (reference 14)"
    assert by["consistency.not_the_result"].passed
    assert by["consistency.not_the_result"].detail == (
        "a subset, as the manifest records (dataset.full): not the lab's result"
    )


def test_a_reworded_caveat_does_not_flag_a_dry_run(tmp_path, monkeypatch):
    """The report may word its dry-run caveat as it likes: the check reads parameters.dry_run."""
    from lab1.report import zh
    from lab1.report.sentences import SENTENCES, Renderers

    reworded = Renderers(lambda v: "Only a smoke test of the pipeline.", zh.caveat)
    monkeypatch.setitem(SENTENCES, "caveat", reworded)
    run = handed_in_run(tmp_path / "run", dry_run=True, devices=("cpu",))
    report = (run / "report.md").read_text(encoding="utf-8")
    assert "Only a smoke test of the pipeline." in report and "lab's result" not in report
    by = {c.name: c for c in checks.consistency(open_submission("s", run, tmp_path))}
    assert by["consistency.not_the_result"].passed
    assert by["consistency.not_the_result"].detail == (
        "a dry run and a subset, as the manifest records (parameters.dry_run, dataset.full): "
        "not the lab's result"
    )


def test_a_schema_this_lab1_does_not_know_is_refused(good):
    sub = _copy(good)
    sub.manifest_data["schema_version"] = 99
    assert checks.verdict(checks.structure(sub))[0] == "refused"


# --------------------------------------------------------------------------- the flow


@pytest.mark.slow
def test_class_flow_maps_one_task_per_submission(klass, prefect_harness, tmp_path):
    from flows.class_flow import class_flow

    out = class_flow(inputs=[str(klass["cls"])], name="flowed", runs_dir=str(tmp_path))
    assert (out["students"], out["accepted"], out["flagged"], out["refused"]) == (10, 1, 5, 4)
    assert (tmp_path / "classes" / "flowed" / "report.html").is_file()
    assert not klass["marker"].exists()


def test_the_class_folder_is_readable_by_others_as_its_files(klass):
    """Not mkdtemp's owner-only drwx------: a TA shares the folder as the report inside it."""
    import stat

    assert stat.S_IMODE(klass["out"].stat().st_mode) == 0o755
    assert stat.S_IMODE((klass["out"] / "report.html").stat().st_mode) == 0o644


def test_a_refused_students_row_shows_dashes_not_nan(klass):
    md = (klass["out"] / "report.md").read_text()
    table = md.split("## All students", 1)[1].split("\n## ", 1)[0]
    refused = [line for line in table.splitlines() if "| refused |" in line]
    assert refused, table[:500]
    assert not re.search(r"\bnan\b", table, re.I), refused
    assert all("| – | – | – |" in line for line in refused), refused


def test_a_missing_required_file_is_refused(good):
    sub = _copy(good)
    del sub.sha256["report.md"]
    status, reasons = checks.verdict(checks.structure(sub))
    assert (status, reasons) == ("refused", ["missing report.md or report.zh.md"])


def test_a_file_that_differs_from_pack_json_is_flagged(klass):
    sub = open_submission("judy", klass["cls"] / "judy", klass["cls"])
    (c,) = [c for c in checks.integrity(sub) if c.name == "integrity.files"]
    assert c.passed
    sub.sha256["report.md"] = "0" * 64  # as if report.md were edited after packing
    (c,) = [c for c in checks.integrity(sub) if c.name == "integrity.files"]
    assert not c.passed and c.detail == "report.md differs from its SHA-256 in pack.json"


@pytest.mark.slow
def test_class_report_opens_in_chromium_in_both_languages_and_runs_no_script(klass, tmp_path):
    from browser import chromium_or_skip, chromium_page

    plan = {**klass["plan"], "out": str(tmp_path / "zh" / "week1")}
    classview.build(plan, klass["assessed"], "zh")
    pages = {
        "en": (klass["out"] / "report.html", ["At a glance", "Evil CPU <img src=x"]),
        "zh": (tmp_path / "zh" / "week1" / "report.html", ["概览", "全部学生", "Evil CPU <img"]),
    }
    with chromium_page(chromium_or_skip()) as page:
        for lang, (html, needles) in pages.items():
            page.goto(html.resolve().as_uri())
            page.wait_for(needles)
            assert "PWNED" not in page.evaluate("document.title"), lang
            images = page.evaluate("[...document.images].map(i => i.complete && i.naturalWidth)")
            assert len(images) == 2 and all(images), (lang, images)
            alts = page.evaluate("[...document.images].map(i => i.alt)")
            if lang == "zh":  # the figures' captions (and their labels: catalog.CLASS)
                assert alts == ["各批大小的训练步吞吐量（按机器类型）", "全班测试准确率"]


# --------------------------------------------------------------------------- a busy machine


def _at_training(sub) -> pd.Series:
    """The comparison's rows of the trained config's batch-64 train step."""
    cmp, e = sub.tables["comparison"], sub.manifest.training.execution
    return (
        (cmp.device == e.device)
        & (cmp.threads == e.threads)
        & (cmp.batch_size == 64)
        & (cmp.phase == "train_step")
    )


def _sections(md: str) -> dict[str, str]:
    """A Markdown page's ``## `` sections by title."""
    return {p.split("\n", 1)[0]: p for p in md.split("\n## ")[1:]}


@pytest.mark.parametrize("disturbed", [True, False])
def test_a_busy_machine_is_not_judged_but_an_implausible_quiet_run_is_flagged(
    good, tmp_path, disturbed
):
    # The class: the profiled train step at 6.74× training's images/s. Measured while
    # other programs used 1.4 cores it is no fault (accepted, not judged, not in What to
    # fix); measured undisturbed it is a profile that is not the trained step (flagged).
    sub = _copy(good)
    hit = _at_training(sub)
    cmp = sub.tables["comparison"]
    quiet = [True, 1.4, False] if disturbed else [False, 0.0, True]
    cmp.loc[hit, ["contended", "other_cores", "reliable"]] = quiet
    for h in sub.manifest.training.history:
        h.images_per_s = cmp.loc[hit, "images_per_s"].iloc[0] / 6.74
    found = checks.run_checks(sub)
    (c,) = [c for c in found if c.name == "plausibility.profiled_vs_trained"]
    status, reasons = checks.verdict(found)
    if disturbed:
        assert c.passed is None
        assert c.detail == (
            "not judged: profiled train step / training 6.74×, measured while other programs "
            "used 1.4 cores; re-measure on a quiet machine"
        )
        assert (status, reasons) == ("accepted", [])
    else:
        assert c.passed is False
        assert c.detail == "profiled train step / training: 6.74× (outside 0.85–1.15)"
        assert (status, reasons) == ("flagged", [c.detail])
    judged = {"student": "bob", "checks": found, "status": status}
    for lang, fix, again, cell in (
        ("en", "What to fix", "Measure again", "not judged"),
        ("zh", "需要改正的地方", "重新测量", "未评判"),
    ):
        paths = ClassPaths(tmp_path / lang)
        classreport._feedback(paths, judged, "bob", classreport._t(lang))
        parts = _sections(paths.feedback("bob").read_text(encoding="utf-8"))
        assert ("plausibility.profiled_vs_trained" in parts[fix]) is not disturbed
        assert (again in parts) is disturbed
        if disturbed:
            assert "plausibility.profiled_vs_trained: not judged" in parts[again]
            assert "remeasure_flow.py RUN_DIR" in parts[again]
            assert (
                f"| plausibility.profiled_vs_trained | {cell} |"
                in parts["Checks" if lang == "en" else "检查"]
            )


def test_the_class_report_counts_who_should_measure_again():
    df = pd.DataFrame(
        [
            {"student": "bob", "status": "accepted", "reasons": "", "not_judged": "not judged: x"},
            {"student": "ann", "status": "flagged", "reasons": "r", "not_judged": "not judged: y"},
            {"student": "cy", "status": "accepted", "reasons": "", "not_judged": None},
            {"student": "eve", "status": "refused", "reasons": "bad zip", "not_judged": None},
        ]
    )
    en = classreport._glance(df, classreport._t("en")).blocks
    assert (
        "Not judged, measured on a busy machine: 2 of 3 readable submissions; they should "
        "measure again on a quiet machine: bob, ann."
    ) in en
    cn = classreport._glance(df, classreport._t("zh")).blocks
    assert (
        "因在繁忙的机器上测量而未评判：可读的 3 份提交中有 2 份；"
        "这些学生应在空闲的机器上重新测量：bob, ann。"
    ) in cn
    quiet = classreport._glance(df.assign(not_judged=None), classreport._t("en")).blocks
    assert not any("Not judged" in str(b) for b in quiet)


def test_the_class_tables_leave_out_numbers_measured_unreliably(good):
    sub = _copy(good)
    before = classview.class_row(sub)
    hit = _at_training(sub)
    sub.tables["comparison"].loc[hit, ["contended", "other_cores", "reliable"]] = [True, 1.4, False]
    after = classview.class_row(sub)
    assert before["train_step_images_per_s_bs64"] is not None
    assert after["train_step_images_per_s_bs64"] is None  # no median drawn from it
    assert after["train_step_images_per_s_bs1"] == before["train_step_images_per_s_bs1"]
    assert after["busy"] is True
