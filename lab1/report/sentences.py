"""Every finding kind's sentence in both languages, registered once: kind → (English, Chinese).

A kind is one of lab1.report.findings.KINDS; its two renderers are the functions named after
it in lab1.report.words and lab1.report.zh, so a kind cannot be said in one language only
(tests/unit/test_catalog.py holds this registry to KINDS and to every Finding the code makes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from lab1.report import words, zh
from lab1.report.findings import Finding


class Renderers(NamedTuple):
    en: Callable[[dict], str]
    zh: Callable[[dict], str]


SENTENCES: dict[str, Renderers] = {
    "accuracy": Renderers(words.accuracy, zh.accuracy),
    "loss_trend": Renderers(words.loss_trend, zh.loss_trend),
    "caveat": Renderers(words.caveat, zh.caveat),
    "params_vs_macs": Renderers(words.params_vs_macs, zh.params_vs_macs),
    "single_config": Renderers(words.single_config, zh.single_config),
    "scaling": Renderers(words.scaling, zh.scaling),
    "top_op": Renderers(words.top_op, zh.top_op),
    "peak_memory": Renderers(words.peak_memory, zh.peak_memory),
    "share_move": Renderers(words.share_move, zh.share_move),
    "speedup": Renderers(words.speedup, zh.speedup),
    "precision_speedup": Renderers(words.precision_speedup, zh.precision_speedup),
    "profiler_overhead": Renderers(words.profiler_overhead, zh.profiler_overhead),
    "contended": Renderers(words.contended, zh.contended),
    "unmeasured": Renderers(words.unmeasured, zh.unmeasured),
    "described_machine": Renderers(words.described_machine, zh.described_machine),
    "not_profiled": Renderers(words.not_profiled, zh.not_profiled),
    "time_goes": Renderers(words.time_goes, zh.time_goes),
    "peak_share": Renderers(words.peak_share, zh.peak_share),
    "fixed_cost": Renderers(words.fixed_cost, zh.fixed_cost),
    "thread_gain": Renderers(words.thread_gain, zh.thread_gain),
    "mixed_data": Renderers(words.mixed_data, zh.mixed_data),
    "not_comparable": Renderers(words.not_comparable, zh.not_comparable),
    "code_versions": Renderers(words.code_versions, zh.code_versions),
    "rows_contended": Renderers(words.rows_contended, zh.rows_contended),
    "run_speedup": Renderers(words.run_speedup, zh.run_speedup),
    "crossover": Renderers(words.crossover, zh.crossover),
    "model_ahead": Renderers(words.model_ahead, zh.model_ahead),
    "profile_vs_training": Renderers(words.profile_vs_training, zh.profile_vs_training),
    "execution_differs": Renderers(words.execution_differs, zh.execution_differs),
    "busy_machine": Renderers(words.busy_machine, zh.busy_machine),
    "summary_ran": Renderers(words.summary_ran, zh.summary_ran),
    "summary_machine": Renderers(words.summary_machine, zh.summary_machine),
    "summary_result": Renderers(words.summary_result, zh.summary_result),
    "small_batch": Renderers(words.small_batch, zh.small_batch),
    "large_batch": Renderers(words.large_batch, zh.large_batch),
}


def sentence(f: Finding, lang: str = "en") -> str:
    """The finding as one sentence in ``lang`` (en or zh)."""
    said = SENTENCES[f.kind]
    return (said.zh if lang == "zh" else said.en)(f.values)


def sentences(found: list[Finding], lang: str = "en") -> list[str]:
    return [sentence(f, lang) for f in found]
