"""A server plugin that lists a task it cannot run: `sculpt`, with no models and the reason why.

What a studio's plugin does for a method whose weights it has not installed yet; the server lists
it in capabilities (hosts grey it out with the reason) and answers its submissions UNIMPLEMENTED.
Loaded with `inkmotion serve --plugin inkmotion_test_unavailable`.
"""

from __future__ import annotations

from inkmotion.tasks.base import DRAWING, Input, TaskSpec
from inkmotion.v1 import tasks_pb2

NAME = "sculpt"
REASON = "the studio has not installed the sculpting weights yet"


def register(tasks: dict) -> None:
    tasks[NAME] = TaskSpec(
        tasks_pb2.PluginTaskRequest,
        "A drawing -> it is sculpted (listed, not runnable: a test plugin's)",
        label="Sculpt",
        inputs=(Input("drawing", "Drawing", "The strokes to sculpt", DRAWING),),
        plugin_name=NAME,
        unavailable_reason=REASON,
    )
