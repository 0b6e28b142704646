"""The step-time model: time per step = fixed + batch × per-sample, fitted to a batch ladder.

The ladder times the train step and inference with the profiler off (training's own steps,
built by lab1.run.step in fp32 at training's memory-format rule, and lab1.measure.profiling's timer)
at
batch sizes 1, 2, 4 … 256: a few steps each, so it stays cheap. The fit
is least squares on *relative* residuals (weights 1/t²), so batch 1's 1 ms weighs as much as
batch 256's 100 ms: the fixed cost is what the small batches show, not a rounding error of the
big ones (and never below 0: a noisy negative intercept is refitted through the origin).
From the fit: the batch size at which the fixed cost falls below 10 % of a step
(B > 9 · fixed / per-sample); from the measured points: where images/s stop improving.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from lab1 import interrupt
from lab1.config import LADDER, MIN_BLOCK_S
from lab1.errors import AnalysisError
from lab1.host.environment import measured_on
from lab1.host.exclusive import MachineLoad
from lab1.host.threads import using_threads
from lab1.identity import PANEL
from lab1.measure.profiling import Batches, batch_indices, setup_steps, time_steps
from lab1.measure.remeasure import Patience, attempt_records, measure_blocks
from lab1.schemas import PHASES

# Per size and phase: 1 warm-up + 3 timed steps (the median of 3 one-step chunks). On 2 Xeon
# cores at 1 thread the 9 sizes of both phases take ~6 s this way, ~11 s with 2 + 5 steps.
LADDER_WARMUP, LADDER_STEPS = 1, 3
FIXED_SHARE = 0.10  # "the fixed cost stops mattering" below this share of a step
PLATEAU_GAIN = 0.10  # "throughput stops improving": no larger batch gives 10 % more images/s
MIN_SIZES = 3


def time_ladder(
    data_path: str,
    dataset: str,
    device: str,
    threads: int,
    run_id: str,
    *,
    seed: int,
    lr: float,
    sizes: tuple[int, ...] = LADDER,
    steps: int = LADDER_STEPS,
    min_block_s: float = MIN_BLOCK_S,
    tries: int = 1,
    quiet_wait_s: float = 0.0,
    attempts: list[dict] | None = None,
) -> list[dict]:
    """STEP_TIMES_SCHEMA rows: ms per step of both phases at every batch size of ``sizes``.
    ``steps`` timed steps per size and phase, each in its own block, a block repeating its
    step until it has run ``min_block_s`` (lab1.measure.profiling.time_steps). A size × phase
    other programs disturbed is timed again (up to ``tries`` in all, waiting at most
    ``quiet_wait_s`` for the whole ladder: lab1.measure.remeasure); every attempt is appended
    to ``attempts`` where given."""
    dev = torch.device(device)
    base = {
        "run_id": run_id,
        **measured_on(device),  # machine_id, device, device_name
        "precision": "fp32",  # the ladder's steps below run in fp32
        "threads": threads,
    }
    rows = []
    patience = Patience(tries, quiet_wait_s)  # one wait budget for the whole ladder
    with using_threads(threads):
        # fp32, the reference recipe: the same steps profiling and training build.
        built, x, y = setup_steps(data_path, dataset, device, "fp32", threads, seed=seed, lr=lr)
        phase_steps = {"train_step": built.train, "inference": built.inference}
        generator = torch.Generator().manual_seed(seed)
        for bs in sizes:
            idx = batch_indices(x.shape[0], bs, LADDER_WARMUP + steps, generator)
            batches = Batches(x, y, idx.to(dev))  # drawn before timing
            for phase in PHASES:

                def attempt(phase=phase, batches=batches, bs=bs):
                    interrupt.check()
                    with MachineLoad.measure(threads) as load:
                        blocks = time_steps(
                            phase_steps[phase], batches, bs, dev, LADDER_WARMUP, min_block_s
                        )
                    return None, blocks, load

                _, timed, tried = measure_blocks(
                    attempt, patience, what=f"step-time ladder batch {bs} {phase}"
                )
                rows.append(
                    {
                        **base,
                        "phase": phase,
                        "batch_size": bs,
                        "ms_per_step": 1e3 * timed.seconds,
                        "timed_steps": timed.steps,
                        **timed.sureness(len(tried)),
                    }
                )
                if attempts is not None:
                    attempts += attempt_records(
                        tried,
                        kind="ladder",
                        device=device,
                        precision="fp32",
                        threads=threads,
                        batch_size=bs,
                        name=phase,
                    )
    return rows


def fit_step_time(batch_sizes, ms_per_step) -> tuple[float, float, float]:
    """(fixed ms, per-sample µs, r²) of ms = fixed + batch × per_sample / 1000."""
    b = np.asarray(batch_sizes, dtype=float)
    t = np.asarray(ms_per_step, dtype=float)
    distinct = sorted({int(v) for v in b})
    if len(distinct) < MIN_SIZES:
        raise AnalysisError(
            f"the step-time model needs at least {MIN_SIZES} distinct batch sizes to fit "
            f"fixed + batch × per-sample, got {distinct}"
        )
    w = 1.0 / t  # relative residuals: (t - fit) / t
    design = np.stack([np.ones_like(b), b], axis=1) * w[:, None]
    (fixed, per_sample), *_ = np.linalg.lstsq(design, t * w, rcond=None)
    if fixed < 0:  # noise at the small sizes: a step cannot cost less than nothing
        fixed, per_sample = 0.0, float((w**2 * b * t).sum() / (w**2 * b * b).sum())
    fit = fixed + b * per_sample
    ss_tot = float(((t - t.mean()) ** 2).sum())
    r2 = 1.0 - float(((t - fit) ** 2).sum()) / ss_tot if ss_tot > 0 else 1.0
    return float(fixed), float(per_sample) * 1e3, r2


def fixed_below(fixed_ms: float, per_sample_us: float, share: float = FIXED_SHARE) -> int | None:
    """Smallest batch whose modelled fixed cost is below ``share`` of its step (None: none
    within 2**20 images, or no positive per-sample cost to amortize it)."""
    if fixed_ms <= 0:
        return 1
    if per_sample_us <= 0:
        return None
    # fixed < share × (fixed + B × p)  ⇔  B > fixed × (1 - share) / (share × p)
    bs = math.floor(fixed_ms * 1e3 * (1 - share) / (share * per_sample_us)) + 1
    return bs if bs <= 1 << 20 else None


def plateau(batch_sizes, ms_per_step, gain: float = PLATEAU_GAIN) -> int:
    """The smallest measured batch size that no larger one beats by ``gain`` in images/s."""
    pts = sorted(zip(batch_sizes, ms_per_step, strict=True))
    rates = [b / t for b, t in pts]
    for i, (b, _) in enumerate(pts):
        if all(r < (1 + gain) * rates[i] for r in rates[i + 1 :]):
            return int(b)
    return int(pts[-1][0])  # unreachable: the last point always qualifies


def step_model_table(step_times: pd.DataFrame) -> pd.DataFrame:
    """STEP_MODEL_SCHEMA rows: one fit per ladder (a config less its batch size) × phase."""
    out = []
    keys = ["run_id", *PANEL, "phase"]
    for key, g in step_times.groupby(keys, sort=True):
        fixed, per_sample, r2 = fit_step_time(g["batch_size"], g["ms_per_step"])
        out.append(
            {
                **dict(zip(keys, key, strict=True)),
                "fixed_ms": fixed,
                "per_sample_us": per_sample,
                "r2": r2,
                "sizes": g["batch_size"].nunique(),
                "fixed_below_10pct_bs": fixed_below(fixed, per_sample),
                "plateau_bs": plateau(g["batch_size"], g["ms_per_step"]),
            }
        )
    return pd.DataFrame(out)
