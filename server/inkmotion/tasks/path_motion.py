"""path_motion: a drawing + a drawn path -> the subject travels the path (motion strokes).

Not in this server version yet: the task is listed (hosts show why it is greyed out), its check
and runner come with the method.
"""

from __future__ import annotations

from inkmotion.tasks.base import TaskSpec
from inkmotion.v1 import tasks_pb2


def spec() -> TaskSpec:
    return TaskSpec(
        tasks_pb2.PathMotionRequest,
        "A drawing + a drawn path -> the subject travels the path (motion strokes)",
        unavailable_reason="motion strokes are not in this server version yet",
    )
