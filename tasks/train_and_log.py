"""train-and-log: the reference recipe with TensorBoard scalars and per-epoch checkpoints."""

from __future__ import annotations

from prefect import task

from lab1 import fmt
from lab1.run import train
from tasks.caching import RUN_CACHE
from tasks.progress import Progress
from tasks.retry import transient_only

PROGRESS_KEY = "lab1-training-progress"


# One retry for a crash (e.g. a preempted GPU): it resumes from the last valid checkpoint.
# Known errors (lab1.errors) are not retried: they would fail the same way again.
@task(
    name="train-and-log",
    retries=1,
    retry_condition_fn=transient_only,
    cache_policy=RUN_CACHE,
    persist_result=True,
)
def train_and_log(
    data_path: str,
    device: str,
    tb_dir: str,
    ckpt_dir: str,
    recipe: dict,
    epochs: int,
    log_interval: int,
    max_train_batches: int | None,
    max_test_batches: int | None,
    cuda_graph: bool = False,
    keep_checkpoints: int = 2,
    weights_path: str | None = None,
) -> dict:
    progress = Progress(PROGRESS_KEY, epochs, "epochs trained")

    def on_epoch(stats: dict) -> None:
        accuracy, loss = fmt.pct(stats["test_accuracy"]), fmt.decimal(stats["test_loss"])
        note = f"test accuracy {accuracy}, loss {loss}"
        progress(stats["epoch"], note)

    return train.train_and_log(
        data_path,
        device,
        tb_dir,
        ckpt_dir,
        train.Recipe(**recipe),
        epochs,
        log_interval,
        max_train_batches,
        max_test_batches,
        cuda_graph=cuda_graph,
        on_epoch=on_epoch,
        keep_checkpoints=keep_checkpoints,
        weights_path=weights_path,
    )
