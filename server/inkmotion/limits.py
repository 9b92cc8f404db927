"""Input limits of a server, checked before any work is queued.

Checks run on the wire messages, before decoding, so a request with a million points is refused
without allocating them. Every refusal names the field, the value and the limit.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from inkmotion.errors import InvalidInput
from inkmotion.v1 import animation_service_pb2 as service_pb2
from inkmotion.v1 import drawing_pb2

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_frames: int = 128
    max_strokes: int = 4096
    max_points_per_stroke: int = 20_000
    max_points: int = 400_000
    max_canvas_size: int = 4096
    max_raster_pixels: int = 2048 * 2048
    max_prompt_chars: int = 1000
    max_steps: int = 5000
    max_message_bytes: int = 64 * MiB
    max_reference_frames: int = 256
    # What one job may produce: frames x points of its drawings, frames x pixels of its rasters.
    max_result_points: int = 16 * MiB  # ~0.5 GB as keyframe messages
    max_result_pixels: int = 64 * MiB  # 256 MB of RGBA: 16 frames of 2048 x 2048

    def to_proto(self) -> service_pb2.Limits:
        return service_pb2.Limits(**asdict(self))


INT32 = (-(2**31), 2**31 - 1)  # frame numbers on the wire
MAX_COORDINATE = 32768.0  # px from the origin: a point further out is a mistake, not a drawing
MAX_QUOTED = 64  # characters of a caller's value an error message repeats


def quoted(value: str, limit: int = MAX_QUOTED) -> str:
    """A caller's string for an error message: repr'd, and cut short when long."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def over(field: str, value, limit, unit: str = "") -> InvalidInput:
    unit = f" {unit}" if unit else ""
    return InvalidInput(field, f"{value}{unit} is over the limit of {limit}{unit}")


def check_range(field: str, value: float, low: float, high: float) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(field, f"{value} is not a finite number (the range is {low:g} to {high:g})")
    if value < low:
        raise InvalidInput(field, f"{value} is under the minimum of {low}")
    if value > high:
        raise over(field, value, high)


def check_canvas(field: str, width: int, height: int, limits: Limits) -> None:
    if width == 0 or height == 0:
        raise InvalidInput(f"{field}.width", f"canvas {width}x{height} is empty; width and height must be at least 1")
    for name, value in (("width", width), ("height", height)):
        if value > limits.max_canvas_size:
            raise over(f"{field}.{name}", value, limits.max_canvas_size, "px")


def check_drawing(field: str, drawing: drawing_pb2.Drawing, limits: Limits, require_strokes: bool = True) -> None:
    check_canvas(field, drawing.width, drawing.height, limits)
    counts = drawing.point_counts
    if len(counts) > limits.max_strokes:
        raise over(f"{field}.point_counts", f"{len(counts)} strokes", f"{limits.max_strokes} strokes")
    if require_strokes and not counts:
        raise InvalidInput(f"{field}.point_counts", "the drawing has no strokes")
    total = 0
    for i, n in enumerate(counts):
        if n == 0:
            raise InvalidInput(f"{field}.point_counts[{i}]", "stroke has no points")
        if n > limits.max_points_per_stroke:
            raise over(f"{field}.point_counts[{i}]", f"{n} points", f"{limits.max_points_per_stroke} points")
        total += n
    if total > limits.max_points:
        raise over(f"{field}.point_counts", f"{total} points", f"{limits.max_points} points")


def check_drawing_record(field: str, drawing, limits: Limits) -> None:
    """The limits of check_drawing, on a decoded Drawing (an SVG read, a raster traced)."""
    check_canvas(field, drawing.width, drawing.height, limits)
    if len(drawing.strokes) > limits.max_strokes:
        raise over(f"{field}.strokes", f"{len(drawing.strokes)} strokes", f"{limits.max_strokes} strokes")
    if not drawing.strokes:
        raise InvalidInput(field, "has no strokes")
    for i, stroke in enumerate(drawing.strokes):
        if len(stroke) > limits.max_points_per_stroke:
            raise over(f"{field}.strokes[{i}]", f"{len(stroke)} points", f"{limits.max_points_per_stroke} points")
    if drawing.point_count > limits.max_points:
        raise over(field, f"{drawing.point_count} points", f"{limits.max_points} points")


def check_result_size(field: str, frames: int, points: int, pixels: int, limits: Limits) -> None:
    """What a job would produce: `frames` keyframes of `points` points or `pixels` pixels each."""
    if points and frames * points > limits.max_result_points:
        raise InvalidInput(field, f"the result would hold {frames} frames x {points} points = {frames * points} "
                                  f"points, over the limit of {limits.max_result_points}; ask for fewer frames "
                                  "or a simpler drawing")
    if pixels and frames * pixels > limits.max_result_pixels:
        raise InvalidInput(field, f"the result would hold {frames} frames x {pixels} pixels = {frames * pixels} "
                                  f"pixels, over the limit of {limits.max_result_pixels}; ask for fewer frames "
                                  "or a smaller canvas")


def check_raster(field: str, raster: drawing_pb2.Raster, limits: Limits) -> None:
    kind = raster.WhichOneof("pixels")
    if kind is None:
        raise InvalidInput(field, "has neither png nor rgba pixels")
    if kind == "rgba":
        width, height = raster.width, raster.height
        expected = width * height * 4
        if len(raster.rgba) != expected:
            raise InvalidInput(f"{field}.rgba", f"has {len(raster.rgba)} bytes; {width}x{height} RGBA is {expected}")
    else:  # read the size from the PNG header, before anything is decoded
        header = raster.png[:24]
        if len(header) < 24 or header[:8] != b"\x89PNG\r\n\x1a\n" or header[12:16] != b"IHDR":
            raise InvalidInput(f"{field}.png", "is not a PNG file")
        width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    check_canvas(field, width, height, limits)
    if width * height > limits.max_raster_pixels:
        raise over(field, f"{width}x{height} = {width * height} pixels", limits.max_raster_pixels)


def check_keyframe(field: str, key: drawing_pb2.Keyframe, limits: Limits) -> None:
    kind = key.WhichOneof("content")
    if kind == "drawing":
        check_drawing(f"{field}.drawing", key.drawing, limits)
    elif kind == "raster":
        check_raster(f"{field}.raster", key.raster, limits)
    else:
        raise InvalidInput(field, "is not set: give a drawing or a raster")


def check_prompt(field: str, prompt: str, limits: Limits, required: bool = True) -> None:
    if required and not prompt.strip():
        raise InvalidInput(field, "is empty; describe the motion, e.g. \"the cat stretches\"")
    if len(prompt) > limits.max_prompt_chars:
        raise over(field, f"{len(prompt)} characters", f"{limits.max_prompt_chars} characters")


def check_optional(request, name: str, low: int, high: int, field_prefix: str) -> None:
    if request.HasField(name):
        check_range(f"{field_prefix}.{name}", getattr(request, name), low, high)
