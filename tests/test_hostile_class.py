"""Hostile submissions in a class of honest ones (lab1.submission, lab1.checks,
lab1.classview): each attack is built from a real packed run (tests/classruns.py), and each
ends as its own verdict with a one-line reason while the honest runs keep theirs and the class
folder is written whole."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from classruns import handed_in_run, repack

from lab1 import checks, classview
from lab1.pack import pack_run


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
