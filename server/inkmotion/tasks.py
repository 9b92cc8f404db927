"""The tasks a server offers: how each request is checked and handed to its pipeline.

This is the seam between the contract and the pipelines. `check` takes a request message apart
before anything is queued: limits, structure, and the decoding itself (SVG read, PNG decoded, line
art traced), so what is accepted can run; it returns the decoded inputs, which the runner takes
to the pipeline (nothing is decoded twice). Checks run off the event loop with a time budget
(`check_with_budget`). Neither knows about gRPC, jobs or threads.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from inkmotion.codec.drawing import Animation, Drawing, Keyframe, Raster
from inkmotion.codec.proto import drawing_from_proto, keyframe_from_proto
from inkmotion.errors import InvalidInput
from inkmotion.budget import check_budget, time_budget
from inkmotion.limits import (
    INT32, Limits, check_drawing, check_drawing_record, check_keyframe, check_optional, check_prompt, check_range,
    check_raster, check_result_size, over, quoted,
)
from inkmotion.pipelines.base import Progress, ProgressCallback
from inkmotion.v1 import animation_service_pb2 as service_pb2
from inkmotion.v1 import tasks_pb2

log = logging.getLogger("inkmotion.tasks")

Request = object  # one of the *Request messages of tasks.proto
Inputs = object  # a task's request decoded by its check (InbetweenInputs, ...); `.request` is the message
Runner = Callable[[Inputs, str, ProgressCallback], Animation]


@dataclass
class TaskSpec:
    task: int  # tasks_pb2.Task value
    name: str  # the CLI's word for it
    field: str  # the oneof field of SubmitJobRequest
    description: str
    # Model name -> runner(inputs, device, on_progress) -> Animation. The first is the default.
    models: dict[str, Runner] = field(default_factory=dict)
    # check(request, limits, field prefix) -> inputs: everything said before the job is queued,
    # and the request decoded once (so the worker does not decode it again).
    check: Callable[[Request, Limits, str], Inputs] | None = None
    unavailable_reason: str = ""
    # Builds a runner for a model folder given by path (in-process use; servers take names).
    path_runner: Callable[[str], Runner] | None = None

    @property
    def available(self) -> bool:
        return bool(self.models) and self.check is not None

    @property
    def default_model(self) -> str:
        return next(iter(self.models), "")

    def resolve_model(self, requested: str, field_name: str, allow_paths: bool = False) -> str:
        if not requested:
            return self.default_model
        if allow_paths and self.path_runner is not None and requested not in self.models and Path(requested).is_dir():
            return requested
        if requested not in self.models:
            known = ", ".join(self.models) or "none"
            raise InvalidInput(field_name, f"unknown model {quoted(requested)} for task {self.name}; available: {known}")
        return requested


# ---------------------------------------------------------------------------------------------
# Inbetween (classical vector engine; the learned two-sketch model comes later)

STROKE_MATCH = "stroke-match"
_EASING = {
    tasks_pb2.EASING_UNSPECIFIED: "ease-in-out",
    tasks_pb2.EASING_LINEAR: "linear",
    tasks_pb2.EASING_EASE_IN_OUT: "ease-in-out",
    tasks_pb2.EASING_EASE_IN: "ease-in",
    tasks_pb2.EASING_EASE_OUT: "ease-out",
}
_MOTION_PATH = {
    tasks_pb2.MOTION_PATH_UNSPECIFIED: "arc",
    tasks_pb2.MOTION_PATH_LINEAR: "linear",
    tasks_pb2.MOTION_PATH_ARC: "arc",
}
_RESULT_FORM = {  # "": as the start key
    tasks_pb2.RESULT_FORM_UNSPECIFIED: "",
    tasks_pb2.RESULT_FORM_DRAWING: "drawing",
    tasks_pb2.RESULT_FORM_RASTER: "raster",
}
_UNMATCHED = {
    tasks_pb2.UNMATCHED_STROKES_UNSPECIFIED: "fade",
    tasks_pb2.UNMATCHED_STROKES_FADE: "fade",
    tasks_pb2.UNMATCHED_STROKES_DRAW_ON: "draw-on",
}


def inbetween_frames(request: tasks_pb2.InbetweenRequest) -> int:
    if request.HasField("frames") and request.frames:
        return request.frames
    return request.end.frame - request.start.frame + 1


def _enum(table: dict, value: int, field_name: str) -> str:
    if value not in table:
        raise InvalidInput(field_name, f"unknown value {value}")
    return table[value]


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
    from inkmotion.codec.lineart import trace_lineart

    drawing = trace_lineart(key.content)
    if not drawing.strokes:
        raise InvalidInput(field_name, "has no line art to trace: the raster is blank")
    check_drawing_record(field_name, drawing, limits)
    return drawing


def check_inbetween(request: tasks_pb2.InbetweenRequest, limits: Limits, prefix: str) -> InbetweenInputs:
    for name in ("start", "end"):
        if not request.HasField(name):
            raise InvalidInput(f"{prefix}.{name}", "is not set: inbetweening needs a start and an end key")
        check_keyframe(f"{prefix}.{name}", getattr(request, name), limits)
    frames = inbetween_frames(request)
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
    _enum(_EASING, request.easing, f"{prefix}.easing")
    _enum(_MOTION_PATH, request.motion_path, f"{prefix}.motion_path")
    _enum(_UNMATCHED, request.unmatched, f"{prefix}.unmatched")
    form = _enum(_RESULT_FORM, request.result_form, f"{prefix}.result_form")

    start_key = keyframe_from_proto(request.start, f"{prefix}.start", limits.max_raster_pixels)
    end_key = keyframe_from_proto(request.end, f"{prefix}.end", limits.max_raster_pixels)
    check_budget()
    start = _key_drawing(start_key, f"{prefix}.start.raster", limits)
    end = _key_drawing(end_key, f"{prefix}.end.raster", limits)
    raster_out = (form or ("raster" if isinstance(start_key.content, Raster) else "drawing")) == "raster"
    check_result_size(f"{prefix}.frames", frames, 0 if raster_out else start.point_count + end.point_count,
                      start.width * start.height if raster_out else 0, limits)
    return InbetweenInputs(request, start_key, end_key, start, end, frames)


def run_inbetween(inputs: InbetweenInputs, device: str, on_progress: ProgressCallback) -> Animation:
    from inkmotion.pipelines.inbetween import inbetween

    request, start, end = inputs.request, inputs.start, inputs.end
    drawings = inbetween(
        start,
        end,
        inputs.frames,
        easing=_EASING[request.easing],
        motion_path=_MOTION_PATH[request.motion_path],
        unmatched=_UNMATCHED[request.unmatched],
        on_progress=on_progress,
    )
    first = request.start.frame
    keys = [Keyframe(first + i, d) for i, d in enumerate(drawings)]
    form = _RESULT_FORM[request.result_form] or ("raster" if isinstance(inputs.start_key.content, Raster) else "drawing")
    if form == "raster":
        from inkmotion.codec.lineart import paint_lineart

        size = (start.width, start.height)
        for i, key in enumerate(keys):
            # Raster keys come out as they went in; the frames between are painted line art.
            given = inputs.start_key.content if i == 0 else inputs.end_key.content if i == len(keys) - 1 else None
            same_size = isinstance(given, Raster) and (given.width, given.height) == size
            key.content = given if same_size else paint_lineart(key.content, *size)
    return Animation(start.width, start.height, keys, fps=24.0, layer=start.layer or "Inbetween")


# ---------------------------------------------------------------------------------------------
# Text motion: Live-Sketch on a text-to-video prior


MAX_SVG_BYTES = 16 * 1024 * 1024


@dataclass
class TextMotionInputs:
    """A text-motion request, decoded once at submission."""

    request: tasks_pb2.TextMotionRequest
    sketch: Drawing  # whichever form it came in: strokes, SVG read, raster traced
    config: object  # the pipeline's LiveSketchConfig
    raster_out: bool


def _text_sketch(request: tasks_pb2.TextMotionRequest, limits: Limits, prefix: str) -> Drawing:
    """The sketch as strokes, within the limits, whichever form it came in: strokes as they are,
    SVG read, a raster of line art traced. Errors name the field."""
    form = request.WhichOneof("sketch_form")
    if form is None:
        raise InvalidInput(f"{prefix}.sketch", "is not set: give the sketch to animate (strokes, SVG or a raster)")
    field_name = f"{prefix}.{form}"
    if form == "sketch":
        check_drawing(field_name, request.sketch, limits)
        return drawing_from_proto(request.sketch, field_name)
    if form == "sketch_svg":
        size = len(request.sketch_svg.encode("utf-8"))
        if size > MAX_SVG_BYTES:
            raise over(field_name, f"{size} bytes", f"{MAX_SVG_BYTES} bytes")
        from inkmotion.codec.svg import read_svg

        try:
            sketch = read_svg(request.sketch_svg.encode("utf-8"), max_canvas=limits.max_canvas_size)
        except InvalidInput as exc:  # "svg.width: ..." -> "text_motion.sketch_svg.width: ..."
            where = field_name + exc.field[3:] if exc.field.startswith("svg.") else field_name
            raise InvalidInput(where, exc.problem) from None
    else:
        from inkmotion.codec.lineart import trace_lineart
        from inkmotion.codec.proto import raster_from_proto

        check_raster(field_name, request.sketch_raster, limits)
        sketch = trace_lineart(raster_from_proto(request.sketch_raster, field_name, limits.max_raster_pixels))
        if not sketch.strokes:
            raise InvalidInput(field_name, "has no line art to trace: the raster is blank")
    check_drawing_record(field_name, sketch, limits)
    return sketch


def check_text_motion(request: tasks_pb2.TextMotionRequest, limits: Limits, prefix: str) -> TextMotionInputs:
    check_prompt(f"{prefix}.prompt", request.prompt, limits)
    check_optional(request, "frames", 2, limits.max_frames, prefix)
    check_optional(request, "steps", 1, limits.max_steps, prefix)
    check_optional(request, "preview_every", 0, limits.max_steps, prefix)
    for name in ("guidance_local", "guidance_global"):
        check_optional(request, name, 0, 200, prefix)
    check_optional(request, "motion_strength", 0, 10, prefix)
    if request.HasField("local_motion") and request.HasField("global_motion") and not (request.local_motion or request.global_motion):
        raise InvalidInput(f"{prefix}.local_motion", "both the local and the global path are off: nothing would move")
    form = _enum(_RESULT_FORM, request.result_form, f"{prefix}.result_form")
    from inkmotion.pipelines.live_sketch import config_from_request

    sketch = _text_sketch(request, limits, prefix)
    config = config_from_request(request)
    raster_out = form == "raster" or (not form and request.WhichOneof("sketch_form") == "sketch_raster")
    check_result_size(f"{prefix}.frames", config.frames, 0 if raster_out else sketch.point_count,
                      sketch.width * sketch.height if raster_out else 0, limits)
    return TextMotionInputs(request, sketch, config, raster_out)


def text_motion_runner(model: str) -> Runner:
    """A runner for a registered model name, or (in-process only) a model folder."""

    def run(inputs: TextMotionInputs, device: str, on_progress: ProgressCallback) -> Animation:
        from inkmotion import models
        from inkmotion.pipelines.live_sketch import LiveSketchPipeline

        request, sketch = inputs.request, inputs.sketch
        on_progress(Progress(0, 0, f"loading model {model}"))  # step 0: a phase, before the steps
        t2v = models.CACHE.get(models.resolve(model), device, offload=models.offload_requested())
        pipeline = LiveSketchPipeline.from_model(t2v)
        frames = pipeline(sketch, request.prompt, inputs.config, on_progress)
        if inputs.raster_out:
            from inkmotion.codec.lineart import paint_lineart

            frames = [paint_lineart(d) for d in frames]
        keys = [Keyframe(i + 1, d) for i, d in enumerate(frames)]
        return Animation(sketch.width, sketch.height, keys, fps=8.0, layer=f"Live-Sketch: {request.prompt[:40]}")

    return run


def _registered(task: str, runner: Callable[[str], Runner]) -> dict[str, Runner]:
    """A runner for every registered model that lists `task`, the task's default first."""
    from inkmotion import models

    try:
        names = [n for n, spec in models.registry().items() if task in spec.tasks]
    except InvalidInput as exc:  # a broken models.toml: say so, keep the built-in models
        log.error("models config: %s", exc)
        names = [n for n, spec in models.BUILTIN.items() if task in spec.tasks]
    default = models.DEFAULT_FOR_TASK[task]
    names.sort(key=lambda n: n != default)
    return {name: runner(name) for name in names}


# ---------------------------------------------------------------------------------------------
# Raster text motion: FlipSketch on the text-to-video prior with a sketch LoRA


@dataclass
class RasterTextMotionInputs:
    """A FlipSketch request, decoded once at submission."""

    request: tasks_pb2.RasterTextMotionRequest
    sketch: Raster  # strokes are painted as black line art on white
    config: object  # the pipeline's FlipSketchConfig
    strokes_in: bool


def check_raster_text_motion(request: tasks_pb2.RasterTextMotionRequest, limits: Limits, prefix: str) -> RasterTextMotionInputs:
    form = request.WhichOneof("sketch_form")
    if form is None:
        raise InvalidInput(f"{prefix}.sketch", "is not set: give the raster sketch to animate (or strokes)")
    check_prompt(f"{prefix}.prompt", request.prompt, limits)
    check_optional(request, "frames", 2, limits.max_frames, prefix)
    check_optional(request, "steps", 1, min(limits.max_steps, 1000), prefix)
    check_optional(request, "inversion_steps", 1, min(limits.max_steps, 1000), prefix)
    check_optional(request, "guidance", 0, 50, prefix)
    check_optional(request, "samples", 1, 16, prefix)
    check_optional(request, "preview_every", 0, limits.max_steps, prefix)
    if request.HasField("composition_weight") and not 0 <= request.composition_weight <= 1:  # NaN too
        raise InvalidInput(f"{prefix}.composition_weight", f"{request.composition_weight:g} is outside [0, 1]")
    result_form = _enum(_RESULT_FORM, request.result_form, f"{prefix}.result_form")
    from inkmotion.codec.proto import raster_from_proto
    from inkmotion.pipelines.flipsketch import config_from_request

    if form == "sketch":
        check_raster(f"{prefix}.sketch", request.sketch, limits)
        sketch = raster_from_proto(request.sketch, f"{prefix}.sketch", limits.max_raster_pixels)
    else:
        from inkmotion.codec.preview import render_drawing

        check_drawing(f"{prefix}.sketch_drawing", request.sketch_drawing, limits)
        sketch = render_drawing(drawing_from_proto(request.sketch_drawing, f"{prefix}.sketch_drawing"))
    config = config_from_request(request)
    strokes_in = form == "sketch_drawing"
    drawing_out = (result_form or ("drawing" if strokes_in else "raster")) == "drawing"
    # Traced frames hold at most a point per ink pixel; painted frames are the sketch's canvas.
    check_result_size(f"{prefix}.frames", config.frames, 0, 0 if drawing_out else sketch.width * sketch.height, limits)
    return RasterTextMotionInputs(request, sketch, config, strokes_in)


def raster_text_motion_runner(model: str) -> Runner:
    """A runner for a registered model name, or (in-process only) a model folder."""

    def run(inputs: RasterTextMotionInputs, device: str, on_progress: ProgressCallback) -> Animation:
        from inkmotion import models
        from inkmotion.errors import ModelUnavailable
        from inkmotion.pipelines.flipsketch import FlipSketchPipeline

        request, sketch = inputs.request, inputs.sketch
        spec = models.resolve(model)
        if models.needs_lora(spec, "raster"):
            raise ModelUnavailable(models.missing_lora_message(spec))
        on_progress(Progress(0, 0, f"loading model {model}"))  # step 0: a phase, before the steps
        t2v = models.CACHE.get(spec, device, offload=models.offload_requested())
        clip_model, clip_processor = models.load_clip(spec.clip, device) if spec.clip else (None, None)
        pipeline = FlipSketchPipeline.from_model(t2v, clip_model=clip_model, clip_processor=clip_processor)
        frames = pipeline(sketch, request.prompt, inputs.config, on_progress)
        form = _RESULT_FORM[request.result_form] or ("drawing" if inputs.strokes_in else "raster")
        if form == "drawing":  # traced back into strokes, for Grease Pencil
            from inkmotion.codec.lineart import trace_lineart

            frames = [trace_lineart(frame) for frame in frames]
        keys = [Keyframe(i + 1, raster) for i, raster in enumerate(frames)]
        return Animation(sketch.width, sketch.height, keys, fps=8.0, layer=f"FlipSketch: {request.prompt[:40]}")

    return run


# ---------------------------------------------------------------------------------------------

TASKS: dict[int, TaskSpec] = {
    spec.task: spec
    for spec in (
        TaskSpec(
            tasks_pb2.TASK_TEXT_MOTION, "text", "text_motion",
            "Vector strokes + a text prompt -> vector animation (Live-Sketch)",
            models=_registered("text", text_motion_runner),
            check=check_text_motion,
            path_runner=text_motion_runner,
        ),
        TaskSpec(
            tasks_pb2.TASK_VIDEO_MOTION, "video", "video_motion",
            "Vector strokes + a reference video -> vector animation (SketchAnimator)",
            unavailable_reason="SketchAnimator is not in this server version yet",
        ),
        TaskSpec(
            tasks_pb2.TASK_RASTER_TEXT_MOTION, "raster", "raster_text_motion",
            "A raster sketch + text -> raster frames (FlipSketch)",
            models=_registered("raster", raster_text_motion_runner),
            check=check_raster_text_motion,
            path_runner=raster_text_motion_runner,
        ),
        TaskSpec(
            tasks_pb2.TASK_PATH_MOTION, "path", "path_motion",
            "A drawing + a drawn path -> the subject travels the path (motion strokes)",
            unavailable_reason="motion strokes are not in this server version yet",
        ),
        TaskSpec(
            tasks_pb2.TASK_INBETWEEN, "inbetween", "inbetween",
            "Start and end drawings -> the frames between (stroke matching + rotation-aware paths)",
            models={STROKE_MATCH: run_inbetween},
            check=check_inbetween,
        ),
    )
}
BY_FIELD = {spec.field: spec for spec in TASKS.values()}
BY_NAME = {spec.name: spec for spec in TASKS.values()}


def model_info(spec: TaskSpec, name: str) -> tuple[str, str, bool]:
    """(description, source, weights present) of one of a task's models, without loading it."""
    if spec.path_runner is None:  # classical engines are code, always there
        return spec.description, "builtin", True
    from inkmotion import models

    try:
        model = models.resolve(name)
    except InvalidInput:
        return spec.description, "unknown", False
    available, _ = models.availability(model, task=spec.name)
    return model.description or spec.description, model.where, available


MAX_REQUEST_ID = 128  # characters
MAX_LABEL = 200


class TaskUnavailable(Exception):
    """The server knows the task but cannot run it (answered as UNIMPLEMENTED)."""


@dataclass
class Checked:
    """A submission as checked: its task, model and decoded inputs (what the runner gets)."""

    spec: TaskSpec
    request: Request | None  # None while it travels apart from its inputs (see inkmotion.checking)
    model: str
    inputs: object = None

    def with_request(self, request: Request | None) -> "Checked":
        """This, with `request` as its task request (in the inputs too)."""
        inputs = self.inputs
        if dataclasses.is_dataclass(inputs) and hasattr(inputs, "request"):
            inputs = dataclasses.replace(inputs, request=request)
        return dataclasses.replace(self, request=request, inputs=inputs)


def check_submission(submission: service_pb2.SubmitJobRequest, limits: Limits, *, allow_model_paths: bool = False) -> Checked:
    """Everything that can be said about a submission before it is queued. Model folders given by
    path are accepted only in-process (`allow_model_paths`): a server runs the models it lists."""
    which = submission.WhichOneof("task")
    if which is None:
        raise InvalidInput("task", "no task is set (or the client speaks a newer contract): set one of " + ", ".join(BY_FIELD))
    spec = BY_FIELD[which]
    request = getattr(submission, which)
    check_range("priority", submission.priority, -10, 10)
    if len(submission.request_id) > MAX_REQUEST_ID:
        raise over("request_id", f"{len(submission.request_id)} characters", f"{MAX_REQUEST_ID} characters")
    if len(submission.label) > MAX_LABEL:
        raise over("label", f"{len(submission.label)} characters", f"{MAX_LABEL} characters")
    if not spec.available:
        raise TaskUnavailable(f"task {spec.name!r} is not available on this server: {spec.unavailable_reason}")
    model = spec.resolve_model(request.model, f"{which}.model", allow_model_paths)
    inputs = spec.check(request, limits, which)
    return Checked(spec, request, model, inputs)


def check_with_budget(submission: service_pb2.SubmitJobRequest, limits: Limits, seconds: float) -> Checked:
    """check_submission, giving up with InvalidInput once `seconds` are spent (off the loop)."""
    with time_budget(seconds, "request"):
        return check_submission(submission, limits)


def run_submission(checked: Checked, device: str, on_progress: ProgressCallback) -> Animation:
    runner = checked.spec.models.get(checked.model) or checked.spec.path_runner(checked.model)
    return runner(checked.inputs, device, on_progress)


def load_plugins(modules: list[str]) -> None:
    """Import each module and call its `register(TASKS)`: how a studio adds its own models."""
    import importlib

    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise InvalidInput("--plugin", f"cannot import {name!r}: {exc}") from None
        if not hasattr(module, "register"):
            raise InvalidInput("--plugin", f"module {name!r} has no register(tasks) function")
        module.register(TASKS)
