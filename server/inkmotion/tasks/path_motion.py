"""path_motion: a drawing + a drawn path -> the subject travels the path (motion strokes).

Not in this server version yet: the task is listed (hosts show why it is greyed out), its check
and runner come with the method.
"""

from __future__ import annotations

from inkmotion.tasks.base import DRAWING, PATH, Input, Param, TaskSpec
from inkmotion.v1 import tasks_pb2

INPUTS = (
    Input("drawing", "Subject", "The drawing that travels (an SVG file; the request also takes a raster)", DRAWING),
    Input("path", "Path", "The path it travels, one stroke from where it is to where it goes (an SVG file: its "
          "first stroke)", PATH),
)
# The parameters its request already has, so hosts can show them and the CLI checks them; the
# defaults are provisional until the method lands (frames as the paper's synthetic case: 16).
PARAMS = (
    Param("frames", "Frames", "Frames of the animation", 16, 2, "max_frames"),
    Param("seed", "Seed", "Random seed: the same seed gives the same animation", 0, 0, 2**64 - 1),
)


def spec() -> TaskSpec:
    return TaskSpec(
        tasks_pb2.PathMotionRequest,
        "A drawing + a drawn path -> the subject travels the path (motion strokes)",
        label="Follow path",
        inputs=INPUTS,
        params=PARAMS,
        unavailable_reason="motion strokes are not in this server version yet",
    )
