"""Which failures a task retries: only those that may go away by themselves."""

from __future__ import annotations

from typing import Any

from lab1.errors import Lab1Error


def transient_only(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's ``retry_condition_fn(task, task_run, state)``: retry unless the failure is a
    Lab1Error. Those are deterministic (a differing --resume setting, a full disk, no valid
    checkpoint, an interruption): a retry would fail the same way, only louder."""
    return not isinstance(state.result(raise_on_failure=False), Lab1Error)
