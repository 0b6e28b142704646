"""report.pdf and the report's print rules, read back from the printed PDF's own text.

Two runs are printed, each once per language and paper (module-scoped: one print each): a tiny
real run of the default shape (a dry run's training, profiled at batch 1, 16, 64 at 1 thread
and at every thread, with the machine's limits and the step ladder: every section a default
run has) and the widest report there is (make_run: a CPU and a GPU, fp32 and bf16). Each is
also printed as a browser prints report.html itself, on the browser's own paper.
"""

from __future__ import annotations

import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from browser import chromium_or_skip
from conftest import small_recipe, write_mnist_layout
from pdftext import (
    PAGE_POINTS,
    appendix_page,
    body_lines,
    image_widths,
    missing_words,
    page_sizes,
    page_texts,
    unembedded_fonts,
)
from rundirs import start_run
from test_report import make_run, md_tables

from lab1.atomic import write_json
from lab1.compare.within import combine_and_compare
from lab1.config import DRY_RUN_LADDER, DRY_RUN_SCHEDULE
from lab1.host.environment import capture_environment
from lab1.measure.limits import measure_limits
from lab1.measure.profiling import profile_config
from lab1.measure.stepmodel import time_ladder
from lab1.report import browser, write_report
from lab1.report.pdf import print_pdf, write_pdf
from lab1.run import data, graph
from lab1.run.manifest import read_manifest, update_manifest
from lab1.run.train import train_and_log
from lab1.rundir import RunPaths
from lab1.schemas import LIMITS_SCHEMA, STEP_TIMES_SCHEMA, write_parquet

pytestmark = pytest.mark.slow

MAX_PAGES = 6  # before the appendix
PAPERS = ("a4", "letter")
LANGS = ("en", "zh")
# A default run directory is ~36.1 MB (README, "The size of a run") and must stay under 40.
MAX_PDF_BYTES = 2_000_000


@pytest.fixture(scope="module")
def chromium() -> str:
    return chromium_or_skip()


def _default_shaped_run(root: Path) -> Path:
    """A real run with every part a default run has, at test size (as the flow makes it)."""
    write_mnist_layout(root / "datasets")
    threads = sorted({1, len(os.sched_getaffinity(0))})  # --cpu-threads 1 all
    run = start_run(
        root / "runs" / "default-shaped",
        parameters={"dry_run": True, "batch_size": 64, "batch_sizes": [1, 16, 64]},
        devices={"resolved": ["cpu"], "training": "cpu"},
        environment=capture_environment(),
    )
    info = data.prepare_dataset("mnist", root / "datasets", run.data)
    g = graph.export_graph(info.path, "mnist", "cpu", run)
    recipe = small_recipe(info.checksum, 64, 50)
    trained = train_and_log(info.path, "cpu", run.tensorboard, run.checkpoints, recipe, 2, 10, 3, 1)
    for n in threads:
        write_parquet(measure_limits("cpu", n, "run"), LIMITS_SCHEMA, run.limits_part("cpu", n))
        for bs in (1, 16, 64):
            result = profile_config(
                info.path,
                "mnist",
                "cpu",
                bs,
                run,
                "run",
                DRY_RUN_SCHEDULE,
                seed=1,
                lr=1.0,
                threads=n,
            )
            write_json(run.profile_result("cpu", "fp32", bs, n), result)
    rows = time_ladder(
        info.path, "mnist", "cpu", max(threads), "run", seed=1, lr=1.0, sizes=DRY_RUN_LADDER
    )
    write_parquet(rows, STEP_TIMES_SCHEMA, run.ladder_part("cpu", max(threads)))
    combine_and_compare(run, "run")
    results = {k: trained[k] for k in ("test_accuracy", "test_loss", "epochs_completed")}
    update_manifest(run, dataset=info.to_dict(), graph=g, training=trained, results=results)
    return run.root


@pytest.fixture(scope="module")
def printed(tmp_path_factory, chromium) -> dict:
    """(run, lang, paper) → (the run, its report.md, the PDF); paper ``browser``: report.html
    printed as it is, on the browser's default paper (en only)."""
    root = tmp_path_factory.mktemp("pdf")
    runs = {
        "default": _default_shaped_run(root / "default"),
        "wide": make_run(root / "wide", devices=("cpu", "cuda"), precisions=("fp32", "bf16")),
    }
    jobs = {}  # (run, lang, paper) → (the run, report.md, its report.html kept aside)
    for name, run in runs.items():
        for lang in LANGS:
            paths = write_report(run, lang)
            md = Path(paths["report_md"]).read_text(encoding="utf-8")
            html = shutil.copy(paths["report_html"], root / f"{name}_{lang}.html")
            for paper in (*PAPERS, "browser") if lang == "en" else PAPERS:
                jobs[name, lang, paper] = run, md, Path(html)

    def pdf(key: tuple) -> Path:
        out = root / ("_".join(key) + ".pdf")
        if key[2] == "browser":
            return print_pdf(jobs[key][2], out, None)
        return write_pdf(jobs[key][2], out, key[2])

    with ThreadPoolExecutor(2) as pool:  # two browsers at a time: one per core
        printed = dict(zip(jobs, pool.map(pdf, jobs), strict=True))
    return {key: (run, md, printed[key]) for key, (run, md, _) in jobs.items()}


PRINTS = [(r, lang, p) for r in ("default", "wide") for lang in LANGS for p in PAPERS]
ALL_PRINTS = [*PRINTS, ("default", "en", "browser"), ("wide", "en", "browser")]


def _main_part(md: str, lang: str) -> str:
    return md.split("\n## " + {"en": "Appendix", "zh": "附录"}[lang] + "\n")[0]


@pytest.mark.parametrize("key", PRINTS, ids="-".join)
def test_every_figure_prints_at_the_size_it_was_drawn(printed, key):
    """No page is shrunk to fit: a table wider than the page made Chromium scale every page
    down (to 88 %: figures' 7.5 pt text printed at 6.6 pt). Each figure's pixels per inch on
    the paper are the dpi its PNG was saved at."""
    from PIL import Image

    run, _, pdf = printed[key]
    folder = run / ("figures" if key[1] == "en" else "figures.zh")
    (dpi,) = {round(Image.open(png).info["dpi"][0]) for png in folder.glob("*.png")}
    drawn = image_widths(pdf)
    assert drawn
    ppi = [round(pixels / (points / 72), 1) for _, pixels, points in drawn]
    assert all(abs(p - dpi) <= 0.01 * dpi for p in ppi), (dpi, ppi)


@pytest.mark.parametrize("key", PRINTS, ids="-".join)
def test_every_page_is_the_chosen_paper(printed, key):
    _, _, pdf = printed[key]
    ((w, h),) = page_sizes(pdf)
    assert (w, h) == pytest.approx(PAGE_POINTS[key[2]], abs=1.0)


@pytest.mark.parametrize("key", ALL_PRINTS, ids="-".join)
def test_at_most_six_pages_then_the_appendix_on_a_new_page(printed, key):
    run, _, pdf = printed[key]
    texts = page_texts(pdf)
    first = appendix_page(texts, key[1], run.name)
    assert first <= MAX_PAGES, f"{first} pages before the appendix"


@pytest.mark.parametrize("key", ALL_PRINTS, ids="-".join)
def test_every_word_and_column_of_the_main_part_is_on_the_paper(printed, key):
    run, md, pdf = printed[key]
    texts = page_texts(pdf)
    before = "\n".join(texts[: appendix_page(texts, key[1], run.name)])
    main = _main_part(md, key[1])
    assert len(md_tables(main)) >= 5
    assert not missing_words(before, main)


@pytest.mark.parametrize("key", ALL_PRINTS, ids="-".join)
def test_the_appendix_prints_open(printed, key):
    """Each collapsed part's tables are on the paper, not only its title."""
    run, md, pdf = printed[key]
    texts = page_texts(pdf)
    after = "\n".join(texts[appendix_page(texts, key[1], run.name) :])
    appendix = md[len(_main_part(md, key[1])) :]
    assert len(md_tables(appendix)) >= 5
    parts = re.sub(r"</?details[^>]*>|</?summary>", "\n", appendix)
    assert not missing_words(after, parts)


@pytest.mark.parametrize("key", PRINTS, ids="-".join)
def test_page_one_has_the_test_accuracy_and_every_page_its_footer(printed, key):
    run, _, pdf = printed[key]
    texts = page_texts(pdf)
    accuracy = read_manifest(RunPaths(run)).results.test_accuracy
    assert f"{100 * accuracy:.2f}%" in texts[0]
    for n, text in enumerate(texts, start=1):
        footer = [line for line in text.splitlines() if line not in body_lines(text, run.name)]
        assert footer == [f"{n} / {len(texts)}{run.name}"], (n, footer)


@pytest.mark.parametrize("key", PRINTS, ids="-".join)
def test_every_font_is_embedded(printed, key):
    _, _, pdf = printed[key]
    assert unembedded_fonts(pdf) == []
    if key[1] == "zh":  # the CJK glyphs are there as text a reader can search
        assert "实验环境" in "".join(page_texts(pdf))


def test_a_default_run_report_pdf_is_small(printed):
    """The run directory's 40 MB budget (README): the PDF of a default-shaped run."""
    sizes = {k: pdf.stat().st_size for k, (_, _, pdf) in printed.items() if k[0] == "default"}
    assert max(sizes.values()) < MAX_PDF_BYTES, sizes


def test_report_pdf_is_written_beside_the_report_by_the_task(tmp_path, prefect_harness):
    """The report task's own report.pdf, on Letter; the HTML and Markdown beside it."""
    from prefect import flow

    from tasks.report import write_report as report_task

    run = make_run(tmp_path / "run-task", devices=("cpu",))

    @flow
    def report() -> dict:
        return report_task.with_options(refresh_cache=True)(run_dir=str(run), paper="letter")

    paths = report()
    assert paths["report_pdf"] == str(run / "report.pdf")
    ((w, h),) = page_sizes(run / "report.pdf")
    assert (w, h) == pytest.approx(PAGE_POINTS["letter"], abs=1.0)
    assert sorted(p.name for p in run.glob("report.*")) == [
        "report.html",
        "report.md",
        "report.pdf",
    ]


def test_without_a_browser_the_report_task_succeeds_and_says_so_once(
    tmp_path, prefect_harness, monkeypatch, caplog
):
    from prefect import flow

    from tasks.report import write_report as report_task

    monkeypatch.setenv(browser.BROWSER_ENV, str(tmp_path / "no-such-browser"))
    run = make_run(tmp_path / "run-nobrowser", devices=("cpu",))

    @flow
    def report() -> dict:
        return report_task.with_options(refresh_cache=True)(run_dir=str(run))

    paths = report()
    assert paths["report_pdf"] is None and Path(paths["report_html"]).is_file()
    assert not (run / "report.pdf").exists() and not list(run.glob(".report.pdf*"))
    said = [r.getMessage() for r in caplog.records if "report.pdf" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("no report.pdf: no Chromium"), said


def test_a_failing_browser_leaves_no_half_written_pdf(tmp_path):
    fake = tmp_path / "browser.sh"
    fake.write_text("#!/bin/sh\necho 'it broke' >&2\nexit 3\n")
    fake.chmod(0o755)
    html = tmp_path / "r.html"
    html.write_text("<html><head></head><body>x</body></html>")
    with pytest.raises(RuntimeError, match="printed no PDF: it broke"):
        print_pdf(html, tmp_path / "r.pdf", browser=str(fake))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["browser.sh", "r.html"]
