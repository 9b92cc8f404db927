"""Layer frames <-> InkMotion requests and results, without Krita: the part of the plugin that
plain pytest can check.

Krita hands out pixels as BGRA bytes (8-bit RGBA documents) and takes them back the same way; the
contract speaks RGBA or PNG. Keyframe times, request building and result unpacking live here too.
Standard library only, plus the vendored `inkmotion.v1` messages (passed in or imported lazily,
since they need protobuf, which may not be installed yet).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

MAX_KEY_SEARCH = 10_000  # frames looked through for the keys around the current time


def bgra_to_rgba(data: bytes) -> bytes:
    """Swap blue and red of 8-bit pixel data (the same swap goes both ways)."""
    out = bytearray(data)
    out[0::4], out[2::4] = data[2::4], data[0::4]
    return bytes(out)


rgba_to_bgra = bgra_to_rgba


def ink_pixels(bgra: bytes, alpha_at_least: int = 128) -> int:
    """How many pixels are drawn on (alpha at least `alpha_at_least`)."""
    alpha = bgra[3::4]
    return len(alpha) - sum(alpha.count(bytes([value])) for value in range(alpha_at_least))


def is_blank(bgra: bytes) -> bool:
    return not bgra[3::4].strip(b"\x00")


def keys_around(has_key: Callable[[int], bool], current: int, first: int = 0, last: int | None = None) -> tuple[int, int]:
    """The start and end keys for an inbetween at `current`: the last key at or before it and the
    next key after that. On or after the last key: the two last keys. Raises ValueError naming the
    problem when the layer has fewer than two keys in [first, last]."""
    last = first + MAX_KEY_SEARCH if last is None else last
    keys = [t for t in range(first, last + 1) if has_key(t)]
    if len(keys) < 2:
        found = "no keyframe" if not keys else f"one keyframe (at {keys[0]})"
        raise ValueError(f"the layer has {found}: Inbetween needs a key before and a key after the current time")
    before = [t for t in keys if t <= current]
    if not before:
        return keys[0], keys[1]
    start = before[-1]
    after = [t for t in keys if t > start]
    if not after:
        return keys[-2], keys[-1]
    return start, after[0]


@dataclass
class Settings:
    """What the docker's fields say."""

    task: str = "inbetween"  # inbetween | animate | path
    prompt: str = ""
    frames: int = 0  # 0: the method's default (for Inbetween: every frame between the keys)
    fidelity: float = 0.5  # lambda: 1 keeps the drawing, 0 lets it move (FlipSketch's composition weight)
    seed: int = -1  # -1: random
    server: str = "127.0.0.1:50051"
    token: str = ""


def _raster(pb, width: int, height: int, png: bytes | None = None, rgba: bytes | None = None):
    if png is not None:
        return pb.drawing_pb2.Raster(width=width, height=height, png=png)
    return pb.drawing_pb2.Raster(width=width, height=height, rgba=rgba)


def inbetween_request(pb, start: tuple[int, dict], end: tuple[int, dict], settings: Settings):
    """InbetweenRequest for two raster keys (frame, {"width", "height", "png" or "rgba"}); the
    frames come back as rasters, one per frame from the start key to the end key."""
    keys = []
    for frame, pixels in (start, end):
        keys.append(pb.drawing_pb2.Keyframe(frame=frame, raster=_raster(pb, **pixels)))
    request = pb.tasks_pb2.InbetweenRequest(start=keys[0], end=keys[1], result_form=pb.tasks_pb2.RESULT_FORM_RASTER)
    if settings.frames:
        request.frames = settings.frames
    return request


def animate_request(pb, pixels: dict, settings: Settings):
    """RasterTextMotionRequest (FlipSketch): the layer's frame and the prompt."""
    if not settings.prompt.strip():
        raise ValueError("prompt: describe the motion first, e.g. \"the cat stretches\"")
    request = pb.tasks_pb2.RasterTextMotionRequest(
        sketch=_raster(pb, **pixels), prompt=settings.prompt.strip(), composition_weight=settings.fidelity
    )
    if settings.frames:
        request.frames = settings.frames
    if settings.seed >= 0:
        request.seed = settings.seed
    return request


def path_request(pb, pixels: dict, path: list[tuple[float, float]], settings: Settings):
    """PathMotionRequest: the layer's frame travels along `path` (canvas pixels)."""
    import struct

    if len(path) < 2:
        raise ValueError("path: draw the path on a vector layer named 'path' (at least two points)")
    packed = struct.pack(f"<{2 * len(path)}f", *(c for point in path for c in point))
    request = pb.tasks_pb2.PathMotionRequest(raster=_raster(pb, **pixels), path=packed)
    if settings.frames:
        request.frames = settings.frames
    if settings.seed >= 0:
        request.seed = settings.seed
    return request


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TOKEN = re.compile(rf"([MmLlHhVvCcSsQqTtZz])|({_NUMBER})")


def svg_path_points(d: str) -> list[tuple[float, float]]:
    """The points an SVG path passes through (curve control points left out): enough for a motion
    path. Supports M L H V C S Q T Z, absolute and relative."""
    points: list[tuple[float, float]] = []
    x = y = 0.0
    command = ""
    numbers: list[float] = []
    sizes = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "T": 2, "Z": 0}

    def flush() -> None:
        nonlocal x, y, command
        if not command:
            return
        size = sizes[command.upper()]
        if size == 0:
            if points:
                points.append(points[0])
            return
        relative = command.islower()
        for i in range(0, len(numbers) - size + 1, size):
            args = numbers[i : i + size]
            upper = command.upper()
            if upper == "H":
                x = args[0] + (x if relative else 0)
            elif upper == "V":
                y = args[0] + (y if relative else 0)
            else:
                ex, ey = args[-2], args[-1]
                x, y = (x + ex, y + ey) if relative else (ex, ey)
            points.append((x, y))

    for letter, number in _TOKEN.findall(d):
        if letter:
            flush()
            command, numbers = letter, []
            if letter in "Zz":
                flush()
                command = ""
        else:
            numbers.append(float(number))
    flush()
    return points


@dataclass
class Frame:
    """One frame of a result, ready for a layer: PNG bytes or raw RGBA."""

    frame: int
    width: int
    height: int
    png: bytes | None = None
    rgba: bytes | None = None


def result_frames(keyframes: Iterable) -> list[Frame]:
    """Raster keyframes of a result (inkmotion.v1.Keyframe messages) as Frames, in frame order.
    Raises ValueError for a drawing keyframe: ask the server for rasters (result_form)."""
    frames = []
    for key in keyframes:
        if key.WhichOneof("content") != "raster":
            raise ValueError(f"frame {key.frame}: the server sent a drawing; this layer needs raster frames")
        raster = key.raster
        kind = raster.WhichOneof("pixels")
        frames.append(Frame(key.frame, raster.width, raster.height,
                            png=raster.png if kind == "png" else None, rgba=raster.rgba if kind == "rgba" else None))
    return sorted(frames, key=lambda f: f.frame)
