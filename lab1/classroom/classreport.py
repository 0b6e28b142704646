"""The class view's report and each student's feedback, in English or Chinese, through the
run report's blocks (lab1.report.blocks): every string from a submission is escaped there,
and the HTML is the run report's page (its CSS and print rules)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lab1 import figures, fmt
from lab1.atomic import write_text
from lab1.classroom import checks
from lab1.config import LAB_BATCH_SIZES as BATCH_SIZES
from lab1.identity import PHASES
from lab1.report import words
from lab1.report.blocks import Bullets, Figure, Section, Table, plain, to_html, to_markdown
from lab1.rundir import ClassPaths

# What a verdict means, in the report itself (docs/teaching-assistant.md says more).
WHAT_CHECKS_PROVE = (
    "The checks show that each submission is whole, self-consistent and like the class's; "
    "they cannot show that its numbers were measured, or by whom."
)

ZH = {
    "Class {name}": "班级 {name}",
    "At a glance": "概览",
    "Hardware": "硬件",
    "Throughput": "吞吐量",
    "Accuracy": "准确率",
    "Findings for the lecture": "课堂可用的结论",
    "All students": "全部学生",
    "student": "学生",
    "status": "状态",
    "reasons": "原因",
    "machine": "机器",
    "kind of machine": "机器类型",
    "students": "学生数",
    "CPU models": "CPU 型号",
    "batch": "批大小",
    "phase": "阶段",
    "median": "中位数",
    "range": "范围",
    "images/s": "图像/秒",
    "test accuracy": "测试准确率",
    "accepted": "通过",
    "flagged": "待复核",
    "refused": "拒收",
    "train_step": "训练步",
    "inference": "推理",
    "dataset": "数据集",
    "epochs": "轮数",
    "training images/s": "训练 图像/秒",
    "Train-step images/s at each batch size, by kind of machine": (
        "各批大小的训练步吞吐量（按机器类型）"
    ),
    "Test accuracy of the class": "全班测试准确率",
    "number of students": "学生人数",
    "laptop CPU": "笔记本 CPU",
    "server CPU": "服务器 CPU",
    "subset": "子集",
    "full": "完整",
    "{a} accepted, {f} flagged, {r} refused of {n} submissions.": (
        "共 {n} 份提交：{a} 份通过，{f} 份待复核，{r} 份拒收。"
    ),
    "The median GPU speed-up over the CPU (train step, batch 64): {x} ({n} students).": (
        "GPU 相对 CPU 的加速比中位数（训练步，批大小 64）：{x}（{n} 名学生）。"
    ),
    "No submission measured a GPU against the CPU at batch 64.": (
        "没有提交在批大小 64 下比较 GPU 与 CPU。"
    ),
    "Batch 64 over batch 1 (train step), {kind}: {x} ({n} students).": (
        "批大小 64 相对批大小 1（训练步），{kind}：{x}（{n} 名学生）。"
    ),
    "Measured on a busy machine (another process used the cores): {who}.": (
        "在繁忙的机器上测量（有其他进程占用 CPU）：{who}。"
    ),
    "No submission was measured on a busy machine.": "没有提交是在繁忙的机器上测量的。",
    WHAT_CHECKS_PROVE: (
        "这些检查能说明每份提交完整、自洽、与全班相符；不能说明其中的数字是实测的，"
        "也不能说明是谁测的。"
    ),
    "Feedback: {student}": "反馈：{student}",
    "Your submission": "你的提交",
    "Checks": "检查",
    "check": "检查项",
    "passed": "通过",
    "detail": "说明",
    "yes": "是",
    "no": "否",
    "Your submission was {status}.": "你的提交状态：{status}。",
    "What to fix": "需要改正的地方",
    "Nothing: every check passed.": "没有：所有检查均通过。",
    "Nothing: every check judged passed.": "没有：所有已评判的检查均通过。",
    "not judged": "未评判",
    "Measure again": "重新测量",
    "Some of your numbers were measured while other programs used the CPU, so they were not "
    "judged (no fault of yours): run `make run` again on a quiet machine, or re-measure only "
    "the profile with {cmd}, and hand in again.": (
        "你的部分数字是在其他程序占用 CPU 时测得的，因此没有评判（这不是你的错误）："
        "请在空闲的机器上再次运行 `make run`，或用 {cmd} 只重新做性能分析，然后重新提交。"
    ),
    "Not judged, measured on a busy machine: {n} of {total} readable submissions; they should "
    "measure again on a quiet machine: {who}.": (
        "因在繁忙的机器上测量而未评判：可读的 {total} 份提交中有 {n} 份；这些学生应在空闲的机器上"
        "重新测量：{who}。"
    ),
    "Throughput is from each run's own training configuration (device, precision, threads).": (
        "吞吐量取自每次运行自己的训练配置（设备、精度、线程数）。"
    ),
}


def _t(lang: str):
    def t(text: str, **values) -> str:
        out = ZH.get(text, text) if lang == "zh" else text
        return out.format(**values) if values else out

    return t


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
    out = paths.root
    ok = df[df["status"] != "refused"]
    with figures.language({k: v for k, v in ZH.items()}, "zh") if lang == "zh" else _plain():
        throughput_png = figures.plot_class_throughput(ok, paths.figure("throughput"), t)
        accuracy_png = figures.plot_class_accuracy(ok, paths.figure("accuracy"), t)
    sections = [
        _glance(df, t),
        _hardware(ok, t),
        _throughput(ok, t, throughput_png),
        Section(t("Accuracy"), _accuracy(ok, t, accuracy_png)),
        Section(t("Findings for the lecture"), [Bullets(_findings(ok, t))]),
        _all_students(df, t),
    ]
    title = t("Class {name}", name=name)
    md = to_markdown(title, sections, out)
    write_text(paths.report_md, md)
    html_lang = "zh-CN" if lang == "zh" else "en"
    write_text(paths.report_html, to_html(md, title, out, html_lang, f"class {name}"))
    for a in judged:
        _feedback(paths, a, names[a["student"]], t)


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


def _hardware(ok: pd.DataFrame, t) -> Section:
    rows = []
    for kind, g in ok.groupby("machine_kind"):
        models = ", ".join(plain(m) for m in sorted(set(g["cpu_model"].dropna().astype(str))))
        rows.append([_kind(str(kind), t), str(len(g)), models])
    return Section(
        t("Hardware"),
        [Table([t("kind of machine"), t("students"), t("CPU models")], rows, [False, True, False])],
    )


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
    failed, unjudged = checks.failed(a["checks"]), checks.not_judged(a["checks"])
    said = {True: t("yes"), False: t("no"), None: t("not judged")}
    rows = [[c.name, said[c.passed], plain(c.detail)] for c in a["checks"]]
    blocks = [t("Your submission was {status}.", status=t(a["status"]))]
    fix = [f"{c.name}: {plain(c.detail)}" for c in failed] or [
        t("Nothing: every check judged passed." if unjudged else "Nothing: every check passed.")
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
            cmd=words.REMEASURE,
        )
        sections.append(
            Section(
                t("Measure again"),
                [again, Bullets([f"{c.name}: {plain(c.detail)}" for c in unjudged])],
            )
        )
    sections.append(Section(t("Checks"), [Table([t("check"), t("passed"), t("detail")], rows)]))
    md = to_markdown(t("Feedback: {student}", student=plain(a["student"])), sections, paths.root)
    write_text(paths.feedback(file_name), md)
