"""What TensorBoard shows beyond the per-epoch scalars: charts that compare, runs that compare.

* Custom Scalars tab: train and test loss on one chart, train and test accuracy on another;
* HParams tab: the run's hyperparameters and final metrics, so the runs under one logdir
  (``make tensorboard`` serves ``runs/``) line up in one table;
* Text tab: the top-10 operator tables, the batch-size comparison and its findings, as
  lab1.report renders them (written by the compare step, after training).
"""

from __future__ import annotations

from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

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


def log_texts(tb_dir: str | Path, texts: dict[str, str]) -> list[str]:
    """Write Markdown texts (tag → text, from lab1.report.tensorboard_texts) into tb_dir's
    Text tab; returns the tags."""
    with SummaryWriter(log_dir=str(tb_dir)) as writer:
        for tag, text in texts.items():
            writer.add_text(tag, text, global_step=0)
    return list(texts)
