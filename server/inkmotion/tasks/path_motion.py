"""path_motion: a subject + a drawn path -> the subject travels the path.

Two models:
- `path-follow` (the default): the vector engine of inkmotion.pipelines.path_follow, code and no
  weights, on the CPU; a raster subject is traced into strokes and its frames painted back.
- `motion-strokes` (and any registered model of that kind): the learned recurrent model of
  inkmotion.pipelines.motion_strokes, for rasters; a drawing subject is painted for it and its
  frames traced back into strokes, so the result keeps the subject's form either way.

The subject is a drawing, or a raster of line art. The path is float32 [N, 2] in the subject's
canvas pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from inkmotion.codec.drawing import Animation, Drawing, Keyframe, Raster
from inkmotion.errors import InvalidInput
from inkmotion.limits import MAX_COORDINATE, Limits, check_result_size, over
from inkmotion.pipelines.base import ProgressCallback
from inkmotion.tasks.base import (DRAWING, PATH, Input, Param, TaskSpec, check_params, enum_choices, in_given_form,
                                  param_values, registered_models, strokes_or_line_art)
from inkmotion.v1 import tasks_pb2

PATH_FOLLOW = "path-follow"
MAX_PATH_POINTS = 10_000  # a hand-drawn path has hundreds; the engine resamples it to at most 4096
_Request = tasks_pb2.PathMotionRequest
_POINT_BYTES = 8  # float32 x, y

INPUTS = (
    Input("drawing", "Subject", "The drawing that travels (an SVG file, or a PNG of line art)", DRAWING),
    Input("path", "Path", "The path it travels, one stroke from where it is to where it goes (an SVG file: its "
          "first stroke)", PATH),
)
# Defaults: the engine's (PathFollowConfig); frames as the paper's synthetic case (16).
PARAMS = (
    Param("frames", "Frames", "Frames of the animation, the subject as drawn first", 16, 2, "max_frames"),
    Param("easing", "Easing", "How time is spent along the path", "ease-in-out", choices=enum_choices(_Request, "easing")),
    Param("timing", "Timing", "even: the same distance every frame; as-drawn: the spacing of the path's points is "
          "the speed (drawn slowly, it moves slowly)", "even", choices=enum_choices(_Request, "timing")),
    Param("keep_upright", "Keep upright", "Do not turn the subject with the path's direction", False),
    Param("squash_stretch", "Squash & stretch", "Stretch along the motion with speed and lean into turns (0: off)",
          0.0, 0.0, 2.0),
    Param("follow_through", "Follow-through", "The parts behind the leading edge lag and catch up (0: off)",
          0.0, 0.0, 1.0),
    Param("seed", "Seed", "Random seed: the same seed gives the same animation", 0, 0, 2**64 - 1),
)


@dataclass
class PathMotionInputs:
    """A path_motion request, decoded once at submission."""

    request: tasks_pb2.PathMotionRequest
    given: Drawing | Raster  # the subject as sent (a raster comes back as the first frame, unchanged)
    subject: Drawing  # as strokes: a drawing as it is, a raster traced as line art
    path: np.ndarray  # float64 [N, 2], canvas px
    frames: int


def decode_path(request: tasks_pb2.PathMotionRequest, limits: Limits, prefix: str,
                canvas: tuple[int, int] | None = None) -> np.ndarray:
    """The path as float64 [N, 2], checked: whole points, 2 to MAX_PATH_POINTS of them, finite and
    within +-MAX_COORDINATE px, some length, and (given the subject's `canvas`, width and height)
    some of it on the canvas: a point or a segment in [0, width] x [0, height]. That is the engine's
    own rule, so what passes here the engine takes; a path that crosses the canvas with every point
    outside it is fine. Errors name `PREFIX.path` (one point: `PREFIX.path[i]`)."""
    from inkmotion.pipelines.path_follow import MIN_PATH_LENGTH, touches_canvas
    from inkmotion.strokes.geometry import cumulative_length

    field_name = f"{prefix}.path"
    size = len(request.path)
    if size % _POINT_BYTES:
        raise InvalidInput(field_name, f"has {size} bytes, not a whole number of points (float32 x, y: "
                                       f"{_POINT_BYTES} bytes each)")
    count = size // _POINT_BYTES
    if count < 2:
        raise InvalidInput(field_name, f"has {count} point{'' if count == 1 else 's'}, under the minimum of 2 "
                                       "(draw the path from where the subject is to where it goes)")
    if count > MAX_PATH_POINTS:
        raise over(field_name, f"{count} points", f"{MAX_PATH_POINTS} points")
    points = np.frombuffer(request.path, "<f4").reshape(count, 2).astype(np.float64)
    bad = ~np.isfinite(points).all(axis=1)
    if bad.any():
        i = int(np.argmax(bad))
        raise InvalidInput(f"{field_name}[{i}]", f"({points[i, 0]:g}, {points[i, 1]:g}) is not finite "
                                                 "(NaN or infinite)")
    far = (np.abs(points) > MAX_COORDINATE).any(axis=1)
    if far.any():
        i = int(np.argmax(far))
        raise InvalidInput(f"{field_name}[{i}]", f"({points[i, 0]:g}, {points[i, 1]:g}) is outside "
                                                 f"+-{MAX_COORDINATE:g} px")
    if float(cumulative_length(points)[-1]) <= MIN_PATH_LENGTH:
        x, y = points[0]
        raise InvalidInput(field_name, f"has zero length: its {count} points are all at ({x:g}, {y:g})")
    if canvas is not None and not touches_canvas(points, *canvas):
        width, height = canvas
        (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
        raise InvalidInput(field_name, f"lies entirely off the canvas [0, {width}] x [0, {height}]: x from {x0:g} "
                                       f"to {x1:g}, y from {y0:g} to {y1:g}")
    return points


def check(request: tasks_pb2.PathMotionRequest, limits: Limits, prefix: str) -> PathMotionInputs:
    check_params(request, PARAMS, limits, prefix)  # ranges, and the choices' values
    frames = param_values(request, PARAMS, prefix)["frames"]
    if frames > limits.max_frames:  # the default, on a server that allows fewer
        raise over(f"{prefix}.frames", frames, limits.max_frames)
    given, subject = strokes_or_line_art(request, "subject", limits, prefix, (
        "subject", "is not set: give the subject that travels (a drawing or a raster)"))
    path = decode_path(request, limits, prefix, (subject.width, subject.height))
    raster_out = isinstance(given, Raster)
    check_result_size(f"{prefix}.frames", frames, 0 if raster_out else subject.point_count,
                      subject.width * subject.height if raster_out else 0, limits)
    return PathMotionInputs(request, given, subject, path, frames)


def run_path_follow(inputs: PathMotionInputs, device: str, on_progress: ProgressCallback) -> Animation:
    """The vector engine: deterministic, on the CPU whatever the device (the seed is not used)."""
    from inkmotion.pipelines.path_follow import PathFollowConfig, follow_path

    values = param_values(inputs.request, PARAMS)
    config = PathFollowConfig(frames=inputs.frames, easing=values["easing"], timing=values["timing"],
                              keep_upright=values["keep_upright"], squash_stretch=float(values["squash_stretch"]),
                              follow_through=float(values["follow_through"]))
    drawings = follow_path(inputs.subject, inputs.path, config, on_progress)
    return in_given_form(inputs.given, drawings, layer=inputs.subject.layer or "Follow path")


def runner(model: str):
    """A runner for a registered motion-strokes model, or (in-process only) a model folder."""

    def run(inputs: PathMotionInputs, device: str, on_progress: ProgressCallback) -> Animation:
        from inkmotion import models
        from inkmotion.pipelines.base import Progress
        from inkmotion.pipelines.motion_strokes import animate
        from inkmotion.strokes.lineart import paint_lineart, trace_lineart

        values = param_values(inputs.request, PARAMS)
        on_progress(Progress(0, 0, f"loading model {model}"))  # step 0: a phase, before the steps
        net = models.CACHE.get(models.resolve(model), device)
        given = inputs.given
        raster = given if isinstance(given, Raster) else paint_lineart(given)
        frames = animate(net, raster, inputs.path, inputs.frames, easing=values["easing"], timing=values["timing"],
                         on_progress=on_progress)
        if isinstance(given, Raster):
            keys = [Keyframe(i, frame) for i, frame in enumerate(frames)]
        else:  # back to strokes, the drawing as sent first
            keys = [Keyframe(0, given)] + [Keyframe(i, replace(trace_lineart(f), layer=given.layer))
                                           for i, f in enumerate(frames[1:], 1)]
        return Animation(given.width, given.height, keys, fps=24.0, layer=inputs.subject.layer or "Follow path")

    return run


MODELS = {PATH_FOLLOW: run_path_follow}  # the engines (code, no weights); the first is the task's default


def default_for(request: tasks_pb2.PathMotionRequest) -> str:
    """A raster subject's default is the learned model where its weights are here; strokes (and
    rasters without it) go to the vector engine."""
    if request.WhichOneof("subject") != "raster":
        return PATH_FOLLOW
    from inkmotion import models, tasks

    name = models.DEFAULT_FOR_TASK["path_motion"]
    return name if tasks.model_info(tasks.get("path_motion"), name)[2] else PATH_FOLLOW


def spec() -> TaskSpec:
    return TaskSpec(
        tasks_pb2.PathMotionRequest,
        "A drawing (or line art) + a drawn path -> the subject travels the path",
        label="Follow path",
        inputs=INPUTS,
        models={**MODELS, **registered_models("path_motion", runner)},
        check=check,
        params=PARAMS,
        path_runner=runner,
        engines=tuple(MODELS),
        default_for=default_for,
        aliases=("path",),
    )
