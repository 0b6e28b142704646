"""The class view's report and each student's feedback, in English or Chinese, through the
run report's blocks (lab1.report.blocks): every string from a submission is escaped there,
and the HTML is the run report's page (its CSS and print rules). Its texts, English and
Chinese, are lab1.catalog's CLASS."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lab1 import figures, fmt
from lab1.atomic import write_text
from lab1.catalog import (
    CLASS,
    LIKE_RULE,
    PUNCTUATION,
    REMEASURE,
    WHAT_CHECKS_PROVE,
    chinese,
)
from lab1.classroom import checks
from lab1.config import LAB_BATCH_SIZES as BATCH_SIZES
from lab1.identity import PHASES, spelled_out
from lab1.report.blocks import Bullets, Figure, Section, Table, plain, to_markdown
from lab1.report.document import write_document
from lab1.rundir import ClassPaths


def _t(lang: str):
    # Every text is the catalog's, in English too: one missing from it fails in both languages
    # instead of staying English in the Chinese report.
    def t(text: str, **values) -> str:
        out = CLASS[text].of(lang)
        return out.format(**values) if values else out

    t.lang = lang  # what a config's label (lab1.identity) is spelled in
    return t


def _many(n: int, noun: str, lang: str) -> str:
    """A count and its noun: 1 run, 2 runs in English; a Chinese count takes no plural, so its
    text is the catalog's plural entry."""
    if lang == "zh":
        return CLASS[f"{{n}} {noun}s"].of(lang).format(n=n)
    return f"{n} {noun}" + ("" if n == 1 else "s")


def like_class_text(like: checks.LikeClass, lang: str) -> str:
    """The like-the-class check's detail (checks.like_class) in ``lang``: the first
    configuration far from the class with both numbers and the hardware, or the hardware it
    was held against, or why it could not be. Raw text: shown through plain() like every
    check's detail."""
    t = _t(lang)
    sep = PUNCTUATION["list"].of(lang)
    if like.far:
        f = like.far[0]
        out = t(
            "{config}, {phase}, on {hw}: {rate} images/s against the class's median {median} "
            "there ({n} runs; modified z {z}, beyond ±{limit})",
            config=spelled_out(f.config, lang),
            phase=t(f.phase),
            hw=f.hardware,
            rate=fmt.rate(f.images_per_s),
            median=fmt.rate(f.median),
            n=f.runs,
            z=f"{f.z:+.1f}",
            limit=checks.OUTLIER_Z,
        )
        if len(like.far) > 1:
            k = len(like.far) - 1
            more = _many(k, "more configuration", lang)
            out += sep + t("and {more} far from the class's", more=more)
        return out
    parts = []
    for h in like.hardware:
        if h.judged:
            template, runs = "like the class's runs on {hw} ({judged} judged)", 0
        elif h.runs < checks.MIN_RUNS:
            template, runs = "cannot judge: only {runs} on {hw}", h.runs
        else:
            template, runs = "cannot judge: only {runs} of the same configuration on {hw}", h.most
        parts.append(
            t(
                template,
                hw=h.hardware,
                judged=_many(h.judged, "configuration", lang),
                runs=_many(runs, "run", lang),
            )
        )
    return sep.join(parts) or t("no number measured reliably on its own machine to compare")


def _known(value: object) -> bool:
    """A cell a refused submission has no value for is None or NaN (pandas fills both)."""
    return value is not None and not pd.isna(value) and value != ""


def _kind(kind: str, t) -> str:
    """A kind of machine: ours, translated, or a GPU model a run named (its text, as data)."""
    return t(kind) if kind in ("laptop CPU", "server CPU") else plain(kind)


def write(
    paths: ClassPaths,
    name: str,
    df: pd.DataFrame,
    judged: list[dict],
    names: dict[str, str],
    lang: str,
) -> None:
    """report.md, report.html, figures/ and feedback/ of the class, into ``paths``."""
    t = _t(lang)
    ok = df[df["status"] != "refused"]
    throughput_png, accuracy_png = draw(ok, paths, lang)
    sections = [
        _glance(df, t),
        _hardware(ok, judged, t),
        _throughput(ok, t, throughput_png),
        Section(t("Accuracy"), _accuracy(ok, t, accuracy_png)),
        Section(t("Findings for the lecture"), [Bullets(_findings(ok, t))]),
        _all_students(df, t),
    ]
    write_document(paths, t("Class {name}", name=name), sections, lang, f"class {name}")
    for a in judged:
        _feedback(paths, a, names[a["student"]], t)


def draw(ok: pd.DataFrame, paths: ClassPaths, lang: str) -> tuple[Path, Path]:
    """The class view's two figures of the submissions not refused (``ok``), in ``lang``: in a
    CJK font with the catalog's words in Chinese (English where no such font is installed)."""
    t = _t(lang)
    with figures.language(chinese(CLASS), "zh") if lang == "zh" else _plain():
        throughput_png = figures.plot_class_throughput(ok, paths.figure("throughput"), t)
        accuracy_png = figures.plot_class_accuracy(ok, paths.figure("accuracy"), t)
    return throughput_png, accuracy_png


class _plain:
    def __enter__(self):
        return False

    def __exit__(self, *exc):
        return False


def _glance(df: pd.DataFrame, t) -> Section:
    counts = df["status"].value_counts()
    line = t(
        "{a} accepted, {f} flagged, {r} refused of {n} submissions.",
        a=int(counts.get("accepted", 0)),
        f=int(counts.get("flagged", 0)),
        r=int(counts.get("refused", 0)),
        n=len(df),
    )
    bad = df[df["status"] != "accepted"]
    # A student's name, a reason (which quotes a run's text) and anything else a submission
    # wrote are data: plain() shows them, never reads them as Markdown.
    rows = [[plain(r.student), t(r.status), plain(r.reasons) or "–"] for r in bad.itertuples()]
    blocks = [line, t(WHAT_CHECKS_PROVE)]
    readable = df[df["status"] != "refused"]
    unjudged = readable[readable["not_judged"].notna()]
    if len(unjudged):  # a busy machine is no fault: counted, named, never flagged for it
        blocks.append(
            t(
                "Not judged, measured on a busy machine: {n} of {total} readable submissions; "
                "they should measure again on a quiet machine: {who}.",
                n=len(unjudged),
                total=len(readable),
                who=", ".join(plain(s) for s in unjudged["student"]),
            )
        )
    if rows:
        blocks.append(Table([t("student"), t("status"), t("reasons")], rows))
    return Section(t("At a glance"), blocks)


def _hardware(ok: pd.DataFrame, judged: list[dict], t) -> Section:
    rows = []
    for kind, g in ok.groupby("machine_kind"):
        models = ", ".join(plain(m) for m in sorted(set(g["cpu_model"].dropna().astype(str))))
        rows.append([_kind(str(kind), t), str(len(g)), models])
    head = [t("kind of machine"), t("students"), t("CPU models")]
    blocks = [Table(head, rows, [False, True, False])]
    # Each run held against the class's runs on its CPU or GPU model (checks.like_class).
    likes = {a["student"]: a["like_class"] for a in judged if a.get("like_class") is not None}
    runs = {h.hardware: h.runs for like in likes.values() for h in like.hardware}
    if runs:
        lines = [
            t("{hw}: {n} runs.", hw=plain(hw), n=n)
            if n >= checks.MIN_RUNS
            else t("{hw}: cannot judge, only {runs}.", hw=plain(hw), runs=_many(n, "run", t.lang))
            for hw, n in sorted(runs.items())
        ]
        far = [
            t(
                "{student} is far from the class: {why}",
                student=plain(student),
                why=plain(like_class_text(like, t.lang)),
            )
            for student, like in likes.items()
            if like.far
        ]
        if not far and any(like.passed for like in likes.values()):
            far = [t("No run is far from the class's runs on its hardware.")]
        blocks += [t(LIKE_RULE, z=checks.OUTLIER_Z, n=checks.MIN_RUNS), Bullets(lines + far)]
    return Section(t("Hardware"), blocks)


def _throughput(ok: pd.DataFrame, t, png: Path | None) -> Section:
    rows = []
    for kind, g in ok.groupby("machine_kind"):
        for phase in PHASES:
            for bs in BATCH_SIZES:
                v = g[f"{phase}_images_per_s_bs{bs}"].dropna()
                if len(v):
                    rows.append(
                        [
                            _kind(str(kind), t),
                            t(phase),
                            str(bs),
                            str(len(v)),
                            fmt.rate(v.median()),
                            f"{fmt.rate(v.min())} – {fmt.rate(v.max())}",
                        ]
                    )
    header = [t("kind of machine"), t("phase"), t("batch"), t("students"), t("median"), t("range")]
    blocks = [
        t("Throughput is from each run's own training configuration (device, precision, threads)."),
        Table(header, rows, [False, False, True, True, True, True]),
    ]
    if png:
        blocks.append(Figure(png, t("Train-step images/s at each batch size, by kind of machine")))
    return Section(t("Throughput"), blocks)


def _accuracy(ok: pd.DataFrame, t, png: Path | None) -> list:
    rows = []
    for (ds, full), g in ok.groupby(["dataset", "dataset_full"], dropna=False):
        v = g["test_accuracy"].dropna()
        if len(v):
            rows.append(
                [
                    f"{plain(ds)} ({t('full') if full else t('subset')})",
                    str(len(v)),
                    fmt.pct(v.median()),
                    f"{fmt.pct(v.min())} – {fmt.pct(v.max())}",
                ]
            )
    head = [t("dataset"), t("students"), t("median"), t("range")]
    blocks: list = [Table(head, rows, [False, True, True, True])]
    if png:
        blocks.append(Figure(png, t("Test accuracy of the class")))
    return blocks


def _findings(ok: pd.DataFrame, t) -> list[str]:
    out = []
    sp = ok["gpu_speedup_bs64"].dropna()
    if len(sp):
        out.append(
            t(
                "The median GPU speed-up over the CPU (train step, batch 64): {x} ({n} students).",
                x=fmt.ratio(sp.median()),
                n=len(sp),
            )
        )
    else:
        out.append(t("No submission measured a GPU against the CPU at batch 64."))
    for kind, g in ok.groupby("machine_kind"):
        r = (g["train_step_images_per_s_bs64"] / g["train_step_images_per_s_bs1"]).dropna()
        if len(r):
            out.append(
                t(
                    "Batch 64 over batch 1 (train step), {kind}: {x} ({n} students).",
                    kind=_kind(str(kind), t),
                    x=fmt.ratio(r.median()),
                    n=len(r),
                )
            )
    busy = ok.loc[ok["busy"].fillna(False).astype(bool), "student"].tolist()
    if busy:
        out.append(
            t(
                "Measured on a busy machine (another process used the cores): {who}.",
                who=", ".join(plain(b) for b in busy),
            )
        )
    else:
        out.append(t("No submission was measured on a busy machine."))
    return out


def _all_students(df: pd.DataFrame, t) -> Section:
    rows = [
        [
            plain(r.student),
            t(r.status),
            _kind(str(r.machine_kind), t) if _known(r.machine_kind) else "–",
            plain(r.dataset) if _known(r.dataset) else "–",
            fmt.count(r.epochs) if _known(r.epochs) else "–",
            fmt.pct(r.test_accuracy),
            fmt.rate(r.train_images_per_s),
            *[fmt.rate(getattr(r, f"train_step_images_per_s_bs{bs}")) for bs in BATCH_SIZES],
        ]
        for r in df.itertuples()
    ]
    head = [
        t("student"),
        t("status"),
        t("machine"),
        t("dataset"),
        t("epochs"),
        t("test accuracy"),
        t("training images/s"),
        *[f"{t('train_step')} {t('batch')} {bs}" for bs in BATCH_SIZES],
    ]
    return Section(t("All students"), [Table(head, rows, [False] * 4 + [True] * 6)])


def _feedback(paths: ClassPaths, a: dict, file_name: str, t) -> None:
    failed, unjudged = checks.failed(a["checks"]), checks.to_measure_again(a["checks"])
    like = a.get("like_class")

    def detail(c: checks.Check) -> str:  # the class check in the feedback's language
        text = like_class_text(like, t.lang) if c.name == checks.LIKE_CLASS and like else c.detail
        return plain(text)

    said = {True: t("yes"), False: t("no"), None: t("not judged")}
    rows = [[c.name, said[c.passed], detail(c)] for c in a["checks"]]
    blocks = [t("Your submission was {status}.", status=t(a["status"]))]
    some_unjudged = checks.not_judged(a["checks"])
    fix = [f"{c.name}: {detail(c)}" for c in failed] or [
        t(
            "Nothing: every check judged passed."
            if some_unjudged
            else "Nothing: every check passed."
        )
    ]
    sections = [
        Section(t("Your submission"), blocks),
        Section(t("What to fix"), [Bullets(fix)]),
    ]
    if unjudged:  # not a fault: a separate section, never under What to fix
        again = t(
            "Some of your numbers were measured while other programs used the CPU, so they "
            "were not judged (no fault of yours): run `make run` again on a quiet machine, or "
            "re-measure only the profile with {cmd}, and hand in again.",
            cmd=REMEASURE,
        )
        sections.append(
            Section(
                t("Measure again"),
                [again, Bullets([f"{c.name}: {detail(c)}" for c in unjudged])],
            )
        )
    sections.append(Section(t("Checks"), [Table([t("check"), t("passed"), t("detail")], rows)]))
    md = to_markdown(t("Feedback: {student}", student=plain(a["student"])), sections, paths.root)
    write_text(paths.feedback(file_name), md)
