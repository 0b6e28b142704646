"""A class's submissions checked and put side by side (flows/class_flow.py).

    assess(student, entry, root)   one submission → a small JSON-ready dict (the Prefect task
                                   maps it: one submission in memory per worker at a time)
    build(plan, assessed)          copies across the class, verdicts, and the output folder:

    <runs_dir>/classes/<name>/
        class.parquet          one row per student (CLASS_SCHEMA)
        class_configs.parquet  every readable submission's comparison rows + student
        checks.parquet         one row per student and check
        report.md, report.html the class at a glance, hardware, distributions, findings
        feedback/<student>.md  what the submission showed and each check it failed
        figures/*.png

built in a hidden folder beside it and renamed into place: whole, or not there at all.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path, PurePosixPath

import pandas as pd
import pyarrow as pa

from lab1.atomic import rename
from lab1.classroom.checks import (
    LIKE_CLASS,
    Check,
    as_rows,
    copies,
    fingerprints,
    hardware_rows,
    like_class,
    run_checks,
    to_measure_again,
    verdict,
)
from lab1.classroom.submission import (
    MAX_ARCHIVE_BYTES,
    Refused,
    Submission,
    find_submissions,
    open_pack_bytes,
    open_submission,
    student_name,
)
from lab1.config import LAB_BATCH_SIZES as BATCH_SIZES
from lab1.config import RUN_NAME_RE
from lab1.errors import ClassError
from lab1.host.devices import traits
from lab1.identity import PHASES
from lab1.reliability import training_rate, unsure
from lab1.rundir import ClassPaths, classes_path
from lab1.schemas import COMPARISON_SCHEMA, to_arrow, write_parquet
from lab1.store import (
    StoreError,
    check_store,
    is_store_url,
    list_entries,
    local_runs_dir,
    read_capped,
)
from lab1.store import exists as store_exists

# A CPU is a server's when its model says so or it has many cores; every other CPU is
# counted as a laptop's (desktops included): a description of the class, not a judgement.
SERVER_CPU = re.compile(r"xeon|epyc|opteron|ampere|graviton|neoverse|power\d", re.I)
SERVER_CORES = 32

_STR, _F64, _I64 = pa.string(), pa.float64(), pa.int64()
CLASS_SCHEMA = pa.schema(
    [
        pa.field("student", _STR, nullable=False),
        pa.field("submission", _STR, nullable=False),
        pa.field("status", _STR, nullable=False),  # accepted | flagged | refused
        pa.field("reasons", _STR),  # "; "-joined details of the failed checks
        # "; "-joined details of the checks not judged (numbers measured unreliably): no fault,
        # but the student should measure again on a quiet machine
        pa.field("not_judged", _STR),
        pa.field("run_id", _STR),
        pa.field("machine_id", _STR),
        pa.field("machine_kind", _STR),  # laptop CPU | server CPU | the GPU model
        pa.field("cpu_model", _STR),
        pa.field("cores", _I64),
        pa.field("gpu", _STR),
        pa.field("dataset", _STR),
        pa.field("dataset_full", pa.bool_()),
        pa.field("epochs", _I64),
        pa.field("precision", _STR),
        pa.field("training_device", _STR),
        pa.field("test_accuracy", _F64),
        pa.field("train_images_per_s", _F64),  # training's steady epochs, median
        *[pa.field(f"{phase}_images_per_s_bs{bs}", _F64) for phase in PHASES for bs in BATCH_SIZES],
        pa.field("gpu_speedup_bs64", _F64),  # train_step ms on cpu / on the GPU, batch 64
        pa.field("busy", pa.bool_()),  # a profiled config ran beside a busy process
        pa.field("lab1_version", _STR),
    ]
)
CLASS_CONFIGS_SCHEMA = pa.schema([pa.field("student", _STR, nullable=False), *COMPARISON_SCHEMA])
CHECKS_SCHEMA = pa.schema(
    [
        pa.field("student", _STR, nullable=False),
        pa.field("name", _STR, nullable=False),
        pa.field("passed", pa.bool_()),  # null: not judged (measured unreliably)
        pa.field("detail", _STR),
        pa.field("severity", _STR),
    ]
)


# --------------------------------------------------------------------------- the input


def check_inputs(inputs: list[str], runs_dir: str | Path, name: str | None) -> dict:
    """Everything that must hold before a file is written; the plan as a small dict."""
    missing = [i for i in inputs if not is_store_url(i) and not Path(i).exists()]
    if missing:
        raise ClassError(f"{missing[0]} does not exist: give the class's folder or zip files")
    found = [f for i in inputs if is_store_url(i) for f in store_submissions(i)]
    found += find_submissions([i for i in inputs if not is_store_url(i)])
    if not found:
        raise ClassError(f"no submission found in {', '.join(inputs)}: the folder is empty")
    students = [s for s, _, _ in found]
    twice = sorted({s for s in students if students.count(s) > 1})
    if twice:
        raise ClassError(f"student {twice[0]!r} has two entries: give each student one")
    name = name or Path(inputs[0]).name.removesuffix(".zip")
    if not RUN_NAME_RE.match(name):
        raise ClassError(f"--name {name!r}: use letters, digits, '.', '_', '-' (100 at most)")
    out = classes_path(Path(local_runs_dir(str(runs_dir))).expanduser().resolve()) / name
    if out.exists():
        raise ClassError(f"class view {name!r} already exists ({out}): pick another --name")
    if is_store_url(runs_dir):
        there = check_store(str(runs_dir)).child("classes").child(name)
        if store_exists(str(there)):
            raise ClassError(f"class view {name!r} already exists ({there}): pick another --name")
    return {
        "name": name,
        "out": str(out),
        "submissions": [(s, str(p), str(r)) for s, p, r in found],
    }


def store_submissions(url: str) -> list[tuple[str, str, str]]:
    """(student, pack URL, input URL) for each pack under an s3:// input, the store checked
    first (one line where it cannot be read). Only packs: a run folder in a store is refused
    with its reason at assessment, as a folder without a run is on disk."""
    check_store(url, write=False)
    return [
        (student_name(PurePosixPath(e.name), is_file=e.kind == "pack"), e.url, url)
        for e in list_entries(url)
    ]


def _open_from_store(student: str, entry: str, source: str) -> Submission:
    """A pack from the store: its size from the store's metadata, checked before a byte is
    read, then read under the same limits as a pack on disk."""
    if not entry.endswith(".zip"):
        raise Refused("a run folder in the store: hand in a pack (flows/pack_flow.py)")
    try:
        data = read_capped(entry, MAX_ARCHIVE_BYTES)
    except StoreError as exc:
        raise Refused(str(exc).replace(entry, "the archive")) from exc
    return open_pack_bytes(student, source, data)


# --------------------------------------------------------------------------- one submission


def assess(student: str, entry: str, root: str) -> dict:
    """One submission opened and checked; what the class needs of it, small and JSON-ready.
    Everything that reads the submission (opening it, the checks, its class row, its rows as
    Arrow) runs inside one guard: whatever it holds, it ends accepted, flagged or refused with
    one line, and nothing here raises for it."""
    remote = is_store_url(entry)
    root_p = Path(root)
    source = (
        entry[len(root) :].lstrip("/") if remote else Path(entry).relative_to(root_p).as_posix()
    )
    try:
        if remote:
            sub = _open_from_store(student, entry, source)
        else:
            sub = open_submission(student, Path(entry), Path(root))
    except Refused as exc:
        return _refused(student, source, _private(str(exc), root_p))
    except Exception as exc:  # a reader's bug must not stop the class: say so, go on
        why = f"could not be read ({type(exc).__name__}: {exc})"
        return _refused(student, source, _private(why, root_p))
    try:
        return _judged(sub, student, source)
    except Exception as exc:  # a value no check foresaw: this submission only is refused
        why = f"could not be judged ({type(exc).__name__}: {exc})"
        return _refused(student, source, _private(why, root_p))


def _judged(sub, student: str, source: str) -> dict:
    checks = run_checks(sub)
    refused = verdict(checks)[0] == "refused"
    out = {
        "student": student,
        "submission": source,
        "checks": [c.__dict__ for c in checks],
        # A refused submission is no run: it can neither be a copy nor make another one.
        "fingerprints": {} if refused else fingerprints(sub),
        # What the class holds it against (like_class); a refused one takes no part.
        "hardware_rows": [] if refused else hardware_rows(sub),
        "row": {},
        "configs": [],
    }
    if not refused:
        row = class_row(sub)
        # Through the class's schemas here, inside the guard: a value that does not convert
        # refuses this submission instead of stopping the class at build.
        to_arrow([{**row, "student": student, "submission": source, "status": ""}], CLASS_SCHEMA)
        out["row"] = row
        out["configs"] = to_arrow(sub.tables["comparison"], COMPARISON_SCHEMA).to_pylist()
    return out


def _private(reason: str, root: Path) -> str:
    """A reason without the teaching assistant's own paths (the feedback goes to students)."""
    for folder in {str(root.resolve()), str(root.absolute()), str(root)}:
        if folder not in (".", ""):
            reason = reason.replace(folder + "/", "").replace(folder, "<class folder>")
    return reason.replace(str(Path.home()), "~")


def _refused(student: str, source: str, reason: str) -> dict:
    check = Check("open", False, reason.splitlines()[0][:300], "refuse")
    return {
        "student": student,
        "submission": source,
        "checks": [check.__dict__],
        "fingerprints": {},
        "hardware_rows": [],
        "row": {},
        "configs": [],
    }


def machine_kind(cpu_model: str | None, cores: int | None, gpu: str | None) -> str:
    if gpu:
        return gpu
    if SERVER_CPU.search(cpu_model or "") or (cores or 0) >= SERVER_CORES:
        return "server CPU"
    return "laptop CPU"


def class_row(sub) -> dict:
    """The class.parquet fields of a readable submission (status and reasons come later)."""
    m, cmp = sub.manifest, sub.tables["comparison"]
    env, ds, tr = m.environment, m.dataset, m.training
    trained = tr.execution if tr else None
    gpu = None
    if trained is not None and traits(trained.device).gpu:
        names = cmp.loc[cmp["device"] == trained.device, "device_name"]
        gpu = str(names.iloc[0]) if len(names) else (env.gpu_models or [None])[0] if env else None
    history = tr.complete_history() if tr else []
    row = {
        "run_id": m.run_id,
        "machine_id": env.machine_id if env else None,
        "cpu_model": env.cpu_model if env else None,
        "cores": env.vcpus if env else None,
        "gpu": gpu,
        "machine_kind": machine_kind(
            env.cpu_model if env else None, env.vcpus if env else None, gpu
        ),
        "dataset": ds.name if ds else m.parameters.dataset,
        "dataset_full": bool(ds.full) if ds else None,
        "epochs": m.results.epochs_completed if m.results else None,
        "precision": m.parameters.precision,
        "training_device": trained.device if trained else None,
        "test_accuracy": m.results.test_accuracy if m.results else None,
        "train_images_per_s": training_rate(history).images_per_s if history else None,
        "busy": bool(cmp["contended"].fillna(False).any()),
        "lab1_version": m.code_version or (sub.index or {}).get("lab1_version"),
    }
    for phase in PHASES:
        for bs in BATCH_SIZES:
            row[f"{phase}_images_per_s_bs{bs}"] = _at(cmp, trained, phase, bs, "images_per_s")
    row["gpu_speedup_bs64"] = _at(cmp, trained, "train_step", 64, "speedup_vs_cpu") if gpu else None
    return row


def _at(cmp: pd.DataFrame, trained, phase: str, bs: int, column: str) -> float | None:
    """One number of the run's training configuration (device, precision, threads) at a batch
    size and phase; None where that config was not profiled, or was measured unreliably
    (lab1.reliability.unsure): the class's medians and findings are drawn from none of those."""
    if trained is None:
        return None
    rows = cmp[
        (cmp["device"] == trained.device)
        & (cmp["precision"] == trained.precision)
        & (cmp["threads"] == trained.threads)
        & (cmp["batch_size"] == bs)
        & (cmp["phase"] == phase)
    ]
    if rows.empty or unsure(rows).iloc[0]:
        return None
    value = rows[column].iloc[0]
    return None if value is None or value != value else float(value)


# --------------------------------------------------------------------------- the class


def verdicts(assessed: list[dict]) -> list[dict]:
    """Each submission with the class's checks added (copies, like the class on its hardware)
    and its status and reasons. Only submissions not refused take part in either."""
    from lab1.classroom.classreport import like_class_text

    readable = [a for a in assessed if verdict([Check(**c) for c in a["checks"]])[0] != "refused"]
    prints = {a["student"]: a["fingerprints"] for a in readable if a["fingerprints"]}
    copied = copies(prints)
    alike = like_class({a["student"]: a["hardware_rows"] for a in readable})
    out = []
    for a in assessed:
        checks = [Check(**c) for c in a["checks"]]
        if a["student"] in copied:
            checks.append(copied[a["student"]])
        like = alike.get(a["student"])
        if like is not None:
            checks.append(Check(LIKE_CLASS, like.passed, like_class_text(like, "en")))
        status, reasons = verdict(checks)
        out.append(
            {**a, "checks": checks, "status": status, "reasons": reasons, "like_class": like}
        )
    return out


def feedback_name(student: str, taken: set[str]) -> str:
    """A file name for a student's feedback: their name's safe characters, made unique."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", student).strip("._") or "student"
    name, n = base[:80], 2
    while name.lower() in taken:
        name, n = f"{base[:76]}-{n}", n + 1
    taken.add(name.lower())
    return name


def build(plan: dict, assessed: list[dict], lang: str = "en") -> dict:
    """The class's tables, report and feedback, in a hidden folder renamed into place."""
    from lab1.classroom import classreport

    final = Path(plan["out"])
    final.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    os.chmod(building, 0o755)  # mkdtemp makes it owner-only; like its files, it is for every reader
    try:
        judged = verdicts(assessed)
        rows = [
            {
                **{f.name: None for f in CLASS_SCHEMA},
                **a["row"],
                "student": a["student"],
                "submission": a["submission"],
                "status": a["status"],
                "reasons": "; ".join(a["reasons"]),
                "not_judged": "; ".join(c.detail for c in to_measure_again(a["checks"])) or None,
            }
            for a in judged
        ]
        class_df = pd.DataFrame(rows, columns=CLASS_SCHEMA.names)
        paths = ClassPaths(building)
        write_parquet(to_arrow(rows, CLASS_SCHEMA), CLASS_SCHEMA, paths.class_table)
        configs = [
            {"student": a["student"], **r}
            for a in judged
            if a["status"] != "refused"
            for r in a["configs"]
        ]
        write_parquet(
            pa.Table.from_pylist(configs, schema=CLASS_CONFIGS_SCHEMA),
            CLASS_CONFIGS_SCHEMA,
            paths.configs_table,
        )
        checks = [r for a in judged for r in as_rows(a["student"], a["checks"])]
        write_parquet(checks, CHECKS_SCHEMA, paths.checks_table)
        taken: set[str] = set()
        names = {a["student"]: feedback_name(a["student"], taken) for a in judged}
        classreport.write(paths, plan["name"], class_df, judged, names, lang)
        if final.exists():
            raise ClassError(f"class view {final} appeared meanwhile: pick another --name")
        rename(building, final)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    counts = class_df["status"].value_counts().to_dict()
    return {
        "out": str(final),
        "report_html": str(ClassPaths(final).report_html),
        "students": len(class_df),
        **{s: int(counts.get(s, 0)) for s in ("accepted", "flagged", "refused")},
    }
