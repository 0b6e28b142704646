"""The Lab 1 pipeline as a Prefect flow, and its command line.

    python flows/lab1_flow.py --help
    python flows/lab1_flow.py --offline --dry-run      # under a minute: the smoke test

The flow only orchestrates: every step is a task in ``tasks/`` over a function in ``lab1/``;
tasks exchange file paths and small dicts, never models or tensors.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, fields
from pathlib import Path

if __name__ == "__main__":  # --help and the first line at once, before the imports below
    from flows.cli import start

    sys.exit(start("run", sys.argv[1:]))

import flows.settings  # noqa: F401  (before prefect: logging and telemetry settings)

# isort: split
from prefect import flow, get_run_logger
from prefect.deployments import run_deployment
from prefect.runtime import flow_run

from flows import console
from flows.bookkeeping import RunBook, digest, resume_command
from flows.cli import run_parser
from flows.preflight import preflight
from flows.profile_flow import profile_device
from flows.server import temporary_server
from lab1 import interrupt
from lab1.config import Lab1Config
from lab1.errors import DiskError, Interrupted, Lab1Error, ManifestError
from lab1.host.devices import traits
from lab1.report.viewer import open_report, tensorboard_command
from lab1.run.manifest import read_manifest
from lab1.run.train import Recipe
from lab1.rundir import RunPaths
from lab1.store import MAX_FETCH_BYTES, StoreError, local_runs_dir
from tasks.compare import compare
from tasks.download_data import download_data
from tasks.export_graph import export_graph
from tasks.report import write_report
from tasks.screenshots import screenshot_tensorboard
from tasks.train_and_log import train_and_log

# The flow's parameter defaults are read from the one config dataclass, never restated.
_F = {f.name: f for f in fields(Lab1Config)}
# Deployments of flows/profile_flow.py declared in prefect.yaml, one per work pool.
DEPLOYMENTS = {"cpu": "lab1-profile-device/profile-cpu", "gpu": "lab1-profile-device/profile-gpu"}


def _default(name: str):
    return _F[name].default


@flow(name="lab1")
def lab1_pipeline(
    dataset: str = _default("dataset"),
    data_dir: str | None = _default("data_dir"),
    offline: bool = _default("offline"),
    epochs: int = _default("epochs"),
    batch_size: int = _default("batch_size"),
    test_batch_size: int = _default("test_batch_size"),
    lr: float = _default("lr"),
    gamma: float = _default("gamma"),
    seed: int = _default("seed"),
    log_interval: int = _default("log_interval"),
    precision: str = _default("precision"),
    cuda_graph: bool = _default("cuda_graph"),
    keep_checkpoints: int = _default("keep_checkpoints"),
    devices: tuple[str, ...] = _default("devices"),
    batch_sizes: tuple[int, ...] = _default("batch_sizes"),
    cpu_threads: tuple[str, ...] = _default("cpu_threads"),
    profile_precisions: tuple[str, ...] = _default("profile_precisions"),
    dispatch: str = _default("dispatch"),
    measure_tries: int = _default("measure_tries"),
    quiet_wait_s: float = _default("quiet_wait_s"),
    report_lang: str = _default("report_lang"),
    paper: str = _default("paper"),
    tensorboard_screenshots: bool = _default("tensorboard_screenshots"),
    runs_dir: str = _default("runs_dir"),
    run_name: str | None = _default("run_name"),
    resume: bool = _default("resume"),
    dry_run: bool = _default("dry_run"),
) -> dict:
    """download-data → export-graph → train-and-log → profile (devices × batch sizes) →
    compare → report, all into <runs_dir>/<run_name>/."""
    if run_name is None:
        # Started from a deployment or the UI: name the run after the flow run, so that a
        # retry of the same flow run finds (and resumes) the same directory.
        run_name = f"{flow_run.name}-{str(flow_run.id)[:8]}"
    cfg = Lab1Config(**{k: v for k, v in locals().items() if k in _F})
    # A retry of this flow run (UI button, or flow retries) continues the same run directory.
    book = RunBook.open(cfg, resuming=cfg.resume or flow_run.run_count > 1)
    book.stages = stages(cfg)
    # Again inside the flow: the engine has put its own SIGTERM handler in place.
    with interrupt.handling(), console.run_log(book.paths.run_log), book.failing_on_error():
        data = book.step(
            "download-data",
            download_data,
            dataset=cfg.dataset,
            data_dir=cfg.data_dir,
            offline=cfg.offline,
            out_dir=str(book.paths.data),
        )
        book.record(dataset=data)
        graph = book.step(
            "export-graph",
            export_graph,
            data_path=data["path"],
            dataset=cfg.dataset,
            device=book.device,
            run_dir=str(book.paths.root),
        )
        trained = book.step("train-and-log", train_and_log, **_training_args(cfg, book, data))
        results = {k: trained[k] for k in ("test_accuracy", "test_loss", "epochs_completed")}
        book.record(graph=graph, training=trained, results=results)
        book.timed("profile", _profile_all, cfg, book, data["path"])
        comparison = book.step("compare", compare, run_dir=str(book.paths.root), run_id=book.run_id)
        book.record(comparison=comparison)
        if cfg.tensorboard_screenshots:
            _screenshots(book)
        # The report's appendix shows the run's status and finish time: final before it is
        # written (a report that then fails is recorded by failing_on_error as failed).
        book.complete()
        reports = {
            lang: book.step(
                report_step(i, lang),
                write_report,
                run_dir=str(book.paths.root),
                upstream=digest(data, graph, trained, comparison),
                lang=lang,
                paper=cfg.paper,
            )
            for i, lang in enumerate(cfg.report_langs)
        }
    report = reports[cfg.report_langs[0]]
    book.record(report=report)
    book.push()  # the manifest's last change: the store's copy is the local one
    return {
        "run_dir": str(book.paths.root),
        "store": book.mirror.url if book.mirror else None,
        "push_error": book.push_error,
        "push_again": book.push_again,
        "tensorboard": str(book.paths.tensorboard),
        "report": report["report_html"],
        "report_pdf": report.get("report_pdf"),
        "reports": reports,
        **results,
    }


def report_step(i: int, lang: str) -> str:
    """The report step of the i-th language asked for: ``report``, then ``report-zh`` …"""
    return "report" if i == 0 else f"report-{lang}"


def stages(cfg: Lab1Config) -> tuple[str, ...]:
    """The steps this run takes, in order (the terminal counts them: ``[3/6]``)."""
    shots = ("tensorboard-screenshots",) if cfg.tensorboard_screenshots else ()
    reports = tuple(report_step(i, lang) for i, lang in enumerate(cfg.report_langs))
    return (
        "download-data",
        "export-graph",
        "train-and-log",
        "profile",
        "compare",
        *shots,
        *reports,
    )


def _screenshots(book: RunBook) -> None:
    shots = book.step(
        "tensorboard-screenshots",
        screenshot_tensorboard,
        run_dir=str(book.paths.root),
    )
    book.record(screenshots=shots)


def _training_args(cfg: Lab1Config, book: RunBook, data: dict) -> dict:
    recipe = Recipe.from_config(cfg, data["checksum"])
    return {
        "data_path": data["path"],
        "device": book.device,
        "tb_dir": str(book.paths.tensorboard),
        "ckpt_dir": str(book.paths.checkpoints),
        "recipe": asdict(recipe),
        "epochs": cfg.effective_epochs,
        "log_interval": cfg.log_interval,
        "max_train_batches": cfg.train_batches_limit,
        "max_test_batches": cfg.test_batches_limit,
        "cuda_graph": cfg.cuda_graph,
        "keep_checkpoints": cfg.keep_checkpoints,
        "weights_path": str(book.paths.model_weights),
    }


def _profile_all(cfg: Lab1Config, book: RunBook, data_path: str) -> None:
    """Every device × precision × batch size, with the run's seed, learning rate and
    schedule."""
    profile_args = {
        "run_dir": str(book.paths.root),
        "data_path": data_path,
        "dataset": cfg.dataset,
        "batch_sizes": list(cfg.batch_sizes),
        "precisions": list(cfg.precisions_to_profile),
        "run_id": book.run_id,
        "schedule": asdict(cfg.profile_schedule),
        "seed": cfg.seed,
        "lr": cfg.lr,
        "refresh": not book.resuming,
        "cpu_threads": list(cfg.cpu_threads),
        "ladder": list(cfg.ladder),
        "tries": cfg.measure_tries,
        "quiet_wait_s": cfg.quiet_wait_s,
    }
    if cfg.dispatch == "deployments" and book.mirror is not None:
        _dispatch_through_store(cfg, book, profile_args)
        return
    if cfg.dispatch == "deployments":
        _dispatch_profiling(book.devices, cfg.devices == ("auto",), profile_args)
        return
    # In one process the profiler is exclusive (torch allows one active profiler per
    # process), so devices take turns here; --dispatch deployments runs them in parallel.
    for dev in book.devices:
        profile_device(device=dev, **profile_args)


def _dispatch_through_store(cfg: Lab1Config, book: RunBook, profile_args: dict) -> None:
    """Workers that share no disk with this run: they get the run's place in the store and the
    dataset's path within the run, pull what they read, and push their tables and traces
    there (flows/profile_flow.py); what they pushed is pulled back here for compare."""
    book.push()
    if book.push_error:  # the workers would find no dataset to profile with
        raise StoreError(f"{book.push_error}; the profiling workers read the run from the store")
    root = book.paths.root
    data_path = book.paths.relative(profile_args["data_path"])
    _dispatch_profiling(
        book.devices,
        cfg.devices == ("auto",),
        {**profile_args, "run_dir": book.mirror.url, "data_path": data_path},
    )
    pulled = book.mirror.pull(("profiles/",), MAX_FETCH_BYTES)
    get_run_logger().info("%d profile files of the workers pulled into %s", len(pulled), root)


def _dispatch_profiling(devices: list[str], auto: bool, profile_args: dict) -> None:
    """Send each device's profiling to its deployment and wait for all of them.

    CPU configs go to the CPU pool, every GPU to the GPU pool; they run in parallel on their
    own workers. Under ``auto`` the GPU half is attempted even when this machine has no GPU
    (the GPU worker may), and it is skipped there rather than failed if it has none either.
    """
    targets = {d: d for d in devices}
    if auto and not any(traits(d).gpu for d in devices):
        targets["cuda"] = "cuda"
    runs = {}
    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        for dev in targets:
            deployment = DEPLOYMENTS["cpu" if dev == "cpu" else "gpu"]
            params = {**profile_args, "device": dev, "required": not auto or dev == "cpu"}
            runs[dev] = pool.submit(run_deployment, name=deployment, parameters=params)
        finished = {dev: fut.result() for dev, fut in runs.items()}
    failed = [
        f"{dev}: {fr.state.message}" for dev, fr in finished.items() if not fr.state.is_completed()
    ]
    if failed:
        raise RuntimeError("profiling deployments failed: " + "; ".join(failed))


# ------------------------------------------------------------------------------------- CLI


def _stopped(cfg: Lab1Config, exc: Lab1Error) -> str:
    """The one line for a run that stopped on a known error, or was interrupted."""
    paths = RunPaths(Path(local_runs_dir(cfg.runs_dir)).expanduser().resolve() / cfg.run_name)
    try:
        recorded = read_manifest(paths).status in ("failed", "interrupted")
    except ManifestError:
        recorded = False
    stale = "" if recorded else f" ({paths.manifest} could not be updated)"
    if isinstance(exc, Interrupted):
        return (
            f"{exc} at a safe point; the newest checkpoint is kept{stale}. "
            f"Resume with: {resume_command(cfg)}"
        )
    if isinstance(exc, DiskError):
        return f"error: {exc}{stale}. After freeing space: {resume_command(cfg)}"
    return f"error: {exc}{stale} (details: {paths.run_log})"


def main(argv: list[str] | None = None) -> int:
    args = run_parser().parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None and k in _F}
    console.install()
    try:
        cfg = Lab1Config(**overrides)
        preflight(cfg)
    except Lab1Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        # SIGTERM / Ctrl-C: stop at a safe point, never mid-write.
        with interrupt.handling(), temporary_server():
            try:
                summary = lab1_pipeline(**cfg.to_dict())
            finally:
                console.end_bars()  # the last lines below the bars, not between them
    except Interrupted as exc:
        print(_stopped(cfg, exc), file=sys.stderr)
        return exc.exit_code
    except Lab1Error as exc:
        print(_stopped(cfg, exc), file=sys.stderr)
        return 1
    print(f"\nrun directory: {summary['run_dir']}")
    if summary["store"] and not summary["push_error"]:
        print(f"in the store: {summary['store']}")
    print(f"test accuracy: {summary['test_accuracy']:.4f}  test loss: {summary['test_loss']:.4f}")
    for written in summary["reports"].values():
        print(f"report: {written['report_html']}")
        if written["report_pdf"]:
            print(f"report on paper: {written['report_pdf']}")
    print(f"view the curves and graph: {tensorboard_command(summary['tensorboard'])}")
    if args.open_report:
        open_report(summary["report"])
    if summary["push_error"]:
        print(
            f"error: {summary['push_error']}; the run is complete in {summary['run_dir']}. "
            f"Push it with: {summary['push_again']}",
            file=sys.stderr,
        )
        return 1
    return 0
