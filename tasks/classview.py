"""The class view's tasks: one per submission (mapped), then the class
(lab1.classroom.classview)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from lab1.classroom import classview


@task(name="assess-submission", cache_policy=NO_CACHE, task_run_name="assess-{student}")
def assess_submission(student: str, entry: str, root: str) -> dict:
    """One submission opened and checked; a bad one is refused, never raised."""
    return classview.assess(student, entry, root)


@task(name="build-class-view", cache_policy=NO_CACHE)
def build_class_view(plan: dict, assessed: list[dict], lang: str = "en") -> dict:
    """Copies across the class, verdicts, tables, report and feedback, put in place whole."""
    return classview.build(plan, assessed, lang)
