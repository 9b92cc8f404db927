"""video_motion: vector strokes + a reference video -> a vector animation (SketchAnimator).

Not in this server version yet: the task is listed (hosts show why it is greyed out), its check
and runner come with the method.
"""

from __future__ import annotations

from inkmotion.tasks.base import DRAWING, TEXT, VIDEO, Input, Param, TaskSpec
from inkmotion.v1 import tasks_pb2

INPUTS = (
    Input("sketch", "Sketch", "The strokes to animate (an SVG file)", DRAWING),
    Input("reference_frames", "Reference video", "The clip whose motion the sketch takes (frame images, in order)", VIDEO),
    Input("prompt", "Prompt", "The subject in a word or two (\"horse\")", TEXT, required=False),
)
# The parameters its request already has, so hosts can show them and the CLI checks them; the
# defaults are provisional until the method lands (iterations as the paper's 500; frames as
# Live-Sketch's on the same prior).
PARAMS = (
    Param("frames", "Frames", "Frames of the animation", 24, 2, "max_frames"),
    Param("steps", "Steps", "Score-distillation iterations", 500, 1, "max_steps"),
    Param("seed", "Seed", "Random seed: the same seed gives the same animation", 0, 0, 2**64 - 1),
    Param("preview_every", "Preview every", "Send a preview frame every N steps (0: none)", 0, 0, "max_steps"),
)


def spec() -> TaskSpec:
    return TaskSpec(
        tasks_pb2.VideoMotionRequest,
        "Vector strokes + a reference video -> vector animation (SketchAnimator)",
        label="Animate from video",
        inputs=INPUTS,
        params=PARAMS,
        unavailable_reason="SketchAnimator is not in this server version yet",
    )
