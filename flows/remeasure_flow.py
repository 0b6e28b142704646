"""Re-measure a finished run: profile it again, as it was configured, without training again,
and rewrite its profiles, tables, manifest and reports in place.

    python flows/remeasure_flow.py RUN_DIR                  # e.g. runs/20261207-…-mnist
    python flows/remeasure_flow.py RUN_DIR --measure-tries 5 --quiet-wait-s 120

For a run whose numbers were measured while other programs used the machine (its report says
so first): run it again when the machine is quiet. The profiled configs, schedule, seed and
learning rate are the run's own (its manifest); only the profiling, the comparison and the
report are redone. The new profile is written to a sibling folder and swapped in whole at the
end, so the run is never half old, half new; an interrupted re-measure leaves it as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path

if __name__ == "__main__":  # --help and the first line at once, before the imports below
    from flows.cli import start

    sys.exit(start("remeasure", sys.argv[1:]))

import flows.settings  # noqa: F401  (before prefect: logging and telemetry settings)

# isort: split
from prefect import flow

from flows import console
from flows.bookkeeping import digest
from flows.cli import remeasure_parser
from flows.profile_flow import profile_device
from flows.server import temporary_server
from lab1 import interrupt
from lab1.atomic import rename, write_json
from lab1.config import Lab1Config
from lab1.errors import ConfigError, Interrupted, Lab1Error
from lab1.host.exclusive import device_holder
from lab1.run.manifest import Manifest, read_manifest, update_manifest
from lab1.rundir import REPORT_LANGUAGES, RunPaths
from tasks.compare import compare
from tasks.report import write_report

_DEFAULTS = {f.name: f.default for f in fields(Lab1Config)}
# What profiling writes (lab1.rundir): left out of the staged copy, measured afresh.
REMEASURED = ("profiles",)


def check_run(paths: RunPaths) -> Manifest:
    """The run's manifest, if it is a finished run that can be profiled again here now."""
    m = read_manifest(paths)
    if m.status != "completed" or m.devices is None or m.dataset is None:
        raise ConfigError(
            f"{paths.root} is not a finished run (status {m.status}): finish it first "
            f"({m.resume_command or 'python flows/lab1_flow.py --resume --run-name ' + m.run_name})"
        )
    if not Path(m.dataset.path).is_file():
        raise ConfigError(f"{paths.root}: its dataset {m.dataset.path} is gone; run it again")
    for device in m.devices.resolved:
        holder = device_holder(device)
        if holder is not None:
            raise ConfigError(f"{device} is being profiled by {holder}; re-measure when it is done")
    return m


def _staging(root: Path) -> Path:
    return root.with_name(f".{root.name}.remeasure")


def stage(root: Path) -> Path:
    """A sibling copy of the run without its profiles: files hard-linked where the file
    system allows (every lab1 write replaces a file, never edits it, so the run is untouched)."""
    staged = _staging(root)
    if staged.exists():  # a re-measure that was stopped: its half-made copy, never the run
        shutil.rmtree(staged)

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    ignore = shutil.ignore_patterns(*REMEASURED)
    shutil.copytree(root, staged, symlinks=True, ignore=ignore, copy_function=link)
    return staged


def _repath(value, old: str, new: str):
    """``value`` (JSON data) with every path under ``old`` moved under ``new``."""
    if isinstance(value, str):
        return new + value[len(old) :] if value == old or value.startswith(old + os.sep) else value
    if isinstance(value, list):
        return [_repath(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _repath(v, old, new) for k, v in value.items()}
    return value


def settle(staged: Path, root: Path) -> None:
    """Point the staged run's records at the run's own folder, then swap it in."""
    for record in [RunPaths(staged).manifest, *RunPaths(staged).profile_results()]:
        data = _repath(json.loads(record.read_text(encoding="utf-8")), str(staged), str(root))
        write_json(record, data)
    old = root.with_name(f".{root.name}.before-remeasure")
    if old.exists():
        shutil.rmtree(old)
    rename(root, old)
    rename(staged, root)
    shutil.rmtree(old)


@flow(name="lab1-remeasure")
def remeasure_run(run_dir: str, tries: int, quiet_wait_s: float) -> dict:
    """profile (every device × config the run profiled) → compare → report, into the staged
    copy ``run_dir`` of the run."""
    paths = RunPaths(run_dir)
    m = read_manifest(paths)
    cfg = m.parameters
    started = time.perf_counter()
    for device in m.devices.resolved:
        profile_device(
            run_dir=str(paths.root),
            data_path=m.dataset.path,
            dataset=cfg.dataset,
            device=device,
            batch_sizes=list(cfg.batch_sizes),
            run_id=m.run_id,
            schedule=asdict(cfg.profile_schedule),
            seed=cfg.seed,
            lr=cfg.lr,
            precisions=list(cfg.precisions_to_profile),
            refresh=True,
            cpu_threads=list(cfg.cpu_threads),
            ladder=list(cfg.ladder),
            tries=tries,
            quiet_wait_s=quiet_wait_s,
        )
    comparison = compare.with_options(refresh_cache=True)(run_dir=str(paths.root), run_id=m.run_id)
    update_manifest(paths, comparison=comparison)
    # Every language the run has a report in: the ones it asked for, and any added since
    # (flows/report_flow.py), so no report keeps the old numbers.
    langs = [
        lang
        for lang in REPORT_LANGUAGES
        if lang in cfg.report_langs or paths.in_language(lang).report_md.is_file()
    ]
    upstream = digest(comparison, time.time())
    reports = {
        lang: write_report.with_options(refresh_cache=True)(
            run_dir=str(paths.root), upstream=upstream, lang=lang, paper=cfg.paper
        )
        for lang in langs
    }
    report = reports[cfg.report_langs[0]]
    timings = {**m.timings, "remeasure": round(time.perf_counter() - started, 3)}
    update_manifest(paths, report=report, timings=timings)
    return report


def main(argv: list[str] | None = None) -> int:
    args = remeasure_parser().parse_args(argv)
    root = Path(args.run_dir).expanduser().resolve()
    console.install()
    try:
        m = check_run(RunPaths(root))
        cfg = Lab1Config(
            **{
                **m.parameters.to_dict(),
                **{k: v for k, v in vars(args).items() if k in _DEFAULTS and v is not None},
            }
        )
    except Lab1Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    staged = None
    try:
        with interrupt.handling():
            staged = stage(root)
            with temporary_server():
                report = remeasure_run(str(staged), cfg.measure_tries, cfg.quiet_wait_s)
            settle(staged, root)
    except (Interrupted, Lab1Error) as exc:
        if staged is not None and staged.exists():
            shutil.rmtree(staged)
        print(f"error: {exc}; {root} is as it was", file=sys.stderr)
        return exc.exit_code if isinstance(exc, Interrupted) else 1
    print(f"re-measured: {root}")
    print(f"report: {Path(report['report_html'].replace(str(staged), str(root)))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
