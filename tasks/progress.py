"""Progress of long work as a Prefect progress artifact (the run's Artifacts tab in the UI)."""

from __future__ import annotations

from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.context import FlowRunContext, TaskRunContext


class Progress:
    """``progress(done, note)`` moves one artifact to done/total; outside a run it does nothing
    (a task called through ``.fn`` has no run to attach an artifact to)."""

    def __init__(self, key: str, total: int, what: str) -> None:
        self.total, self.what, self.id = total, what, None
        if FlowRunContext.get() or TaskRunContext.get():
            self.id = create_progress_artifact(0.0, key=key, description=f"{what}: 0/{total}")

    def __call__(self, done: int, note: str = "") -> None:
        if self.id is not None:
            description = f"{self.what}: {done}/{self.total}" + (f" ({note})" if note else "")
            update_progress_artifact(self.id, 100.0 * done / self.total, description=description)
