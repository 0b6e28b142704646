"""The Chinese report's environment (hardware, software, dataset) is Chinese: once the
machine's own strings (CPU, OS, kernel, GPU model, host name, package names) are taken out,
every Latin word left is a unit or a product's name, on a host without a GPU, on one with a
GPU, and on a machine described by LAB1_MACHINE with nothing measured."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import pytest

from lab1.host.environment import UNMEASURED
from lab1.report import zh_report
from lab1.report.blocks import to_markdown
from lab1.run.reader import read_run

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "run-main-1ae2276"
# Units, products and the course template's own words: never a sentence.
NAMES = {"CPU", "GPU", "vCPU", "torch", "PyTorch", "Python", "python", "OS", "CUDA", "cuDNN"}
NAMES |= {"GiB", "MiB", "KiB", "MNIST", "mnist", "bf"}  # bf16
# What the notes on an unmeasured machine name: files, a library, a device, a variable.
NAMES |= {"Linux", "proc", "cpuinfo", "stat", "glibc", "keep_heap_mapped", "mps", "MPS"}
NAMES |= {"profiler", "LAB", "MACHINE"}  # torch.profiler, LAB1_MACHINE
GPU = {"name": "NVIDIA H100 80GB HBM3", "memory_bytes": 85_520_809_984, "capability": "9.0"}
HOSTS = {
    "no-gpu": {},  # the fixture: a CPU host, torch built for CUDA 13.0
    "gpu": {"gpus": [GPU], "gpu_count": 1, "gpu_models": [GPU["name"]], "cuda_available": True},
    "described": {"described": True, "unmeasured": list(UNMEASURED)},
}


@pytest.mark.parametrize("host", HOSTS)
def test_the_zh_environment_has_no_english_outside_names_and_units(host, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    manifest = json.loads((run / "manifest.json").read_text())
    env = manifest["environment"] | HOSTS[host]
    manifest["environment"] = env
    (run / "manifest.json").write_text(json.dumps(manifest))
    # The section as the Chinese report builds it (zh_report.build_sections), without drawing
    # the report's figures.
    d = read_run(run)
    md = to_markdown("t", [zh_report.environment_section(d)], d.paths.root)
    section = md.split("\n## 实验环境\n", 1)[1].split("\n## ", 1)[0]
    # code (identifiers) is not prose; a run's strings are written with entities (x86&#95;64)
    text = html.unescape(re.sub(r"`[^`]*`", "", section))
    own = [env["cpu_model"], env["os"], env["kernel"], env["machine"], env["hostname"]]
    own += [g["name"] for g in env["gpus"]] + list(env["packages"])
    own += [manifest["dataset"]["source"], manifest["dataset"]["name"]]
    for name in sorted(own, key=len, reverse=True):  # torchvision before torch
        text = text.replace(name, "")
    words = set(re.findall(r"[A-Za-z][A-Za-z_]*", text))
    assert words <= NAMES, " ".join(sorted(words - NAMES))
    if host == "gpu":
        assert "（1 块）" in section  # the GPU is counted, in Chinese
