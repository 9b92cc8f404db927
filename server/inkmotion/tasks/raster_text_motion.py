"""raster_text_motion: a raster sketch + a sentence -> raster frames (FlipSketch on the
text-to-video prior with a sketch LoRA)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from inkmotion.codec.drawing import Animation, Keyframe, Raster
from inkmotion.errors import InvalidInput, ModelUnavailable
from inkmotion.limits import Limits, check_drawing, check_prompt, check_raster, check_result_size
from inkmotion.pipelines.base import Progress, ProgressCallback
from inkmotion.tasks.base import RASTER, RESULT_FORM, TEXT, Input, Param, Runner, TaskSpec, check_params, enum_value, registered_models, set_params
from inkmotion.v1 import tasks_pb2

NAME = "raster_text_motion"


def _steps(limits: Limits) -> int:
    return min(limits.max_steps, 1000)


INPUTS = (
    Input("sketch", "Sketch", "The sketch to animate, as a raster (a PNG file; the request also takes strokes, "
          "painted as line art)", RASTER),
    Input("prompt", "Prompt", "What should happen, in a sentence", TEXT),
)

# Defaults are FlipSketchConfig's (the public implementation's); not imported, so that listing the
# tasks never imports torch. tests/test_tasks.py holds them equal.
PARAMS = (
    Param("frames", "Frames", "Frames to return; more than one clip's 10 chain clips", 10, 2, "max_frames"),
    Param("steps", "Steps", "DDIM sampling steps", 25, 1, _steps),
    Param("inversion_steps", "Inversion steps", "DDIM inversion steps of the sketch", 25, 1, _steps),
    Param("guidance", "Guidance", "Classifier-free guidance", 9.0, 0, 50),
    Param("composition_weight", "Fidelity", "0: most motion, 1: most fidelity to the sketch (lambda)", 0.5, 0, 1),
    Param("samples", "Samples", "Candidates generated together; the closest to the sketch is kept", 1, 1, 16),
    Param("seed", "Seed", "Random seed: the same seed gives the same frames", 0, 0, 2**64 - 1),
    Param("binarize", "Binarise", "Clean black line art (Otsu) instead of gray", True),
    Param("preview_every", "Preview every", "Send a preview frame every N steps (0: none)", 0, 0, "max_steps"),
)
# Request field -> FlipSketchConfig field, where the names differ.
_CONFIG_NAMES = {"composition_weight": "lambda_fidelity", "samples": "seeds"}


def config_from_request(request: tasks_pb2.RasterTextMotionRequest):
    """The request's optional parameters over the pipeline's reference defaults."""
    from inkmotion.pipelines.flipsketch import FlipSketchConfig

    values = {_CONFIG_NAMES.get(k, k): v for k, v in set_params(request, PARAMS).items()}
    return replace(FlipSketchConfig(), **values)


@dataclass
class RasterTextMotionInputs:
    """A FlipSketch request, decoded once at submission."""

    request: tasks_pb2.RasterTextMotionRequest
    sketch: Raster  # strokes are painted as black line art on white
    config: object  # the pipeline's FlipSketchConfig
    strokes_in: bool


def check(request: tasks_pb2.RasterTextMotionRequest, limits: Limits, prefix: str) -> RasterTextMotionInputs:
    from inkmotion.codec.proto import drawing_from_proto, raster_from_proto

    form = request.WhichOneof("sketch_form")
    if form is None:
        raise InvalidInput(f"{prefix}.sketch", "is not set: give the raster sketch to animate (or strokes)")
    check_prompt(f"{prefix}.prompt", request.prompt, limits)
    check_params(request, PARAMS, limits, prefix)
    result_form = enum_value(RESULT_FORM, request.result_form, f"{prefix}.result_form")
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


def runner(model: str) -> Runner:
    """A runner for a registered model name, or (in-process only) a model folder."""

    def run(inputs: RasterTextMotionInputs, device: str, on_progress: ProgressCallback) -> Animation:
        from inkmotion import models
        from inkmotion.pipelines.flipsketch import FlipSketchPipeline

        request, sketch = inputs.request, inputs.sketch
        spec = models.resolve(model)
        if models.needs_lora(spec, NAME):
            raise ModelUnavailable(models.missing_lora_message(spec))
        on_progress(Progress(0, 0, f"loading model {model}"))  # step 0: a phase, before the steps
        t2v = models.CACHE.get(spec, device, offload=models.offload_requested())
        clip_model, clip_processor = models.load_clip(spec.clip, device) if spec.clip else (None, None)
        pipeline = FlipSketchPipeline.from_model(t2v, clip_model=clip_model, clip_processor=clip_processor)
        frames = pipeline(sketch, request.prompt, inputs.config, on_progress)
        form = RESULT_FORM[request.result_form] or ("drawing" if inputs.strokes_in else "raster")
        if form == "drawing":  # traced back into strokes, for Grease Pencil
            from inkmotion.strokes.lineart import trace_lineart

            frames = [trace_lineart(frame) for frame in frames]
        keys = [Keyframe(i + 1, raster) for i, raster in enumerate(frames)]
        return Animation(sketch.width, sketch.height, keys, fps=8.0, layer=f"FlipSketch: {request.prompt[:40]}")

    return run


def spec() -> TaskSpec:
    return TaskSpec(
        tasks_pb2.RasterTextMotionRequest,
        "A raster sketch + text -> raster frames (FlipSketch)",
        label="Animate painted sketch",
        inputs=INPUTS,
        models=registered_models(NAME, runner),
        check=check,
        params=PARAMS,
        path_runner=runner,
    )
