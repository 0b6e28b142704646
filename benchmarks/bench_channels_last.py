"""Benchmark: channels_last vs the default memory format, per precision and batch size.

    .venv/bin/python benchmarks/bench_channels_last.py --device cpu --pairs 11

The measurement behind ``lab1.host.devices.CPU_CHANNELS_LAST``: both layouts are trained through
``setup_training`` + ``Training.train_epoch`` (the code ``train_and_log`` runs) on the embedded
subset, in back-to-back blocks of ``--steps`` steps that alternate which layout goes first; the
ratio is the median over ``--pairs`` of channels_last / default images/s of one pair.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script, from anywhere, without installing lab1
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from spread import ratio_of  # noqa: E402  (beside this file: sys.path[0] when run)

from lab1.config import LAB_BATCH_SIZES, Lab1Config  # noqa: E402
from lab1.host.allocator import keep_heap_mapped  # noqa: E402
from lab1.host.devices import bf16_missing  # noqa: E402
from lab1.host.machine import cpu_model  # noqa: E402
from lab1.run.data import load_tensors, prepare_dataset  # noqa: E402
from lab1.run.train import setup_training  # noqa: E402

D = Lab1Config(run_name="bench")  # the recipe's defaults, never restated here


def pair_ratios(tensors, device: str, precision: str, bs: int, steps: int, pairs: int) -> dict:
    runs = {
        cl: setup_training(
            tensors,
            "mnist",
            device,
            bs,
            D.lr,
            D.gamma,
            D.seed,
            channels_last=cl,
            precision=precision,
        )
        for cl in (False, True)
    }
    for t in runs.values():
        t.train_epoch(bs, 1, 0, max_batches=5)  # warm-up: allocator, oneDNN kernel choice
    speed: dict[bool, list[float]] = {False: [], True: []}
    for i in range(pairs):
        for cl in (False, True) if i % 2 == 0 else (True, False):
            done = 0
            images = seconds = 0.0
            while done < steps:  # the subset is 4,000 images: a block may span epochs
                n = min(steps - done, runs[cl].x_train.shape[0] // bs)
                _, _, seen, s = runs[cl].train_epoch(bs, 1, 0, max_batches=n)
                images, seconds, done = images + seen, seconds + s, done + n
            speed[cl].append(images / seconds)
    return {
        "precision": precision,
        "batch_size": bs,
        # the median pair's channels_last / default, with the pairs' range and spread
        "ratio_channels_last": ratio_of(speed[True], speed[False], paired=True),
        "images_per_s": {
            "default": round(statistics.median(speed[False]), 1),
            "channels_last": round(statistics.median(speed[True]), 1),
        },
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/bench_channels_last.py")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-sizes", nargs="+", type=int, default=list(LAB_BATCH_SIZES))
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--pairs", type=int, default=11)
    args = p.parse_args(argv)
    if torch.device(args.device).type == "cpu":
        keep_heap_mapped()  # as every lab1 CPU run
    with tempfile.TemporaryDirectory() as tmp:
        info = prepare_dataset("mnist", Path(tmp) / "none", Path(tmp) / "decoded")
        tensors = load_tensors(info.path)
    print(f"{cpu_model()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    for precision in args.precisions:
        if precision == "bf16" and (missing := bf16_missing(args.device)):
            print(f"bf16 skipped: {missing}")
            continue
        for bs in args.batch_sizes:
            r = pair_ratios(tensors, args.device, precision, bs, args.steps, args.pairs)
            print(json.dumps(r), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
