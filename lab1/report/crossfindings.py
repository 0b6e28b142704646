"""What a comparison of runs shows, computed once as data (Findings, as lab1.report.findings).

Inputs are the comparison's own tables (lab1.compare.crossrun: comparison, runs, step_model), so
every
number in a Finding is one a reader finds in the report's tables. lab1.report.sentences
turns each kind into a sentence.
"""

from __future__ import annotations

import pandas as pd

from lab1.identity import PANEL, ConfigId, Label, ordered
from lab1.report.findings import Finding


def label(row, prefix: str = "") -> Label:
    """A compared config as a Finding holds it: its thread count always named (runs on two
    machines seldom share one), its machine left to the run id that goes with it. ``prefix``:
    the columns' prefix (``baseline_`` for the baseline row a row was compared with)."""

    def get(name: str):
        return getattr(row, prefix + name)

    return Label(
        ConfigId(get("machine_id"), get("device"), get("precision"), int(get("threads"))),
        threads=True,
    )


def config(run_id: str, row, prefix: str = "") -> dict:
    """A run's config in a Finding: ``{"run": run id, "config": its Label}``."""
    return {"run": run_id, "config": label(row, prefix)}


def differences(runs: pd.DataFrame, cmp: pd.DataFrame) -> list[Finding]:
    """What does not stop a comparison but changes how it reads: a subset run beside a
    full-data run, other datasets or recipes (accuracies not comparable), other code
    versions, rows measured on a busy machine."""
    out = []
    runs = runs.sort_values("order")
    if runs["dataset_full"].any() and not runs["dataset_full"].all():
        out.append(
            Finding(
                "mixed_data",
                {
                    "subset": list(runs.loc[~runs["dataset_full"], "run_id"]),
                    "full": list(runs.loc[runs["dataset_full"], "run_id"]),
                },
            )
        )
    base = runs[runs["baseline"]].iloc[0]
    other = runs[~runs["baseline"]]
    data = other[
        (other["dataset"] != base.dataset) | (other["data_checksum"] != base.data_checksum)
    ]
    recipes = other[other["recipe"] != base.recipe]
    if len(data) or len(recipes):
        out.append(
            Finding(
                "not_comparable",
                {
                    "baseline": base.run_id,
                    "data": list(data["run_id"]),
                    "recipe": list(recipes["run_id"]),
                },
            )
        )
    if runs["code_version"].nunique(dropna=False) > 1:
        versions = [[r.run_id, r.code_version] for r in runs.itertuples()]
        out.append(Finding("code_versions", {"versions": versions}))
    busy = cmp[cmp["contended"].fillna(False).astype(bool)]  # null: unknown, not busy
    if len(busy):
        counts = busy.groupby("run_id", sort=False).size()
        out.append(
            Finding(
                "rows_contended",
                {"rows": len(busy), "runs": [[r, int(n)] for r, n in counts.items()]},
            )
        )
    return out


def speedups(cmp: pd.DataFrame) -> list[Finding]:
    """Per non-baseline run, config and phase: the range of its speed-up over its baseline
    rows across the batch sizes both ran."""
    out = []
    rows = cmp[cmp["run_id"] != cmp["baseline_run_id"]].dropna(subset=["speedup_vs_baseline"])
    for (run_id, *_, phase), g in rows.groupby(["run_id", *PANEL, "phase"], sort=False):
        best = g.loc[g["speedup_vs_baseline"].idxmax()]
        worst = g.loc[g["speedup_vs_baseline"].idxmin()]
        base = config(best.baseline_run_id, best, "baseline_")
        out.append(
            Finding(
                "run_speedup",
                {
                    **config(run_id, best),
                    "base_run": base["run"],
                    "base_config": base["config"],
                    "phase": phase,
                    "worst": worst.speedup_vs_baseline,
                    "worst_bs": int(worst.batch_size),
                    "best": best.speedup_vs_baseline,
                    "best_bs": int(best.batch_size),
                    "slower_at": [
                        int(b)
                        for b, s in zip(g["batch_size"], g["speedup_vs_baseline"], strict=True)
                        if s < 1
                    ],
                },
            )
        )
    return out


def step_models(model: pd.DataFrame | None, runs: pd.DataFrame) -> list[Finding]:
    """Each non-baseline run's step-time model against the baseline's, per phase (the
    baseline's model on the same device, else its cpu, at its most threads): where one has
    the larger fixed cost and the smaller cost per image, the batch size where they cross."""
    if model is None:
        return []
    baseline = runs.loc[runs["baseline"], "run_id"].iloc[0]
    base = ordered(model[model["run_id"] == baseline])
    out = []
    for r in ordered(model[model["run_id"] != baseline]).itertuples():
        same = base[(base["phase"] == r.phase) & (base["device"] == r.device)]
        if same.empty:
            same = base[(base["phase"] == r.phase) & (base["device"] == "cpu")]
        if same.empty:
            continue
        b = same.iloc[-1]  # the most threads
        out.append(_crossing(r, b))
    return out


def _crossing(a, b) -> Finding:
    """Models t = fixed + batch × per / 1000 (ms): they cross at batch (fa - fb) / (pb - pa) ×
    1000 when one has more fixed cost and less per image; otherwise one is ahead everywhere."""
    fa, pa, fb, pb = a.fixed_ms, a.per_sample_us, b.fixed_ms, b.per_sample_us
    crossing = (fa - fb) * (pa - pb) < 0
    big, small = (a, b) if fa > fb else (b, a)
    # Only crossing lines meet: equal slopes (two copies of one run) have no crossing batch.
    batch = (
        (big.fixed_ms - small.fixed_ms) / (small.per_sample_us - big.per_sample_us) * 1000
        if crossing
        else None
    )
    if crossing and batch >= 1:
        return Finding(
            "crossover",
            {
                "phase": a.phase,
                "big": config(big.run_id, big),
                "big_fixed": big.fixed_ms,
                "small": config(small.run_id, small),
                "small_fixed": small.fixed_ms,
                "batch": batch,
            },
        )
    # The fixed and the per-image costs order the models the same way, or they cross below
    # one image per batch (then the one with more fixed cost is faster at every real batch).
    if crossing:
        ahead, behind = big, small
    else:
        ahead, behind = (a, b) if (fa, pa) <= (fb, pb) else (b, a)
    return Finding(
        "model_ahead",
        {
            "phase": a.phase,
            "ahead": config(ahead.run_id, ahead),
            "behind": config(behind.run_id, behind),
            "ahead_fixed": ahead.fixed_ms,
            "behind_fixed": behind.fixed_ms,
            "ahead_per": ahead.per_sample_us,
            "behind_per": behind.per_sample_us,
        },
    )
