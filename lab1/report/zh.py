"""The report in Chinese, on the course's template (实验报告模板), from the same findings.

Structure and headings follow the template: 实验环境 (硬件环境, 软件环境), then 实验结果
(模型可视化结果截图: 神经网络数据流图, 损失和正确率趋势图; 网络分析，使用率前十名的操作;
网络分析，不同批大小结果比较; the optional hardware comparison). The tables are lab1.report.grids'
with translated headers; the sentences are the findings rendered by SENTENCES below, every
number through lab1.fmt exactly as in the English report.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from lab1 import figures, fmt
from lab1.report import findings, sections, words
from lab1.report.blocks import Block, Bullets, Details, Figure, Note, Section, Table, plain
from lab1.report.system import (
    condensed,
    limits_blocks,
    system_findings,
    system_section,
    system_tables,
)
from lab1.run.reader import RunData

PHASE = {"train_step": "训练步", "inference": "推理"}
PARTS = {"forward": "前向", "loss": "损失", "backward": "反向", "optimizer": "优化器"}
# lab1.measure.breakdown's kinds of work (OP_CATEGORIES and the two "outside" names), in figures,
# tables and sentences.
CATEGORIES = {
    "convolution": "卷积",
    "matmul": "矩阵乘",
    "elementwise/activation": "逐元素/激活",
    "pooling": "池化",
    "dropout RNG": "Dropout 随机数",
    "loss": "损失",
    "optimizer update": "优化器更新",
    "data movement/indexing": "数据搬运/索引",
    "other": "其他",
    "outside any operator": "不在任何算子内",
    "outside labels": "不在任何阶段标签内",
}
# Whole table cells the English builders write that read as words, not numbers or code.
CELLS = {**PHASE, **PARTS, **CATEGORIES}
BASIS = {"self_cpu": "自身 CPU 时间", "self_device": "自身设备时间"}

HEADERS = {
    "layer": "层",
    "op": "算子",
    "inputs": "输入",
    "output shape": "输出形状",
    "parameters": "参数量",
    "% of params": "参数占比",
    "MACs": "乘加次数 (MACs)",
    "% of MACs": "MACs 占比",
    "epoch": "轮次",
    "train loss": "训练损失",
    "train accuracy": "训练正确率",
    "test loss": "测试损失",
    "test accuracy": "测试正确率",
    "lr": "学习率",
    "train images/s": "训练吞吐 (图像/秒)",
    "train time": "训练时间",
    "device": "设备",
    "phase": "阶段",
    "batch size": "批大小",
    "images/s": "图像/秒",
    "ms/step": "毫秒/步",
    "µs/image": "微秒/图像",
    "top op": "最耗时算子",
    "top op share": "其占比",
    "peak memory": "峰值内存",
    "profiler overhead": "性能分析开销",
    "threads": "线程数",
    "#": "#",
    "operator": "算子",
    "calls/step": "调用次数/步",
    "self CPU (µs/step)": "自身 CPU (微秒/步)",
    "CPU total (µs/step)": "CPU 总计 (微秒/步)",
    "self device (µs/step)": "自身设备 (微秒/步)",
    "device total (µs/step)": "设备总计 (微秒/步)",
    "share": "占比",
    "share, smallest batch": "最小批占比",
    "share, largest batch": "最大批占比",
    "change": "变化",
    "batch sizes": "批大小",
    "GPU device": "GPU 设备",
    "CPU images/s": "CPU 图像/秒",
    "GPU images/s": "GPU 图像/秒",
    "speedup": "加速比",
    "precision": "精度",
    "fp32 images/s": "fp32 图像/秒",
    "images/s in this precision": "该精度图像/秒",
    "fp32 top op": "fp32 最耗时算子",
    "top op in this precision": "该精度最耗时算子",
    "fp32 peak memory": "fp32 峰值内存",
    "peak memory in this precision": "该精度峰值内存",
    "GFLOP/s": "GFLOP/s",
    "share of peak": "峰值占比",
    "fixed ms/step": "固定开销 (毫秒/步)",
    "µs/image (fit)": "微秒/图像 (拟合)",
    "batch": "批大小",
    "model GFLOP/step": "模型 GFLOP/步",
    "profiler GFLOP/step": "分析器 GFLOP/步",
    "achieved GFLOP/s": "实测 GFLOP/s",
    "input shapes": "输入形状",
    "FLOP/byte": "FLOP/字节",
    "fixed (ms)": "固定开销 (毫秒)",
    "per image (µs)": "每张图像 (微秒)",
    "sizes": "批大小个数",
    "fixed < 10 % from batch": "固定开销 < 10 % 的最小批大小",
    "images/s plateau from batch": "图像/秒 趋于平稳的批大小",
    "speed-up over 1 thread": "相对 1 线程的加速比",
    "parallel efficiency": "并行效率",
    "limit": "极限",
    "dtype": "数据类型",
    "value": "值",
    "how": "测量方式",
}

# Figure labels (lab1.figures draws them through this table when a CJK font is installed).
FIGURE_LABELS = {
    figures.UNSURE_LEGEND: "测量不可靠（机器繁忙或计时分散）",
    "{title}: {ops} ops, {params} parameters, {macs} MACs per image": (
        "{title}：{ops} 个算子，{params} 个参数，每张图像 {macs} 次乘加"
    ),
    "input / output": "输入 / 输出",
    "convolution": "卷积",
    "fully connected": "全连接",
    "activation": "激活",
    "pooling": "池化",
    "dropout": "Dropout",
    "reshape": "变形",
    "output (log-softmax)": "输出 (log-softmax)",
    "other": "其他",
    "Loss": "损失",
    "loss (mean NLL per sample)": "损失（每样本平均 NLL）",
    "Accuracy": "正确率",
    "accuracy (%)": "正确率 (%)",
    "Learning rate (Adadelta, StepLR)": "学习率 (Adadelta, StepLR)",
    "learning rate": "学习率",
    "Training throughput": "训练吞吐",
    "images / s": "图像 / 秒",
    "train": "训练",
    "test": "测试",
    "epoch": "轮次",
    "batch size (images per step, log scale)": "批大小（每步图像数，对数坐标）",
    "1× (no gain)": "1×（无加速）",
    "speedup over CPU (×, ratio of images/s)": "相对 CPU 的加速比 (×)",
    "GPU speedup over CPU": "GPU 相对 CPU 的加速比",
    "batch size": "批大小",
    "images / s (profiler off)": "图像 / 秒（关闭性能分析）",
    "Throughput vs batch size": "吞吐与批大小",
    "Operator share per batch size": "各批大小的算子时间占比",
    "Training on {device}": "在 {device} 上训练",
    "% of self CPU time": "占自身 CPU 时间 %",
    "% of self device time": "占自身设备时间 %",
    # the system view's figures (time split, roofline, step model)
    "arithmetic intensity (FLOP per byte of inputs + output)": (
        "算术强度（每字节输入 + 输出的 FLOP）"
    ),
    "achieved GFLOP/s (profiler on)": "实测 GFLOP/s（开启性能分析）",
    "Roofline: heavy operators under the measured ceilings": "屋顶线：实测上限下的主要算子",
    "ms per step (profiler off)": "毫秒/步（关闭性能分析）",
    "Step time = fixed + batch × per-sample": "步时 = 固定开销 + 批大小 × 每张图像开销",
    "% of the step": "占每步 %",
    "Where the step's time goes, by kind of work": "每步时间按工作类型的分布",
    "no {tags} logged": "没有记录 {tags}",
    "measured: {peak} GFLOP/s, {bw} GB/s": "实测上限：{peak} GFLOP/s，{bw} GB/s",
    "batch {b}": "批大小 {b}",
    "{name} (outlined: train step)": "{name}（描边：训练步）",
    "{phase}: measured": "{phase}：实测",
    "{phase}: {fixed} ms + B × {per_sample} µs": "{phase}：{fixed} 毫秒 + B × {per_sample} 微秒",
    **PHASE,
    **CATEGORIES,
}


def _busy_machine(v: dict) -> str:
    n, parts = v["measurements"], []
    if v["busy"]:
        of = f"（共 {fmt.count(v['vcpus'])} 个核）" if v["vcpus"] else ""
        used = f"平均 {fmt.cores(v['cores'])} 个核{of}" if v["cores"] is not None else "CPU 核"
        parts.append(f"{n} 项测量中有 {v['busy']} 项进行时，其他程序占用了{used}")
    if v["uneven"]:
        parts.append(
            f"{n} 项测量中另有 {v['uneven']} 项的各计时块相差超过中位数的 {fmt.pct(v['spread'])}"
        )
    if v["epochs"]:
        e = ", ".join(str(x) for x in v["epochs"])
        parts.append(f"共 {v['of_epochs']} 轮训练中，第 {e} 轮受到其他程序干扰")
    return (
        f"**在繁忙的机器上测量**：{'；'.join(parts)}。这些数字在表格和图中以 {fmt.UNSURE} 标出，"
        "不据此得出任何结论。重新测量：在空闲的机器上再次运行 `make run`，或只重新做性能分析："
        f"{words.REMEASURE}。"
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
    return CATEGORIES.get(v["category"], v["category"])


def _where(v: dict) -> str:
    return f"{_name(v)} · {PHASE[v['phase']]}"


def _scaling(v: dict) -> str:
    verb = "下降" if v["hi_us"] < v["lo_us"] else "上升"
    return (
        f"{_where(v)}：批大小从 {v['lo_bs']} 增加到 {v['hi_bs']}，吞吐从 "
        f"{fmt.rate(v['lo_rate'])} 提高到 {fmt.rate(v['hi_rate'])} 图像/秒 "
        f"({fmt.ratio(v['gain'])})，每张图像的开销从 {fmt.us(v['lo_us'])} {verb}到 "
        f"{fmt.us(v['hi_us'])} 微秒；最快的批大小是 {v['fastest_bs']}。"
    )


def _top_op(v: dict) -> str:
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


def _share_move(v: dict) -> str:
    verb = "增加" if v["change"] > 0 else "减少"
    return (
        f"{_where(v)}：随批大小变化最大的是 {fmt.code(v['op'])} 占{BASIS[v['basis']]}的比例，"
        f"从批大小 {v['lo_bs']} 的 {fmt.pct(v['from'])} {verb}到批大小 {v['hi_bs']} 的 "
        f"{fmt.pct(v['to'])} ({fmt.pp(v['change'])})。"
    )


def _speedup_range(v: dict) -> str:
    """The range part of a speedup finding (kinds speedup and precision_speedup)."""
    return (
        f"加速比从批大小 {v['worst_bs']} 的 {fmt.ratio(v['worst'])} 到批大小 {v['best_bs']} 的 "
        f"{fmt.ratio(v['best'])}"
    )


def _speedup(v: dict) -> str:
    text = f"{_name(v)} 相对 CPU（{PHASE[v['phase']]}）：{_speedup_range(v)}"
    if v["slower_at"]:
        return text + f"；批大小 {', '.join(map(str, v['slower_at']))} 时 GPU 比 CPU 慢。"
    return text + "。"


def _precision_speedup(v: dict) -> str:
    text = f"{_name(v)} 相对 fp32（{PHASE[v['phase']]}）：{_speedup_range(v)}"
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


def _peak_share(v: dict) -> str:
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


def _fixed_cost(v: dict) -> str:
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


def _caveat(v: dict) -> str:
    parts = ["试运行（每轮只有几个批次）"] if v["dry_run"] else []
    if v["subset"]:
        parts.append(f"数据子集（{v['subset']}）")
    return f"这些结果来自{'、'.join(parts)}：只能说明流水线能运行，不能作为实验结果。"


# lab1.host.environment.UNMEASURED 的各项：没有来源时未知的是什么。
UNMEASURED = {
    "cpu_flags": "CPU 的特性标志（/proc/cpuinfo），因此无法判断是否原生支持 bf16：bf16 被拒绝",
    "contention": "每次测量期间其他进程的 CPU 时间（/proc/stat）：是否存在争用为未知，而不是“否”",
    "allocator": "未应用 glibc 内存分配器的调整（keep_heap_mapped）：CPU 的每步可能重新产生缺页",
    "memory": "机器的内存大小",
    "device_time": "mps 上的设备时间和峰值内存（torch.profiler 不跟踪 MPS 内核）：算子按 CPU "
    "派发时间排序",
}


def _unmeasured(v: dict) -> str:
    return (
        "本系统上未测量（只有 Linux 才有的来源，或该设备没有来源），显示为未知而不是猜测："
        f"{'；'.join(UNMEASURED[k] for k in v['items'])}。"
    )


def _contended(v: dict) -> str:
    where = "；".join(f"{_where(c)} · 批大小 {c['bs']}" for c in v["configs"])
    return (
        f"存在资源争用：{len(v['configs'])} 项测量进行时（{where}），其他进程占用了 CPU（平均最多 "
        f"{fmt.decimal(v['max_cores'], 2)} 个核）；这些计时和最耗时算子可能失真，请在空闲的机器上"
        "重新测量后再比较。"
    )


def _names(ids: list[str]) -> str:
    return "、".join(fmt.code(i) for i in ids)


def _not_comparable(v: dict) -> str:
    parts = []
    if v["data"]:
        parts.append(f"{_names(v['data'])} 用了不同的数据")
    if v["recipe"]:
        parts.append(f"{_names(v['recipe'])} 用了不同的训练配方")
    return f"与基准 {fmt.code(v['baseline'])} 相比，{'，'.join(parts)}：它们的正确率标为不可比较。"


def _run_config(c: dict) -> str:
    """A compared run's config: ``lap · CPU · 1 线程``."""
    return f"{c['run']} · {c['config'].text('zh')}"


def _run_speedup(v: dict) -> str:
    base = _run_config({"run": v["base_run"], "config": v["base_config"]})
    text = f"{_run_config(v)} 相对 {base}（{PHASE[v['phase']]}）："
    if v["worst_bs"] == v["best_bs"]:  # one batch size in common
        text += f"批大小 {v['best_bs']} 时加速比为 {fmt.ratio(v['best'])}"
    else:
        text += _speedup_range(v)
    if v["slower_at"]:
        return text + f"；批大小 {', '.join(map(str, v['slower_at']))} 时比基准慢。"
    return text + "。"


def _profile_vs_training(v: dict) -> str:
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


REASONS = {
    "device": "另一设备",
    "precision": "另一精度",
    "threads": "另一线程数",
    "cuda_graph": "以 eager 方式运行，而训练重放 CUDA 图（性能分析器看不到图内的算子）",
}


def _execution_differs(v: dict) -> str:
    t = v["trained"]
    parts = []
    for c in v["configs"]:
        why = [REASONS[r] for r in c["reasons"]]
        if c["unexplained"]:
            why.append(f"**{'、'.join(c['unexplained'])} 不同且配置无法解释：不是训练的那一步**")
        parts.append(f"{_name(c)}：{'、'.join(why)}")
    layout = "channels_last" if t["channels_last"] else "NCHW"
    return (
        f"与训练的那一步（{_name(v)}，{layout}，"
        f"{t['mode']}）不同的性能分析配置：" + "；".join(parts) + "。"
    )


TF32_PARTS = {"convolutions": "卷积", "matmuls": "矩阵乘"}


def arithmetic(precision: str | None, tf32: list[str]) -> str:
    """A step's arithmetic: "fp32", "bf16", "fp32（卷积使用 TF32）"."""
    if not tf32:
        return precision or "fp32"
    return f"{precision}（{'和'.join(TF32_PARTS[p] for p in tf32)}使用 TF32）"


def _summary_ran(v: dict) -> str:
    how = [w for w, on in (("试运行", v["dry_run"]), ("MNIST 数据子集", v["subset"])) if on]
    return (
        f"**运行**：在 {v['device']} 上以 {arithmetic(v['precision'], v['tf32'])}、"
        f"批大小 {v['batch_size']} 训练 MNIST 卷积网络 "
        f"{v['epochs']} 轮{'（' + '、'.join(how) + '）' if how else ''}；在批大小 "
        f"{', '.join(str(b) for b in v['batch_sizes'])}、"
        f"{' 和 '.join(str(t) for t in v['threads'])} 个线程下做了性能分析。"
    )


def _summary_machine(v: dict) -> str:
    gpu = f"{v['gpu_count']} × {', '.join(v['gpus'])}" if v["gpus"] else "无 GPU"
    ident = f"，机器标识 {fmt.code(v['machine_id'])}" if v["machine_id"] else ""
    return f"**机器**：{v['cpu']}（{fmt.count(v['vcpus'])} 个 vCPU），{gpu}{ident}。"


def _summary_result(v: dict) -> str:
    return (
        f"**结果**：训练 {v['epochs']} 轮后测试正确率为 {fmt.pct(v['accuracy'])}；"
        f"训练用时 {fmt.seconds(v['seconds'])}。"
    )


PER_STEP = {"optimizer": "优化器每步更新全部参数一次，与批大小无关"}


def _small_batch(v: dict) -> str:
    if v["part"] is None:  # inference: the kind of work
        text = (
            f"{_where(v)}，批大小 {v['bs']}：{_category(v)}占 {fmt.ms(v['ms'])} 毫秒一步的 "
            f"{fmt.pct(v['category_share'])}"
        )
    else:
        text = (
            f"{_where(v)}，批大小 {v['bs']}：{fmt.ms(v['ms'])} 毫秒的一步中 "
            f"{fmt.pct(v['part_share'])} 在{PARTS.get(v['part'], v['part'])}（最大的一类工作是"
            f"{_category(v)}，{fmt.pct(v['category_share'])}）"
        )
    if v["part"] in PER_STEP:
        text += f"：{PER_STEP[v['part']]}，所以这部分开销不随批大小增长"
    if v["fixed_ms"] is not None and v["per_sample_us"] > 0:
        text += (
            f"；步时拟合给出每步固定 {fmt.ms(v['fixed_ms'])} 毫秒，"
            f"每张图像 {fmt.us(v['per_sample_us'])} 微秒"
        )
    return text + "。"


def _large_batch(v: dict) -> str:
    text = (
        f"{_where(v)}，批大小 {v['bs']}：{_category(v)}占 {fmt.ms(v['ms'])} 毫秒一步的 "
        f"{fmt.pct(v['category_share'])}，每张图像的计算超过了每步的固定开销"
    )
    if v["peak"] is None or v["peak"] != v["peak"]:  # no peak measured
        return text + f"；每步达到 {fmt.gflops(v['gflops'])} GFLOP/s。"
    if v["peak_low"]:  # over 100 %, or of a disturbed peak: the peak is what is wrong
        return text + (
            f"；每步达到 {fmt.gflops(v['gflops'])} GFLOP/s（它占本机实测 fp32 矩阵乘峰值的比例"
            "不是结论：峰值本身测得偏低，受到干扰）。"
        )
    return text + (
        f"；每步达到 {fmt.gflops(v['gflops'])} GFLOP/s，为本机实测 fp32 矩阵乘峰值的 "
        f"{fmt.pct(v['peak'])}。"
    )


SENTENCES: dict[str, Callable[[dict], str]] = {
    "accuracy": lambda v: (
        f"训练 {v['epochs']} 轮后测试正确率为 {fmt.pct(v['accuracy'])}（测试损失 "
        f"{fmt.decimal(v['loss'])}）；最好的是第 {v['best_epoch']} 轮，"
        f"{fmt.pct(v['best_accuracy'])}。"
    ),
    "loss_trend": lambda v: (
        f"测试损失从 {fmt.decimal(v['first_loss'])}（第 {v['first_epoch']} 轮）"
        f"{'降到' if v['fell'] else '没有下降，为'} {fmt.decimal(v['last_loss'])}"
        f"（第 {v['last_epoch']} 轮）；每轮训练吞吐在 {fmt.rate(v['min_rate'])} 到 "
        f"{fmt.rate(v['max_rate'])} 图像/秒之间。"
    ),
    "caveat": _caveat,
    "params_vs_macs": lambda v: (
        f"{fmt.code(v['param_layer'])} 拥有 {fmt.count(v['params'])} 个参数中的 "
        f"{fmt.pct(v['param_share'])}，而 {fmt.code(v['mac_layer'])} 完成每张图像 "
        f"{fmt.count(v['macs'])} 次乘加中的 {fmt.pct(v['mac_share'])}"
        + ("。" if v["param_layer"] == v["mac_layer"] else "：内存和计算集中在不同的层。")
    ),
    "single_config": lambda v: (
        f"{_where(v)}：批大小 {v['lo_bs']} 时 {fmt.rate(v['rate'])} 图像/秒（每张图像 "
        f"{fmt.us(v['us'])} 微秒）；最耗时的算子是 {fmt.code(v['op'])} ({fmt.pct(v['share'])})。"
    ),
    "scaling": _scaling,
    "top_op": _top_op,
    "peak_memory": lambda v: (
        f"{_where(v)}：峰值内存从批大小 {v['lo_bs']} 的 {fmt.nbytes(v['lo'])} 变为批大小 "
        f"{v['hi_bs']} 的 {fmt.nbytes(v['hi'])}。"
    ),
    "share_move": _share_move,
    "speedup": _speedup,
    "precision_speedup": _precision_speedup,
    "profiler_overhead": lambda v: (
        "性能分析器（record_shapes、profile_memory、with_flops）使每步耗时变为不开启时的 "
        + fmt.ratio_range(v["min"], v["max"], "到")
        + "；所有吞吐数字都是关闭性能分析器后测得的。"
    ),
    "contended": _contended,
    "unmeasured": _unmeasured,
    "described_machine": lambda v: (
        f"本机由 LAB1_MACHINE 描述（{v['cpu']}），而不是从硬件读取：上表是该描述，"
        "测量是在实际的机器上完成的。"
    ),
    "not_profiled": lambda v: "本次运行没有进行性能分析：没有算子或批大小方面的结论。",
    "time_goes": lambda v: (
        f"{_where(v)}，批大小 {v['bs']}："
        + (f"{fmt.ms(v['step_ms'])} 毫秒的一步中 " if v["step_ms"] is not None else "一步中 ")
        + f"{fmt.pct(v['part_share'])} 在{PARTS.get(v['part'], v['part'])}，"
        f"{_category(v)}是最大的一类工作"
        f"（{fmt.pct(v['category_share'])}）；{fmt.pct(v['outside'])} 不在任何算子内"
        "（Python 与分发）。" + _disturbed(v)
    ),
    "peak_share": _peak_share,
    "fixed_cost": _fixed_cost,
    "thread_gain": lambda v: (
        f"{_where(v)}：用 {v['threads']} 个线程代替 1 个，每步在批大小 "
        f"{v['lo_bs']} 时{_faster(v['lo'])}，在批大小 {v['hi_bs']} 时"
        f"{_faster(v['hi'])}；最好的是批大小 {v['best_bs']} 的 {fmt.ratio(v['best'])}"
        f"（并行效率 {fmt.pct(v['efficiency'])}）。" + _disturbed(v)
    ),
    "mixed_data": lambda v: (
        f"**数据子集与完整数据并列**：{_names(v['subset'])} 只用了数据子集，"
        f"{_names(v['full'])} 用了完整数据集：正确率和每轮耗时不可比较，步时只能按每张图像比较。"
    ),
    "not_comparable": _not_comparable,
    "code_versions": lambda v: (
        "这些运行来自不同版本的 lab1（"
        + "；".join(f"{fmt.code(r)}：{fmt.code(c or fmt.MISSING)}" for r, c in v["versions"])
        + "）。"
    ),
    "rows_contended": lambda v: (
        f"存在资源争用：测量其中 {v['rows']} 行时其他进程占用了 CPU（"
        + "，".join(f"{fmt.code(r)}：{n}" for r, n in v["runs"])
        + "；吞吐表中以 ⚠ 标出），比较时请谨慎。"
    ),
    "run_speedup": _run_speedup,
    "crossover": lambda v: (
        f"{PHASE[v['phase']]}：{_run_config(v['big'])} 每步的固定开销为 "
        f"{fmt.ms(v['big_fixed'])} 毫秒，{_run_config(v['small'])} 为 {fmt.ms(v['small_fixed'])} "
        f"毫秒，但前者每张图像的开销更小，所以批大小小于 {fmt.count(v['batch'])} 时 "
        f"{_run_config(v['small'])} 更快，大于它时 {_run_config(v['big'])} 更快（步时模型）。"
    ),
    "model_ahead": lambda v: (
        f"{PHASE[v['phase']]}：{_run_config(v['ahead'])} 在所有批大小下都比 "
        f"{_run_config(v['behind'])} 快（步时模型：每步固定开销 {fmt.ms(v['ahead_fixed'])} 对 "
        f"{fmt.ms(v['behind_fixed'])} 毫秒，每张图像 {fmt.us(v['ahead_per'])} 对 "
        f"{fmt.us(v['behind_per'])} 微秒）。"
    ),
    "profile_vs_training": _profile_vs_training,
    "execution_differs": _execution_differs,
    "busy_machine": _busy_machine,
    "summary_ran": _summary_ran,
    "summary_machine": _summary_machine,
    "summary_result": _summary_result,
    "small_batch": _small_batch,
    "large_batch": _large_batch,
}


CAPTIONS = {
    "network_graph": "神经网络数据流图（torch.fx 跟踪，批大小 1）",
    "training_curves": "每轮的损失、正确率、学习率和吞吐",
    "throughput_vs_batch": "吞吐与批大小（关闭性能分析）",
    "op_share_vs_batch": "各批大小的算子时间占比",
    "gpu_speedup": "GPU 相对 CPU 的加速比",
    "tensorboard_graphs": "本次运行的 TensorBoard 计算图（Graphs）页面截图",
    "tensorboard_scalars": "本次运行的 TensorBoard 标量（Scalars）页面截图",
    "time_split": "各批大小每类工作的时间占比",
    "roofline": "屋顶线模型：实测 GFLOP/s 与每字节 FLOP",
    "step_model": "步时与批大小：测量点与拟合",
}


def _translated(blocks: list[Block]) -> list[Block]:
    """The English builders' tables and figures, with Chinese headers and captions (their
    English prose is left out: this template says it in its own words)."""
    out: list[Block] = []
    for b in blocks:
        if isinstance(b, Table):
            rows = [
                [
                    CELLS.get(c, c)
                    .replace("**total**", "**合计**")
                    .replace(fmt.NOT_MEASURED, "未测量")
                    for c in r
                ]
                for r in b.rows
            ]
            out.append(Table([HEADERS.get(h, CELLS.get(h, h)) for h in b.header], rows, b.numeric))
        elif isinstance(b, Figure):
            out.append(Figure(b.path, CAPTIONS.get(b.path.stem, b.caption)))
        elif isinstance(b, Details):
            out.append(Details(b.summary, _translated(b.blocks)))
        elif isinstance(b, Note) and b.kind == "legend":  # written in the table's language
            out.append(b)
    return out


# The machine-limits table's words (lab1.report.system.WHAT, and lab1.measure.limits' notes): each
# note is one of the shapes lab1.measure.limits writes; a note of another shape stays as it is.
LIMITS = {
    "matmul peak": "矩阵乘峰值",
    "memory bandwidth (copy)": "内存带宽（复制）",
    "dispatch floor per operator": "每个算子的派发下限",
    "not supported": "不支持",
    "not measured": "未测量",
}
LIMIT_NOTES = [
    (r"^(\d+)×(\d+) torch\.mm, best repetition$", r"\1×\2 的 torch.mm，取最快的一次"),
    (
        r"^(\d+)×(\d+) torch\.mm with TF32 allowed \(fp32 convolutions run in TF32 here\)$",
        r"\1×\2 的 torch.mm，允许 TF32（此处 fp32 卷积以 TF32 运行）",
    ),
    (
        r"^copy of (\d+) MiB, read \+ write, best repetition$",
        r"复制 \1 MiB（读 + 写），取最快的一次",
    ),
    (r"^one-element add_, (\d+) calls back to back$", r"单元素 add_，连续调用 \1 次"),
    (r"^not supported: ", "不支持："),
    (r"^not measured: ", "未测量："),
    (
        r"this CPU has neither (\S+) nor (\S+) \(no native bf16\)$",
        r"本 CPU 既没有 \1 也没有 \2（没有原生 bf16）",
    ),
    (
        r"(.+) has no native bf16 \(it needs compute capability 8\.0\+\)$",
        r"\1 没有原生 bf16（需要计算能力 8.0 以上）",
    ),
    (r"no CUDA GPU is visible to torch$", "torch 看不到 CUDA GPU"),
    (
        r"could not determine whether this CPU has native bf16 \(its feature flags are read "
        r"from Linux's /proc/cpuinfo, which this system does not have\)$",
        "无法确定本 CPU 是否有原生 bf16（其特性标志读自 Linux 的 /proc/cpuinfo，本系统没有）",
    ),
]


def limit_note(note: str) -> str:
    """A machine limit's note (how it was measured, or why not) in Chinese."""
    for pattern, zh in LIMIT_NOTES:
        note = re.sub(pattern, zh, note)
    return note


def _limits(blocks: list[Block]) -> list[Block]:
    """The machine-limits table (lab1.report.system.limits_blocks) in Chinese: headers, the
    limits' names, "not supported", and each note."""
    out = []
    for b in _translated(blocks):
        if isinstance(b, Table):
            rows = [
                [*r[:2], LIMITS.get(r[2], r[2]), r[3], LIMITS.get(r[4], r[4]), limit_note(r[5])]
                for r in b.rows
            ]
            b = Table(b.header, rows, b.numeric)
        out.append(b)
    return out


def _hardware(d: RunData) -> list[Block]:
    env = d.manifest.environment
    if env is None:
        return [Note("本次运行没有记录环境信息。")]
    gpu = (
        "无（torch 看不到 GPU）"
        if not env.gpus
        else "；".join(f"{plain(g['name'])}（{fmt.nbytes(g['memory_bytes'])}）" for g in env.gpus)
    )
    rows = [
        *sections._machine_row(env, "机器", "标识"),
        [
            "CPU（vCPU数目）",
            f"{plain(env.cpu_model)}（{env.vcpus} 个 vCPU；torch 使用 {env.torch_threads} 个线程）",
        ],
        ["GPU(型号，数目)", f"{gpu}（{env.gpu_count} 块）"],
        ["内存", fmt.nbytes(env.memory_bytes)],
    ]
    gaps = findings.unmeasured(d.manifest, d.tables["comparison"])
    gaps += findings.described_machine(d.manifest)
    return [Table(["", "配置"], rows), *[Note(SENTENCES[f.kind](f.values)) for f in gaps]]


def _software(d: RunData) -> list[Block]:
    env = d.manifest.environment
    if env is None:
        return []
    pk = env.packages
    cuda = env.cuda_version or "无（CPU 版本的 torch）"
    if env.cuda_version and not env.cuda_available:
        cuda += "（torch 的构建版本；没有可见的 GPU）"
    rows = [
        ["OS版本", f"{plain(env.os)}（内核 {plain(env.kernel)}，{plain(env.machine)}）"],
        ["深度学习框架", f"PyTorch {pk.get('torch') or fmt.MISSING}"],
        [
            "python包名称及版本",
            "; ".join(f"{n} {v}" for n, v in pk.items() if v) + f"; Python {env.python}",
        ],
        ["CUDA版本", f"{cuda}；cuDNN {fmt.cudnn(env.cudnn_version)}"],
    ]
    return [Table(["", "版本"], rows)]


NO_PROFILE = Note("本次运行没有进行性能分析。")
NO_CJK_FONT = "本机没有可用的中文字体（例如 Debian 的 fonts-wqy-microhei），图中的文字用英文。"


def _top_title(text: str) -> str:
    """A top-10 table's title line (device, batch, phase, ranking) in Chinese."""
    for en, zh in (
        *PHASE.items(),
        ("ranked by self CPU time", "按自身 CPU 时间排序"),
        ("ranked by self device time", "按自身设备时间排序"),
        (
            "ranked by CPU dispatch time (device time not measured)",
            "按 CPU 派发时间排序（设备时间未测量）",
        ),
        ("profiled steps", "个分析步"),
        ("profiled step", "个分析步"),
        (" · batch ", " · 批大小 "),
    ):
        text = text.replace(en, zh)
    return text


def _dataset(d: RunData) -> list[Block]:
    ds = d.manifest.dataset
    if ds is None:
        return [Note("本次运行没有记录数据集。", "warning")]
    sizes = f"{fmt.count(ds.train_size)} / {fmt.count(ds.test_size)}"
    rows = [["数据集", f"{ds.name}（来源：{ds.source}）"], ["训练 / 测试图像", sizes]]
    blocks: list[Block] = [Table(["", "值"], rows)]
    if not ds.full:
        blocks.insert(
            0,
            Note(
                f"**数据子集，不是完整数据集**：本次运行只用了 "
                f"{fmt.count(ds.train_size + ds.test_size)} 张图像，"
                "正确率和耗时不能与完整的 60,000 / 10,000 MNIST 比较。",
                "warning",
            ),
        )
    return blocks


def _results(d: RunData, figs: dict[str, Path]) -> list[Block]:
    net = _translated(sections.network_section(d, figs).blocks)
    train = _translated(sections.training_section(d, figs).blocks)
    top = sections.top_ops_section(d, "zh", "main").blocks[1:]
    cmp = _translated(sections.comparison_section(d, figs, redraw=True, lang="zh").blocks)
    hw = _translated(sections.cpu_gpu_section(d, figs, "zh").blocks)
    prec = _translated(sections.precision_section(d, "zh").blocks)
    system = _translated(system_section(d, figs, "zh").blocks)
    said = [SENTENCES[f.kind](f.values) for f in condensed(d)]
    ran = ", ".join(d.manifest.devices.resolved) if d.manifest.devices else fmt.MISSING
    return [
        "### 模型可视化结果截图",
        "#### 神经网络数据流图",
        *net,
        "#### 损失和正确率趋势图",
        *train,
        "### 网络分析，使用率前十名的操作",
        *(
            [
                "训练所用批大小与精度、默认线程数下的结果（GPU 按设备时间排序）"
                + SEE_APPENDIX.format(what="其他配置"),
                *[_top_title(b) if isinstance(b, str) else _translated([b])[0] for b in top],
            ]
            if top
            else [NO_PROFILE]
        ),
        "### 网络分析，不同批大小结果比较",
        *([*cmp, SEE_APPENDIX.format(what="各批大小的算子时间占比")] if cmp else [NO_PROFILE]),
        "### 不同硬件比较（CPU 与 GPU，选做）",
        *(hw or [Note(f"本次运行只对 {ran} 做了性能分析，没有 CPU 与 GPU 的比较。")]),
        "### 不同精度比较（fp32 与 bf16）",
        *(
            prec
            or [
                Note(
                    "本次运行只用了一种精度：没有 fp32 与 bf16 的比较"
                    "（用 --precision bf16 训练，或用 --profile-precisions fp32 bf16）。"
                )
            ]
        ),
        "### 网络分析，时间都花在哪里",
        *([Bullets(said)] if said else []),
        *([*system, SEE_APPENDIX.format(what="全部表格")] if system else [NO_PROFILE]),
    ]


SEE_APPENDIX = "（[附录](#附录)：{what}。）"


def _summary(d: RunData) -> Section:
    """摘要: the English summary's findings (findings.summary), in Chinese."""
    found = findings.summary(d.manifest, d.history, d.tables)
    busy = [Note(SENTENCES[f.kind](f.values), "warning") for f in found if f.kind == "busy_machine"]
    head = [SENTENCES[f.kind](f.values) for f in found if f.kind.startswith("summary_")]
    key = [
        SENTENCES[f.kind](f.values)
        for f in found
        if not f.kind.startswith("summary_") and f.kind != "busy_machine"
    ]
    warn = [Note(SENTENCES[f.kind](f.values), "warning") for f in findings.caveats(d.manifest)]
    lead = ["主要结论（按其解释的每步时间占比排序）：", Bullets(key)] if key else []
    return Section("摘要", [*busy, *head, *warn, *lead])


STATUS = {"completed": "已完成", "failed": "失败", "interrupted": "已中断", "running": "运行中"}


def _run_rows(d: RunData) -> list[Block]:
    """The run and its pipeline timings (the English Run section's tables, in Chinese)."""
    m, p = d.manifest, d.manifest.parameters
    rows = [
        ["运行", fmt.code(m.run_name)],
        ["状态", f"{STATUS.get(m.status, m.status)} ({fmt.code(m.status)})"],
        ["开始 / 结束 (UTC)", f"{m.started_at or '–'} / {m.finished_at or '–'}"],
        [
            "训练配方",
            f"Adadelta 学习率 {p.lr}，StepLR gamma {p.gamma}，批大小 {p.batch_size}"
            f"（测试 {p.test_batch_size}），{p.epochs} 轮，随机种子 {p.seed}",
        ],
        ["性能分析的批大小", ", ".join(str(b) for b in p.batch_sizes)],
    ]
    blocks: list[Block] = [Table(["", "值"], rows)]
    if m.timings:
        table = sections.timings_table(m.timings, ["任务", "时间", "占比"], "合计", fmt.code)
        blocks += ["流水线各任务的墙钟时间：", table]
    return blocks


def _appendix(d: RunData, figs: dict[str, Path], found: list) -> Section:
    """附录: the English appendix's parts, in the same order, in Chinese."""
    rest = sections.top_ops_section(d, "zh", "rest").blocks[1:]
    tables = _translated(system_tables(d, figs, "zh"))  # its English prose is left out
    said = [SENTENCES[f.kind](f.values) for f in system_findings(d)]
    system = [Bullets(said), *tables] if tables else []
    parts = [
        ("运行与流水线耗时", _run_rows(d)),
        (
            "其他配置的前十名操作",
            [_top_title(b) if isinstance(b, str) else _translated([b])[0] for b in rest],
        ),
        ("层表", _translated(sections.layer_blocks(d))),
        ("每轮结果", _translated(sections.epoch_blocks(d))),
        (
            "各线程数的批大小比较，算子时间占比",
            _translated(sections.share_blocks(d, figs, True, "zh")),
        ),
        ("时间都花在哪里：全部表格", system),
        ("机器极限", _limits(limits_blocks(d, "zh"))),
        ("全部结论", [Bullets([SENTENCES[f.kind](f.values) for f in found])]),
    ]
    return Section("附录", [Details(title, blocks) for title, blocks in parts if blocks])


def build_sections(d: RunData, figs: dict[str, Path]) -> list[Section]:
    found = sections.all_findings(d)
    with figures.language(FIGURE_LABELS, "zh") as cjk:
        results = _results(d, figs)
        appendix = _appendix(d, figs, found)
    if not cjk:
        results.insert(0, Note(NO_CJK_FONT))
    environment = [
        "### 硬件环境",
        *_hardware(d),
        "### 软件环境",
        *_software(d),
        "### 数据集",
        *_dataset(d),
    ]
    return [
        _summary(d),
        Section("实验环境", environment),
        Section("实验结果", results),
        appendix,
    ]
