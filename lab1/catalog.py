"""Every fixed text of every report, once: an id, its English and its Chinese.

A base module (it imports only lab1.fmt and lab1.reliability), so that the vocabulary that names
things (lab1.identity's labels, lab1.figures' legend) reads its words here too. The run report
(lab1.report.sections, its Chinese template lab1.report.zh_report), the comparison of runs
(lab1.report.crossrun) and the class view (lab1.classroom.classreport) read their headings,
table headers and cells, captions, figure labels, statuses and notes here. The finding sentences
are functions, one per finding kind and language (lab1.report.words, lab1.report.zh), registered
in pairs in lab1.report.sentences.

Where the English builders look a text up by what they wrote (a table header, a figure label, a
phase), the id is that English text itself (``_english_ids``). tests/unit/test_catalog.py walks
GROUPS: every entry has both languages, and its Chinese is neither empty nor the English, except
for names and units.
"""

from __future__ import annotations

from typing import NamedTuple

from lab1 import fmt
from lab1.reliability import RELIABLE_SPREAD


class Text(NamedTuple):
    en: str
    zh: str

    def of(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


def _english_ids(zh: dict[str, str]) -> dict[str, Text]:
    """A group whose ids are the English texts the builders write: each id is its own English."""
    return {en: Text(en, text) for en, text in zh.items()}


def chinese(*groups: dict[str, Text]) -> dict[str, str]:
    """id → Chinese of ``groups`` (later groups win), for lookups by the English builders' text
    (lab1.figures.language, a table's header)."""
    return {k: t.zh for g in groups for k, t in g.items()}


# How to measure again where a number was disturbed: a command, the same in every language.
REMEASURE = "`python flows/remeasure_flow.py RUN_DIR`"

# A configuration's axes as a label names them (lab1.identity): ``cpu · 2 threads · batch 64``.
AXES = {
    "thread": Text("{n} thread", "{n} 线程"),
    "threads": Text("{n} threads", "{n} 线程"),
    "batch": Text("batch {n}", "批大小 {n}"),
}

# Punctuation that differs between the languages: a list's separator, a remark in brackets.
PUNCTUATION = {
    "list": Text("; ", "；"),
    "aside": Text("{text} ({aside})", "{text}（{aside}）"),
}

# The legend entry of a point measured unreliably (the tables' ⚠), in lab1.figures' plots.
UNSURE_LEGEND = "measured unreliably (machine busy or timings spread)"

# --------------------------------------------------------------------------- the run report

PHASE = _english_ids({"train_step": "训练步", "inference": "推理"})
PARTS = _english_ids({"forward": "前向", "loss": "损失", "backward": "反向", "optimizer": "优化器"})
# lab1.measure.breakdown's kinds of work (OP_CATEGORIES and the two "outside" names), in figures,
# tables and sentences.
CATEGORIES = _english_ids(
    {
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
)
# Whole table cells the English builders write that read as words, not numbers or code.
CELLS = {**PHASE, **PARTS, **CATEGORIES}
# What a top-10 table is ranked by and a share is of (lab1.report.grids, the findings).
BASIS = {
    "self_cpu": Text("self CPU time", "自身 CPU 时间"),
    "self_device": Text("self device time", "自身设备时间"),
}

# A table header the English builders write (lab1.report.grids, sections, system).
HEADERS = _english_ids(
    {
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
)

# Figure labels (lab1.figures draws them through chinese(FIGURE_LABELS, PHASE, CATEGORIES) when
# a CJK font is installed).
FIGURE_LABELS = _english_ids(
    {
        UNSURE_LEGEND: "测量不可靠（机器繁忙或计时分散）",
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
        "{phase}: {fixed} ms + B × {per_sample} µs": (
            "{phase}：{fixed} 毫秒 + B × {per_sample} 微秒"
        ),
    }
)

# Each figure's caption, by the figure's file name (lab1.rundir: figures/<id>.png).
CAPTIONS = {
    "network_graph": Text(
        "Traced dataflow graph of Net for one image (batch 1)",
        "神经网络数据流图（torch.fx 跟踪，批大小 1）",
    ),
    "training_curves": Text(
        "Loss, accuracy, learning rate and throughput per epoch", "每轮的损失、正确率、学习率和吞吐"
    ),
    "throughput_vs_batch": Text(
        "Throughput against batch size, per phase and device (profiler off)",
        "吞吐与批大小（关闭性能分析）",
    ),
    "op_share_vs_batch": Text(
        "Operator share of the time per batch size, per device and phase",
        "各批大小的算子时间占比",
    ),
    "gpu_speedup": Text("GPU speedup over CPU per batch size", "GPU 相对 CPU 的加速比"),
    "tensorboard_graphs": Text(
        "TensorBoard's Graphs tab of this run", "本次运行的 TensorBoard 计算图（Graphs）页面截图"
    ),
    "tensorboard_scalars": Text(
        "TensorBoard's Scalars tab of this run", "本次运行的 TensorBoard 标量（Scalars）页面截图"
    ),
    "time_split": Text("Share of each kind of work per batch size", "各批大小每类工作的时间占比"),
    "roofline": Text(
        "Roofline: achieved GFLOP/s against FLOP per byte", "屋顶线模型：实测 GFLOP/s 与每字节 FLOP"
    ),
    "step_model": Text(
        "Step time against batch size: points and fit", "步时与批大小：测量点与拟合"
    ),
}

# A run's status (lab1.run.manifest), as the manifest writes it and in Chinese.
STATUS = _english_ids(
    {"completed": "已完成", "failed": "失败", "interrupted": "已中断", "running": "运行中"}
)

# The machine-limits table's words (lab1.report.system.WHAT, and lab1.measure.limits' notes): each
# note is one of the shapes lab1.measure.limits writes (en: the shape as a regular expression,
# zh: its replacement); a note of another shape stays as it is.
LIMITS = _english_ids(
    {
        "matmul peak": "矩阵乘峰值",
        "memory bandwidth (copy)": "内存带宽（复制）",
        "dispatch floor per operator": "每个算子的派发下限",
        "not supported": "不支持",
        "not measured": "未测量",
    }
)
LIMIT_NOTES = {
    "matmul": Text(r"^(\d+)×(\d+) torch\.mm, best repetition$", r"\1×\2 的 torch.mm，取最快的一次"),
    "matmul_tf32": Text(
        r"^(\d+)×(\d+) torch\.mm with TF32 allowed \(fp32 convolutions run in TF32 here\)$",
        r"\1×\2 的 torch.mm，允许 TF32（此处 fp32 卷积以 TF32 运行）",
    ),
    "copy": Text(
        r"^copy of (\d+) MiB, read \+ write, best repetition$",
        r"复制 \1 MiB（读 + 写），取最快的一次",
    ),
    "dispatch": Text(
        r"^one-element add_, (\d+) calls back to back$", r"单元素 add_，连续调用 \1 次"
    ),
    "not_supported": Text(r"^not supported: ", "不支持："),
    "not_measured": Text(r"^not measured: ", "未测量："),
    "cpu_no_bf16": Text(
        r"this CPU has neither (\S+) nor (\S+) \(no native bf16\)$",
        r"本 CPU 既没有 \1 也没有 \2（没有原生 bf16）",
    ),
    "gpu_no_bf16": Text(
        r"(.+) has no native bf16 \(it needs compute capability 8\.0\+\)$",
        r"\1 没有原生 bf16（需要计算能力 8.0 以上）",
    ),
    "no_cuda": Text(r"no CUDA GPU is visible to torch$", "torch 看不到 CUDA GPU"),
    "no_cpuinfo": Text(
        r"could not determine whether this CPU has native bf16 \(its feature flags are read "
        r"from Linux's /proc/cpuinfo, which this system does not have\)$",
        "无法确定本 CPU 是否有原生 bf16（其特性标志读自 Linux 的 /proc/cpuinfo，本系统没有）",
    ),
}

# A top-10 table's title line (lab1.report.grids.top10_by_config), phrase by phrase, in order
# (after the phases): "profiled steps" before "profiled step".
TOP_TITLE = _english_ids(
    {
        "ranked by self CPU time": "按自身 CPU 时间排序",
        "ranked by self device time": "按自身设备时间排序",
        "ranked by CPU dispatch time (device time not measured)": (
            "按 CPU 派发时间排序（设备时间未测量）"
        ),
        "profiled steps": "个分析步",
        "profiled step": "个分析步",
        " · batch ": " · 批大小 ",
    }
)

# The run report's own headings, row names and notes: one id for what both builders say
# (lab1.report.sections in English, lab1.report.zh_report on the course's Chinese template). The
# template's headings and notes that the English report does not have say in English what the
# Chinese says.
REPORT = {
    "title": Text("AI-System Lab 1 report: {run}", "AI-System 实验一报告：{run}"),
    "no cjk font": Text(
        "This machine has no Chinese font (Debian's fonts-wqy-microhei, say): the figures' text "
        "is in English.",
        "本机没有可用的中文字体（例如 Debian 的 fonts-wqy-microhei），图中的文字用英文。",
    ),
    # the summary
    "summary": Text("Summary", "摘要"),
    "key findings": Text(
        "Key findings, ranked by the share of the step time each explains:",
        "主要结论（按其解释的每步时间占比排序）：",
    ),
    # the template's sections
    "environment": Text("Environment", "实验环境"),
    "hardware": Text("Hardware", "硬件环境"),
    "software": Text("Software", "软件环境"),
    "dataset": Text("Dataset", "数据集"),
    "results": Text("Results", "实验结果"),
    "screenshots": Text("Screenshots of the model's visualisations", "模型可视化结果截图"),
    "dataflow graph": Text("The network's dataflow graph", "神经网络数据流图"),
    "curves": Text("Loss and accuracy curves", "损失和正确率趋势图"),
    "top ops": Text(
        "Network analysis: the ten most used operators", "网络分析，使用率前十名的操作"
    ),
    "top ops shown": Text(
        "At the training batch size and precision, the default thread count (a GPU ranked by "
        "its device time)",
        "训练所用批大小与精度、默认线程数下的结果（GPU 按设备时间排序）",
    ),
    "batch sizes": Text("Network analysis: batch sizes compared", "网络分析，不同批大小结果比较"),
    "cpu vs gpu": Text(
        "Hardware compared (CPU and GPU, optional)", "不同硬件比较（CPU 与 GPU，选做）"
    ),
    "only devices": Text(
        "This run profiled only {ran}: no CPU-vs-GPU comparison.",
        "本次运行只对 {ran} 做了性能分析，没有 CPU 与 GPU 的比较。",
    ),
    "precisions": Text("Precisions compared (fp32 and bf16)", "不同精度比较（fp32 与 bf16）"),
    "one precision": Text(
        "This run used one precision: no fp32-vs-bf16 comparison (train with --precision bf16, "
        "or profile with --profile-precisions fp32 bf16).",
        "本次运行只用了一种精度：没有 fp32 与 bf16 的比较"
        "（用 --precision bf16 训练，或用 --profile-precisions fp32 bf16）。",
    ),
    "time goes": Text("Network analysis: where the time goes", "网络分析，时间都花在哪里"),
    "no profile": Text("This run was not profiled.", "本次运行没有进行性能分析。"),
    # the appendix and its parts, in order
    "appendix": Text("Appendix", "附录"),
    "see appendix": Text("([Appendix](#appendix): {what}.)", "（[附录](#附录)：{what}。）"),
    "other configs": Text("every other configuration", "其他配置"),
    "op shares": Text("the operator share per batch size", "各批大小的算子时间占比"),
    "every table": Text("every table", "全部表格"),
    "appendix run": Text("Run and pipeline timings", "运行与流水线耗时"),
    "appendix top": Text("Top-10 operators of every other configuration", "其他配置的前十名操作"),
    "appendix layers": Text("Layer table", "层表"),
    "appendix epochs": Text("Per-epoch table", "每轮结果"),
    "appendix shares": Text(
        "Batch-size comparison at every thread count, operator shares",
        "各线程数的批大小比较，算子时间占比",
    ),
    "appendix system": Text("Where the time goes: every table", "时间都花在哪里：全部表格"),
    "appendix limits": Text("Machine limits", "机器极限"),
    "appendix findings": Text("Every finding", "全部结论"),
    # the run's table
    "run": Text("run", "运行"),
    "status": Text("status", "状态"),
    "started / finished": Text("started / finished (UTC)", "开始 / 结束 (UTC)"),
    "recipe": Text("recipe", "训练配方"),
    "recipe value": Text(
        "Adadelta lr {lr}, StepLR gamma {gamma}, batch {batch} (test {test_batch}), "
        "{epochs} epochs, seed {seed}",
        "Adadelta 学习率 {lr}，StepLR gamma {gamma}，批大小 {batch}（测试 {test_batch}），"
        "{epochs} 轮，随机种子 {seed}",
    ),
    "profiled batch sizes": Text("profiled batch sizes", "性能分析的批大小"),
    "timings": Text("Pipeline tasks, wall clock:", "流水线各任务的墙钟时间："),
    "task": Text("task", "任务"),
    "time": Text("time", "时间"),
    "total": Text("total", "合计"),
    # the machine and its software
    "no environment": Text(
        "No environment was captured in this run.", "本次运行没有记录环境信息。"
    ),
    "machine": Text("machine", "机器"),
    "id": Text("id", "标识"),
    "configuration": Text("configuration", "配置"),
    "cpu (vcpus)": Text("CPU (vCPUs)", "CPU（vCPU数目）"),
    "cpu value": Text(
        "{cpu} ({vcpus} vCPUs; torch uses {threads} threads)",
        "{cpu}（{vcpus} 个 vCPU；torch 使用 {threads} 个线程）",
    ),
    "gpu (model, count)": Text("GPU (model, count)", "GPU(型号，数目)"),
    "gpu count": Text("{gpus} ({n} GPUs)", "{gpus}（{n} 块）"),
    "no gpu": Text("none (torch sees no GPU)", "无（torch 看不到 GPU）"),
    "memory": Text("memory", "内存"),
    "version": Text("version", "版本"),
    "os": Text("OS version", "OS版本"),
    "os value": Text("{os} (kernel {kernel}, {machine})", "{os}（内核 {kernel}，{machine}）"),
    "framework": Text("deep learning framework", "深度学习框架"),
    "packages": Text("Python packages and versions", "python包名称及版本"),
    "cuda": Text("CUDA version", "CUDA版本"),
    "no cuda": Text("none (torch built for the CPU)", "无（CPU 版本的 torch）"),
    "cuda without gpu": Text(
        " (torch's build; no GPU visible)", "（torch 的构建版本；没有可见的 GPU）"
    ),
    # the dataset
    "no dataset": Text("The run recorded no dataset.", "本次运行没有记录数据集。"),
    "dataset value": Text("{name} (source: {source})", "{name}（来源：{source}）"),
    "train / test images": Text("train / test images", "训练 / 测试图像"),
    "subset": Text(
        "**A subset, not the full dataset**: this run used only {total} images; accuracy and "
        "timings are not comparable with the full 60,000 / 10,000 MNIST.",
        "**数据子集，不是完整数据集**：本次运行只用了 {total} 张图像，"
        "正确率和耗时不能与完整的 60,000 / 10,000 MNIST 比较。",
    ),
}

# Under every table with a marked value (lab1.fmt.UNSURE).
LEGEND = Text(
    f"{fmt.UNSURE} measured unreliably: other programs used cores this measurement needed, "
    f"or its timed blocks spread more than {fmt.pct(RELIABLE_SPREAD)} of their median; a share "
    "of peak over 100 % means the peak itself was measured low. No finding is drawn from a "
    "marked value.",
    f"{fmt.UNSURE} 测量不可靠：测量时其他程序占用了它需要的 CPU 核，"
    f"或各计时块相差超过中位数的 {fmt.pct(RELIABLE_SPREAD)}；峰值占比超过 100 % "
    "说明峰值本身测得偏低。不据标记的数值得出任何结论。",
)

# --------------------------------------------------------------------------- the findings' words
# Fixed phrases the finding sentences of both languages pick by a value (lab1.report.words, zh).

# lab1.host.environment.UNMEASURED keys: what is unknown without the source.
UNMEASURED = {
    "cpu_flags": Text(
        "the CPU's feature flags (/proc/cpuinfo), so whether it has native bf16: bf16 "
        "is refused as undetermined",
        "CPU 的特性标志（/proc/cpuinfo），因此无法判断是否原生支持 bf16：bf16 被拒绝",
    ),
    "contention": Text(
        "other processes' CPU time during each measurement (/proc/stat): "
        "contended is unknown, not “no”",
        "每次测量期间其他进程的 CPU 时间（/proc/stat）：是否存在争用为未知，而不是“否”",
    ),
    "allocator": Text(
        "glibc's allocator tuning (keep_heap_mapped) was not applied: CPU steps may "
        "page-fault freed memory back in",
        "未应用 glibc 内存分配器的调整（keep_heap_mapped）：CPU 的每步可能重新产生缺页",
    ),
    "memory": Text("the machine's memory size", "机器的内存大小"),
    "device_time": Text(
        "device time and peak memory on mps (torch.profiler does not trace MPS "
        "kernels): its operators are ranked by CPU dispatch time",
        "mps 上的设备时间和峰值内存（torch.profiler 不跟踪 MPS 内核）：算子按 CPU 派发时间排序",
    ),
}

# Why a profiled config is not the trained step (lab1.run.step.differences).
REASONS = {
    "device": Text("another device", "另一设备"),
    "precision": Text("another precision", "另一精度"),
    "threads": Text("another thread count", "另一线程数"),
    "cuda_graph": Text(
        "eager where training replayed a CUDA graph (the profiler sees no operators inside one)",
        "以 eager 方式运行，而训练重放 CUDA 图（性能分析器看不到图内的算子）",
    ),
}

# Why a part of the step does not grow with the batch (small_batch), where it is known.
PER_STEP = {
    "optimizer": Text(
        "the optimizer updates every parameter once per step, whatever the batch",
        "优化器每步更新全部参数一次，与批大小无关",
    ),
}

# The parts of a step that ran in TF32 (lab1.run.step's tf32 list).
TF32_PARTS = _english_ids({"convolutions": "卷积", "matmuls": "矩阵乘"})

# --------------------------------------------------------------------------- the comparison of runs

# The machine limits' names (the comparison says 分发 where the run report says 派发).
COMPARE_LIMITS = {
    "matmul_peak": Text("matmul peak", "矩阵乘峰值"),
    "memory_bandwidth": Text("memory bandwidth (copy)", "内存带宽（复制）"),
    "dispatch_floor": Text("dispatch floor per operator", "每个算子的分发下限"),
}
# Every heading, header and fixed phrase of the comparison's report.
COMPARE = {
    "title": Text("Comparison of runs: {name}", "运行比较：{name}"),
    "runs": Text("Runs compared", "参与比较的运行"),
    "machines": Text("Machines", "机器"),
    "throughput": Text("Throughput per batch size", "各批大小的吞吐"),
    "model": Text("Step-time model", "步时模型"),
    "training": Text("Training", "训练"),
    "ops": Text("Top operators and where the time goes", "最耗时的算子与时间去向"),
    "intro": Text(
        "Every number below is read from the runs' own tables (compare/comparison.parquet, "
        "limits, step_model, top10) and collected in this folder's Parquet files; the "
        "speed-up is a row's images/s over its baseline row's (same batch size and phase; "
        "same device, precision and thread role where both runs have them). Baseline: {base}.",
        "下面每个数字都取自各运行自己的表（compare/comparison.parquet、limits、step_model、"
        "top10），并汇总在本文件夹的 Parquet 文件中；加速比是一行的图像/秒除以其基准行的图像/秒"
        "（相同批大小和阶段；两次运行都有时，相同设备、精度和线程角色）。基准：{base}。",
    ),
    "model_intro": Text(
        "Each ladder's fit of ms per step = fixed + batch × per image: the fixed part is what a "
        "step costs whatever its batch (Python, dispatch, kernel launches), the per-image part "
        "what each image adds. A device with a larger fixed cost and a smaller per-image cost "
        "wins only above the batch size where the two lines cross.",
        "每个阶梯的拟合：每步毫秒 = 固定开销 + 批大小 × 每张图像开销。固定部分与批大小无关"
        "（Python、分发、内核启动），每张图像部分是每多一张图像增加的开销。固定开销大而每张图像开销"
        "小的设备，只有在两条线相交的批大小以上才更快。",
    ),
    "baseline": Text("baseline", "基准"),
    "yes": Text("yes", "是"),
    "not comparable": Text("not comparable", "不可比较"),
    "not supported": Text("not supported", "不支持"),
    "no model": Text("No run measured a step-time ladder.", "没有运行测量步时阶梯。"),
    "no ops": Text("No batch size was profiled by every run.", "没有所有运行都分析过的批大小。"),
    "figure": Text(
        "Throughput against batch size, one line per run and config",
        "各运行的吞吐与批大小",
    ),
    "run": Text("run", "运行"),
    "machine": Text("machine", "机器"),
    "dataset": Text("dataset", "数据集"),
    "recipe": Text("recipe", "训练配方"),
    "code": Text("lab1 code", "lab1 代码"),
    "device": Text("device", "设备"),
    "threads": Text("threads", "线程数"),
    "phase": Text("phase", "阶段"),
    "batch": Text("batch", "批大小"),
    "images/s": Text("images/s", "图像/秒"),
    "ms/step": Text("ms/step", "毫秒/步"),
    "µs/image": Text("µs/image", "微秒/图像"),
    "share of peak": Text("share of peak", "峰值占比"),
    "speed-up": Text("speed-up over baseline", "相对基准的加速比"),
    "against": Text("baseline row", "基准行"),
    "fixed (ms)": Text("fixed (ms)", "固定开销 (毫秒)"),
    "per image (µs)": Text("per image (µs)", "每张图像 (微秒)"),
    "fixed < 10 %": Text("fixed < 10 % from batch", "固定开销 < 10 % 的最小批大小"),
    "epochs": Text("epochs", "轮数"),
    "s/epoch": Text("s per epoch", "秒/轮"),
    "train images/s": Text("training images/s", "训练图像/秒"),
    "accuracy": Text("final test accuracy", "最终测试正确率"),
    "loss": Text("test loss", "测试损失"),
    "top": Text("heaviest operators (share of self time)", "最耗时的算子（占自身时间比例）"),
    "roofline": Text(
        "Share of peak (above) is of each machine's own measured fp32 matmul peak; the roofline "
        "puts each machine's heavy operators under its own ceilings:",
        "峰值占比（上表）以各机器自己实测的 fp32 矩阵乘峰值为准；"
        "屋顶线把每台机器的重算子放在它自己的上限之下：",
    ),
    "roofline caption": Text(
        "Roofline per machine and config: achieved GFLOP/s against FLOP per byte",
        "各机器与配置的屋顶线：实测 GFLOP/s 与每字节 FLOP",
    ),
    "split": Text(
        "Where each step's time goes, by kind of operator (share of the step; profiler on):",
        "每步时间的去向，按算子类别（占每步的比例；开启性能分析）：",
    ),
    "CPU": Text("CPU", "CPU"),
    "vCPUs": Text("vCPUs", "vCPU 数"),
    "memory": Text("memory", "内存"),
    "GPUs": Text("GPUs", "GPU"),
    "OS": Text("OS", "操作系统"),
    "PyTorch": Text("PyTorch", "PyTorch"),
    "CUDA": Text("CUDA", "CUDA"),
    "machine id": Text("machine id", "机器 id"),
}

# --------------------------------------------------------------------------- the class view

# What a verdict means, in the report itself (docs/teaching-assistant.md says more).
WHAT_CHECKS_PROVE = (
    "The checks show that each submission is whole, self-consistent and like the class's; "
    "they cannot show that its numbers were measured, or by whom."
)
# How a run is held against the class's runs on its hardware (lab1.classroom.checks.like_class).
LIKE_RULE = (
    "Each reliable images/s of each run is held against the median of the class's runs of the "
    "same configuration on the same CPU or GPU model: a modified z-score (Iglewicz and "
    "Hoaglin) beyond ±{z} is flagged; with fewer than {n} runs on a model the class cannot "
    "judge it."
)
# The class view's report, its figures and each student's feedback (lab1.classroom.classreport).
CLASS = _english_ids(
    {
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
            "因在繁忙的机器上测量而未评判：可读的 {total} 份提交中有 {n} 份；"
            "这些学生应在空闲的机器上重新测量：{who}。"
        ),
        "Throughput is from each run's own training configuration (device, precision, threads).": (
            "吞吐量取自每次运行自己的训练配置（设备、精度、线程数）。"
        ),
        LIKE_RULE: (
            "每次运行的每个可靠的 图像/秒 都与全班在同一 CPU 或 GPU 型号、同一配置下的运行的中位数"
            "相比：修正 z 值（Iglewicz 与 Hoaglin）超出 ±{z} 的标记为待复核；同一型号上不足 {n} "
            "次运行时无法评判。"
        ),
        "{hw}: {n} runs.": "{hw}：{n} 次运行。",
        "{hw}: cannot judge, only {runs}.": "{hw}：无法评判，只有 {runs}。",
        "{student} is far from the class: {why}": "{student} 远离全班：{why}",
        "No run is far from the class's runs on its hardware.": (
            "没有运行远离全班在同一硬件上的运行。"
        ),
        # like_class_text's pieces, and the counts in them (a Chinese count takes no plural)
        "{n} runs": "{n} 次运行",
        "{n} configurations": "{n} 个配置",
        "{n} more configurations": "{n} 个配置",
        "{config}, {phase}, on {hw}: {rate} images/s against the class's median {median} there "
        "({n} runs; modified z {z}, beyond ±{limit})": (
            "{hw} 上的 {config}，{phase}：{rate} 图像/秒，全班在该硬件上的中位数为 {median}"
            "（{n} 次运行；修正 z 值 {z}，超出 ±{limit}）"
        ),
        "and {more} far from the class's": "另有 {more}远离全班",
        "like the class's runs on {hw} ({judged} judged)": (
            "与全班在 {hw} 上的运行相符（评判了 {judged}）"
        ),
        "cannot judge: only {runs} on {hw}": "无法评判：{hw} 上只有 {runs}",
        "cannot judge: only {runs} of the same configuration on {hw}": (
            "无法评判：{hw} 上同一配置只有 {runs}"
        ),
        "no number measured reliably on its own machine to compare": (
            "没有在本机可靠测得、可供比较的数字"
        ),
    }
)

# Every group, for the test that walks them: each entry has an English and a Chinese text.
GROUPS: dict[str, dict[str, Text]] = {
    "axes": AXES,
    "punctuation": PUNCTUATION,
    "phase": PHASE,
    "parts": PARTS,
    "categories": CATEGORIES,
    "basis": BASIS,
    "headers": HEADERS,
    "figure_labels": FIGURE_LABELS,
    "captions": CAPTIONS,
    "status": STATUS,
    "limits": LIMITS,
    "limit_notes": LIMIT_NOTES,
    "top_title": TOP_TITLE,
    "report": REPORT,
    "legend": {"legend": LEGEND},
    "unmeasured": UNMEASURED,
    "reasons": REASONS,
    "per_step": PER_STEP,
    "tf32_parts": TF32_PARTS,
    "compare_limits": COMPARE_LIMITS,
    "compare": COMPARE,
    "class": CLASS,
}

# What lab1.figures.language draws a Chinese figure's labels through.
FIGURE_LABELS_ZH = chinese(FIGURE_LABELS, PHASE, CATEGORIES)
