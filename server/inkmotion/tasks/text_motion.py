"""text_motion: vector strokes + a sentence -> a vector animation (Live-Sketch on a text-to-video prior)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from inkmotion.codec.drawing import Animation, Drawing, Keyframe
from inkmotion.errors import InvalidInput
from inkmotion.limits import Limits, check_drawing, check_drawing_record, check_prompt, check_raster, check_result_size, over
from inkmotion.pipelines.base import Progress, ProgressCallback
from inkmotion.tasks.base import DRAWING, RESULT_FORM, TEXT, Input, Param, Runner, TaskSpec, check_params, enum_value, registered_models, set_params
from inkmotion.v1 import tasks_pb2

NAME = "text_motion"
MAX_SVG_BYTES = 16 * 1024 * 1024

INPUTS = (
    Input("sketch", "Sketch", "The strokes to animate (an SVG file; the request also takes SVG text or line art "
          "as a raster)", DRAWING),
    Input("prompt", "Prompt", "What should happen, in a sentence (\"a butterfly flapping its wings\")", TEXT),
)

# Defaults are LiveSketchConfig's (the reference implementation's); not imported, so that listing
# the tasks never imports torch. tests/test_tasks.py holds them equal.
PARAMS = (
    Param("frames", "Frames", "Frames of the animation", 24, 2, "max_frames"),
    Param("steps", "Steps", "Score-distillation steps (500 is often enough)", 1000, 1, "max_steps"),
    Param("seed", "Seed", "Random seed: the same seed gives the same animation", 0, 0, 2**64 - 1),
    Param("guidance_local", "Local guidance", "Classifier-free guidance of the local path", 30.0, 0, 200),
    Param("guidance_global", "Global guidance", "Classifier-free guidance of the global path", 40.0, 0, 200),
    Param("local_motion", "Local motion", "Free per-point deformation (the local path)", True),
    Param("global_motion", "Global motion", "Scale, shear, rotation and translation of the whole sketch", True),
    Param("motion_strength", "Motion strength", "Scales the learned motion (1: as learned)", 1.0, 0, 10),
    Param("preview_every", "Preview every", "Send a preview frame every N steps (0: none)", 0, 0, "max_steps"),
)


def config_from_request(request: tasks_pb2.TextMotionRequest):
    """The request's optional parameters over the pipeline's reference defaults."""
    from inkmotion.pipelines.live_sketch import LiveSketchConfig

    return replace(LiveSketchConfig(), **set_params(request, PARAMS))


@dataclass
class TextMotionInputs:
    """A text-motion request, decoded once at submission."""

    request: tasks_pb2.TextMotionRequest
    sketch: Drawing  # whichever form it came in: strokes, SVG read, raster traced
    config: object  # the pipeline's LiveSketchConfig
    raster_out: bool


def _sketch(request: tasks_pb2.TextMotionRequest, limits: Limits, prefix: str) -> Drawing:
    """The sketch as strokes, within the limits, whichever form it came in: strokes as they are,
    SVG read, a raster of line art traced. Errors name the field."""
    from inkmotion.codec.proto import drawing_from_proto

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
        from inkmotion.strokes.lineart import trace_lineart
        from inkmotion.codec.proto import raster_from_proto

        check_raster(field_name, request.sketch_raster, limits)
        sketch = trace_lineart(raster_from_proto(request.sketch_raster, field_name, limits.max_raster_pixels))
        if not sketch.strokes:
            raise InvalidInput(field_name, "has no line art to trace: the raster is blank")
    check_drawing_record(field_name, sketch, limits)
    return sketch


def check(request: tasks_pb2.TextMotionRequest, limits: Limits, prefix: str) -> TextMotionInputs:
    check_prompt(f"{prefix}.prompt", request.prompt, limits)
    check_params(request, PARAMS, limits, prefix)
    if request.HasField("local_motion") and request.HasField("global_motion") and not (request.local_motion or request.global_motion):
        raise InvalidInput(f"{prefix}.local_motion", "both the local and the global path are off: nothing would move")
    form = enum_value(RESULT_FORM, request.result_form, f"{prefix}.result_form")
    sketch = _sketch(request, limits, prefix)
    config = config_from_request(request)
    raster_out = form == "raster" or (not form and request.WhichOneof("sketch_form") == "sketch_raster")
    check_result_size(f"{prefix}.frames", config.frames, 0 if raster_out else sketch.point_count,
                      sketch.width * sketch.height if raster_out else 0, limits)
    return TextMotionInputs(request, sketch, config, raster_out)


def runner(model: str) -> Runner:
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
            from inkmotion.strokes.lineart import paint_lineart

            frames = [paint_lineart(d) for d in frames]
        keys = [Keyframe(i + 1, d) for i, d in enumerate(frames)]
        return Animation(sketch.width, sketch.height, keys, fps=8.0, layer=f"Live-Sketch: {request.prompt[:40]}")

    return run


def spec() -> TaskSpec:
    return TaskSpec(
        tasks_pb2.TextMotionRequest,
        "Vector strokes + a text prompt -> vector animation (Live-Sketch)",
        label="Animate from text",
        inputs=INPUTS,
        models=registered_models(NAME, runner),
        check=check,
        params=PARAMS,
        path_runner=runner,
    )
