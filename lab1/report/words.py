"""Each finding kind as an English sentence: one function per kind, named after it.

lab1.report.sentences pairs each with its Chinese (lab1.report.zh); the fixed phrases a
sentence picks by a value are lab1.catalog's. Every number goes through lab1.fmt, so a
sentence shows it exactly as the tables do.
"""

from __future__ import annotations

from lab1 import fmt
from lab1.catalog import BASIS, PER_STEP, REASONS, REMEASURE, UNMEASURED


def busy_machine(v: dict) -> str:
    n, parts = v["measurements"], []
    if v["busy"]:
        of = f" of {fmt.count(v['vcpus'])}" if v["vcpus"] else ""
        used = f"{fmt.cores(v['cores'])}{of} cores" if v["cores"] is not None else "cores"
        parts.append(f"other programs used {used} during {v['busy']} of {n} measurements")
    if v["uneven"]:
        parts.append(
            f"the timed blocks of {v['uneven']} of {n} measurements spread more than "
            f"{fmt.pct(v['spread'])} of their median"
        )
    if v["epochs"]:
        e = ", ".join(str(x) for x in v["epochs"])
        parts.append(f"other programs disturbed training epoch(s) {e} of {v['of_epochs']}")
    if v["busy"] or v["epochs"]:
        return (
            f"**Measured on a busy machine**: {'; '.join(parts)}. These numbers are marked "
            f"{fmt.UNSURE} in the tables and figures, and no finding is drawn from them. To "
            f"measure again, run `make run` on a quiet machine, or re-measure only the profile: "
            f"{REMEASURE}."
        )
    # No other program took the cores a measurement needed: the spread is the timing's own
    # (blocks too short, the CPU's clock changing), not a busy machine.
    return (
        f"**Unsure measurements**: {'; '.join(parts)}, though no other program took the cores "
        f"they needed. These numbers are marked {fmt.UNSURE} in the tables and figures, and no "
        f"finding is drawn from them. To measure again, re-measure the profile: {REMEASURE}, "
        "or run `make run` again."
    )


def _disturbed(v: dict) -> str:
    """What a finding of a disturbed measurement adds: that it is one, and no finding."""
    if not v["disturbed"]:
        return ""
    how = (
        f"while other programs used {fmt.cores(v['cores'])} cores"
        if v["cores"]
        else "unreliably (its timed blocks disagree)"
    )
    return f" {fmt.UNSURE} Measured {how}: a disturbed measurement, not a finding."


def accuracy(v: dict) -> str:
    s = "s" if v["epochs"] > 1 else ""
    return (
        f"After {v['epochs']} epoch{s} the test accuracy is {fmt.pct(v['accuracy'])} "
        f"(test loss {fmt.decimal(v['loss'])}); the best epoch was {v['best_epoch']} at "
        f"{fmt.pct(v['best_accuracy'])}."
    )


def loss_trend(v: dict) -> str:
    verb = "fell" if v["fell"] else "did not fall"
    return (
        f"The test loss {verb} from {fmt.decimal(v['first_loss'])} (epoch {v['first_epoch']}) "
        f"to {fmt.decimal(v['last_loss'])} (epoch {v['last_epoch']}); training throughput "
        f"ranged from {fmt.rate(v['min_rate'])} to {fmt.rate(v['max_rate'])} images/s per epoch."
    )


def caveat(v: dict) -> str:
    parts = ["a dry run (a few batches per epoch)"] if v["dry_run"] else []
    if v["subset"]:
        parts.append(f"a subset of the data ({v['subset']})")
    return (
        f"These results come from {' on '.join(parts)}: read them as a check that the "
        "pipeline works, not as the lab's result."
    )


def params_vs_macs(v: dict) -> str:
    same = v["param_layer"] == v["mac_layer"]
    return (
        f"{fmt.code(v['param_layer'])} holds {fmt.pct(v['param_share'])} of the "
        f"{fmt.count(v['params'])} parameters, while {fmt.code(v['mac_layer'])} does "
        f"{fmt.pct(v['mac_share'])} of the {fmt.count(v['macs'])} MACs per image"
        + ("." if same else ": memory and compute concentrate in different layers.")
    )


def _name(v: dict) -> str:
    """The finding's config (a lab1.identity.Label) in English."""
    return v["config"].text("en")


def _where(v: dict) -> str:
    return f"{_name(v)} · {v['phase']}"


def single_config(v: dict) -> str:
    return (
        f"{_where(v)}: {fmt.rate(v['rate'])} images/s ({fmt.us(v['us'])} µs per image) at "
        f"batch {v['lo_bs']}; the heaviest operator is {fmt.code(v['op'])} "
        f"({fmt.pct(v['share'])})."
    )


def scaling(v: dict) -> str:
    verb = "falls" if v["hi_us"] < v["lo_us"] else "rises"
    return (
        f"{_where(v)}: from batch {v['lo_bs']} to {v['hi_bs']} the throughput goes from "
        f"{fmt.rate(v['lo_rate'])} to {fmt.rate(v['hi_rate'])} images/s "
        f"({fmt.ratio(v['gain'])}) and the cost per image {verb} from {fmt.us(v['lo_us'])} "
        f"to {fmt.us(v['hi_us'])} µs; the fastest batch size is {v['fastest_bs']}."
    )


def top_op(v: dict) -> str:
    if v["lo_op"] == v["hi_op"]:
        return (
            f"{_where(v)}: the heaviest operator is {fmt.code(v['lo_op'])} at both ends, with "
            f"{fmt.pct(v['lo_share'])} → {fmt.pct(v['hi_share'])} of the time."
        )
    return (
        f"{_where(v)}: the heaviest operator is {fmt.code(v['lo_op'])} "
        f"({fmt.pct(v['lo_share'])}) at batch {v['lo_bs']} and {fmt.code(v['hi_op'])} "
        f"({fmt.pct(v['hi_share'])}) at batch {v['hi_bs']}."
    )


def peak_memory(v: dict) -> str:
    return (
        f"{_where(v)}: peak memory goes from {fmt.nbytes(v['lo'])} at batch {v['lo_bs']} to "
        f"{fmt.nbytes(v['hi'])} at batch {v['hi_bs']}."
    )


def share_move(v: dict) -> str:
    verb = "grows" if v["change"] > 0 else "shrinks"
    return (
        f"{_where(v)}: the share that moves most with the batch size is "
        f"{fmt.code(v['op'])}'s share of {BASIS[v['basis']].en}, which {verb} from "
        f"{fmt.pct(v['from'])} at batch {v['lo_bs']} to {fmt.pct(v['to'])} at batch "
        f"{v['hi_bs']} ({fmt.pp(v['change'])})."
    )


def _speedup_range(v: dict) -> str:
    """The range part of a speedup finding (kinds speedup and precision_speedup)."""
    return (
        f"the speedup ranges from {fmt.ratio(v['worst'])} at batch {v['worst_bs']} to "
        f"{fmt.ratio(v['best'])} at batch {v['best_bs']}"
    )


def speedup(v: dict) -> str:
    text = f"{_name(v)} over cpu ({v['phase']}): {_speedup_range(v)}"
    if v["slower_at"]:
        sizes = ", ".join(str(b) for b in v["slower_at"])
        return text + f"; the GPU is slower than the CPU at batch {sizes}."
    return text + "."


def precision_speedup(v: dict) -> str:
    text = f"{_name(v)} over fp32 ({v['phase']}): {_speedup_range(v)}"
    if v["slower_at"]:
        sizes = ", ".join(str(b) for b in v["slower_at"])
        text += f" ({v['config'].config.precision} is slower than fp32 at batch {sizes})"
    op = (
        f"the heaviest operator stays {fmt.code(v['op'])}"
        if v["op"] == v["op_fp32"]
        else f"the heaviest operator is {fmt.code(v['op'])} instead of {fmt.code(v['op_fp32'])}"
    )
    return (
        f"{text}; at batch {v['hi_bs']} {op} and peak memory is {fmt.nbytes(v['mem'])} against "
        f"{fmt.nbytes(v['mem_fp32'])} in fp32."
    )


def profiler_overhead(v: dict) -> str:
    spread = fmt.ratio_range(v["min"], v["max"], "to")
    return (
        "The profiler (record_shapes, profile_memory, with_flops) makes a step take "
        f"{spread} as long as without it; every throughput number is measured with it off."
    )


def contended(v: dict) -> str:
    n = len(v["configs"])
    where = "; ".join(f"{_where(c)} · batch {c['bs']}" for c in v["configs"])
    return (
        f"Contended: other processes kept the CPU busy (up to {fmt.decimal(v['max_cores'], 2)} "
        f"cores on average) while {n} measurement{'s' if n > 1 else ''} ran ({where}); their "
        "timings and top operators may be distorted: rerun on a quiet machine before comparing "
        "them."
    )


def unmeasured(v: dict) -> str:
    return (
        "Not measured on this system (a Linux-only source, or none for the device), shown as "
        f"unknown rather than guessed: {'; '.join(UNMEASURED[k].en for k in v['items'])}."
    )


def described_machine(v: dict) -> str:
    return (
        f"This machine was described by LAB1_MACHINE ({v['cpu']}), not read from the hardware: "
        "the table above is the description; the measurements were made on the real machine."
    )


def not_profiled(v: dict) -> str:
    return "Not profiled in this run: no operator or batch-size findings."


def time_goes(v: dict) -> str:
    step = f"the {fmt.ms(v['step_ms'])} ms step" if v["step_ms"] is not None else "the step"
    return (
        f"{_where(v)} at batch {v['bs']}: {fmt.pct(v['part_share'])} of {step} is in "
        f"{v['part']}, and {v['category']} is the largest kind of work "
        f"({fmt.pct(v['category_share'])}); {fmt.pct(v['outside'])} is outside any operator "
        "(Python and dispatch)." + _disturbed(v)
    )


def peak_share(v: dict) -> str:
    text = (
        f"{_where(v)} at batch {v['bs']}: the step reaches {fmt.gflops(v['gflops'])} GFLOP/s, "
        f"{fmt.pct(v['share'])} of the measured fp32 matmul peak"
    )
    if v["op"] is not None:
        text += (
            f"; its best operator, {fmt.code(v['op'])}, reaches {fmt.gflops(v['op_gflops'])} "
            f"GFLOP/s ({fmt.pct(v['op_share'])} of the peak)"
        )
    if v["over_peak"]:
        return text + (
            f". {fmt.UNSURE} Over 100 % of the peak is impossible: the peak itself was measured "
            "low (disturbed), so this share is no finding; measure again on a quiet machine."
        )
    return text + "." + _disturbed(v)


def fixed_cost(v: dict) -> str:
    if v["per_sample_us"] > 0 and v["fixed_ms"] < fmt.NO_FIXED_MS:
        return (
            f"{_where(v)}: the fit finds no fixed cost per step ({fmt.ms(v['fixed_ms'])} ms): a "
            f"step costs {fmt.us(v['per_sample_us'])} µs per image (fit r² "
            f"{fmt.decimal(v['r2'], 3)}), and no larger batch of the ladder reaches 10 % more "
            f"images/s than batch {v['plateau_bs']}."
        )
    if v["per_sample_us"] <= 0:
        return (
            f"{_where(v)}: the ladder's step times do not grow with the batch (fit: "
            f"{fmt.ms(v['fixed_ms'])} ms + {fmt.us(v['per_sample_us'])} µs per image, r² "
            f"{fmt.decimal(v['r2'], 3)}): too noisy to read a per-image cost from."
        )
    below = (
        f"falls below 10 % of a step from batch {v['below_bs']:,}"
        if v["below_bs"] is not None
        else "never falls below 10 % of a step"
    )
    return (
        f"{_where(v)}: a step costs {fmt.ms(v['fixed_ms'])} ms fixed + {fmt.us(v['per_sample_us'])}"
        f" µs per image (fit r² {fmt.decimal(v['r2'], 3)}); the fixed part {below}, and "
        f"no larger batch of the ladder reaches 10 % more images/s than batch {v['plateau_bs']}."
    )


def _as_fast(x: float) -> str:
    """A speed ratio in words: ``1.50× as fast``, and below 1 ``1.25× slower`` (not 0.80×)."""
    return f"{fmt.ratio(x)} as fast" if x >= 1 else f"{fmt.slower(x)} slower"


def thread_gain(v: dict) -> str:
    return (
        f"{_where(v)}: {v['threads']} threads instead of 1 make a step "
        f"{_as_fast(v['lo'])} at batch {v['lo_bs']} and {_as_fast(v['hi'])} at batch "
        f"{v['hi_bs']}; the best is {fmt.ratio(v['best'])} at batch {v['best_bs']} "
        f"({fmt.pct(v['efficiency'])} parallel efficiency)." + _disturbed(v)
    )


def _names(ids: list[str]) -> str:
    return ", ".join(fmt.code(i) for i in ids)


def mixed_data(v: dict) -> str:
    return (
        f"**Subset beside full data**: {_names(v['subset'])} ran on a subset of the data, "
        f"{_names(v['full'])} on the full dataset: their accuracies and epoch times are not "
        "comparable, and their step timings only per image."
    )


def not_comparable(v: dict) -> str:
    parts = []
    if v["data"]:
        parts.append(f"{_names(v['data'])} used other data")
    if v["recipe"]:
        parts.append(f"{_names(v['recipe'])} used another training recipe")
    return (
        f"Against the baseline {fmt.code(v['baseline'])}, {' and '.join(parts)}: their "
        "accuracy rows are marked not comparable."
    )


def code_versions(v: dict) -> str:
    runs = "; ".join(f"{fmt.code(r)}: {fmt.code(c or fmt.MISSING)}" for r, c in v["versions"])
    return f"The runs come from different versions of lab1 ({runs})."


def _run_config(c: dict) -> str:
    """A compared run's config: ``lap · cpu · 1 thread``."""
    return f"{c['run']} · {c['config'].text('en')}"


def rows_contended(v: dict) -> str:
    where = ", ".join(f"{fmt.code(r)}: {n}" for r, n in v["runs"])
    return (
        f"Contended: other processes kept the CPU busy while {v['rows']} of the rows were "
        f"measured ({where}; marked ⚠ in the throughput table): compare them with care."
    )


def run_speedup(v: dict) -> str:
    base = _run_config({"run": v["base_run"], "config": v["base_config"]})
    text = f"{_run_config(v)} over {base} ({v['phase']}): "
    if v["worst_bs"] == v["best_bs"]:  # one batch size in common
        text += f"the speed-up is {fmt.ratio(v['best'])} at batch {v['best_bs']}"
    else:
        text += _speedup_range(v)
    if v["slower_at"]:
        sizes = ", ".join(str(b) for b in v["slower_at"])
        return text + f"; slower than the baseline at batch {sizes}."
    return text + "."


def crossover(v: dict) -> str:
    big, small = _run_config(v["big"]), _run_config(v["small"])
    return (
        f"{v['phase']}: {big} has a fixed cost of {fmt.ms(v['big_fixed'])} ms per step "
        f"against {fmt.ms(v['small_fixed'])} ms for {small}, but less per image, so below "
        f"batch {fmt.count(v['batch'])} {small} is faster and above it {big} is "
        "(step-time models)."
    )


def model_ahead(v: dict) -> str:
    return (
        f"{v['phase']}: {_run_config(v['ahead'])} is faster than {_run_config(v['behind'])} "
        f"at every batch size (step-time models: {fmt.ms(v['ahead_fixed'])} against "
        f"{fmt.ms(v['behind_fixed'])} ms fixed per step, {fmt.us(v['ahead_per'])} against "
        f"{fmt.us(v['behind_per'])} µs per image)."
    )


def profile_vs_training(v: dict) -> str:
    label = _name(v)
    epochs = v["epochs"]
    which = f"epoch {epochs[0]}" if len(epochs) == 1 else f"epochs {epochs[0]}–{epochs[-1]}"
    lo, hi = v["band"]
    band = fmt.band(lo, hi)
    if lo <= v["ratio"] <= hi:
        verdict = f"within {band}: the profile measures the step that was trained"
    elif v["disturbed"]:
        verdict = f"outside {band}"  # _disturbed says why: no finding
    else:
        verdict = f"outside {band}: the profile does not measure the step that was trained"
    return (
        f"Profile against training, {label} at batch {v['bs']}: training ran "
        f"{fmt.rate(v['training'])} images/s (median of {which}), the profiler-off train step "
        f"{fmt.rate(v['profiled'])} images/s, {fmt.ratio(v['ratio'])} ({verdict})." + _disturbed(v)
    )


def execution_differs(v: dict) -> str:
    t = v["trained"]
    trained = _name(v)
    parts = []
    for c in v["configs"]:
        why = [REASONS[r].en for r in c["reasons"]]
        if c["unexplained"]:
            why.append(
                f"**{', '.join(c['unexplained'])} differ(s) for no reason of its config: "
                "not the trained step**"
            )
        parts.append(f"{_name(c)}: {', '.join(why)}")
    return (
        f"Profiled steps that are not the trained one ({trained}, "
        f"{'channels_last' if t['channels_last'] else 'NCHW'}, {t['mode']}): "
        + "; ".join(parts)
        + "."
    )


def arithmetic(precision: str | None, tf32: list[str]) -> str:
    """A step's arithmetic in words: "fp32", "bf16", "fp32 (TF32 convolutions)"."""
    if not tf32:
        return precision or "fp32"
    return f"{precision} (TF32 {' and '.join(tf32)})"


def summary_ran(v: dict) -> str:
    how = [w for w, on in (("a dry run", v["dry_run"]), ("a subset of MNIST", v["subset"])) if on]
    threads = " and ".join(str(t) for t in v["threads"])
    return (
        f"**Ran**: {v['epochs']} epochs of the MNIST CNN at batch {v['batch_size']} on "
        f"{v['device']}{' (' + ', '.join(how) + ')' if how else ''} in "
        f"{arithmetic(v['precision'], v['tf32'])}; profiled at batch sizes "
        f"{', '.join(str(b) for b in v['batch_sizes'])} with {threads} "
        f"thread{'s' if v['threads'] != [1] else ''}."
    )


def summary_machine(v: dict) -> str:
    gpu = f"{v['gpu_count']} × {', '.join(v['gpus'])}" if v["gpus"] else "no GPU"
    ident = f", machine id {fmt.code(v['machine_id'])}" if v["machine_id"] else ""
    return f"**Machine**: {v['cpu']} ({fmt.count(v['vcpus'])} vCPUs), {gpu}{ident}."


def summary_result(v: dict) -> str:
    return (
        f"**Result**: test accuracy {fmt.pct(v['accuracy'])} after {v['epochs']} epochs; "
        f"training took {fmt.seconds(v['seconds'])}."
    )


def small_batch(v: dict) -> str:
    if v["part"] is None:  # inference: the kind of work
        text = (
            f"{_where(v)} at batch {v['bs']}: {v['category']} takes "
            f"{fmt.pct(v['category_share'])} of the {fmt.ms(v['ms'])} ms step"
        )
    else:
        text = (
            f"{_where(v)} at batch {v['bs']}: {fmt.pct(v['part_share'])} of the "
            f"{fmt.ms(v['ms'])} ms step is the {v['part']} ({v['category']} is the largest "
            f"kind of work, {fmt.pct(v['category_share'])})"
        )
    if v["part"] in PER_STEP:
        text += f": {PER_STEP[v['part']].en}, so this cost does not grow with it"
    if v["fixed_ms"] is not None and v["per_sample_us"] > 0:
        text += (
            f"; the step-time fit puts {fmt.ms(v['fixed_ms'])} ms of every step as fixed "
            f"against {fmt.us(v['per_sample_us'])} µs per image"
        )
    return text + "."


def large_batch(v: dict) -> str:
    text = (
        f"{_where(v)} at batch {v['bs']}: {v['category']} takes {fmt.pct(v['category_share'])} "
        f"of the {fmt.ms(v['ms'])} ms step, as the work per image outweighs the per-step costs"
    )
    if v["peak"] is None or v["peak"] != v["peak"]:  # no peak measured
        return text + f"; the step reaches {fmt.gflops(v['gflops'])} GFLOP/s."
    if v["peak_low"]:  # over 100 %, or of a disturbed peak: the peak is what is wrong
        return text + (
            f"; the step reaches {fmt.gflops(v['gflops'])} GFLOP/s (its share of this machine's "
            "measured fp32 matmul peak is no finding: the peak itself was measured low or unsure)."
        )
    return text + (
        f"; the step reaches {fmt.gflops(v['gflops'])} GFLOP/s, {fmt.pct(v['peak'])} of this "
        "machine's measured fp32 matmul peak."
    )
