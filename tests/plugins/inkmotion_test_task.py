"""A task of its own, added by a server plugin in this one file: `wobble` makes a drawing wobble.

It proves the layout: nothing else in the server, the CLI or the add-ons names it, yet it shows in
capabilities (with its inputs and parameters), in `inkmotion animate wobble --help`, in job lists,
and in both hosts' forms, which build themselves from what capabilities say. Loaded with
`inkmotion serve --plugin inkmotion_test_task` (or INKMOTION_PLUGINS for the CLI).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from inkmotion.codec.drawing import Animation, Drawing, Keyframe
from inkmotion.codec.proto import drawing_from_proto
from inkmotion.errors import InvalidInput
from inkmotion.limits import Limits, check_drawing, check_result_size
from inkmotion.pipelines.base import Progress
from inkmotion.tasks.base import DRAWING, Input, Param, TaskSpec, check_params, param_values
from inkmotion.v1 import tasks_pb2

NAME = "wobble"
INPUTS = (Input("drawing", "Drawing", "The strokes that wobble (an SVG file)", DRAWING),)
PARAMS = (
    Param("frames", "Frames", "Frames of the wobble", 12, 2, "max_frames"),
    Param("amplitude", "Amplitude", "How far points swing, in pixels", 4.0, 0, 50),
    Param("loop", "Loop", "End where it starts, so the wobble cycles", True),
    Param("wave", "Wave", "The swing's shape", "sine", choices=("sine", "square")),
)


@dataclass
class WobbleInputs:
    request: tasks_pb2.PluginTaskRequest
    drawing: Drawing
    values: dict


def check(request: tasks_pb2.PluginTaskRequest, limits: Limits, prefix: str) -> WobbleInputs:
    if not request.HasField("drawing"):
        raise InvalidInput(f"{prefix}.drawing", "is not set: give the strokes to wobble")
    check_drawing(f"{prefix}.drawing", request.drawing, limits)
    check_params(request, PARAMS, limits, prefix)
    drawing = drawing_from_proto(request.drawing, f"{prefix}.drawing")
    values = param_values(request, PARAMS, prefix)
    check_result_size(f"{prefix}.parameters[frames]", values["frames"], drawing.point_count, 0, limits)
    return WobbleInputs(request, drawing, values)


def run(inputs: WobbleInputs, device: str, on_progress) -> Animation:
    frames, amplitude = inputs.values["frames"], inputs.values["amplitude"]
    period = frames if inputs.values["loop"] else 2 * frames
    keys = []
    for i in range(frames):
        phase = 2 * math.pi * i / period
        swing = math.sin(phase) if inputs.values["wave"] == "sine" else math.copysign(1.0, math.sin(phase)) * (i % period != 0)
        strokes = []
        for s, stroke in enumerate(inputs.drawing.strokes):
            offset = np.float32(amplitude * swing * (1 if s % 2 == 0 else -1))
            strokes.append(replace(stroke, points=stroke.points + np.array([0.0, offset], np.float32), bezier=None))
        keys.append(Keyframe(i + 1, replace(inputs.drawing, strokes=strokes)))
        on_progress(Progress(i + 1, frames, "wobbling"))
    return Animation(inputs.drawing.width, inputs.drawing.height, keys, fps=12.0, layer="Wobble")


def register(tasks: dict) -> None:
    tasks[NAME] = TaskSpec(
        tasks_pb2.PluginTaskRequest,
        "A drawing -> it wobbles (a test plugin's own task)",
        label="Wobble",
        inputs=INPUTS,
        params=PARAMS,
        models={"wobble-cpu": run},
        check=check,
        plugin_name=NAME,
    )
