"""The lab on the machines a class brings, described to lab1 through its one seam
(lab1.host.machine, LAB1_MACHINE; tests/machines.py): an Intel laptop without AVX-512, an AMD
laptop, a Mac without /proc, a Xeon with AMX and an EPYC with AVX512-BF16. For each, a real
tiny run measured here as that machine: its environment table and labels in English and
Chinese, its Chinese figures, its machine id; and two of them compared by the compare flow.
Every expectation comes from the description, worked out here by another route."""

from __future__ import annotations

import hashlib
from pathlib import Path

import matplotlib.text
import pytest
from machines import LAPTOPS_AND_SERVERS, MACHINES, native_bf16
from rundirs import profiled_run
from test_report_zh import _cjk_font_or_skip
from test_system_view import names_in, untranslated

from lab1 import figures
from lab1.config import ProfileSchedule
from lab1.host.machine import ENV_VAR
from lab1.report import write_report
from lab1.run.manifest import read_manifest, update_manifest
from lab1.schemas import CROSS_COMPARISON_SCHEMA, SCHEMAS, read_parquet

SMALL = ProfileSchedule(wait=0, warmup=1, active=1, throughput_steps=2)
GIB = 2**30


def expected_id(name: str) -> str:
    """The machine id by hand: 12 hex digits of the SHA-256 of CPU, cores, GPUs, host."""
    m = MACHINES[name]
    gpus = ",".join(sorted(g.name for g in m.gpus))
    text = f"{m.cpu_model}\n{m.logical_cores}\n{gpus}\n{m.hostname}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Per machine: a real run (cpu, batch 4, 1 thread) made while lab1 sees that machine,
    its reports in both languages, and every text drawn on the Chinese figures."""
    _cjk_font_or_skip()
    root = tmp_path_factory.mktemp("machines")
    out = {}
    for name in LAPTOPS_AND_SERVERS:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(ENV_VAR, MACHINES[name].to_json())
            paths = profiled_run(root / name, [("cpu", 4, 1)], SMALL, name=name)
            update_manifest(
                paths, status="completed", devices={"resolved": ["cpu"], "training": "cpu"}
            )
            drawn: dict[str, list[str]] = {}
            save = figures._save

            def spy(fig, path, drawn=drawn, save=save):
                texts = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
                drawn[Path(path).stem] = [t for t in texts if t.strip()]
                return save(fig, path)

            mp.setattr(figures, "_save", spy)
            write_report(paths.root, lang="zh")
            zh = paths.in_language("zh").report_md.read_text()
            mp.undo()
            write_report(paths.root, lang="en")
        out[name] = {"paths": paths, "zh": zh, "en": paths.report_md.read_text(), "drawn": drawn}
    return out


@pytest.mark.parametrize("name", LAPTOPS_AND_SERVERS)
def test_the_run_records_the_described_machine_and_its_id(built, name):
    m, paths = MACHINES[name], built[name]["paths"]
    env = read_manifest(paths).environment
    assert (env.cpu_model, env.vcpus, env.memory_bytes) == (
        m.cpu_model,
        m.logical_cores,
        m.memory_bytes,
    )
    assert env.described is True and env.machine_id == expected_id(name)
    cmp = read_parquet(paths.table("comparison"), SCHEMAS["comparison"])
    assert set(cmp["machine_id"]) == {expected_id(name)}
    assert set(cmp["device_name"]) == {m.cpu_model}
    # Without /proc (the Mac) the flags and other processes' CPU time are unknown, not "none".
    assert ("cpu_flags" in env.unmeasured) == (not m.linux_proc)
    assert cmp["contended"].isna().all() == (not m.linux_proc)


def test_the_machine_ids_differ_between_machines(built):
    ids = {read_manifest(built[n]["paths"]).environment.machine_id for n in LAPTOPS_AND_SERVERS}
    assert len(ids) == len(LAPTOPS_AND_SERVERS)


@pytest.mark.parametrize("name", LAPTOPS_AND_SERVERS)
def test_the_environment_table_names_the_machine_in_both_languages(built, name):
    m, en, zh = MACHINES[name], built[name]["en"], built[name]["zh"]
    memory = f"{m.memory_bytes / GIB:.1f} GiB"
    assert f"| CPU | {m.cpu_model} ({m.logical_cores} vCPUs; torch uses " in en
    assert f"| memory | {memory} |" in en
    assert f"| CPU（vCPU数目） | {m.cpu_model}（{m.logical_cores} 个 vCPU；torch 使用 " in zh
    assert f"| 内存 | {memory} |" in zh
    host = f"{m.hostname} (id `{expected_id(name)}`)"
    assert host in en and f"{m.hostname} (标识 `{expected_id(name)}`)" in zh
    # The table is the description's, and each report says so once.
    assert en.count("This machine was described by LAB1_MACHINE") == 1
    assert zh.count("本机由 LAB1_MACHINE 描述") == 1
    # bf16: the Mac's undetermined flags are said; a laptop that has flags gets no such note.
    note = next((ln for ln in en.splitlines() if "Not measured on this system" in ln), "")
    assert ("whether it has native bf16" in note) == (native_bf16(m) is None)


@pytest.mark.parametrize("name", LAPTOPS_AND_SERVERS)
def test_the_chinese_figures_name_the_machine_and_nothing_else_in_english(built, name):
    drawn, paths = built[name]["drawn"], built[name]["paths"]
    assert "throughput_vs_batch" in drawn
    names = names_in(paths)
    for figure, texts in drawn.items():
        assert not untranslated(texts, names), (figure, untranslated(texts, names))
    # The throughput panels are titled with the device and its model, as the run named it.
    assert any(MACHINES[name].cpu_model in t for t in drawn["throughput_vs_batch"])


def test_two_described_machines_compared_by_the_flow(built, prefect_harness, tmp_path):
    """An Intel laptop and a Mac, compared as a teaching assistant would: each run's rows
    keep their machine; the speed-up over the baseline is the ratio of their own tables."""
    from flows.compare_flow import compare_flow

    a, b = built["intel-laptop"]["paths"], built["apple-m2-pro"]["paths"]
    out = compare_flow(runs=[str(a.root), str(b.root)], runs_dir=str(tmp_path), name="ab")
    cmp = read_parquet(Path(out["out"]) / "comparison.parquet", CROSS_COMPARISON_SCHEMA)
    assert set(cmp["machine_id"]) == {expected_id("intel-laptop"), expected_id("apple-m2-pro")}
    own = {
        n: read_parquet(p.table("comparison"), SCHEMAS["comparison"]).set_index("phase")
        for n, p in (("a", a), ("b", b))
    }
    rows = cmp[cmp["machine_id"] == expected_id("apple-m2-pro")].set_index("phase")
    for phase in ("train_step", "inference"):
        ratio = own["b"].loc[phase, "images_per_s"] / own["a"].loc[phase, "images_per_s"]
        assert rows.loc[phase, "speedup_vs_baseline"] == pytest.approx(ratio)
    md = Path(out["report_md"]).read_text()
    for name in ("intel-laptop", "apple-m2-pro"):
        assert MACHINES[name].cpu_model in md and expected_id(name) in md
