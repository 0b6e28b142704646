"""Runs as students hand them in, for the pack, checks and class-view tests: make_run's
synthetic-but-real run directories (the real compare step and report), with the compare
step's record in the manifest as the flow leaves it (tasks/compare.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
from test_report import ENV, make_run

from lab1.compare.within import combine_and_compare
from lab1.report import write_report
from lab1.run.manifest import read_manifest, update_manifest
from lab1.rundir import RunPaths
from lab1.schemas import LIMITS_SCHEMA, write_parquet


def handed_in_run(run_dir: Path, *, env: dict | None = None, lang: str = "en", **kw) -> Path:
    """A completed run directory as the flow leaves it: profiled, compared (the manifest keeps
    the tables' record), reported. Its training ran as the profiled config at the training
    device's thread count, at the profiled train step's images/s (make_run's synthetic history
    and execution do not: a real run's agree within a few per cent)."""
    make_run(run_dir, env=env or ENV, **kw)
    paths = RunPaths(run_dir)
    m = read_manifest(paths)
    cmp = pd.read_parquet(combine_and_compare(paths, m.run_id)["tables"]["comparison"])
    write_limits(paths, cmp)
    result = combine_and_compare(paths, m.run_id)  # again, with the limits
    tr = m.training
    at = cmp[
        (cmp.device == tr.execution.device)
        & (cmp.batch_size == m.parameters.batch_size)
        & (cmp.phase == "train_step")
    ].iloc[0]
    execution = dataclasses.replace(tr.execution, threads=int(at.threads))
    history = [dataclasses.replace(h, images_per_s=float(at.images_per_s)) for h in tr.history]
    update_manifest(
        paths,
        comparison={**result, "summary": "", "top10_markdown": ""},
        training=dataclasses.replace(tr, execution=execution, history=history),
    )
    write_report(run_dir, lang)
    return run_dir


def write_limits(paths: RunPaths, cmp: pd.DataFrame) -> None:
    """The machine's limits as a real run measures them, once per device × threads: an fp32
    matmul peak ten times the fastest row's model GFLOP/s (a step runs far under the peak)."""
    claimed = cmp.images_per_s * cmp.model_gflop_per_step / cmp.batch_size
    for (device, threads), rows in cmp.assign(claimed=claimed).groupby(["device", "threads"]):
        r = rows.iloc[0]
        row = {
            "run_id": r.run_id,
            "machine_id": r.machine_id,
            "device": device,
            "device_name": r.device_name,
            "threads": int(threads),
            "dtype": "float32",
            "what": "matmul_peak",
            "value": 10 * float(rows.claimed.max()),
            "unit": "GFLOP/s",
            "note": "synthetic",
            "contended": False,
            "other_cores": 0.0,
            "timing_spread": 0.01,
            "attempts": 1,
            "reliable": True,
        }
        write_parquet(pd.DataFrame([row]), LIMITS_SCHEMA, paths.limits_part(device, int(threads)))


def repack(src: Path, dst: Path, *, manifest=None, change: dict | None = None, drop=()) -> Path:
    """A copy of a pack as a hostile student would make it: ``manifest`` (dict → dict, or
    → str for raw JSON text) and ``change`` (member → bytes → bytes) applied, ``drop``ped
    members removed, and pack.json's SHA-256 list redone to match, so that only what was
    changed on purpose is wrong."""
    import hashlib
    import json
    import zipfile

    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    for name in drop:
        members.pop(name)
    if manifest is not None:
        new = manifest(json.loads(members["manifest.json"]))
        members["manifest.json"] = (new if isinstance(new, str) else json.dumps(new)).encode()
    for name, fn in (change or {}).items():  # a member the pack lacks is added (from b"")
        members[name] = fn(members.get(name, b""))
    index = json.loads(members.pop("pack.json"))
    index["files"] = {
        n: {**index["files"].get(n, {}), "sha256": hashlib.sha256(data).hexdigest()}
        for n, data in members.items()
    }
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("pack.json", json.dumps(index))
        for n, data in members.items():
            z.writestr(n, data)
    return dst
