"""A server plugin for tests: the real inbetween engine, slowed to a known pace per step.

Loaded with `inkmotion serve --plugin inkmotion_test_models`, through the same hook a studio uses
for its own models. The slowness gives tests time to cancel, kill and restart mid-job; everything
else (queue, store, events, cancellation) is the real server.
"""

import os
import time

from inkmotion.pipelines.base import Progress
from inkmotion.tasks.inbetween import run_stroke_match as run_inbetween

STEP_SECONDS = float(os.environ.get("INKMOTION_TEST_STEP_SECONDS", "0.1"))
STUCK_SECONDS = 300.0


def register(tasks: dict) -> None:
    def run_slow(request, device, on_progress):
        def paced(progress):
            time.sleep(STEP_SECONDS)
            on_progress(progress)

        return run_inbetween(request, device, paced)

    def run_stuck(request, device, on_progress):
        """One step that takes minutes and never reports progress (a long kernel, a hung read)."""
        on_progress(Progress(0, 0, "stuck in one long step"))
        time.sleep(STUCK_SECONDS)
        return run_inbetween(request, device, on_progress)

    tasks["inbetween"].models["test-slow"] = run_slow
    tasks["inbetween"].models["test-stuck"] = run_stuck
