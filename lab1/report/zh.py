"""Each finding kind as a Chinese sentence: one function per kind, named after it.

lab1.report.sentences pairs each with its English (lab1.report.words); the fixed phrases a
sentence picks by a value are lab1.catalog's. Every number goes through lab1.fmt
exactly as in the English report.
"""

from __future__ import annotations

from lab1 import fmt
from lab1.catalog import (
    BASIS,
    CATEGORIES,
    PARTS,
    PER_STEP,
    PHASE,
    REASONS,
    REMEASURE,
    TF32_PARTS,
    UNMEASURED,
)


def busy_machine(v: dict) -> str:
    n, parts = v["measurements"], []
    if v["busy"]:
        of = f"（共 {fmt.count(v['vcpus'])} 个核）" if v["vcpus"] else ""
        used = f"平均 {fmt.cores(v['cores'])} 个核{of}" if v["cores"] is not None else "CPU 核"
        parts.append(f"{n} 项测量中有 {v['busy']} 项进行时，其他程序占用了{used}")
    if v["uneven"]:
        parts.append(
            f"{n} 项测量中{'另' if v['busy'] else ''}有 {v['uneven']} 项的各计时块相差超过中位数的 "
            f"{fmt.pct(v['spread'])}"
        )
    if v["epochs"]:
        e = ", ".join(str(x) for x in v["epochs"])
        parts.append(f"共 {v['of_epochs']} 轮训练中，第 {e} 轮受到其他程序干扰")
    if v["busy"] or v["epochs"]:
        return (
            f"**在繁忙的机器上测量**：{'；'.join(parts)}。这些数字在表格和图中以 {fmt.UNSURE} "
            "标出，不据此得出任何结论。重新测量：在空闲的机器上再次运行 `make run`，"
            f"或只重新做性能分析：{REMEASURE}。"
        )
    return (
        f"**测量不稳定**：{'；'.join(parts)}，但没有其他程序占用这些测量所需的核。这些数字在表格"
        f"和图中以 {fmt.UNSURE} 标出，不据此得出任何结论。重新测量：只重新做性能分析："
        f"{REMEASURE}，或再次运行 `make run`。"
    )


def _disturbed(v: dict) -> str:
    """What a finding of a disturbed measurement adds (words._disturbed, in Chinese)."""
    if not v["disturbed"]:
        return ""
    how = (
        f"测量时其他程序占用了 {fmt.cores(v['cores'])} 个核"
        if v["cores"]
        else "测量不可靠（各计时块不一致）"
    )
    return f"{fmt.UNSURE} {how}：这是受干扰的测量，不是结论。"


def _name(v: dict) -> str:
    """The finding's config (a lab1.identity.Label) in Chinese."""
    return v["config"].text("zh")


def _category(v: dict) -> str:
    c = v["category"]
    return CATEGORIES[c].zh if c in CATEGORIES else c


def _part(v: dict) -> str:
    p = v["part"]
    return PARTS[p].zh if p in PARTS else p


def _where(v: dict) -> str:
    return f"{_name(v)} · {PHASE[v['phase']].zh}"


def scaling(v: dict) -> str:
    verb = "下降" if v["hi_us"] < v["lo_us"] else "上升"
    return (
        f"{_where(v)}：批大小从 {v['lo_bs']} 增加到 {v['hi_bs']}，吞吐从 "
        f"{fmt.rate(v['lo_rate'])} 提高到 {fmt.rate(v['hi_rate'])} 图像/秒 "
        f"({fmt.ratio(v['gain'])})，每张图像的开销从 {fmt.us(v['lo_us'])} {verb}到 "
        f"{fmt.us(v['hi_us'])} 微秒；最快的批大小是 {v['fastest_bs']}。"
    )


def top_op(v: dict) -> str:
    if v["lo_op"] == v["hi_op"]:
        return (
            f"{_where(v)}：两端最耗时的算子都是 {fmt.code(v['lo_op'])}，占比 "
            f"{fmt.pct(v['lo_share'])} → {fmt.pct(v['hi_share'])}。"
        )
    return (
        f"{_where(v)}：批大小 {v['lo_bs']} 时最耗时的算子是 {fmt.code(v['lo_op'])} "
        f"({fmt.pct(v['lo_share'])})，批大小 {v['hi_bs']} 时是 {fmt.code(v['hi_op'])} "
        f"({fmt.pct(v['hi_share'])})。"
    )


def share_move(v: dict) -> str:
    verb = "增加" if v["change"] > 0 else "减少"
    return (
        f"{_where(v)}：随批大小变化最大的是 {fmt.code(v['op'])} 占{BASIS[v['basis']].zh}的比例，"
        f"从批大小 {v['lo_bs']} 的 {fmt.pct(v['from'])} {verb}到批大小 {v['hi_bs']} 的 "
        f"{fmt.pct(v['to'])} ({fmt.pp(v['change'])})。"
    )


def _speedup_range(v: dict) -> str:
    """The range part of a speedup finding (kinds speedup and precision_speedup)."""
    return (
        f"加速比从批大小 {v['worst_bs']} 的 {fmt.ratio(v['worst'])} 到批大小 {v['best_bs']} 的 "
        f"{fmt.ratio(v['best'])}"
    )


def speedup(v: dict) -> str:
    text = f"{_name(v)} 相对 CPU（{PHASE[v['phase']].zh}）：{_speedup_range(v)}"
    if v["slower_at"]:
        return text + f"；批大小 {', '.join(map(str, v['slower_at']))} 时 GPU 比 CPU 慢。"
    return text + "。"


def precision_speedup(v: dict) -> str:
    text = f"{_name(v)} 相对 fp32（{PHASE[v['phase']].zh}）：{_speedup_range(v)}"
    if v["slower_at"]:
        text += f"（批大小 {', '.join(map(str, v['slower_at']))} 时比 fp32 慢）"
    op = (
        f"最耗时的算子仍是 {fmt.code(v['op'])}"
        if v["op"] == v["op_fp32"]
        else f"最耗时的算子由 {fmt.code(v['op_fp32'])} 变为 {fmt.code(v['op'])}"
    )
    return (
        f"{text}；批大小 {v['hi_bs']} 时{op}，峰值内存 {fmt.nbytes(v['mem'])}，fp32 为 "
        f"{fmt.nbytes(v['mem_fp32'])}。"
    )


def peak_share(v: dict) -> str:
    text = (
        f"{_where(v)}，批大小 {v['bs']}：每步达到 {fmt.gflops(v['gflops'])} GFLOP/s，为实测 fp32 "
        f"矩阵乘峰值的 {fmt.pct(v['share'])}"
    )
    if v["op"] is not None:
        text += (
            f"；最好的算子 {fmt.code(v['op'])} 达到 {fmt.gflops(v['op_gflops'])} GFLOP/s"
            f"（峰值的 {fmt.pct(v['op_share'])}）"
        )
    if v["over_peak"]:
        return text + (
            f"。{fmt.UNSURE} 超过峰值的 100 % 不可能：峰值本身测得偏低（受到干扰），"
            "所以这个占比不是结论；请在空闲的机器上重新测量。"
        )
    return text + "。" + _disturbed(v)


def _faster(x: float) -> str:
    """A speed ratio in words: ``快 1.50×``, and below 1 ``慢 1.25×`` (not 快 0.80×)."""
    return f"快 {fmt.ratio(x)}" if x >= 1 else f"慢 {fmt.slower(x)}"


def fixed_cost(v: dict) -> str:
    fixed, per = fmt.ms(v["fixed_ms"]), fmt.us(v["per_sample_us"])
    r2 = fmt.decimal(v["r2"], 3)
    if v["per_sample_us"] > 0 and v["fixed_ms"] < fmt.NO_FIXED_MS:
        return (
            f"{_where(v)}：拟合没有找到每步的固定开销（{fixed} 毫秒），每步开销为每张图像 {per} "
            f"微秒（拟合 r² {r2}）；从批大小 {v['plateau_bs']} 起，"
            "更大的批带来的图像/秒提升不到 10 %。"
        )
    if v["per_sample_us"] <= 0:
        return (
            f"{_where(v)}：阶梯测得的步时不随批大小增长（拟合：{fixed} 毫秒 + 每张图像 {per} 微秒，"
            f"r² {r2}），噪声太大，读不出每张图像的开销。"
        )
    below = (
        f"从批大小 {v['below_bs']:,} 起低于每步的 10 %"
        if v["below_bs"] is not None
        else "始终不低于每步的 10 %"
    )
    return (
        f"{_where(v)}：每步开销为固定 {fixed} 毫秒，另加每张图像 {per} 微秒（拟合 r² {r2}）；"
        f"固定部分{below}，从批大小 {v['plateau_bs']} 起，更大的批带来的图像/秒提升不到 10 %。"
    )


def caveat(v: dict) -> str:
    parts = ["试运行（每轮只有几个批次）"] if v["dry_run"] else []
    if v["subset"]:
        parts.append(f"数据子集（{v['subset']}）")
    return f"这些结果来自{'、'.join(parts)}：只能说明流水线能运行，不能作为实验结果。"


def unmeasured(v: dict) -> str:
    return (
        "本系统上未测量（只有 Linux 才有的来源，或该设备没有来源），显示为未知而不是猜测："
        f"{'；'.join(UNMEASURED[k].zh for k in v['items'])}。"
    )


def contended(v: dict) -> str:
    where = "；".join(f"{_where(c)} · 批大小 {c['bs']}" for c in v["configs"])
    return (
        f"存在资源争用：{len(v['configs'])} 项测量进行时（{where}），其他进程占用了 CPU（平均最多 "
        f"{fmt.decimal(v['max_cores'], 2)} 个核）；这些计时和最耗时算子可能失真，请在空闲的机器上"
        "重新测量后再比较。"
    )


def _names(ids: list[str]) -> str:
    return "、".join(fmt.code(i) for i in ids)


def not_comparable(v: dict) -> str:
    parts = []
    if v["data"]:
        parts.append(f"{_names(v['data'])} 用了不同的数据")
    if v["recipe"]:
        parts.append(f"{_names(v['recipe'])} 用了不同的训练配方")
    return f"与基准 {fmt.code(v['baseline'])} 相比，{'，'.join(parts)}：它们的正确率标为不可比较。"


def _run_config(c: dict) -> str:
    """A compared run's config: ``lap · CPU · 1 线程``."""
    return f"{c['run']} · {c['config'].text('zh')}"


def run_speedup(v: dict) -> str:
    base = _run_config({"run": v["base_run"], "config": v["base_config"]})
    text = f"{_run_config(v)} 相对 {base}（{PHASE[v['phase']].zh}）："
    if v["worst_bs"] == v["best_bs"]:  # one batch size in common
        text += f"批大小 {v['best_bs']} 时加速比为 {fmt.ratio(v['best'])}"
    else:
        text += _speedup_range(v)
    if v["slower_at"]:
        return text + f"；批大小 {', '.join(map(str, v['slower_at']))} 时比基准慢。"
    return text + "。"


def profile_vs_training(v: dict) -> str:
    epochs = v["epochs"]
    which = f"第 {epochs[0]} 轮" if len(epochs) == 1 else f"第 {epochs[0]}–{epochs[-1]} 轮"
    lo, hi = v["band"]
    band = fmt.band(lo, hi)
    if lo <= v["ratio"] <= hi:
        verdict = f"在 {band} 之内：性能分析测的正是训练的那一步"
    elif v["disturbed"]:
        verdict = f"超出 {band}"  # _disturbed says why: no finding
    else:
        verdict = f"超出 {band}：性能分析测的不是训练的那一步"
    return (
        f"性能分析与训练对照，{_name(v)}，批大小 "
        f"{v['bs']}：训练为 {fmt.rate(v['training'])} 图像/秒（{which}的中位数），关闭性能分析器"
        f"的训练步为 {fmt.rate(v['profiled'])} 图像/秒，{fmt.ratio(v['ratio'])}（{verdict}）。"
        + _disturbed(v)
    )


def execution_differs(v: dict) -> str:
    t = v["trained"]
    parts = []
    for c in v["configs"]:
        why = [REASONS[r].zh for r in c["reasons"]]
        if c["unexplained"]:
            why.append(f"**{'、'.join(c['unexplained'])} 不同且配置无法解释：不是训练的那一步**")
        parts.append(f"{_name(c)}：{'、'.join(why)}")
    layout = "channels_last" if t["channels_last"] else "NCHW"
    return (
        f"与训练的那一步（{_name(v)}，{layout}，"
        f"{t['mode']}）不同的性能分析配置：" + "；".join(parts) + "。"
    )


def arithmetic(precision: str | None, tf32: list[str]) -> str:
    """A step's arithmetic: "fp32", "bf16", "fp32（卷积使用 TF32）"."""
    if not tf32:
        return precision or "fp32"
    return f"{precision}（{'和'.join(TF32_PARTS[p].zh for p in tf32)}使用 TF32）"


def summary_ran(v: dict) -> str:
    how = [w for w, on in (("试运行", v["dry_run"]), ("MNIST 数据子集", v["subset"])) if on]
    return (
        f"**运行**：在 {v['device']} 上以 {arithmetic(v['precision'], v['tf32'])}、"
        f"批大小 {v['batch_size']} 训练 MNIST 卷积网络 "
        f"{v['epochs']} 轮{'（' + '、'.join(how) + '）' if how else ''}；在批大小 "
        f"{', '.join(str(b) for b in v['batch_sizes'])}、"
        f"{' 和 '.join(str(t) for t in v['threads'])} 个线程下做了性能分析。"
    )


def summary_machine(v: dict) -> str:
    gpu = f"{v['gpu_count']} × {', '.join(v['gpus'])}" if v["gpus"] else "无 GPU"
    ident = f"，机器标识 {fmt.code(v['machine_id'])}" if v["machine_id"] else ""
    return f"**机器**：{v['cpu']}（{fmt.count(v['vcpus'])} 个 vCPU），{gpu}{ident}。"


def summary_result(v: dict) -> str:
    return (
        f"**结果**：训练 {v['epochs']} 轮后测试正确率为 {fmt.pct(v['accuracy'])}；"
        f"训练用时 {fmt.seconds(v['seconds'])}。"
    )


def small_batch(v: dict) -> str:
    if v["part"] is None:  # inference: the kind of work
        text = (
            f"{_where(v)}，批大小 {v['bs']}：{_category(v)}占 {fmt.ms(v['ms'])} 毫秒一步的 "
            f"{fmt.pct(v['category_share'])}"
        )
    else:
        text = (
            f"{_where(v)}，批大小 {v['bs']}：{fmt.ms(v['ms'])} 毫秒的一步中 "
            f"{fmt.pct(v['part_share'])} 在{_part(v)}（最大的一类工作是"
            f"{_category(v)}，{fmt.pct(v['category_share'])}）"
        )
    if v["part"] in PER_STEP:
        text += f"：{PER_STEP[v['part']].zh}，所以这部分开销不随批大小增长"
    if v["fixed_ms"] is not None and v["per_sample_us"] > 0:
        text += (
            f"；步时拟合给出每步固定 {fmt.ms(v['fixed_ms'])} 毫秒，"
            f"每张图像 {fmt.us(v['per_sample_us'])} 微秒"
        )
    return text + "。"


def large_batch(v: dict) -> str:
    text = (
        f"{_where(v)}，批大小 {v['bs']}：{_category(v)}占 {fmt.ms(v['ms'])} 毫秒一步的 "
        f"{fmt.pct(v['category_share'])}，每张图像的计算超过了每步的固定开销"
    )
    if v["peak"] is None or v["peak"] != v["peak"]:  # no peak measured
        return text + f"；每步达到 {fmt.gflops(v['gflops'])} GFLOP/s。"
    if v["peak_low"]:  # over 100 %, or of a disturbed peak: the peak is what is wrong
        return text + (
            f"；每步达到 {fmt.gflops(v['gflops'])} GFLOP/s（它占本机实测 fp32 矩阵乘峰值的比例"
            "不是结论：峰值本身测得偏低或不可靠）。"
        )
    return text + (
        f"；每步达到 {fmt.gflops(v['gflops'])} GFLOP/s，为本机实测 fp32 矩阵乘峰值的 "
        f"{fmt.pct(v['peak'])}。"
    )


def accuracy(v: dict) -> str:
    return (
        f"训练 {v['epochs']} 轮后测试正确率为 {fmt.pct(v['accuracy'])}（测试损失 "
        f"{fmt.decimal(v['loss'])}）；最好的是第 {v['best_epoch']} 轮，"
        f"{fmt.pct(v['best_accuracy'])}。"
    )


def loss_trend(v: dict) -> str:
    return (
        f"测试损失从 {fmt.decimal(v['first_loss'])}（第 {v['first_epoch']} 轮）"
        f"{'降到' if v['fell'] else '没有下降，为'} {fmt.decimal(v['last_loss'])}"
        f"（第 {v['last_epoch']} 轮）；每轮训练吞吐在 {fmt.rate(v['min_rate'])} 到 "
        f"{fmt.rate(v['max_rate'])} 图像/秒之间。"
    )


def params_vs_macs(v: dict) -> str:
    return (
        f"{fmt.code(v['param_layer'])} 拥有 {fmt.count(v['params'])} 个参数中的 "
        f"{fmt.pct(v['param_share'])}，而 {fmt.code(v['mac_layer'])} 完成每张图像 "
        f"{fmt.count(v['macs'])} 次乘加中的 {fmt.pct(v['mac_share'])}"
        + ("。" if v["param_layer"] == v["mac_layer"] else "：内存和计算集中在不同的层。")
    )


def single_config(v: dict) -> str:
    return (
        f"{_where(v)}：批大小 {v['lo_bs']} 时 {fmt.rate(v['rate'])} 图像/秒（每张图像 "
        f"{fmt.us(v['us'])} 微秒）；最耗时的算子是 {fmt.code(v['op'])} ({fmt.pct(v['share'])})。"
    )


def peak_memory(v: dict) -> str:
    return (
        f"{_where(v)}：峰值内存从批大小 {v['lo_bs']} 的 {fmt.nbytes(v['lo'])} 变为批大小 "
        f"{v['hi_bs']} 的 {fmt.nbytes(v['hi'])}。"
    )


def profiler_overhead(v: dict) -> str:
    return (
        "性能分析器（record_shapes、profile_memory、with_flops）使每步耗时变为不开启时的 "
        + fmt.ratio_range(v["min"], v["max"], "到")
        + "；所有吞吐数字都是关闭性能分析器后测得的。"
    )


def described_machine(v: dict) -> str:
    return (
        f"本机由 LAB1_MACHINE 描述（{v['cpu']}），而不是从硬件读取：上表是该描述，"
        "测量是在实际的机器上完成的。"
    )


def not_profiled(v: dict) -> str:
    return "本次运行没有进行性能分析：没有算子或批大小方面的结论。"


def time_goes(v: dict) -> str:
    return (
        f"{_where(v)}，批大小 {v['bs']}："
        + (f"{fmt.ms(v['step_ms'])} 毫秒的一步中 " if v["step_ms"] is not None else "一步中 ")
        + f"{fmt.pct(v['part_share'])} 在{_part(v)}，"
        f"{_category(v)}是最大的一类工作"
        f"（{fmt.pct(v['category_share'])}）；{fmt.pct(v['outside'])} 不在任何算子内"
        "（Python 与分发）。" + _disturbed(v)
    )


def thread_gain(v: dict) -> str:
    return (
        f"{_where(v)}：用 {v['threads']} 个线程代替 1 个，每步在批大小 "
        f"{v['lo_bs']} 时{_faster(v['lo'])}，在批大小 {v['hi_bs']} 时"
        f"{_faster(v['hi'])}；最好的是批大小 {v['best_bs']} 的 {fmt.ratio(v['best'])}"
        f"（并行效率 {fmt.pct(v['efficiency'])}）。" + _disturbed(v)
    )


def mixed_data(v: dict) -> str:
    return (
        f"**数据子集与完整数据并列**：{_names(v['subset'])} 只用了数据子集，"
        f"{_names(v['full'])} 用了完整数据集：正确率和每轮耗时不可比较，步时只能按每张图像比较。"
    )


def code_versions(v: dict) -> str:
    return (
        "这些运行来自不同版本的 lab1（"
        + "；".join(f"{fmt.code(r)}：{fmt.code(c or fmt.MISSING)}" for r, c in v["versions"])
        + "）。"
    )


def rows_contended(v: dict) -> str:
    return (
        f"存在资源争用：测量其中 {v['rows']} 行时其他进程占用了 CPU（"
        + "，".join(f"{fmt.code(r)}：{n}" for r, n in v["runs"])
        + "；吞吐表中以 ⚠ 标出），比较时请谨慎。"
    )


def crossover(v: dict) -> str:
    return (
        f"{PHASE[v['phase']].zh}：{_run_config(v['big'])} 每步的固定开销为 "
        f"{fmt.ms(v['big_fixed'])} 毫秒，{_run_config(v['small'])} 为 {fmt.ms(v['small_fixed'])} "
        f"毫秒，但前者每张图像的开销更小，所以批大小小于 {fmt.count(v['batch'])} 时 "
        f"{_run_config(v['small'])} 更快，大于它时 {_run_config(v['big'])} 更快（步时模型）。"
    )


def model_ahead(v: dict) -> str:
    return (
        f"{PHASE[v['phase']].zh}：{_run_config(v['ahead'])} 在所有批大小下都比 "
        f"{_run_config(v['behind'])} 快（步时模型：每步固定开销 {fmt.ms(v['ahead_fixed'])} 对 "
        f"{fmt.ms(v['behind_fixed'])} 毫秒，每张图像 {fmt.us(v['ahead_per'])} 对 "
        f"{fmt.us(v['behind_per'])} 微秒）。"
    )
