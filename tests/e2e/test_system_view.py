"""The system view end to end on a real (tiny) run: limits, thread axis, ladder, compare,
achieved FLOP/s against the measured peak, the report section in both languages. (The
system view's arithmetic on hand-made rows: tests/unit/test_system.py.)"""

import re
from collections import Counter
from pathlib import Path

import matplotlib.text
import pytest
from rundirs import profiled_run
from test_report import NUMBER
from test_report_zh import _cjk_font_or_skip

from lab1 import figures, fmt
from lab1.config import ProfileSchedule
from lab1.host.threads import available_cpus
from lab1.report import write_report
from lab1.schemas import CONFIG_COLUMNS, SCHEMAS, read_parquet

SMALL = ProfileSchedule(wait=0, warmup=1, active=2, throughput_steps=3)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One run directory: cpu at 1 and all threads, batch 16, limits, a 3-size ladder."""
    configs = [("cpu", 16, t) for t in sorted({1, available_cpus()})]
    root = tmp_path_factory.mktemp("system")
    return profiled_run(root, configs, SMALL, limits=True, ladder=(1, 4, 16))


def _table(paths, name):
    return read_parquet(paths.table(name), SCHEMAS[name])


def test_the_thread_axis_gives_rows_for_1_and_n_threads(run):
    cmp = _table(run, "comparison")
    assert set(cmp["threads"]) == {1, available_cpus()}
    one = cmp[cmp["threads"] == 1]
    assert (one["speedup_vs_1_thread"] == 1.0).all() and (one["parallel_efficiency"] == 1).all()
    for name in ("op_stats", "top10", "time_split", "roofline", "limits"):
        assert set(_table(run, name)["threads"]) == {1, available_cpus()}, name


def test_achieved_gflops_match_the_hand_count_and_stay_near_the_peak(run):
    """What ran on 1 thread stays within twice the fastest matmul this run measured. Not
    under the 1-thread peak itself: the peak is one short 2048² matmul measurement, and on the
    2-vCPU AMD EPYC it read 52, 58, 52 and 64 GFLOP/s back to back on an idle
    machine, while conv2 reached 60-70 at 1 thread (mkldnn's conv beats that matmul) and the
    2-thread peak read 75-106. The bound catches unit errors (×1000); the exact value is
    checked below by another route."""
    limits = _table(run, "limits")
    fp32 = limits[(limits.what == "matmul_peak") & (limits.dtype == "float32")]
    peak = fp32[fp32.threads == 1]["value"].iloc[0]
    fastest = fp32["value"].max()
    cmp = _table(run, "comparison")
    one = cmp[cmp["threads"] == 1]
    assert (one["achieved_gflops"] > 0).all()
    assert (one["achieved_gflops"] <= 2 * fastest).all()
    assert one["share_of_peak"].tolist() == pytest.approx((one["achieved_gflops"] / peak).tolist())
    roof = _table(run, "roofline")
    roof = roof[roof["threads"] == 1]
    assert {"aten::conv2d", "aten::addmm"} <= set(roof["op_name"])
    assert (roof["achieved_gflops"] <= 2 * fastest).all(), roof[["op_name", "achieved_gflops"]]
    # conv2's (16,32,26,26) × (64,32,3,3): 2 × 16·64·24·24 · 32·9 FLOPs per call.
    conv2 = roof[roof["input_shapes"].str.startswith("[[16, 32, 26, 26]")].iloc[0]
    by_hand = 2 * 16 * 64 * 24 * 24 * 32 * 9
    assert conv2["gflop_per_call"] == pytest.approx(by_hand / 1e9)
    # Its achieved GFLOP/s by another route: the hand count × the calls the profiler saw, over
    # the inclusive CPU time it measured for them (op_stats, µs): FLOP / (µs · 1e3) = GFLOP/s.
    stats = _table(run, "op_stats")
    same = (stats[CONFIG_COLUMNS] == conv2[CONFIG_COLUMNS]).all(axis=1)
    rows = stats[
        same & (stats.op_name == conv2.op_name) & (stats.input_shapes == conv2.input_shapes)
    ]
    (measured,) = rows.itertuples()
    assert conv2["achieved_gflops"] == pytest.approx(
        by_hand * measured.calls / (measured.cpu_total_us * 1e3)
    )


def test_a_share_over_the_measured_peak_is_named_a_peak_measured_low_in_both_languages(run):
    """A default run's conv2d reached 116 % of its run's matmul peak (AMD EPYC VM), and
    this tiny run's 2-thread conv2d may too: over 100 %, for the step or its
    best operator, the sentence names the peak as measured low (disturbed), never a system
    effect, in English and Chinese; under, it does not."""
    from lab1.report import findings
    from lab1.report.sentences import sentence

    cmp, roof = _table(run, "comparison"), _table(run, "roofline")
    cases = [  # (the steps' share, their heaviest operators' share, explained?)
        (0.5, 0.9, False),
        (0.5, 1.16, True),
        (1.05, 0.9, True),
    ]
    for step_share, op_share, explained in cases:
        said = findings.peak_shares(
            cmp.assign(share_of_peak=step_share), roof.assign(share_of_peak=op_share)
        )
        assert said
        for f in said:
            en, cn = sentence(f), sentence(f, "zh")
            assert ("the peak itself was measured low (disturbed)" in en) is explained, en
            assert ("峰值本身测得偏低（受到干扰）" in cn) is explained, cn
            assert "is possible" not in en and "是可能的" not in cn
            assert Counter(NUMBER.findall(en)) == Counter(NUMBER.findall(cn))
            if op_share > 1:
                assert "(116.00% of the peak). ⚠ Over 100 % of the peak is impossible" in en
                assert "（峰值的 116.00%）。⚠ 超过峰值的 100 % 不可能" in cn


def test_the_model_flops_follow_the_layer_table_and_the_step_model_is_fitted(run):
    model = _table(run, "step_model")
    assert len(model) == 2 and (model["sizes"] == 3).all()
    cmp = _table(run, "comparison")
    fitted = cmp[cmp["threads"] == 1]
    assert fitted["fixed_ms"].notna().all() and fitted["per_sample_us"].notna().all()
    # No layers.json in this run: FLOPs fall back to the profiler's count.
    assert cmp["model_gflop_per_step"].isna().all() and (cmp["profiler_gflop_per_step"] > 0).all()


def test_every_measured_throughput_is_in_the_report_in_both_languages(run):
    """The main part shows the default thread count; the appendix promises every other one.
    Each images/s of the comparison table is printed somewhere (as fmt.rate formats it: the
    class view's consistency check reads a handed-in report the same way)."""
    cmp = _table(run, "comparison")

    # By hand, as the report prints throughput: whole from 100 images/s up, one decimal below;
    # each config a table row "| threads | phase | batch size | images/s |" (the phase in the
    # report's language), not merely a number a sentence happens to repeat; a value measured
    # on a busy machine (this one may be) carries the unreliable marker after it.
    def rate(x: float) -> str:
        return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"

    rows = [
        rf"\| {r.threads} \| [^|]+ \| {r.batch_size} \| {re.escape(rate(r.images_per_s))}"
        rf"(?: {fmt.UNSURE})? \|"
        for r in cmp.itertuples()
    ]
    # (1 thread and every CPU of this process: on 2+ CPUs one count is not the main part's)
    for lang in ("zh", "en"):  # English last: the other tests read it
        write_report(run.root, lang=lang)
        md = run.in_language(lang).report_md.read_text()
        absent = [row for row in rows if not re.search(row, md)]
        assert not absent, (lang, absent)


def test_the_report_shows_where_the_time_goes(run):
    out = write_report(run.root)
    assert {"time_split", "roofline", "step_model"} <= set(out["figures"])
    md = run.report_md.read_text()
    assert "## Where the time goes" in md and "outside any operator" in md
    assert "matmul peak" in md  # the environment's limits table


# What a Chinese figure may still spell in Latin letters: code (operators), units, kinds of
# device, the optimizer and schedule, the B of the step-time formula, and matplotlib's
# mathtext tick labels ($\mathdefault{10^{2}}$). The machine's own names (its CPU and GPU
# models) are not listed here: they are taken from what the run recorded (names_in).
LATIN_IN_ZH = re.compile(
    r"aten::\w+|\b\w+Backward\d+\b|\bCPU\b|\bCUDA\b|\bGPU\b|GFLOP/s|GB/s|\bFLOP\b|\bB\b|\bNLL\b|Adadelta|"
    r"StepLR|log-softmax|Dropout|\$\\mathdefault\{[^$]*\}\$"
)


def names_in(paths) -> re.Pattern:
    """The names a run recorded of its machine (the environment's CPU and GPU models, each
    row's device_name): proper names, shown as they are in either language."""
    from lab1.run.manifest import read_manifest

    env = read_manifest(paths).environment
    names = {env.cpu_model, *(env.gpu_models or []), *_table(paths, "comparison")["device_name"]}
    return re.compile("|".join(map(re.escape, sorted(names, key=len, reverse=True))))


def untranslated(texts: list[str], names: re.Pattern) -> list[str]:
    """Texts with an English word left once code, units and the machine's names are out."""
    return [t for t in texts if re.search(r"[A-Za-z]{2,}", LATIN_IN_ZH.sub("", names.sub("", t)))]


def test_the_untranslated_check_knows_a_name_from_an_english_word():
    names = re.compile(re.escape("12th Gen Intel(R) Core(TM) i7-1260P"))
    named = "CPU · 1 线程 (12th Gen Intel(R) Core(TM) i7-1260P)"
    assert untranslated([named, "训练步：实测", "aten::addmm 10^2 GFLOP/s"], names) == []
    assert untranslated(["CPU · 1 线程 (AMD EPYC)"], names) == ["CPU · 1 线程 (AMD EPYC)"]
    assert untranslated(["batch size 16"], names) == ["batch size 16"]


def test_the_chinese_report_says_where_the_time_goes_with_the_same_numbers(run, monkeypatch):
    _cjk_font_or_skip()
    drawn: dict[str, list[str]] = {}  # figure → every text on it (titles, axes, legends)
    save = figures._save

    def spy(fig, path):
        texts = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
        drawn[Path(path).stem] = [t for t in texts if t.strip()]
        return save(fig, path)

    monkeypatch.setattr(figures, "_save", spy)
    write_report(run.root, lang="zh")
    monkeypatch.undo()
    # Every figure of the system view is labelled in Chinese: nothing English is left once
    # code, units and names are taken out.
    assert {"time_split", "roofline", "step_model", "throughput_vs_batch"} <= set(drawn)
    names = names_in(run)
    for name, texts in drawn.items():
        assert not untranslated(texts, names), (name, untranslated(texts, names))
    assert {"训练步", "推理"} <= set(drawn["throughput_vs_batch"])
    assert {"卷积", "矩阵乘", "优化器更新", "不在任何算子内"} <= set(drawn["time_split"])
    assert any(t.startswith("实测上限：") for t in drawn["roofline"])
    assert "训练步：实测" in drawn["step_model"]
    md = run.in_language("zh").report_md.read_text()
    assert "### 网络分析，时间都花在哪里" in md
    split = _table(run, "time_split")
    cats = split[(split["split"] == "category") & (split["threads"] == split["threads"].max())]
    outside = cats[
        (cats["name"] == "outside any operator")
        & (cats["phase"] == "train_step")
        & (cats["batch_size"] == cats["batch_size"].min())
    ]
    assert f"{fmt.pct(outside['share'].iloc[0])} 不在任何算子内" in md
    # Tables in Chinese too: the kinds of work as headers, phases as cells.
    assert (
        "| 批大小 | 卷积 | 矩阵乘 | 逐元素/激活 | 池化 | Dropout 随机数 | 损失 | 优化器更新 |" in md
    )
    assert "| 训练步 |" in md and "| train_step |" not in md
    # The machine limits in Chinese (lab1.measure.limits' notes are English data): the limit, how it
    # was measured, and not one English sentence in the appendix (operator names, units and
    # model names are single words or code).
    limits = md.split("机器极限", 1)[1].split("</details>", 1)[0]
    assert "| 矩阵乘峰值 |" in limits and "| 每个算子的派发下限 |" in limits
    assert "取最快的一次" in limits and "单元素 add_，连续调用 2000 次" in limits
    appendix = md.split("\n## 附录\n", 1)[1]
    prose = re.sub(r"`[^`]*`", "", appendix)  # code (operator names, commands) is not prose
    english = re.findall(r"\b[A-Za-z]{2,}(?: [A-Za-z]{2,}){3,}\b", prose)
    assert english == [], english[:5]
    write_report(run.root)  # leave the English report for the other tests
