"""Hostile submissions in a class of honest ones (lab1.classroom.submission, lab1.classroom.checks,
lab1.classroom.classview): each attack is built from a real packed run (tests/classruns.py), and
each
ends as its own verdict with a one-line reason while the honest runs keep theirs and the class
folder is written whole."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from classruns import handed_in_run, repack

from lab1.classroom import checks, classview
from lab1.classroom.pack import pack_run


def _set(path: str, value):
    """A manifest edit: the field at a dotted path (``results.test_accuracy``) set."""

    def edit(m: dict) -> dict:
        *parents, last = path.split(".")
        at = m
        for p in parents:
            at = at[int(p)] if p.isdigit() else at[p]
        at[int(last) if last.isdigit() else last] = value
        return m

    return edit


# student → (manifest edit, the field its refusal must name)
WRONG_TYPES = {
    "acc_text": (_set("results.test_accuracy", "0.99"), "results.test_accuracy"),
    "epochs_text": (_set("results.epochs_completed", "1"), "results.epochs_completed"),
    "vcpus_text": (_set("environment.vcpus", "64"), "environment.vcpus"),
    "cpu_number": (_set("environment.cpu_model", 123), "environment.cpu_model"),
    "acc_infinite": (_set("results.test_accuracy", math.inf), "results.test_accuracy"),
    "acc_over_1": (_set("results.test_accuracy", 1.5), "results.test_accuracy"),
    "epoch_null": (_set("training.history.0", None), "training.history"),
    "threads_bool": (_set("training.execution.threads", True), "training.execution.threads"),
}


def build_class(root: Path, cls: Path, name: str = "week1") -> Path:
    plan = classview.check_inputs([str(cls)], root / "runs", name)
    assessed = [classview.assess(s, e, r) for s, e, r in plan["submissions"]]
    return Path(classview.build(plan, assessed, "en")["out"])


def verdicts(out: Path) -> dict[str, tuple[str, str]]:
    df = pd.read_parquet(out / "class.parquet")
    return {r.student: (r.status, r.reasons) for r in df.itertuples()}


@pytest.fixture(scope="module")
def honest(tmp_path_factory):
    """Two honest runs, one packed (alice) and one unpacked (bob), made once."""
    root = tmp_path_factory.mktemp("honest")
    alice = handed_in_run(root / "alice-run")
    bob = handed_in_run(root / "bob-run", devices=("cpu",))
    pack = Path(pack_run(alice, root / "alice.lab1.zip")["pack"])
    return {"alice_run": alice, "bob_run": bob, "alice_pack": pack}


def honest_class(honest, cls: Path) -> Path:
    cls.mkdir(parents=True)
    shutil.copy(honest["alice_pack"], cls / "alice.lab1.zip")
    shutil.copytree(honest["bob_run"], cls / "bob")
    return cls


def test_the_honest_class_is_accepted(honest, tmp_path):
    out = build_class(tmp_path, honest_class(honest, tmp_path / "class"))
    assert verdicts(out) == {"alice": ("accepted", ""), "bob": ("accepted", "")}


@pytest.fixture(scope="module")
def wrong_types(honest, tmp_path_factory):
    root = tmp_path_factory.mktemp("types")
    cls = honest_class(honest, root / "class")
    for student, (edit, _) in WRONG_TYPES.items():
        repack(honest["alice_pack"], cls / f"{student}.lab1.zip", manifest=edit)
    return build_class(root, cls)


def test_a_manifest_value_of_the_wrong_type_is_a_refusal_naming_the_field(wrong_types):
    got = verdicts(wrong_types)
    # The honest keep their verdicts: a refused copy of alice's run does not make her a copy.
    assert got["alice"] == ("accepted", "") and got["bob"] == ("accepted", "")
    for student, (_, field) in WRONG_TYPES.items():
        status, reason = got[student]
        assert status == "refused", (student, got[student])
        assert field in reason, (student, reason)
        assert "\n" not in reason


def test_the_class_folder_is_whole_with_hostile_manifests(wrong_types):
    for name in ("class.parquet", "class_configs.parquet", "checks.parquet", "report.md"):
        assert (wrong_types / name).is_file()
    assert (wrong_types / "report.html").is_file()
    feedback = sorted(p.stem for p in (wrong_types / "feedback").iterdir())
    assert feedback == sorted(["alice", "bob", *WRONG_TYPES])


def test_a_check_that_fails_on_one_submission_refuses_it_alone(honest, tmp_path, monkeypatch):
    """The guard around the checks, the class row and the Arrow conversion: a value no check
    foresaw (here: a check that raises on bob's run) refuses that submission, with one line."""
    real = checks.plausibility

    def breaks_on_bob(sub):
        if sub.student == "bob":
            raise ZeroDivisionError("float division by zero")
        return real(sub)

    monkeypatch.setattr(checks, "plausibility", breaks_on_bob)
    out = build_class(tmp_path, honest_class(honest, tmp_path / "class"))
    got = verdicts(out)
    assert got["alice"] == ("accepted", "")
    assert got["bob"] == (
        "refused",
        "could not be judged (ZeroDivisionError: float division by zero)",
    )
    assert (out / "feedback" / "bob.md").is_file()


# --------------------------------------------------------------------------- files and links

CHILD = """
import json, sys
from pathlib import Path
import pandas as pd
from lab1.classroom import classview
cls, runs, name = sys.argv[1:4]
plan = classview.check_inputs([cls], runs, name)
assessed = [classview.assess(s, e, r) for s, e, r in plan["submissions"]]
out = Path(classview.build(plan, assessed, "en")["out"])
df = pd.read_parquet(out / "class.parquet")
# VmHWM: this process's own peak since exec. Not ru_maxrss: Linux carries the forking parent's
# peak across exec into it, so a child of a large pytest worker would report the worker's.
peak_kib = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"out": str(out), "peak_kib": peak_kib,
                  "verdicts": {r.student: [r.status, r.reasons] for r in df.itertuples()}}))
"""


def class_in_child(cls: Path, runs: Path, name: str = "week1", timeout: int = 300) -> dict:
    """The class view in a child process with a time limit: a hang fails the test instead of
    stopping the suite; the child reports its verdicts and its own peak RSS."""
    import json
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "tests")])}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(cls), str(runs), name],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=root,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_named_pipe_a_linked_pack_and_a_dot_entry_each_get_a_row(honest, tmp_path):
    import os

    cls = honest_class(honest, tmp_path / "class")
    # An unpacked run whose figures/zz.png is a named pipe (no writer: a plain open blocks).
    shutil.copytree(honest["bob_run"], cls / "pipe")
    os.mkfifo(cls / "pipe" / "figures" / "zz.png")
    # A student folder whose pack is a link to a pack outside the class folder.
    outside = tmp_path / "elsewhere" / "someone.lab1.zip"
    outside.parent.mkdir()
    shutil.copy(honest["alice_pack"], outside)
    (cls / "linked").mkdir()
    (cls / "linked" / "mine.lab1.zip").symlink_to(outside)
    # An unpacked run whose manifest.json is a link to another run's.
    shutil.copytree(honest["bob_run"], cls / "linkedmanifest")
    (cls / "linkedmanifest" / "manifest.json").unlink()
    (cls / "linkedmanifest" / "manifest.json").symlink_to(honest["alice_run"] / "manifest.json")
    # A dot-named entry: a submission, hidden from a plain `ls`.
    shutil.copy(honest["alice_pack"], cls / ".hidden.lab1.zip")
    got = class_in_child(cls, tmp_path / "runs", timeout=300)["verdicts"]
    assert got["alice"] == ["accepted", ""] and got["bob"] == ["accepted", ""]
    assert got["pipe"][0] == "refused" and "figures/zz.png is not a regular file" in got["pipe"][1]
    assert got["linked"] == ["refused", "mine.lab1.zip is a link: not followed"]
    assert got["linkedmanifest"] == ["refused", "manifest.json is a link: not followed"]
    assert got[".hidden"][0] == "refused" and "hidden entry" in got[".hidden"][1]
    for _, reason in got.values():  # no path of the teaching assistant's machine
        assert str(tmp_path) not in reason and "/home/" not in reason and "\n" not in reason


def test_a_reason_never_shows_the_teaching_assistants_paths(tmp_path):
    """An error from deep in a reader may carry a path (an OSError's filename): the student's
    feedback shows it under the class folder, never where that folder lives."""
    cls = tmp_path / "class"
    why = f"could not be read (OSError: [Errno 5] Input/output error: '{cls.resolve()}/bob/x')"
    shown = classview._private(why, cls)
    assert shown == "could not be read (OSError: [Errno 5] Input/output error: 'bob/x')"


# --------------------------------------------------------------------------- text as data

# What a hostile student writes into a manifest string and a folder name: carriage returns,
# a line separator and newlines that would start rows and headings, an escaped pipe, tags in
# and around code spans (one with an unmatched fence), a link and emphasis.
EVIL_TEXT = (
    "Evil\r| bob | accepted | forged row |\n## All students\n\u2028| x |\n"
    "`<img src=x onerror=alert(1)>` x```<img src=x onerror=alert(2)>` \\| "
    "[click](http://evil.example) *b* _i_ <script>alert(3)</script>"
)
EVIL_NAME = "mallory\r| bob | accepted | – |\u2028## Verdict `<img src=x onerror=alert(4)>` *m*"
# Tags the class report and feedback are written with; anything else came from a run.
OUR_TAGS = {"h1", "h2", "p", "table", "thead", "tbody", "tr", "th", "td", "ul", "li", "img",
            "code"}  # fmt: skip


class _Html:
    """Tags, attributes and text of rendered HTML."""

    def __init__(self, page: str) -> None:
        from html.parser import HTMLParser

        self.tags, self.attrs, self.h2, self.text = [], [], [], []
        outer = self

        class P(HTMLParser):
            def handle_starttag(self, tag, attrs):
                outer.tags.append(tag)
                outer.attrs += attrs
                self.in_h2 = tag == "h2"

            def handle_data(self, data):
                outer.text.append(data)
                if getattr(self, "in_h2", False):
                    outer.h2.append(data)
                    self.in_h2 = False

        P().feed(page)


def renderings(md: str) -> dict[str, _Html]:
    """report.md as two other viewers render it, raw HTML allowed as they allow it."""
    import markdown
    from markdown_it import MarkdownIt

    return {
        "markdown-it": _Html(MarkdownIt("commonmark", {"html": True}).enable("table").render(md)),
        "Python-Markdown": _Html(markdown.markdown(md, extensions=["tables"])),
    }


@pytest.fixture(scope="module")
def evil_text_class(honest, tmp_path_factory):
    """bob's run, and a copy of it handed in under a hostile folder name with hostile text
    in its CPU model and dataset name: both flagged as copies, each naming the other."""
    import json

    root = tmp_path_factory.mktemp("text")
    cls = root / "class"
    cls.mkdir()
    shutil.copytree(honest["bob_run"], cls / "bob")
    evil = cls / EVIL_NAME
    shutil.copytree(honest["bob_run"], evil)
    m = json.loads((evil / "manifest.json").read_text())
    m["environment"]["cpu_model"] = EVIL_TEXT
    m["dataset"]["name"] = EVIL_TEXT
    (evil / "manifest.json").write_text(json.dumps(m))
    return build_class(root, cls)


def test_a_runs_text_is_data_in_report_md_under_any_viewer(evil_text_class):
    got = verdicts(evil_text_class)
    assert got[EVIL_NAME][0] == got["bob"][0] == "flagged"
    assert got["bob"][1] == f"the same run and tables as {EVIL_NAME}"
    md = (evil_text_class / "report.md").read_text()
    sections = ["At a glance", "Hardware", "Throughput", "Accuracy", "Findings for the lecture",
                "All students"]  # fmt: skip
    for viewer, page in renderings(md).items():
        assert set(page.tags) <= OUR_TAGS, (viewer, set(page.tags) - OUR_TAGS)
        assert not [a for a, _ in page.attrs if a.startswith("on")], viewer
        assert page.tags.count("h1") == 1 and page.h2 == sections, (viewer, page.h2)
        # Each table's header and rows, no more: at a glance (2 flagged), hardware (1 kind),
        # throughput (bob profiled batch 16 and 64, 2 phases), accuracy (2 dataset names:
        # bob's and the hostile one), all students (2).
        assert page.tags.count("tr") == (1 + 2) + (1 + 1) + (1 + 4) + (1 + 2) + (1 + 2), viewer
        text = "".join(page.text)
        assert "[click](http://evil.example) *b* _i_ <script>alert(3)</script>" in text, viewer
        assert "<img src=x onerror=alert(4)>` *m*" in text, viewer  # the name, shown


def test_a_runs_text_is_data_in_the_feedback_under_any_viewer(evil_text_class):
    for fb in (evil_text_class / "feedback").iterdir():
        md = fb.read_text()
        for viewer, page in renderings(md).items():
            assert set(page.tags) <= OUR_TAGS, (fb.name, viewer, set(page.tags) - OUR_TAGS)
            assert not [a for a, _ in page.attrs if a.startswith("on")], (fb.name, viewer)
            assert page.tags.count("h1") == 1, (fb.name, viewer)
            assert page.h2 == ["Your submission", "What to fix", "Checks"], (fb.name, viewer)


@pytest.mark.slow
def test_chromium_shows_no_element_a_run_wrote_in_the_class_report(evil_text_class, tmp_path):
    """The class's report.html as a browser builds it: only the elements the report is
    written with, no event handler, no script but the print rule, no alert raised, the
    headings and table rows of the class alone; the hostile text is on the page as text."""
    from browser import chromium_or_skip, chromium_page
    from test_untrusted_text import OURS

    from lab1.report.blocks import PRINT_SCRIPT

    page_path = tmp_path / "class.html"
    shutil.copy(evil_text_class / "report.html", page_path)
    with chromium_page(chromium_or_skip()) as page:
        # A payload that ran would call alert(); recorded here instead of a dialog that
        # blocks the page.
        page.call("Page.enable")  # the script below is added only with the domain on
        page.call(
            "Page.addScriptToEvaluateOnNewDocument",
            source="window.__alerts=[];window.alert=m=>window.__alerts.push(String(m));",
        )
        page.goto(page_path.as_uri())
        text = page.wait_for(["All students"])
        assert page.evaluate("window.__alerts") == []
        tags = page.evaluate("[...document.body.querySelectorAll('*')].map(e => e.localName)")
        assert set(tags) <= OURS, set(tags) - OURS
        handlers = page.evaluate(
            "[...document.querySelectorAll('*')].flatMap(e => e.getAttributeNames())"
            ".filter(a => a.startsWith('on'))"
        )
        assert handlers == []
        assert page.evaluate("[...document.scripts].map(s => s.textContent)") == [PRINT_SCRIPT]
        h2 = page.evaluate("[...document.querySelectorAll('h2')].map(h => h.textContent)")
        assert h2 == ["At a glance", "Hardware", "Throughput", "Accuracy",
                      "Findings for the lecture", "All students"]  # fmt: skip
        # As report.md's renderings: 2 flagged, 1 kind, 4 throughput rows, 2 datasets, 2.
        rows = page.evaluate("document.querySelectorAll('tr').length")
        assert rows == (1 + 2) + (1 + 1) + (1 + 4) + (1 + 2) + (1 + 2)
        assert "<script>alert(3)</script>" in text and "onerror=alert(4)" in text


# --------------------------------------------------------------------------- decoded size

BOMB_ROWS, BOMB_VALUE = 200_000, 8_000  # every row points at one 8,000-byte name: 1.6 GB


def dictionary_bomb(table_bytes: bytes) -> bytes:
    """A run's comparison table made into a Parquet dictionary bomb: its first row repeated
    BOMB_ROWS times (under the row cap), each column dictionary-encoded (one value, indices
    all zero), and device_name a BOMB_VALUE-byte string. A few kB on disk."""
    import io

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pq.read_table(pa.BufferReader(table_bytes))
    zeros = pa.array(np.zeros(BOMB_ROWS, dtype="int32"))
    columns = {}
    for name in t.column_names:
        one = t[name].slice(0, 1).combine_chunks()
        if name == "device_name":
            one = pa.array(["x" * BOMB_VALUE])
        if one.null_count:  # Parquet keeps no null in a dictionary: a column of nulls
            columns[name] = pa.nulls(BOMB_ROWS, one.type)
        else:
            columns[name] = pa.DictionaryArray.from_arrays(zeros, one)
    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf, compression="zstd")
    return buf.getvalue()


def test_a_parquet_dictionary_bomb_is_refused_within_1_5_gb(honest, tmp_path):
    import zipfile

    with zipfile.ZipFile(honest["alice_pack"]) as z:
        bomb = dictionary_bomb(z.read("compare/comparison.parquet"))
    assert len(bomb) < 64_000  # on disk; decoded: 200,000 × 8,000 bytes = 1.6 GB
    cls = honest_class(honest, tmp_path / "class")
    for n in range(3):  # three of them, as in the attack (5.9 GB peak before)
        change = {"compare/comparison.parquet": lambda _: bomb}
        repack(honest["alice_pack"], cls / f"bomb{n}.lab1.zip", change=change)
    got = class_in_child(cls, tmp_path / "runs", timeout=300)
    v = got["verdicts"]
    assert v["alice"] == ["accepted", ""] and v["bob"] == ["accepted", ""]
    for n in range(3):
        assert v[f"bomb{n}"][0] == "refused" and "decodes to" in v[f"bomb{n}"][1], v[f"bomb{n}"]
    assert got["peak_kib"] < 1.5 * 2**20, got["peak_kib"]  # VmHWM is in KiB


# --------------------------------------------------------------------------- copies


def reencoded(table_bytes: bytes, run_id: str) -> bytes:
    """A comparison table as a copier re-saves it: other run id, rows reversed, no dictionary
    encoding, gzip instead of the writer's compression. The same measured values, other bytes."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pq.read_table(pa.BufferReader(table_bytes))
    t = t.set_column(t.column_names.index("run_id"), "run_id", pa.array([run_id] * len(t)))
    t = t.take(pa.array(range(len(t) - 1, -1, -1)))
    buf = io.BytesIO()
    pq.write_table(t, buf, compression="gzip", use_dictionary=False)
    return buf.getvalue()


def test_a_reencoded_copy_of_the_tables_is_a_copy(honest, tmp_path):
    """carol hands in alice's numbers under her own run id, the table re-saved (other bytes)
    and the manifest's record of it redone: both are flagged, each naming the other."""
    import hashlib
    import zipfile

    with zipfile.ZipFile(honest["alice_pack"]) as z:
        table = reencoded(z.read("compare/comparison.parquet"), "carol-run")
        assert table != z.read("compare/comparison.parquet")

    def manifest(m: dict) -> dict:
        m["run_id"] = "carol-run"
        m["comparison"]["table_sha256"]["comparison"] = hashlib.sha256(table).hexdigest()
        return m

    cls = honest_class(honest, tmp_path / "class")
    change = {"compare/comparison.parquet": lambda _: table}
    repack(honest["alice_pack"], cls / "carol.lab1.zip", manifest=manifest, change=change)
    got = verdicts(build_class(tmp_path, cls))
    assert got["bob"] == ("accepted", "")
    assert got["alice"] == ("flagged", "the same tables as carol")
    assert got["carol"] == ("flagged", "the same tables as alice")


# --------------------------------------------------------------------------- no skipped check


def _full_claimed_of_a_subset(m: dict) -> dict:
    m["dataset"].update(train_size=1_000, test_size=1_000, full=True)
    return m


def _other_gpu(m: dict) -> dict:
    m["environment"]["gpu_models"] = ["NVIDIA A100"]
    m["environment"]["gpus"][0]["name"] = "NVIDIA A100"
    return m


# student → (what is changed in alice's pack, a reason its flag must give)
ESCAPES = {
    "nolimits": ({"drop": ["profiles/limits.parquet"]}, "no measured limits"),
    "nodataset": ({"manifest": _set("dataset", None)}, "the accuracy cannot be judged"),
    "otherdata": (
        {"manifest": _set("dataset.name", "fashion-mnist")},
        "the data is `fashion-mnist` but the run asked for mnist",
    ),
    "subsetasfull": (
        {"manifest": _full_claimed_of_a_subset},
        "1,000 + 1,000 images called the full mnist",
    ),
    "otherdevice": (
        {"manifest": _set("devices.resolved", ["mps"])},
        "rows on `cpu`, a device the run did not find",
    ),
    # The environment names another CPU, or another GPU, than the rows it measured.
    "othercpu": (
        {"manifest": _set("environment.cpu_model", "Other CPU 1")},
        "rows on `cpu` name the CPU `Test CPU 9000`, but the run's CPU is `Other CPU 1`",
    ),
    "othergpu": (
        {"manifest": _other_gpu},
        "rows on `cuda` name the GPU `NVIDIA H100`, not one of the run's (`NVIDIA A100`)",
    ),
}


def test_a_missing_table_or_dataset_or_a_contradicting_label_is_a_failed_check(honest, tmp_path):
    """What a run leaves out or contradicts is a failure with its reason, never a check
    skipped: the limits table, the dataset, a dataset or device its own record contradicts."""
    cls = honest_class(honest, tmp_path / "class")
    for student, (how, _) in ESCAPES.items():
        repack(honest["alice_pack"], cls / f"{student}.lab1.zip", **how)
    got = verdicts(build_class(tmp_path, cls))
    assert got["bob"] == ("accepted", "")
    for student, (_, reason) in ESCAPES.items():
        # the copies check names alice: the same numbers; the reason asked for is beside it
        assert got[student][0] == "flagged" and reason in got[student][1], (student, got[student])


def _accuracy_changed(m: dict) -> dict:
    """The manifest's accuracy and its last epoch's set to 91.23 %, the report left as it was."""
    m["results"]["test_accuracy"] = 0.9123
    m["training"]["history"][-1]["test_accuracy"] = 0.9123
    return m


def test_an_accuracy_the_report_does_not_show_is_flagged(honest, tmp_path):
    cls = tmp_path / "class"
    cls.mkdir()
    repack(honest["alice_pack"], cls / "dave.lab1.zip", manifest=_accuracy_changed)
    got = verdicts(build_class(tmp_path, cls))
    shown = "test accuracy 91.23% of the manifest is not in"
    assert got["dave"] == ("flagged", f"{shown} report.md; {shown} report.html")


def test_an_accuracy_only_report_html_changes_is_flagged(honest, tmp_path):
    """report.md and the manifest agree; the report.html a person opens shows another
    accuracy (every occurrence replaced): flagged, naming report.html."""
    import json
    import zipfile

    with zipfile.ZipFile(honest["alice_pack"]) as z:
        acc = json.loads(z.read("manifest.json"))["results"]["test_accuracy"]
        assert "report.html" in z.namelist()
    shown = f"{100 * acc:.2f}%"  # as the report prints it: two decimals and a percent sign
    other = "12.34%" if shown != "12.34%" else "56.78%"

    def html(data: bytes) -> bytes:
        assert shown.encode() in data
        return data.replace(shown.encode(), other.encode())

    cls = tmp_path / "class"
    cls.mkdir()
    repack(honest["alice_pack"], cls / "erin.lab1.zip", change={"report.html": html})
    got = verdicts(build_class(tmp_path, cls))
    assert got["erin"] == (
        "flagged",
        f"test accuracy {shown} of the manifest is not in report.html",
    )


def test_a_report_pdf_that_does_not_read_is_flagged_naming_it(honest, tmp_path):
    """A report.pdf that is no PDF (listed in pack.json like any member): its numbers cannot
    be held against the tables, so the run is flagged, never accepted unread."""
    cls = tmp_path / "class"
    cls.mkdir()
    junk = {"report.pdf": lambda _: b"%PDF-1.7\n" + bytes(range(256)) * 64}
    repack(honest["alice_pack"], cls / "frank.lab1.zip", change=junk)
    got = verdicts(build_class(tmp_path, cls))
    status, reason = got["frank"]
    assert status == "flagged" and reason.startswith("report.pdf does not read as a PDF ("), reason
    assert reason.endswith("): its numbers cannot be held against the tables"), reason


@pytest.mark.slow
def test_a_report_pdf_showing_another_accuracy_is_flagged(honest, tmp_path):
    """alice's run printed as the flow prints it (Chromium): accepted. erin's pack is the same
    run with a report.pdf printed from a report.html whose accuracy was edited (report.md,
    report.html and the manifest agree): flagged, naming report.pdf."""
    import json

    from browser import chromium_or_skip

    from lab1.report.pdf import write_pdf
    from lab1.rundir import RunPaths

    chromium_or_skip()
    run = shutil.copytree(honest["alice_run"], tmp_path / "alice-run")
    paths = RunPaths(run)
    assert write_pdf(paths.report_html, paths.report_pdf, "a4") == paths.report_pdf
    acc = json.loads(paths.manifest.read_text())["results"]["test_accuracy"]
    shown = f"{100 * acc:.2f}%"  # as the report prints it
    edited = tmp_path / "edited.html"
    html = paths.report_html.read_text()
    assert shown in html
    edited.write_text(html.replace(shown, "12.34%"))
    assert write_pdf(edited, tmp_path / "edited.pdf", "a4")
    pack = Path(pack_run(run, tmp_path / "alice.lab1.zip")["pack"])
    ok, bad = tmp_path / "ok", tmp_path / "bad"
    ok.mkdir()
    bad.mkdir()
    shutil.copy(pack, ok / "alice.lab1.zip")
    pdf = (tmp_path / "edited.pdf").read_bytes()
    repack(pack, bad / "erin.lab1.zip", change={"report.pdf": lambda _: pdf})
    assert verdicts(build_class(tmp_path, ok, "ok")) == {"alice": ("accepted", "")}
    assert verdicts(build_class(tmp_path, bad, "bad")) == {
        "erin": ("flagged", f"test accuracy {shown} of the manifest is not in report.pdf")
    }


# --------------------------------------------------------------------------- like the class

# Each student's speed over bob's (make_run's step times divided by it). mallory's run is
# bob's made 3× faster everywhere: tables, limits, training history and report agree.
SPEEDS = {"ann": 0.8, "bob": 1.0, "cy": 1.1, "di": 1.3, "mallory": 3.0}


@pytest.fixture(scope="module")
def like_class_runs(tmp_path_factory):
    """Five packed cpu-only runs on one CPU model, at SPEEDS; three more, each on a CPU model
    of its own (a machine id of its own, as lab1.host.environment.machine_key makes one)."""
    from test_report import ENV

    root = tmp_path_factory.mktemp("alike")
    packs = {}
    for student, speed in SPEEDS.items():
        run = handed_in_run(root / f"{student}-run", devices=("cpu",), speed=speed)
        packs[student] = Path(pack_run(run, root / f"{student}.lab1.zip")["pack"])
    for i, student in enumerate(("xia", "yan", "zoe")):
        env = {**ENV, "cpu_model": f"CPU model {student}", "machine_id": f"{i:012x}"}
        run = handed_in_run(root / f"{student}-run", devices=("cpu",), env=env, speed=1 + i / 5)
        packs[student] = Path(pack_run(run, root / f"{student}.lab1.zip")["pack"])
    return packs


def test_a_run_scaled_3x_is_flagged_with_its_number_and_the_class_median(like_class_runs, tmp_path):
    import io
    import zipfile

    cls = tmp_path / "class"
    cls.mkdir()
    for student in SPEEDS:
        shutil.copy(like_class_runs[student], cls / f"{student}.lab1.zip")
    out = build_class(tmp_path, cls)
    got = verdicts(out)
    assert {s: v for s, v in got.items() if s != "mallory"} == {
        s: ("accepted", "") for s in ("ann", "bob", "cy", "di")
    }
    # bob's batch-16 train step (the first configuration in display order); by hand: speeds
    # 0.8, 1, 1.1, 1.3, 3 → median 1.1; |s − 1.1| = 0.3, 0.1, 0, 0.2, 1.9 → MAD 0.2;
    # mallory's modified z = 0.6745 × 1.9 / 0.2 = +6.4.
    with zipfile.ZipFile(like_class_runs["bob"]) as z:
        cmp = pd.read_parquet(io.BytesIO(z.read("compare/comparison.parquet")))
    bob = cmp[(cmp.batch_size == 16) & (cmp.phase == "train_step")].images_per_s.iloc[0]
    mine, median = f"{3 * bob:,.0f}", f"{1.1 * bob:,.0f}"
    assert got["mallory"] == (
        "flagged",
        f"cpu · 16 threads · batch 16, train_step, on Test CPU 9000: {mine} images/s against "
        f"the class's median {median} there (5 runs; modified z +6.4, beyond ±3.5); and 5 "
        "more configurations far from the class's",
    )
    md = (out / "report.md").read_text()
    hardware = md.split("## Hardware", 1)[1].split("\n## ", 1)[0]
    assert "- Test CPU 9000: 5 runs." in hardware
    assert "- mallory is far from the class: cpu · 16 threads · batch 16" in hardware
    # The student's feedback in both languages: both numbers and the hardware.
    plan = {"name": "week1zh", "out": str(tmp_path / "zh"), "submissions": []}
    assessed = [classview.assess(s, str(cls / f"{s}.lab1.zip"), str(cls)) for s in SPEEDS]
    classview.build(plan, assessed, "zh")
    fb = (tmp_path / "zh" / "feedback" / "mallory.md").read_text()
    assert (
        f"Test CPU 9000 上的 CPU · 16 线程 · 批大小 16，训练步：{mine} 图像/秒，"
        f"全班在该硬件上的中位数为 {median}（5 次运行；修正 z 值 +6.4，超出 ±3.5）"
    ) in fb
    zh = (tmp_path / "zh" / "report.md").read_text()
    assert "- Test CPU 9000：5 次运行。" in zh and "- mallory 远离全班：" in zh


def test_a_class_each_on_its_own_cpu_says_it_cannot_judge(like_class_runs, tmp_path):
    cls = tmp_path / "class"
    cls.mkdir()
    for student in ("xia", "yan", "zoe"):
        shutil.copy(like_class_runs[student], cls / f"{student}.lab1.zip")
    out = build_class(tmp_path, cls)
    assert verdicts(out) == {s: ("accepted", "") for s in ("xia", "yan", "zoe")}
    chk = pd.read_parquet(out / "checks.parquet")
    like = chk[chk.name == "class.like_hardware"].set_index("student")
    assert like.passed.isna().all()
    assert like.loc["yan", "detail"] == "cannot judge: only 1 run on CPU model yan"
    md = (out / "report.md").read_text()
    assert "- CPU model xia: cannot judge, only 1 run." in md
    assert "Not judged, measured on a busy machine" not in md  # no fault of theirs
    fb = (out / "feedback" / "yan.md").read_text()
    assert "## Measure again" not in fb and "Nothing: every check judged passed." in fb
