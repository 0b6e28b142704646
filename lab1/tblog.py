"""What TensorBoard shows beyond the per-epoch scalars: charts that compare, runs that compare.

* Custom Scalars tab: train and test loss on one chart, train and test accuracy on another;
* HParams tab: the run's hyperparameters and final metrics, so the runs under one logdir
  (``make tensorboard`` serves ``runs/``) line up in one table;
* Text tab: the top-10 operator tables, the batch-size comparison and its summary, rendered
  from the run's Parquet tables (written by the compare step, after training).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from torch.utils.tensorboard import SummaryWriter

from lab1.compare import artifact_rows, format_top10, summary_markdown
from lab1.tables import (
    COMPARISON_SCHEMA,
    OP_STATS_SCHEMA,
    SHARE_CHANGE_SCHEMA,
    TOP10_SCHEMA,
    read_parquet,
)

# Custom Scalars: category → chart title → ["Multiline", [tag regexes]] (TensorBoard's format).
LAYOUT = {
    "Lab 1: train vs test": {
        "Loss (mean NLL per sample)": ["Multiline", ["^Loss/train$", "^Loss/test$"]],
        "Accuracy": ["Multiline", ["^Accuracy/train$", "^Accuracy/test$"]],
    }
}
# HParams metrics: tag → the EpochStats field of the last epoch it shows.
FINAL_METRICS = {
    "hparam/test_accuracy": "test_accuracy",
    "hparam/test_loss": "test_loss",
    "hparam/train_accuracy": "train_accuracy",
    "hparam/train_loss": "train_loss",
}


def log_layout(writer: SummaryWriter) -> None:
    writer.add_custom_scalars(LAYOUT)


def log_hparams(writer: SummaryWriter, hparams: dict, last_epoch: dict) -> None:
    """One HParams session for this run: hparams (numbers, strings, bools) → final metrics.

    run_name "." keeps the session in the run's own event directory: TensorBoard then lists
    the run once (add_hparams' default, a timestamped subdirectory, would add a second run).
    """
    metrics = {tag: last_epoch[field] for tag, field in FINAL_METRICS.items()}
    writer.add_hparams(hparams, metrics, run_name=".", global_step=last_epoch["epoch"])


def _markdown_table(rows: list[dict]) -> str:
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join("" if r[k] is None else str(r[k]) for k in head) + " |")
    return "\n".join(lines) + "\n"


def log_tables_as_text(tb_dir: str | Path, tables: dict[str, str]) -> list[str]:
    """Write the compare step's tables into tb_dir's Text tab; returns the text tags.

    ``tables``: table name → Parquet path, as combine_and_compare returns them. One tag per
    config, phase and sort key for the top-10 tables (``top10/cpu_bs64_train_step_self_cpu``),
    plus ``comparison/batch_sizes`` and ``comparison/summary``.
    """
    op_stats = read_parquet(tables["op_stats"], OP_STATS_SCHEMA)
    top10 = read_parquet(tables["top10"], TOP10_SCHEMA)
    comparison = read_parquet(tables["comparison"], COMPARISON_SCHEMA)
    change = read_parquet(tables["share_change"], SHARE_CHANGE_SCHEMA)
    texts: dict[str, str] = {}
    keys = ["device", "batch_size", "phase", "sort_key"]
    for (device, bs, phase, sort_key), group in top10.groupby(keys, sort=True):
        device_tag = "".join(ch for ch in device if ch.isalnum())
        texts[f"top10/{device_tag}_bs{bs}_{phase}_{sort_key}"] = format_top10(group, op_stats)
    ordered = comparison.sort_values(["device", "phase", "batch_size"])
    texts["comparison/batch_sizes"] = _markdown_table(artifact_rows(pd.DataFrame(ordered)))
    texts["comparison/summary"] = summary_markdown(comparison, change)
    with SummaryWriter(log_dir=str(tb_dir)) as writer:
        for tag, text in texts.items():
            writer.add_text(tag, text, global_step=0)
    return list(texts)
