"""The class view's own thread pool (flows/class_flow.py): a bounded number of submissions
in memory at once, whatever the class's size."""

from __future__ import annotations

import os
import threading
import time

from flows import class_flow
from lab1.classroom import classview


def test_the_thread_pool_holds_a_bounded_number_of_submissions_at_once(
    prefect_harness, monkeypatch
):
    students = 40
    bound = min(32, (os.cpu_count() or 1) + 4)  # ThreadPoolExecutor's default, worked out here
    held, peak, lock = 0, 0, threading.Lock()

    def assess(student, entry, root):
        nonlocal held, peak
        with lock:
            held += 1
            peak = max(peak, held)
        time.sleep(0.2)  # a download: every thread the pool has is waiting at once
        with lock:
            held -= 1
        return {"student": student}

    plan = {
        "submissions": [
            (f"s{i:02d}", f"s3://b/s{i:02d}.lab1.zip", "s3://b") for i in range(students)
        ]
    }
    monkeypatch.setattr(class_flow, "check_inputs", lambda inputs, runs_dir, name: plan)
    monkeypatch.setattr(classview, "assess", assess)
    monkeypatch.setattr(classview, "build", lambda plan, assessed, lang: {"n": len(assessed)})
    assert class_flow.class_flow(["s3://b"], name="week1") == {"n": students}
    assert 1 < peak <= bound < students
