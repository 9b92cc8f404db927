"""inbetween: a start and an end key -> the frames between.

Two models:
- `stroke-match` (the task's first model): the classical engine of inkmotion.pipelines.inbetween,
  code and no weights: strokes matched between the keys and carried along rotation-aware paths. A
  raster key is traced into strokes first and the frames between are painted back.
- `sketch-flow` (and any registered model of that kind): the two-sketch paper's learned motion
  model, inkmotion.pipelines.sketch_flow, for painted keys: it warps the keys' pixels, so sketchy,
  shaded or broken lines that trace badly keep their look. The default for raster keys where its
  weights are here. Vector keys are painted for it and its frames traced back (said with the job:
  stroke-match keeps their strokes exactly).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from inkmotion.codec.drawing import Animation, Drawing, Keyframe, Raster
from inkmotion.errors import InvalidInput
from inkmotion.limits import INT32, Limits, check_drawing_record, check_keyframe, check_result_size, over
from inkmotion.pipelines.base import ProgressCallback
from inkmotion.tasks.base import (KEYFRAME, RESULT_FORM, Input, Param, TaskSpec, check_params, enum_choices, enum_value,
                                  param_values, registered_models)
from inkmotion.v1 import tasks_pb2

STROKE_MATCH = "stroke-match"
_Request = tasks_pb2.InbetweenRequest

INPUTS = (
    Input("start", "Start key", "The first key: strokes, or a raster of line art (an SVG or PNG file)", KEYFRAME),
    Input("end", "End key", "The last key, drawn like the first (an SVG or PNG file)", KEYFRAME),
)
# The choices' words are the contract's enum values (EASING_EASE_IN -> "ease-in"); unset is the default.
PARAMS = (
    Param("frames", "Frames", "Output frames, both keys included; 0 or unset: from the keys' frame numbers",
          0, 0, "max_frames"),
    Param("easing", "Easing", "How time is spent between the keys", "ease-in-out", choices=enum_choices(_Request, "easing")),
    Param("motion_path", "Motion path", "arc: strokes turn as they travel; linear: every point moves straight",
          "arc", choices=enum_choices(_Request, "motion_path")),
    Param("unmatched", "Unmatched strokes", "What a stroke with no partner in the other key does",
          "fade", choices=enum_choices(_Request, "unmatched")),
    Param("seed", "Seed", "sketch-flow's motion: the same seed gives the same frames, another seed an alternative "
          "(stroke-match does not use it)", 0, 0, 2**64 - 1),
)


def frames_of(request: tasks_pb2.InbetweenRequest) -> int:
    if request.HasField("frames") and request.frames:
        return request.frames
    return request.end.frame - request.start.frame + 1


@dataclass
class InbetweenInputs:
    """An inbetween request, decoded once at submission."""

    request: tasks_pb2.InbetweenRequest
    start_key: Keyframe  # as given (a raster key comes back unchanged)
    end_key: Keyframe
    start: Drawing  # as strokes: drawings as they are, rasters traced as line art
    end: Drawing
    frames: int


def _key_drawing(key: Keyframe, field_name: str, limits: Limits) -> Drawing:
    """A key as strokes: drawings as they are, rasters traced as line art."""
    if isinstance(key.content, Drawing):
        return key.content
    from inkmotion.strokes.lineart import trace_lineart

    drawing = trace_lineart(key.content)
    if not drawing.strokes:
        raise InvalidInput(field_name, "has no line art to trace: the raster is blank")
    check_drawing_record(field_name, drawing, limits)
    return drawing


def check(request: tasks_pb2.InbetweenRequest, limits: Limits, prefix: str) -> InbetweenInputs:
    from inkmotion.budget import check_budget
    from inkmotion.codec.proto import keyframe_from_proto

    for name in ("start", "end"):
        if not request.HasField(name):
            raise InvalidInput(f"{prefix}.{name}", "is not set: inbetweening needs a start and an end key")
        check_keyframe(f"{prefix}.{name}", getattr(request, name), limits)
    frames = frames_of(request)
    if frames > limits.max_frames:
        raise over(f"{prefix}.frames", frames, limits.max_frames)
    if frames < 2:
        raise InvalidInput(
            f"{prefix}.frames",
            f"{frames} is under the minimum of 2 (set frames, or give the end key a later frame number)",
        )
    last = request.start.frame + frames - 1
    if last > INT32[1]:
        raise InvalidInput(f"{prefix}.start.frame", f"{request.start.frame} + {frames} frames ends at frame {last}, "
                                                    f"past the last frame number {INT32[1]}")
    check_params(request, PARAMS, limits, prefix)  # the choices' values
    form = enum_value(RESULT_FORM, request.result_form, f"{prefix}.result_form")

    start_key = keyframe_from_proto(request.start, f"{prefix}.start", limits.max_raster_pixels)
    end_key = keyframe_from_proto(request.end, f"{prefix}.end", limits.max_raster_pixels)
    check_budget()
    start = _key_drawing(start_key, f"{prefix}.start.raster", limits)
    end = _key_drawing(end_key, f"{prefix}.end.raster", limits)
    raster_out = (form or ("raster" if isinstance(start_key.content, Raster) else "drawing")) == "raster"
    check_result_size(f"{prefix}.frames", frames, 0 if raster_out else start.point_count + end.point_count,
                      start.width * start.height if raster_out else 0, limits)
    return InbetweenInputs(request, start_key, end_key, start, end, frames)


def run_stroke_match(inputs: InbetweenInputs, device: str, on_progress: ProgressCallback) -> Animation:
    """The vector engine: deterministic, on the CPU whatever the device (the seed is not used)."""
    from inkmotion.pipelines.inbetween import inbetween

    request, start, end = inputs.request, inputs.start, inputs.end
    values = param_values(request, PARAMS)
    drawings = inbetween(
        start,
        end,
        inputs.frames,
        easing=values["easing"],
        motion_path=values["motion_path"],
        unmatched=values["unmatched"],
        on_progress=on_progress,
    )
    first = request.start.frame
    keys = [Keyframe(first + i, d) for i, d in enumerate(drawings)]
    if _form(inputs) == "raster":
        from inkmotion.strokes.lineart import paint_lineart

        size = (start.width, start.height)
        for i, key in enumerate(keys):
            # Raster keys come out as they went in; the frames between are painted line art.
            given = inputs.start_key.content if i == 0 else inputs.end_key.content if i == len(keys) - 1 else None
            same_size = isinstance(given, Raster) and (given.width, given.height) == size
            key.content = given if same_size else paint_lineart(key.content, *size)
    return Animation(start.width, start.height, keys, fps=24.0, layer=start.layer or "Inbetween")


def _form(inputs: InbetweenInputs) -> str:
    return RESULT_FORM[inputs.request.result_form] or ("raster" if isinstance(inputs.start_key.content, Raster)
                                                        else "drawing")


def runner(model: str):
    """A runner for a registered sketch-flow model, or (in-process only) a model folder."""

    def run(inputs: InbetweenInputs, device: str, on_progress: ProgressCallback) -> Animation:
        from inkmotion import models
        from inkmotion.pipelines import sketch_flow
        from inkmotion.pipelines.base import Progress
        from inkmotion.strokes.lineart import paint_lineart, trace_lineart

        values = param_values(inputs.request, PARAMS)
        on_progress(Progress(0, 0, f"loading model {model}"))  # step 0: a phase, before the steps
        net = models.CACHE.get(models.resolve(model), device)
        width, height = inputs.start.width, inputs.start.height
        given = [inputs.start_key.content, inputs.end_key.content]
        keys = [g if isinstance(g, Raster) else paint_lineart(g, width, height) for g in given]
        frames = sketch_flow.animate(net, *keys, inputs.frames, easing=values["easing"], seed=values["seed"],
                                     on_progress=on_progress)
        first = inputs.request.start.frame
        if _form(inputs) == "raster":
            contents = [given[0] if isinstance(given[0], Raster) else frames[0], *frames[1:-1],
                        given[1] if isinstance(given[1], Raster) else frames[-1]]
        else:  # strokes: the keys as sent (or traced), the frames between traced from the paintings
            layer = inputs.start.layer
            contents = [inputs.start] + [replace(trace_lineart(f), layer=layer) for f in frames[1:-1]] + [inputs.end]
        keyframes = [Keyframe(first + i, c) for i, c in enumerate(contents)]
        return Animation(width, height, keyframes, fps=24.0, layer=inputs.start.layer or "Inbetween")

    return run


def default_for(request: tasks_pb2.InbetweenRequest) -> str:
    """Painted keys' default is the learned model where its weights are here; strokes (and
    rasters without it) go to the stroke engine."""
    if request.start.WhichOneof("content") != "raster":
        return STROKE_MATCH
    from inkmotion import models, tasks

    name = models.DEFAULT_FOR_TASK["inbetween"]
    return name if tasks.model_info(tasks.get("inbetween"), name)[2] else STROKE_MATCH


def warnings(request: tasks_pb2.InbetweenRequest, model: str, inputs: InbetweenInputs) -> list[str]:
    said = []
    if model != STROKE_MATCH and not all(isinstance(k.content, Raster) for k in (inputs.start_key, inputs.end_key)):
        said.append(f"the keys are strokes: {model} paints them, inbetweens the paintings and traces the frames "
                    f"between back into strokes; {STROKE_MATCH} keeps their strokes exactly")
    return said


MODELS = {STROKE_MATCH: run_stroke_match}  # the engines (code, no weights); the first is the task's default


def spec() -> TaskSpec:
    return TaskSpec(
        tasks_pb2.InbetweenRequest,
        "Start and end drawings -> the frames between (stroke matching + rotation-aware paths)",
        label="Inbetween",
        inputs=INPUTS,
        models={**MODELS, **registered_models("inbetween", runner)},
        check=check,
        params=PARAMS,
        path_runner=runner,
        engines=tuple(MODELS),
        default_for=default_for,
        warnings=warnings,
    )
