"""The report's sections, built from a RunData as blocks: the summary, the lab template's
sections kept compact (the training config's tables, the figures, the findings), then the
appendix with every other table, collapsed in HTML.

A part the run did not produce becomes a one-line "not ... in this run" note, never an error.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from lab1 import figures, fmt
from lab1.catalog import CAPTIONS, HEADERS, REPORT
from lab1.host.environment import Environment
from lab1.identity import axes_except
from lab1.report import findings, grids
from lab1.report.blocks import Block, Bullets, Details, Figure, Note, Section, Table, plain
from lab1.report.sentences import sentence, sentences
from lab1.report.system import limits_blocks, system_section, system_tables
from lab1.run.reader import RunData
from lab1.run.train import SCALARS

NOT_PROFILED = "Not profiled in this run"
SEE_APPENDIX = REPORT["see appendix"].en


def recipe_value(p, lang: str) -> str:
    """The run's recipe (its parameters: lr, gamma, batch sizes, epochs, seed) in ``lang``."""
    return (
        REPORT["recipe value"]
        .of(lang)
        .format(
            lr=p.lr,
            gamma=p.gamma,
            batch=p.batch_size,
            test_batch=p.test_batch_size,
            epochs=p.epochs,
            seed=p.seed,
        )
    )


def _en(key: str) -> str:
    """The run report's text ``key`` (lab1.catalog.REPORT) in English."""
    return REPORT[key].en


SCALARS_SOURCE = {
    "events": "the TensorBoard event files",
    "manifest": "manifest.json",
    "both": "the TensorBoard event files (missing tags from manifest.json)",
}


def run_section(d: RunData) -> Section:
    m, p = d.manifest, d.manifest.parameters
    status = m.status
    if status == "running":  # the flow writes the report as its last step, before "completed"
        status = "running (the report is written as the run's last step)"
    devices = f"{', '.join(m.devices.resolved)} / {m.devices.training}" if m.devices else "–"
    recipe = recipe_value(p, "en")
    rows = [
        [_en("run"), fmt.code(m.run_name)],
        [_en("status"), status],
        [_en("started / finished"), f"{m.started_at or '–'} / {m.finished_at or '–'}"],
        ["report written (UTC)", datetime.now(timezone.utc).isoformat(timespec="seconds")],
        ["devices found / training", devices],
        [_en("recipe"), recipe],
        [_en("profiled batch sizes"), ", ".join(str(b) for b in p.batch_sizes)],
    ]
    blocks: list[Block] = [Table(["", HEADERS["value"].en], rows)]
    if p.dry_run:
        blocks.append(
            Note(
                "**Dry run**: only a few batches per epoch; the numbers below only "
                "show that the pipeline works, not what the model can learn.",
                "warning",
            )
        )
    if m.timings:
        header = [_en("task"), _en("time"), HEADERS["share"].en]
        table = timings_table(m.timings, header, _en("total"))
        blocks += [_en("timings"), table]
    return Section("Run", blocks)


def timings_table(
    timings: dict[str, float], header: list[str], total: str, name: Callable[[str], str] = str
) -> Table:
    """Each pipeline task's wall-clock time and its share of their sum, then the sum (its row
    labelled ``total``); task names written through ``name``."""
    whole = sum(timings.values())
    rows = [
        [name(k), fmt.seconds(v), fmt.pct(v / whole if whole else None)] for k, v in timings.items()
    ]
    rows.append([f"**{total}**", f"**{fmt.seconds(whole)}**", ""])
    return Table(header, rows, [False, True, True])


def _gpu_line(env: Environment) -> str:
    if not env.gpus:
        return _en("no gpu")
    by_name: dict[str, list[dict]] = {}
    for g in env.gpus:
        by_name.setdefault(g["name"], []).append(g)
    return "; ".join(
        f"{len(gs)} × {plain(name)} ({fmt.nbytes(gs[0]['memory_bytes'])}, "
        f"compute capability {gs[0]['capability']})"
        for name, gs in by_name.items()
    )


def _machine_row(env: Environment, name: str, id_word: str) -> list[list[str]]:
    """The machine's host name and the id its table rows carry (none in a schema-1 manifest)."""
    if env.machine_id is None:
        return []
    return [[name, f"{plain(env.hostname)} ({id_word} {fmt.code(env.machine_id)})"]]


def environment_section(d: RunData) -> Section:
    env = d.manifest.environment
    if env is None:
        return Section(_en("environment"), [Note(_en("no environment"))])
    pk = env.packages
    cuda = fmt.MISSING
    if env.cuda_version:
        cuda = env.cuda_version + ("" if env.cuda_available else _en("cuda without gpu"))
    os_line = _en("os value").format(
        os=plain(env.os), kernel=plain(env.kernel), machine=plain(env.machine)
    )
    rows = [
        *_machine_row(env, _en("machine"), _en("id")),
        [
            "CPU",
            f"{plain(env.cpu_model)} ({env.vcpus} vCPUs; torch uses {env.torch_threads} threads)",
        ],
        [_en("memory"), fmt.nbytes(env.memory_bytes)],
        ["GPU", f"{env.gpu_count}: {_gpu_line(env)}" if env.gpus else _gpu_line(env)],
        ["OS", os_line],
        ["Python", env.python],
        ["PyTorch", pk.get("torch") or fmt.MISSING],
        ["torchvision", pk.get("torchvision") or fmt.MISSING],
        ["CUDA", cuda],
        ["cuDNN", fmt.cudnn(env.cudnn_version)],
        [
            "other packages",
            ", ".join(
                f"{n} {pk.get(n) or fmt.MISSING}"
                for n in ("prefect", "tensorboard", "pyarrow", "numpy", "mlxtend")
            ),
        ],
    ]
    table = Table(["component", "version / model"], rows)
    gaps = findings.unmeasured(d.manifest, d.tables["comparison"])
    gaps += findings.described_machine(d.manifest)
    blocks = [
        table,
        *[Note(sentence(f)) for f in gaps],
    ]
    return Section(_en("environment"), blocks)


def dataset_section(d: RunData) -> Section:
    ds = d.manifest.dataset
    if ds is None:
        return Section(_en("dataset"), [Note(_en("no dataset"), "warning")])
    rows = [
        ["dataset", ds.name],
        ["source", f"{ds.source} ({fmt.code(ds.location)})"],
        [_en("train / test images"), f"{fmt.count(ds.train_size)} / {fmt.count(ds.test_size)}"],
        ["sha256 of the decoded tensors", fmt.code(ds.checksum)],
    ]
    blocks: list[Block] = [Table(["", HEADERS["value"].en], rows)]
    if not ds.full:
        total = ds.train_size + ds.test_size
        blocks.insert(
            0,
            Note(
                f"**SUBSET, NOT THE FULL DATASET**: this run used {fmt.count(total)} digits "
                f"({ds.source}), split {fmt.count(ds.train_size)} train / "
                f"{fmt.count(ds.test_size)} "
                "test. Accuracies and timings are not comparable with runs on the full 60,000 / "
                "10,000 MNIST.",
                "warning",
            ),
        )
    return Section(_en("dataset"), blocks)


def network_section(d: RunData, figs: dict[str, Path]) -> Section:
    if not d.layers:
        return Section("Network graph", [Note("No layer table (graph/layers.json) in this run.")])
    figs["network_graph"] = figures.draw_network_graph(d.layers, d.paths.figure("network_graph"))
    return Section(
        "Network graph",
        [
            "The dataflow graph torch.fx traced from the model (one box per node, arrows along "
            "each node's inputs); the same graph is in TensorBoard's Graphs tab.",
            Figure(figs["network_graph"], CAPTIONS["network_graph"].en),
            *_screenshot(d, "graphs", CAPTIONS["tensorboard_graphs"].en),
            SEE_APPENDIX.format(what="the layer table"),
        ],
    )


def layer_blocks(d: RunData) -> list[Block]:
    """The appendix's layer table ([] where the run has none)."""
    if not d.layers:
        return []
    return [
        "Layer table for a batch of 1 (MACs: multiply-accumulates per image):",
        grids.layers_table(d.layers),
    ]


def _screenshot(d: RunData, tab: str, caption: str) -> list[Block]:
    """The run's own TensorBoard tab, where --tensorboard-screenshots took it."""
    shots = d.manifest.screenshots or {}
    return [Figure(Path(shots[tab]), caption)] if tab in shots else []


def training_section(d: RunData, figs: dict[str, Path]) -> Section:
    if not any(d.scalars.get(t) for t in SCALARS):
        return Section("Training curves", [Note("No training was logged in this run.")])
    device = d.manifest.devices.training if d.manifest.devices else "?"
    figs["training_curves"] = figures.plot_training_curves(
        d.scalars,
        d.paths.figure("training_curves"),
        title=figures.label("Training on {device}").format(device=device),
    )
    blocks: list[Block] = [
        f"Read back from {SCALARS_SOURCE[d.scalars_source]}. Loss is the mean negative "
        "log-likelihood per sample; training accuracy is measured with dropout active.",
        Figure(figs["training_curves"], CAPTIONS["training_curves"].en),
        *_screenshot(d, "scalars", CAPTIONS["tensorboard_scalars"].en),
    ]
    if d.history:
        blocks.append(SEE_APPENDIX.format(what="the per-epoch table"))
    return Section("Training curves", blocks)


def epoch_blocks(d: RunData) -> list[Block]:
    """The appendix's per-epoch table ([] where nothing was trained)."""
    blocks: list[Block] = []
    if d.history:
        rows = [
            [
                str(h.epoch),
                fmt.decimal(h.train_loss),
                fmt.pct(h.train_accuracy),
                fmt.decimal(h.test_loss),
                fmt.pct(h.test_accuracy),
                fmt.real(h.lr),
                fmt.rate(h.images_per_s),
                fmt.seconds(h.train_seconds),
            ]
            for h in d.history
        ]
        header = [
            "epoch",
            "train loss",
            "train accuracy",
            "test loss",
            "test accuracy",
            "lr",
            "train images/s",
            "train time",
        ]
        blocks.append(Table(header, rows, [True] * 8))
    return blocks


def is_main_top10(top10: pd.DataFrame, batch_size: int, precision: str) -> pd.Series:
    """The top-10 rows shown before the appendix: the training batch size (the largest
    profiled one where it was not profiled) and precision (every one where it was not
    profiled) at each device's default (largest) thread count, a GPU ranked by its own (device)
    time only. What a reader needs fits the six printed pages; the appendix has the rest."""
    bs = batch_size if (top10["batch_size"] == batch_size).any() else top10["batch_size"].max()
    same = top10["precision"] == precision
    main = (top10["batch_size"] == bs) & (same if same.any() else True)
    # A GPU config has both rankings; the device one is what it spent its step on.
    on_device = set(top10.loc[top10["sort_key"] == "self_device", "device"])
    main &= (top10["sort_key"] != "self_cpu") | ~top10["device"].isin(on_device)
    return main & top10.index.isin(default_threads(top10).index)


def top_ops_section(d: RunData, lang: str = "en", part: str = "all") -> Section:
    """``lang``: the language of the config labels in the titles; ``part``: ``all`` configs,
    the ``main`` ones (is_main_top10) or the ``rest`` (the appendix's)."""
    top = d.tables["top10"]
    if top is None:
        return Section("Top-10 operators", [Note(f"{NOT_PROFILED}: no profiles/top10.parquet.")])
    intro = (
        "The ten heaviest operators of each configuration by self time (CPU time on the CPU, "
        "device time on a GPU), from torch.profiler, averaged per profiled step. Share: of the "
        "ranking time summed over all operators."
    )
    if part != "all":
        p = d.manifest.parameters
        main = is_main_top10(top, p.batch_size, p.precision)
        top = top[main if part == "main" else ~main]
        if part == "main":
            intro += (
                " Shown: the training batch size and precision at the default thread count, a "
                "GPU ranked by its device time "
            ) + (SEE_APPENDIX.format(what=_en("other configs")))
    return Section("Top-10 operators", [intro, *grids.top10_blocks(top, lang)] if len(top) else [])


def comparison_section(
    d: RunData, figs: dict[str, Path], redraw: bool = False, lang: str = "en"
) -> Section:
    """``redraw``: draw the comparison plots again in figures/ (in the report's language)
    instead of showing the compare step's; ``lang``: the language of the config labels."""
    cmp = d.tables["comparison"]
    if cmp is None:
        note = Note(f"{NOT_PROFILED}: no compare/comparison.parquet.")
        return Section("Batch-size comparison", [note])
    blocks: list[Block] = [
        "One row per device × precision × threads × batch size × phase, timed with the "
        "profiler off. A train step "
        "is forward + loss + backward + optimizer step; inference is the forward pass alone "
        "(eval mode, no autograd). Top-op share is of the self time of all operators. Shown: "
        "the default thread count.",
        table := grids.comparison_table(default_threads(cmp), lang),
        *grids.legend([table], lang),
    ]
    plots = {} if redraw else dict(d.compare_plots)
    if "throughput" not in plots:  # the compare step's PNG is gone: redraw it
        plots["throughput"] = figs["throughput_vs_batch"] = figures.plot_throughput(
            cmp, d.paths.figure("throughput_vs_batch")
        )
    blocks += [
        Figure(plots["throughput"], CAPTIONS["throughput_vs_batch"].en),
        SEE_APPENDIX.format(what="every thread count and the operator shares"),
    ]
    return Section("Batch-size comparison", blocks)


def default_threads(df: pd.DataFrame) -> pd.DataFrame:
    """The rows at each device's default (largest) thread count: what a user runs."""
    most = df.groupby(axes_except("precision", "threads", "batch_size"))["threads"]
    return df[df["threads"] == most.transform("max")]


def share_blocks(
    d: RunData, figs: dict[str, Path], redraw: bool = False, lang: str = "en"
) -> list[Block]:
    """The appendix's part of the batch-size comparison: the rows at every other thread count
    (the main part shows the default one), the operator-share figure and the operators whose
    share moves most ([] where nothing was compared)."""
    cmp = d.tables["comparison"]
    if cmp is None:
        return []
    others = cmp[~cmp.index.isin(default_threads(cmp).index)]
    tables = [grids.comparison_table(others, lang)] if len(others) else []
    rows: list[Block] = [*tables, *grids.legend(tables, lang)]
    plots = {} if redraw else dict(d.compare_plots)
    if "op_share" not in plots and d.tables["op_stats"] is not None:
        from lab1.compare.within import op_shares

        plots["op_share"] = figs["op_share_vs_batch"] = figures.plot_op_share(
            op_shares(d.tables["op_stats"]), d.paths.figure("op_share_vs_batch")
        )
    blocks: list[Block] = rows + (
        [Figure(plots["op_share"], CAPTIONS["op_share_vs_batch"].en)]
        if ("op_share" in plots)
        else []
    )
    if d.tables["share_change"] is not None:
        blocks += [
            f"The {grids.SHARE_CHANGE_TOP} operators per device and phase whose share of the "
            "time moves the most between the smallest and the largest batch size (pp: "
            "percentage points):",
            grids.share_change_table(d.tables["share_change"], lang),
        ]
    return blocks


def cpu_gpu_section(d: RunData, figs: dict[str, Path], lang: str = "en") -> Section:
    cmp = d.tables["comparison"]
    if cmp is None:
        return Section("CPU vs GPU", [Note(f"{NOT_PROFILED}: no compare/comparison.parquet.")])
    sp = findings.speedups(cmp)
    if sp.empty:
        ran = ", ".join(sorted(cmp["device"].unique()))
        if (cmp["device"] == "cpu").all():
            gpus = d.manifest.environment.gpu_count if d.manifest.environment else None
            why = "this machine has no GPU visible to torch" if gpus == 0 else "no GPU ran"
        else:
            why = "no CPU baseline ran"
        note = f"Only {ran} was profiled in this run ({why}): no CPU-vs-GPU comparison."
        return Section("CPU vs GPU", [Note(note)])
    figs["gpu_speedup"] = figures.plot_speedup(sp, d.paths.figure("gpu_speedup"))
    return Section(
        "CPU vs GPU",
        [
            grids.speedup_table(sp, lang),
            Figure(figs["gpu_speedup"], CAPTIONS["gpu_speedup"].en),
        ],
    )


def precision_section(d: RunData, lang: str = "en") -> Section:
    cmp = d.tables["comparison"]
    if cmp is None:
        return Section("fp32 vs bf16", [Note(f"{NOT_PROFILED}: no compare/comparison.parquet.")])
    pr = findings.precisions(cmp)
    if pr.empty:
        ran = ", ".join(sorted(cmp["precision"].unique()))
        return Section(
            "fp32 vs bf16",
            [
                Note(
                    f"Only {ran} was profiled in this run: no precision comparison (train with "
                    "--precision bf16, or profile both with --profile-precisions fp32 bf16, on a "
                    "device with native bf16)."
                )
            ],
        )
    intro = (
        "Each bf16 config (torch.autocast) beside the fp32 one on the same device, batch size "
        "and phase, timed with the profiler off; speedup is fp32's time per step over bf16's."
    )
    return Section("fp32 vs bf16", [intro, grids.precision_table(pr, lang)])


def all_findings(d: RunData) -> list[findings.Finding]:
    """Every finding of the run (the appendix lists them all; the summary ranks a few)."""
    return [
        *findings.training(d.history),
        *findings.caveats(d.manifest),
        *findings.layers(d.layers),
        *findings.profiling(d.tables["comparison"], d.tables["share_change"]),
    ]


def summary_section(d: RunData, lang: str = "en") -> Section:
    """The summary in ``lang`` (en, or zh for the course's template): what ran, on which
    machine, its result, then the key findings."""
    found = findings.summary(d.manifest, d.history, d.tables)
    busy = [f for f in found if f.kind == "busy_machine"]  # the truth first: before what ran
    head = [f for f in found if f.kind.startswith("summary_")]
    key = [f for f in found if f not in busy and f not in head]
    blocks: list[Block] = [Note(sentence(f, lang), "warning") for f in busy]
    blocks += sentences(head, lang)
    blocks += [Note(sentence(f, lang), "warning") for f in findings.caveats(d.manifest)]
    if key:
        blocks += [REPORT["key findings"].of(lang), Bullets(sentences(key, lang))]
    return Section(REPORT["summary"].of(lang), blocks)


# The appendix's parts, in order: ids of lab1.catalog.REPORT (their titles).
APPENDIX = (
    "appendix run",
    "appendix top",
    "appendix layers",
    "appendix epochs",
    "appendix shares",
    "appendix system",
    "appendix limits",
    "appendix findings",
)


def appendix(parts: dict[str, list[Block]], lang: str = "en") -> Section:
    """The appendix in ``lang``: each of APPENDIX's parts collapsed under its title, in that
    order, a part without blocks left out. Both languages' builders give every part."""
    if set(parts) != set(APPENDIX):
        raise ValueError(f"the appendix's parts are {APPENDIX}, not {tuple(parts)}")
    titled = [(REPORT[key].of(lang), parts[key]) for key in APPENDIX]
    return Section(
        REPORT["appendix"].of(lang), [Details(title, blocks) for title, blocks in titled if blocks]
    )


def appendix_section(d: RunData, figs: dict[str, Path]) -> Section:
    """Everything measured that the sections above leave out, each part collapsed."""
    parts = {
        "appendix run": run_section(d).blocks,
        "appendix top": top_ops_section(d, part="rest").blocks,
        "appendix layers": layer_blocks(d),
        "appendix epochs": epoch_blocks(d),
        "appendix shares": share_blocks(d, figs),
        "appendix system": system_tables(d, figs),
        "appendix limits": limits_blocks(d),
        "appendix findings": [Bullets(sentences(all_findings(d)))],
    }
    return appendix(parts)


def build_sections(d: RunData, figs: dict[str, Path]) -> list[Section]:
    """The summary, the template's sections, the appendix; figures drawn are added to
    ``figs``."""
    return [
        summary_section(d),
        environment_section(d),
        dataset_section(d),
        network_section(d, figs),
        training_section(d, figs),
        top_ops_section(d, part="main"),
        comparison_section(d, figs),
        cpu_gpu_section(d, figs),
        precision_section(d),
        system_section(d, figs),
        appendix_section(d, figs),
    ]
