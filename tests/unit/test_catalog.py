"""The reports' texts in both languages: every fixed text of lab1.catalog, and every
finding kind's sentence (lab1.report.sentences), exist in English and in Chinese."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pandas as pd
import pytest

import lab1
from lab1 import catalog
from lab1.report import findings
from lab1.report.sentences import SENTENCES

# Names and units, which Chinese writes in Latin letters too: the only texts whose Chinese may
# be the English, or have no Chinese character.
NAMES = {
    ("headers", "#"),
    ("headers", "GFLOP/s"),
    ("figure_labels", "dropout"),  # Dropout
    ("compare", "CPU"),
    ("compare", "PyTorch"),
    ("compare", "CUDA"),
    ("compare", "GPUs"),  # GPU
    ("punctuation", "list"),  # full-width marks: Chinese, but not characters
    ("punctuation", "aside"),
}
CJK = re.compile(r"[\u4e00-\u9fff]")
ENTRIES = [(g, key, t) for g, group in catalog.GROUPS.items() for key, t in group.items()]


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def untranslated(entries) -> list[str]:
    """The entries (group:id) whose English or Chinese is missing or empty, or whose Chinese is
    the English or has no Chinese character (names and units aside)."""

    def missing(t) -> bool:
        return not isinstance(t, catalog.Text) or not t.en.strip() or not t.zh.strip()

    def english(group: str, key: str, t: catalog.Text) -> bool:
        return (group, key) not in NAMES and (t.zh == t.en or not CJK.search(t.zh))

    return [f"{g}:{k}" for g, k, t in entries if missing(t) or english(g, k, t)]


def test_every_catalog_text_has_an_english_and_a_chinese_that_differ():
    assert len(ENTRIES) > 250  # every group is walked
    assert untranslated(ENTRIES) == []


def test_an_untranslated_text_is_caught():
    """The walk above, on texts as a hurried edit leaves them (by hand: each one is wrong)."""
    entries = [
        ("headers", "x", catalog.Text("x", "")),
        ("headers", "y", catalog.Text("y", "y")),
        ("compare", "z", catalog.Text("z", "z (zh)")),
        ("compare", "w", catalog.Text("", "宽")),
        ("compare", "ok", catalog.Text("ok", "好")),
    ]
    assert untranslated(entries) == ["headers:x", "headers:y", "compare:z", "compare:w"]


def test_both_languages_of_a_text_take_the_same_values():
    differ = []
    for group, key, text in ENTRIES:
        if group == "limit_notes":  # a pattern and its replacement: the groups it refers to
            used = max(map(int, re.findall(r"\\(\d)", text.zh)), default=0)
            if re.compile(text.en).groups < used:
                differ.append(f"{group}:{key}")
        elif fields(text.en) != fields(text.zh):
            differ.append(f"{group}:{key}")
    assert differ == []


def test_every_finding_kind_has_an_english_and_a_chinese_sentence():
    assert set(SENTENCES) == set(findings.KINDS)
    for kind, said in SENTENCES.items():
        assert (said.en.__module__, said.en.__name__) == ("lab1.report.words", kind)
        assert (said.zh.__module__, said.zh.__name__) == ("lab1.report.zh", kind)


def made_kinds() -> set[str]:
    """Every kind lab1's code writes as a literal, Finding("kind", …), read from the source
    (not from KINDS). A kind passed as a variable is held to KINDS by Finding itself."""
    kinds: set[str] = set()
    for path in Path(lab1.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Finding"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                kinds.add(node.args[0].value)
    return kinds


def test_every_finding_the_code_makes_can_be_said_in_both_languages():
    made = made_kinds()
    assert {"accuracy", "crossover", "summary_ran", "busy_machine"} <= made  # the scan sees them
    assert made - set(SENTENCES) == set()
    with pytest.raises(ValueError, match="unknown finding kind"):
        findings.Finding("said_in_no_language")


def test_the_appendix_has_the_same_parts_in_both_languages_titled_in_its_own():
    from lab1.report.blocks import Details
    from lab1.report.sections import APPENDIX, appendix

    parts = {key: [] for key in APPENDIX} | {"appendix run": ["r"], "appendix layers": ["l"]}
    titles = {lang: [b.summary for b in appendix(parts, lang).blocks] for lang in ("en", "zh")}
    assert titles == {
        "en": ["Run and pipeline timings", "Layer table"],
        "zh": ["运行与流水线耗时", "层表"],
    }
    assert all(isinstance(b, Details) for b in appendix(parts).blocks)
    assert appendix(parts, "zh").title == "附录"
    del parts["appendix limits"]  # a part one builder forgot
    with pytest.raises(ValueError, match="appendix's parts"):
        appendix(parts, "zh")


def test_every_text_the_class_view_writes_is_in_the_catalog():
    """Each text lab1.classroom.classreport passes to its translator, read from the source: a
    literal, either branch of a conditional, or a status or phase (their values, by hand)."""
    from lab1.classroom import classreport

    said: set[str] = {"accepted", "flagged", "refused", "train_step", "inference"}
    said |= {"laptop CPU", "server CPU", catalog.WHAT_CHECKS_PROVE}
    for node in ast.walk(ast.parse(Path(classreport.__file__).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "t" and node.args:
            arg = node.args[0]
            branches = [arg.body, arg.orelse] if isinstance(arg, ast.IfExp) else [arg]
            said |= {b.value for b in branches if isinstance(b, ast.Constant)}
    assert len(said) > 50  # the scan sees them
    assert sorted(said - set(catalog.CLASS)) == []
    t = classreport._t("zh")
    assert t("Class {name}", name="w1") == "班级 w1"
    with pytest.raises(KeyError):
        classreport._t("en")("a text the catalog does not have")


def test_the_chinese_comparison_names_each_kind_of_operator_in_chinese():
    # A one-run time split with every kind of operator: the Chinese table's headers, written
    # out by hand from the course's words, and none of the English names left.
    from lab1.measure.breakdown import OP_CATEGORIES, OUTSIDE_OPS
    from lab1.report.crossrun import split_blocks

    names = (*OP_CATEGORIES, OUTSIDE_OPS)
    split = pd.DataFrame(
        [
            dict(
                batch_size=64,
                phase="train_step",
                run_id="lap",
                machine_id="m1",
                device="cpu",
                precision="fp32",
                threads=1,
                name=n,
                share=0.1,
            )
            for n in names
        ]
    )
    tables = {"time_split": split, "runs": pd.DataFrame({"run_id": ["lap"], "order": [0]})}
    _, table = split_blocks(tables, "zh")
    assert table.header[3:] == [
        "卷积",
        "矩阵乘",
        "逐元素/激活",
        "池化",
        "Dropout 随机数",
        "损失",
        "优化器更新",
        "数据搬运/索引",
        "其他",
        "不在任何算子内",
    ]
    _, english = split_blocks(tables, "en")
    assert english.header[3:] == list(names)


CHINESE = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")  # characters, punctuation


def chinese_literals(source: str) -> list[str]:
    """Every string literal of ``source`` with a Chinese character or punctuation mark in it,
    docstrings aside."""
    tree = ast.parse(source)
    docs = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    return [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant)
        and isinstance(n.value, str)
        and id(n) not in docs
        and CHINESE.search(n.value)
    ]


def test_the_chinese_scan_sees_literals_and_leaves_docstrings_alone():
    source = 'def f():\n    """中文说明"""\n    return "；".join(x) + f"{n} 线程"\n'
    assert sorted(chinese_literals(source)) == [" 线程", "；"]


def test_chinese_is_written_in_the_catalog_and_the_finding_sentences_only():
    """Every fixed text in lab1.catalog, every finding's Chinese sentence in lab1.report.zh;
    the only other Chinese in lab1, tasks and flows is the CJK font probe's two characters."""
    root = Path(lab1.__file__).parent.parent
    homes = {"lab1/catalog.py", "lab1/report/zh.py"}
    found = {}
    for folder in ("lab1", "tasks", "flows"):
        for path in sorted((root / folder).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            said = chinese_literals(path.read_text(encoding="utf-8"))
            if rel not in homes and said:
                found[rel] = said
    assert found == {"lab1/figures.py": ["实验"]}
