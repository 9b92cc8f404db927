"""video_motion: vector strokes + a reference video -> a vector animation (SketchAnimator).

Not in this server version yet: the task is listed (hosts show why it is greyed out), its check
and runner come with the method.
"""

from __future__ import annotations

from inkmotion.tasks.base import TaskSpec
from inkmotion.v1 import tasks_pb2


def spec() -> TaskSpec:
    return TaskSpec(
        tasks_pb2.VideoMotionRequest,
        "Vector strokes + a reference video -> vector animation (SketchAnimator)",
        unavailable_reason="SketchAnimator is not in this server version yet",
    )
