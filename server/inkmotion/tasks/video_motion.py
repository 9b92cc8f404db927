"""video_motion: a sketch + a reference clip -> the sketch moves as the clip's subject moves.

Two models:
- `motion-transfer` (the default where the prior's weights are absent): the CPU engine of
  inkmotion.pipelines.motion_transfer - points tracked on the clip's subject carry the sketch by a
  similarity and a thin-plate warp; code, no weights.
- `sketch-animator` (and any registered model of that kind): SketchAnimator on the text-to-video
  prior (inkmotion.pipelines.sketch_animator): appearance and motion LoRAs learned from the sketch
  and the clip (cached by content), then score distillation on the strokes' control points.

The sketch is strokes, or line art as a raster (traced for the engine, its frames painted back).
The clip travels as frames the host sampled (inkmotion.codec.video reads files), so the server
needs no codecs from the host: at least 2, all of one size, at most `MAX_SIDE` px a side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inkmotion.codec.drawing import Animation, Drawing, Raster
from inkmotion.errors import InvalidInput
from inkmotion.limits import Limits, check_raster, check_result_size, over
from inkmotion.pipelines.base import Progress, ProgressCallback
from inkmotion.tasks.base import (DRAWING, RASTER, TEXT, VIDEO, Input, Param, Runner, TaskSpec, check_params,
                                  in_given_form, param_values, registered_models,
                                  strokes_or_line_art)
from inkmotion.v1 import tasks_pb2

NAME = "video_motion"
MOTION_TRANSFER = "motion-transfer"
MAX_SIDE = 512  # px: a reference frame's longer side (inkmotion.codec.video.MAX_SIDE; hosts scale to it)
DEFAULT_SUBJECT = "sketch"  # SketchAnimator's subject word when the request gives none

INPUTS = (
    Input("sketch", "Sketch", "The drawing to animate (an SVG file, or a PNG of line art)", DRAWING),
    Input("reference_frames", "Reference video", "The clip whose motion the sketch takes (MP4, MOV, WebM, GIF, "
          "or a folder of frame images)", VIDEO),
    Input("prompt", "Subject", "The subject in a word or two (\"horse\"), for SketchAnimator", TEXT, required=False),
    Input("subject_mask", "Subject mask", "The subject in the clip's first frame, white on black (a PNG of that "
          "frame's size; default: found by its motion)", RASTER, required=False),
)
# Defaults: frames as the hosts sample clips; steps and LoRA steps the paper's 500; stiffness the
# motion-transfer engine's (MotionTransferConfig).
PARAMS = (
    Param("frames", "Frames", "Frames of the animation, the clip sampled evenly to this many (unset in a request: "
          "one per reference frame)", 16, 2, "max_frames"),
    Param("stiffness", "Stiffness", "motion-transfer: how little the drawing bends with the clip's parts (0: through "
          "every tracked point; large: moved as a whole)", 0.01, 0.0, 1e6),
    Param("steps", "Steps", "SketchAnimator: score-distillation iterations on the strokes", 500, 1, "max_steps"),
    Param("lora_steps", "LoRA steps", "SketchAnimator: iterations of each LoRA stage, appearance and motion (cached: "
          "the same clip again skips motion learning)", 500, 1, "max_steps"),
    Param("seed", "Seed", "Random seed: the same seed gives the same animation", 0, 0, 2**64 - 1),
    Param("preview_every", "Preview every", "SketchAnimator: send a preview frame every N steps (0: none)", 0, 0,
          "max_steps"),
)


@dataclass
class VideoMotionInputs:
    """A video_motion request, decoded once at submission."""

    request: tasks_pb2.VideoMotionRequest
    given: Drawing | Raster  # the sketch as sent (a raster comes back as frame 0, unchanged)
    sketch: Drawing  # as strokes
    clip: list[Raster]  # the reference, resampled to the animation's frames
    mask: np.ndarray | None  # bool [H, W] of the clip's first frame, or None: found by motion
    frames: int
    fps: float


def _clip(request: tasks_pb2.VideoMotionRequest, limits: Limits, prefix: str) -> list[Raster]:
    """The reference frames decoded: 2 to max_reference_frames, one size, at most MAX_SIDE px."""
    from inkmotion.budget import check_budget
    from inkmotion.codec.proto import raster_from_proto

    field_name = f"{prefix}.reference_frames"
    count = len(request.reference_frames)
    if count < 2:
        raise InvalidInput(field_name, f"has {count} frame{'' if count == 1 else 's'}, under the minimum of 2 "
                                       "(send the clip's frames, in order)")
    if count > limits.max_reference_frames:
        raise over(field_name, f"{count} frames", f"{limits.max_reference_frames} frames")
    frames = []
    for i, message in enumerate(request.reference_frames):
        where = f"{field_name}[{i}]"
        check_raster(where, message, limits)
        frame = raster_from_proto(message, where, limits.max_raster_pixels)
        if max(frame.width, frame.height) > MAX_SIDE:
            raise over(where, f"{frame.width} x {frame.height} px", f"{MAX_SIDE} px a side (scale the clip down)")
        if frames and (frame.width, frame.height) != (frames[0].width, frames[0].height):
            raise InvalidInput(where, f"is {frame.width} x {frame.height} px, not the first frame's "
                                      f"{frames[0].width} x {frames[0].height} px: a clip's frames are one size")
        frames.append(frame)
        check_budget()
    return frames


def _mask(request: tasks_pb2.VideoMotionRequest, first: Raster, limits: Limits, prefix: str) -> np.ndarray | None:
    from inkmotion.codec.proto import raster_from_proto

    if not request.HasField("subject_mask"):
        return None
    field_name = f"{prefix}.subject_mask"
    check_raster(field_name, request.subject_mask, limits)
    mask = raster_from_proto(request.subject_mask, field_name, limits.max_raster_pixels)
    if (mask.width, mask.height) != (first.width, first.height):
        raise InvalidInput(field_name, f"is {mask.width} x {mask.height} px, not the clip's {first.width} x "
                                       f"{first.height} px: draw it over the first frame")
    rgba = mask.rgba.astype(np.float32)
    inside = (rgba[..., :3].mean(-1) > 127) & (rgba[..., 3] > 127)
    if not inside.any():
        raise InvalidInput(field_name, "is empty: paint the subject white on black")
    return inside


def check(request: tasks_pb2.VideoMotionRequest, limits: Limits, prefix: str) -> VideoMotionInputs:
    check_params(request, PARAMS, limits, prefix)
    if request.HasField("fps") and not (0 < request.fps <= 1000):
        raise InvalidInput(f"{prefix}.fps", f"{request.fps:g} is not a frame rate from 0 (excluded) to 1000")
    if len(request.prompt) > limits.max_prompt_chars:
        raise over(f"{prefix}.prompt", f"{len(request.prompt)} characters", f"{limits.max_prompt_chars} characters")
    given, sketch = strokes_or_line_art(request, "sketch_form", limits, prefix, (
        "sketch", "is not set: give the drawing to animate (strokes or line art)"))
    clip = _clip(request, limits, prefix)
    mask = _mask(request, clip[0], limits, prefix)
    frames = request.frames if request.HasField("frames") else len(clip)
    if frames > limits.max_frames:
        raise over(f"{prefix}.frames", frames, limits.max_frames)
    if frames != len(clip):  # the clip sampled evenly to the animation's frames, ends kept
        clip = [clip[i] for i in np.rint(np.linspace(0, len(clip) - 1, frames)).astype(int)]
    raster_out = isinstance(given, Raster)
    check_result_size(f"{prefix}.frames", frames, 0 if raster_out else sketch.point_count,
                      sketch.width * sketch.height if raster_out else 0, limits)
    return VideoMotionInputs(request, given, sketch, clip, mask, frames, request.fps if request.HasField("fps") else 24.0)


def _layer(inputs: VideoMotionInputs, method: str) -> str:
    return inputs.sketch.layer or f"{method}: {inputs.request.prompt[:40]}".rstrip(": ")


def run_motion_transfer(inputs: VideoMotionInputs, device: str, on_progress: ProgressCallback) -> Animation:
    """The CPU engine: deterministic, on the CPU whatever the device (the seed is not used)."""
    from inkmotion.pipelines.motion_transfer import MotionTransferConfig, transfer

    values = param_values(inputs.request, PARAMS)
    config = MotionTransferConfig(stiffness=float(values["stiffness"]))
    drawings = transfer(inputs.sketch, inputs.clip, config, mask=inputs.mask, on_progress=on_progress)
    return in_given_form(inputs.given, drawings, layer=_layer(inputs, "Motion transfer"), fps=inputs.fps)


def runner(model: str) -> Runner:
    """A runner for a registered SketchAnimator model, or (in-process only) a model folder."""

    def run(inputs: VideoMotionInputs, device: str, on_progress: ProgressCallback) -> Animation:
        from inkmotion import models
        from inkmotion.pipelines.sketch_animator import SketchAnimatorConfig, SketchAnimatorPipeline

        values = param_values(inputs.request, PARAMS)
        on_progress(Progress(0, 0, f"loading model {model}"))  # step 0: a phase, before the steps
        # Never offloaded: LoRA training and score distillation need the UNet and the VAE every step.
        t2v = models.CACHE.get(models.resolve(model), device)
        config = SketchAnimatorConfig(frames=inputs.frames, steps=values["steps"], appearance_steps=values["lora_steps"],
                                      motion_steps=values["lora_steps"], seed=values["seed"],
                                      preview_every=values["preview_every"])
        pipeline = SketchAnimatorPipeline.from_model(t2v)
        prompt = inputs.request.prompt.strip() or DEFAULT_SUBJECT
        drawings = pipeline(inputs.sketch, inputs.clip, prompt, config, on_progress)
        return in_given_form(inputs.given, drawings, layer=_layer(inputs, "SketchAnimator"), fps=inputs.fps)

    return run


MODELS = {MOTION_TRANSFER: run_motion_transfer}  # the engines (code, no weights)


def default_for(request: tasks_pb2.VideoMotionRequest) -> str:
    """SketchAnimator where the prior's weights are here, else the motion-transfer engine."""
    from inkmotion import models, tasks

    name = models.DEFAULT_FOR_TASK[NAME]
    return name if tasks.model_info(tasks.get(NAME), name)[2] else MOTION_TRANSFER


def spec() -> TaskSpec:
    return TaskSpec(
        tasks_pb2.VideoMotionRequest,
        "A drawing + a reference video -> the drawing moves as the clip's subject does "
        "(motion transfer, or SketchAnimator)",
        label="Animate from video",
        inputs=INPUTS,
        models={**MODELS, **registered_models(NAME, runner)},
        check=check,
        params=PARAMS,
        path_runner=runner,
        engines=tuple(MODELS),
        default_for=default_for,
        aliases=("video",),
    )
