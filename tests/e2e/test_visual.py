"""Real tools on a real run: TensorBoard's HTTP API and pages, and the report, in Chromium.

A small run is made with the lab1 functions themselves (tiny dataset, a few batches, CPU
profiling at two batch sizes), served by a real ``tensorboard`` process and photographed by
headless Chromium. Screenshots land in the run directory's ``screenshots/``.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.parse
import urllib.request
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import chromium_or_skip, get_bytes
from conftest import small_recipe, write_mnist_layout
from PIL import Image
from rundirs import start_run

from lab1 import fmt, report
from lab1.atomic import write_json
from lab1.compare.within import combine_and_compare
from lab1.config import DRY_RUN_SCHEDULE
from lab1.host.environment import capture_environment
from lab1.measure.profiling import profile_config
from lab1.reliability import PROFILED_TRAINED_BAND, unsure
from lab1.report import browser, processes, viewer
from lab1.run import data, graph, tblog
from lab1.run.manifest import update_manifest
from lab1.run.train import SCALARS, train_and_log
from lab1.rundir import RunPaths
from lab1.schemas import COMPARISON_SCHEMA, PHASES, TOP10_SCHEMA, read_parquet

pytestmark = pytest.mark.slow

SCALAR_TAGS = set(SCALARS)
EPOCHS = 2
TB_ORANGE = (245, 124, 0)  # TensorBoard's header bar


@pytest.fixture(scope="module")
def chromium() -> str:
    return chromium_or_skip()


@pytest.fixture(scope="module")
def visual_run(tmp_path_factory) -> Path:
    """A complete run directory from the lab1 functions: graph, training, profiles, report."""
    root = tmp_path_factory.mktemp("visual")
    write_mnist_layout(root / "datasets")
    run = start_run(
        root / "runs" / "visual",
        parameters={
            "epochs": EPOCHS,
            "batch_size": 32,
            "test_batch_size": 50,
            "lr": 1.0,
            "gamma": 0.7,
            "seed": 1,
            "dry_run": True,
            "batch_sizes": [8, 32],
        },
        devices={"resolved": ["cpu"], "training": "cpu"},
        environment=capture_environment(),
    )
    info = data.prepare_dataset("mnist", root / "datasets", run.data)
    g = graph.export_graph(info.path, "mnist", "cpu", run)
    recipe = small_recipe(info.checksum, 32, 50)
    trained = train_and_log(
        info.path, "cpu", run.tensorboard, run.checkpoints, recipe, EPOCHS, 10, 3, 1
    )
    for bs in (8, 32):
        result = profile_config(
            info.path, "mnist", "cpu", bs, run, "visual", DRY_RUN_SCHEDULE, seed=1, lr=1.0
        )
        write_json(run.profile_result("cpu", "fp32", bs, result["threads"]), result)
    combine_and_compare(run, "visual")
    update_manifest(run, dataset=info.to_dict(), graph=g, training=trained)
    # as the compare task does
    tblog.log_texts(run.tensorboard, report.tensorboard_texts(report.read_run(run.root)))
    report.write_report(run.root)
    return run.root


@pytest.fixture(scope="module")
def tensorboard(visual_run):
    with viewer.tensorboard_server(visual_run / "tensorboard") as base:
        yield base


def _until(fn, timeout_s: float = 30.0):
    """fn() until it returns something truthy (TensorBoard loads event files in the background)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def _q(**params) -> str:
    return urllib.parse.urlencode(params)


def assert_not_blank(png: Path, min_colours: int = 64) -> Image.Image:
    """A real page has text, lines and fills: many colours, and not all of it one colour."""
    im = Image.open(png).convert("RGB")
    colours = im.getcolors(maxcolors=1 << 24)
    assert len(colours) >= min_colours, f"{png.name}: only {len(colours)} colours"
    commonest = max(c for c, _ in colours)
    assert commonest < 0.95 * im.width * im.height, f"{png.name} is almost one colour"
    return im


def _share_near(im: Image.Image, rgb: tuple[int, int, int], tol: int = 12) -> float:
    near = sum(
        n
        for n, c in im.getcolors(maxcolors=1 << 24)
        if all(abs(a - b) <= tol for a, b in zip(c, rgb, strict=True))
    )
    return near / (im.width * im.height)


# --------------------------------------------------------------------------- HTTP API


def test_tensorboard_lists_the_run_and_its_plugins(tensorboard):
    assert processes.get_json(f"{tensorboard}/data/runs") == ["."]
    plugins = processes.get_json(f"{tensorboard}/data/plugins_listing")
    for name in ("scalars", "images", "graphs"):
        assert plugins[name]["enabled"], f"{name} plugin has no data"


def test_tensorboard_serves_every_scalar_per_epoch(tensorboard, visual_run):
    def served() -> set[str]:
        return set(processes.get_json(f"{tensorboard}/data/plugin/scalars/tags").get(".", {}))

    tags = _until(lambda: served() >= SCALAR_TAGS)
    assert tags, "not every scalar tag is served"
    history = json.loads((visual_run / "manifest.json").read_text())["training"]["history"]
    fields = SCALARS
    for tag in sorted(SCALAR_TAGS):
        points = processes.get_json(
            f"{tensorboard}/data/plugin/scalars/scalars?{_q(run='.', tag=tag)}"
        )
        assert [step for _, step, _ in points] == list(range(1, EPOCHS + 1)), tag
        expected = [h[fields[tag]] for h in history]
        assert [v for _, _, v in points] == pytest.approx(expected, rel=1e-5), tag


def test_tensorboard_serves_the_image_grid(tensorboard):
    tags = processes.get_json(f"{tensorboard}/data/plugin/images/tags")
    assert "Data/train_batch" in tags["."]
    entries = processes.get_json(
        f"{tensorboard}/data/plugin/images/images?{_q(run='.', tag='Data/train_batch')}"
    )
    assert len(entries) == 1 and entries[0]["step"] == 0
    png = get_bytes(f"{tensorboard}/data/plugin/images/individualImage?{entries[0]['query']}")
    grid = Image.open(BytesIO(png))
    # make_grid: 8 × 8 digits of 28 px with 2 px padding around each.
    assert grid.format == "PNG" and grid.size == (8 * 30 + 2, 8 * 30 + 2)


def test_tensorboard_serves_the_model_graph(tensorboard, visual_run):
    info = processes.get_json(f"{tensorboard}/data/plugin/graphs/info")
    assert info["."]["run_graph"] is True
    pbtxt = get_bytes(
        f"{tensorboard}/data/plugin/graphs/graph?{_q(run='.', conceptual='false')}"
    ).decode()
    for op in ("aten::_convolution", "aten::max_pool2d", "aten::linear", "aten::log_softmax"):
        assert f'op: "{op}"' in pbtxt, op
    layers = json.loads((visual_run / "graph" / "layers.json").read_text())
    for row in layers:
        if row["parameters"]:  # every layer with weights is a named scope of the graph
            assert f"{row['op']}[{row['layer']}]" in pbtxt, row["layer"]


def _post_json(url: str, body: dict):
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_tensorboard_serves_the_train_vs_test_layout(tensorboard):
    layout = processes.get_json(f"{tensorboard}/data/plugin/custom_scalars/layout")
    (category,) = layout["category"]
    charts = {c["title"]: c["multiline"]["tag"] for c in category["chart"]}
    assert charts == {
        "Loss (mean NLL per sample)": ["^Loss/train$", "^Loss/test$"],
        "Accuracy": ["^Accuracy/train$", "^Accuracy/test$"],
    }
    served = set(processes.get_json(f"{tensorboard}/data/plugin/scalars/tags")["."])
    for tags in charts.values():  # each regex matches exactly one logged tag
        for regex in tags:
            assert regex.strip("^$") in served


def test_tensorboard_serves_the_run_as_an_hparams_session(tensorboard, visual_run):
    history = json.loads((visual_run / "manifest.json").read_text())["training"]["history"]
    body = {
        "experimentName": "",
        "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE"],
        "colParams": [],
        "startIndex": 0,
        "sliceSize": 10,
    }
    groups = _until(
        lambda: _post_json(f"{tensorboard}/data/plugin/hparams/session_groups", body)[
            "sessionGroups"
        ]
    )
    (group,) = groups
    assert group["hparams"] == {
        "dataset": "mnist",
        "batch_size": 32,
        "test_batch_size": 50,
        "lr": 1.0,
        "gamma": 0.7,
        "seed": 1,
        "precision": "fp32",
        "epochs": EPOCHS,
        "device": "cpu",
    }
    metrics = {m["name"]["tag"]: m for m in group["metricValues"]}
    assert set(metrics) == set(tblog.FINAL_METRICS)
    for tag, field in tblog.FINAL_METRICS.items():
        assert metrics[tag]["trainingStep"] == EPOCHS
        assert metrics[tag]["value"] == pytest.approx(history[-1][field], rel=1e-6)


def test_tensorboard_serves_the_profile_tables_as_text(tensorboard, visual_run):
    tags = set(_until(lambda: processes.get_json(f"{tensorboard}/data/plugin/text/tags").get(".")))
    t = read_parquet(visual_run / "compare" / "comparison.parquet", COMPARISON_SCHEMA)[
        "threads"
    ].iloc[0]
    expected = {f"top10/cpu_fp32_t{t}_bs{bs}_{p}_self_cpu" for bs in (8, 32) for p in PHASES}
    expected |= {"comparison/batch_sizes", "comparison/summary"}
    assert tags == {f"{t}/text_summary" for t in expected}  # torch's add_text suffix

    def html(tag: str) -> str:
        (entry,) = processes.get_json(
            f"{tensorboard}/data/plugin/text/text?{_q(run='.', tag=tag + '/text_summary')}"
        )
        # TensorBoard renders the Markdown to HTML itself, inside a one-cell table of its own:
        # rows = its wrapper row + our header row + our data rows.
        return entry["text"]

    comparison = read_parquet(visual_run / "compare" / "comparison.parquet", COMPARISON_SCHEMA)
    table = html("comparison/batch_sizes")
    assert table.count("<tr>") == 2 + len(comparison) == 2 + 2 * len(PHASES)
    assert "images/s</th>" in table
    marked = unsure(comparison)  # measured while others used the cores: ⚠ after the value
    for i, r in enumerate(comparison.itertuples()):  # formatted as in the report
        cell = fmt.rate(r.images_per_s) + (f" {fmt.UNSURE}" if marked.iloc[i] else "")
        assert f">{cell}</td>" in table
    top10 = read_parquet(visual_run / "profiles" / "top10.parquet", TOP10_SCHEMA)
    first = top10[(top10["batch_size"] == 32) & (top10["phase"] == "train_step")]
    page = html(f"top10/cpu_fp32_t{t}_bs32_train_step_self_cpu")
    assert "share</th>" in page and page.count("<tr>") == 2 + len(first) == 12
    assert f"<code>{first.sort_values('rank')['op_name'].iloc[0]}</code>" in page


# --------------------------------------------------------------------------- in a browser


@pytest.mark.parametrize(
    ("page", "marker"),
    [("scalars", "Accuracy"), ("images", "Data/train_batch"), ("graphs", "Main Graph")],
)
def test_tensorboard_pages_render_in_chromium(tensorboard, visual_run, chromium, page, marker):
    _until(lambda: processes.get_json(f"{tensorboard}/data/plugin/scalars/tags").get("."))
    png = browser.screenshot(
        f"{tensorboard}/?darkMode=false#{page}",
        visual_run / "screenshots" / f"tensorboard_{page}.png",
        budget_ms=15_000,
        chromium=chromium,
    )
    im = assert_not_blank(png)
    # The orange header only exists once TensorBoard's app has rendered (not an error page).
    assert _share_near(im, TB_ORANGE) > 0.02, f"{png.name}: no TensorBoard header"


def test_tensorboard_screenshots_show_the_graphs_and_scalars_tabs(visual_run, chromium, tmp_path):
    pngs = {tab: tmp_path / f"{tab}.png" for tab in ("graphs", "scalars")}
    start = time.perf_counter()
    shots, why_not = viewer.tensorboard_screenshots(visual_run / "tensorboard", pngs)
    seconds = time.perf_counter() - start
    assert why_not == "" and shots == {tab: str(p) for tab, p in pngs.items()}
    images = {tab: assert_not_blank(Path(p)) for tab, p in shots.items()}
    for tab, im in images.items():  # TensorBoard's app rendered, not an error page
        assert _share_near(im, TB_ORANGE) > 0.02, f"{tab}: no TensorBoard header"
    # Two different pages: the graph canvas is not the scalar cards.
    assert images["graphs"].tobytes() != images["scalars"].tobytes()
    print(f"tensorboard_screenshots: {seconds:.1f} s for 2 tabs")  # the cost, shown with -s


def test_report_renders_in_chromium(visual_run, chromium):
    html = (visual_run / "report.html").resolve()
    top = browser.screenshot(
        html.as_uri(), visual_run / "screenshots" / "report.png", chromium=chromium
    )
    assert_not_blank(top)
    # A tall window takes in the network graph and the training curves: their (inlined)
    # pictures must have been decoded and drawn. (A #fragment URL does not scroll the shot.)
    png = browser.screenshot(
        html.as_uri(),
        visual_run / "screenshots" / "report_tall.png",
        size=(1400, 5000),
        chromium=chromium,
    )
    im = assert_not_blank(png)
    conv_blue = (0x9E, 0xCA, 0xE1)  # figures.OP_KINDS["conv2d"]
    # The graph is drawn at most 480 px tall (blocks.CSS keeps the report short): 0.05 % of
    # the shot is conv blue where it is drawn (0.048 % measured), none where not.
    assert _share_near(im, conv_blue, tol=6) > 0.0002, "the network graph figure is not drawn"
    train_blue, test_red = (0x1F, 0x77, 0xB4), (0xD6, 0x27, 0x28)  # figures' train/test lines
    # Figures are at most 480 px tall (blocks.CSS): the test curve is 0.003 % of the shot
    # (measured), the train curve more.
    assert _share_near(im, train_blue, tol=10) > 0.00002, "no training curve drawn"
    assert _share_near(im, test_red, tol=10) > 0.00002, "no test curve drawn"


def test_every_report_section_and_figure_renders_within_the_page(visual_run, chromium):
    """Driven over DevTools: every figure decoded, no table wider than the page (wide tables
    scroll inside themselves), and the system view's section drawn where a reader scrolls."""
    from browser import chromium_page

    html = (visual_run / "report.html").resolve()
    with chromium_page(chromium, size=(1200, 900)) as page:
        page.goto(html.as_uri())  # returns once the whole page is parsed and its images loaded
        # The first three are also the table of contents at the top; the last is only in the
        # "Where the time goes" section near the end.
        page.wait_for(
            ["Top-10 operators", "Where the time goes", "Appendix", "outside any operator"]
        )
        images = page.evaluate("[...document.images].map(i => i.complete && i.naturalWidth)")
        assert images and all(images), images  # every inlined figure decoded
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the page is {overflow} px wider than the window"
        page.evaluate("document.getElementById('where-the-time-goes').scrollIntoView()")
        shot = page.screenshot(visual_run / "screenshots" / "where_the_time_goes.png")
    assert_not_blank(shot)


def test_report_of_the_real_run_is_filled(visual_run):
    md = (visual_run / "report.md").read_text()
    assert "Not profiled" not in md
    assert "Only cpu was profiled in this run (" in md  # and says why
    assert "**cpu · " in md and "· batch 32 · inference**" in md  # the thread count named
    for png in (
        "compare/throughput.png",
        "compare/op_share.png",
        "figures/network_graph.png",
        "figures/training_curves.png",
    ):
        assert f"]({png})" in md and (visual_run / png).is_file()


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except OSError:  # the process ended while we looked
            pass
    return pids


def test_capture_screenshots_stops_what_it_starts(visual_run, chromium, tmp_path):
    # A copy, so the processes this starts name tmp_path (the module's TensorBoard runs on).
    run = tmp_path / "run"
    shutil.copytree(visual_run / "tensorboard", run / "tensorboard")
    shutil.copy(visual_run / "report.html", run / "report.html")
    shots = viewer.capture_screenshots(run, tmp_path / "shots")
    assert set(shots) == {"tensorboard_scalars", "report"}
    for path in shots.values():
        assert_not_blank(Path(path))
    # The logdir and the output folder are unique to this test: nothing may still name them.
    assert _processes_mentioning(str(tmp_path)) == []


# --------------------------------------------------------------------------- the summary


def _numbers(text: str) -> set[str]:
    """Every number a sentence shows (as lab1.fmt writes it: 1,234.5, 12.34%, 0.28×)."""
    import re

    return set(re.findall(r"\d+(?:,\d{3})*(?:\.\d+)?", text))


def _summary_text(md: str, heading: str) -> str:
    return md.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


@pytest.fixture(scope="module")
def zh_report(visual_run, tmp_path_factory) -> Path:
    """The same run's Chinese report, in a copy (the English one stays in visual_run)."""
    run = tmp_path_factory.mktemp("zh") / "run"
    shutil.copytree(visual_run, run)
    report.write_report(run, "zh")
    return run


def test_report_opens_with_the_summary_and_keeps_the_appendix_closed(
    visual_run, zh_report, chromium
):
    from browser import chromium_page

    for run, first, last in ((visual_run, "Summary", "Appendix"), (zh_report, "摘要", "附录")):
        lang = "zh" if run == zh_report else "en"  # report.zh.html beside report.html
        html = RunPaths(run).in_language(lang).report_html.resolve()
        with chromium_page(chromium, size=(1200, 900)) as page:
            page.goto(html.as_uri())
            heads = page.evaluate("[...document.querySelectorAll('h2')].map(h => h.textContent)")
            assert heads[0] == first and heads[-1] == last, heads
            # Every part of the appendix is a closed <details>, and nothing before it is.
            opened = page.evaluate("[...document.querySelectorAll('details')].map(d => d.open)")
            assert opened and not any(opened), opened
            before = page.evaluate(
                "[...document.querySelectorAll('details')].filter(d => "
                "d.compareDocumentPosition(document.querySelector('h2:last-of-type')) & 4).length"
            )
            assert before == 0
            top = page.evaluate(
                "[...document.querySelectorAll('h2')].at(-1).getBoundingClientRect().top "
                "+ window.scrollY"
            )
            assert top <= 6000, f"{first}: {top:.0f} px before the appendix"
            # Collapsed means the appendix's tables take no room until a reader opens them.
            height = page.evaluate("document.documentElement.scrollHeight")
            assert height - top < 1000, f"the closed appendix is {height - top:.0f} px tall"


def test_every_summary_number_comes_from_the_runs_tables(visual_run):
    """The summary's numbers, each found by another route: the parquet tables and the
    manifest's history, formatted as the report formats them."""
    comparison = read_parquet(visual_run / "compare" / "comparison.parquet", COMPARISON_SCHEMA)
    split = pd.read_parquet(visual_run / "compare" / "time_split.parquet")
    manifest = json.loads((visual_run / "manifest.json").read_text())
    history = manifest["training"]["history"]
    env = manifest["environment"]
    allowed = {str(EPOCHS), "32", "8", "1"}  # epochs, training batch, profiled sizes, threads
    allowed |= {str(t) for t in comparison["threads"]}
    allowed |= {fmt.count(env["vcpus"]), fmt.pct(history[-1]["test_accuracy"]).rstrip("%")}
    allowed |= {fmt.seconds(sum(h["train_seconds"] for h in history)).split()[0]}
    allowed |= {fmt.ms(x) for x in comparison["ms_per_step"]}
    allowed |= {fmt.gflops(x) for x in comparison["achieved_gflops"]}
    allowed |= {fmt.pct(x).rstrip("%") for x in comparison["share_of_peak"].dropna()}
    allowed |= {fmt.pct(x).rstrip("%") for x in split["share"]}
    allowed |= {fmt.ratio(x).rstrip("×") for x in comparison["speedup_vs_1_thread"].dropna()}
    allowed |= {fmt.pct(x).rstrip("%") for x in comparison["parallel_efficiency"].dropna()}
    allowed |= _numbers(env["cpu_model"]) | _numbers(env["machine_id"])
    # The profile against training, said where the two disagree: training's median images/s
    # after the first epoch (of the undisturbed ones where there are any), the profiler-off
    # train step's, their ratio.
    steady = [h for h in history[1:] if h.get("contended") is not True] or history[1:]
    trained = float(np.median([h["images_per_s"] for h in steady]))
    profiled = comparison[(comparison["phase"] == "train_step") & (comparison["batch_size"] == 32)][
        "images_per_s"
    ].iloc[0]
    lo, hi = PROFILED_TRAINED_BAND
    allowed |= {f"{lo:g}", f"{hi:g}", fmt.rate(trained), fmt.rate(profiled)}
    allowed |= {fmt.ratio(profiled / trained).rstrip("×")}
    summary = _summary_text((visual_run / "report.md").read_text(), "Summary")
    # On a busy machine, or where timed blocks spread widely, the summary opens with the counts
    # over every timed table (tests/unit/test_findings.py pins them from hand-made tables): its
    # numbers are its own.
    for line in summary.splitlines():
        if "Measured on a busy machine" in line or "Unsure measurements" in line:
            allowed |= _numbers(line)
    shown = _numbers(summary)
    assert len(shown) >= 6  # the run, the machine, the result and at least one finding
    assert shown <= allowed, shown - allowed


def test_en_and_zh_summaries_hold_the_same_numbers(visual_run, zh_report):
    en = _numbers(_summary_text((visual_run / "report.md").read_text(), "Summary"))
    zh_md = RunPaths(zh_report).in_language("zh").report_md
    zh = _numbers(_summary_text(zh_md.read_text(), "摘要"))
    assert en == zh, (en - zh, zh - en)
