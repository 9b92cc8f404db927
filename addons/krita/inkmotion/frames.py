"""Layer frames <-> InkMotion requests and results, without Krita: the part of the plugin that
plain pytest can check.

Krita hands out pixels as BGRA bytes (8-bit RGBA documents) and takes them back the same way; the
contract speaks RGBA or PNG. Keyframe times, request building and result unpacking live here too.
Standard library only, plus the vendored `inkmotion.v1` messages (passed in or imported lazily,
since they need protobuf, which may not be installed yet) and the vendored SVG path reader of the
server's codec (standard library only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

from ._vendor.svgpath import subpaths

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
    """What the docker's own fields say (a task's parameters are its form's: capabilities.fill)."""

    task: str = "inbetween"  # a task's name (TaskInfo.name): inbetween, text_motion, a plugin task's...
    prompt: str = ""
    model: str = ""  # "": the server's default model for the task
    server: str = "127.0.0.1:50051"
    token: str = ""
    video: str = ""  # Animate from video's reference: a movie file or a folder of frame images
    clip_start: float = 0.0  # seconds into it where the motion starts
    clip_end: float = 0.0  # seconds into it where it stops (0: the clip's end)


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
    return _options(request, settings)


def _options(request, settings: Settings):
    """The model the docker names, onto `request` (empty: the server's default for the task)."""
    if settings.model.strip():
        request.model = settings.model.strip()
    return request


def _prompt(settings: Settings) -> str:
    if not settings.prompt.strip():
        raise ValueError("prompt: describe the motion first, e.g. \"the cat stretches\"")
    return settings.prompt.strip()


def animate_request(pb, pixels: dict, settings: Settings):
    """RasterTextMotionRequest (FlipSketch): a paint layer's frame and the prompt."""
    request = pb.tasks_pb2.RasterTextMotionRequest(sketch=_raster(pb, **pixels), prompt=_prompt(settings))
    return _options(request, settings)


def vector_animate_request(pb, svg: str, settings: Settings):
    """TextMotionRequest (Live-Sketch): a vector layer's shapes as SVG in document pixels
    (`document_svg`) and the prompt; the frames come back as rasters at the SVG's canvas size."""
    request = pb.tasks_pb2.TextMotionRequest(sketch_svg=svg, prompt=_prompt(settings),
                                             result_form=pb.tasks_pb2.RESULT_FORM_RASTER)
    return _options(request, settings)


_XML_PROLOGUE = re.compile(r"\A(?:\s+|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>)*", re.DOTALL)
_SVG_START = re.compile(r"<svg\b([^>]*?)(/?)>", re.DOTALL)
_ATTRIBUTE = re.compile(r"""([\w:.-]+)\s*=\s*("[^"]*"|'[^']*')""")
_NAMESPACES = {
    "xmlns": "http://www.w3.org/2000/svg",
    "xmlns:xlink": "http://www.w3.org/1999/xlink",
    "xmlns:krita": "http://krita.org/namespaces/svg/krita",
    "xmlns:sodipodi": "http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd",
}


def document_svg(shapes_svg: str, width: int, height: int, ppi: float) -> str:
    """An SVG document of a Krita vector layer's shapes on the document's canvas, in pixels.

    Krita writes shapes in points (1/72 inch): `shapes_svg` is VectorLayer.toSvg() (a whole
    document, sized in pt) or Shape.toSvg() fragments. The result has width/height `width` x
    `height` (the document in pixels, unitless, so px) and a viewBox of the same page in points
    (size * 72 / ppi), so an SVG reader maps the shapes onto the document's pixels."""
    if width <= 0 or height <= 0:
        raise ValueError(f"document size {width} x {height} is not positive")
    if not ppi or ppi <= 0:
        raise ValueError(f"document resolution {ppi} ppi is not positive")
    text = _XML_PROLOGUE.sub("", shapes_svg or "", count=1)
    attributes = dict(_NAMESPACES)
    match = _SVG_START.match(text)
    if match:  # a whole document: keep its namespaces, replace its size
        for name, value in _ATTRIBUTE.findall(match.group(1)):
            if name == "xmlns" or name.startswith("xmlns:"):
                attributes[name] = value[1:-1]
        body = "" if match.group(2) else text[match.end():]
        end = body.rfind("</svg>")
        body = body[:end] if end >= 0 else body
    else:
        body = text
    if not re.search(r"<(?:path|rect|circle|ellipse|line|polyline|polygon|text|g|use)\b", body):
        raise ValueError("the vector layer has no shapes: draw on it first")
    scale = 72.0 / float(ppi)
    namespaces = " ".join(f'{name}="{value}"' for name, value in attributes.items())
    return (f'<svg {namespaces} width="{width}" height="{height}" '
            f'viewBox="0 0 {_number(width * scale)} {_number(height * scale)}">\n{body.strip()}\n</svg>\n')


def _number(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def video_request(pb, clip, settings: Settings, *, drawing=None, pixels: dict | None = None):
    """VideoMotionRequest: a vector layer's strokes (`drawing`, a Drawing message) or a paint
    layer's frame (`pixels`: traced by the server, its frames painted back) and the reference clip
    (`clip`: the vendored clip reader's Frames, RGBA arrays), at the clip's own frame rate."""
    request = pb.tasks_pb2.VideoMotionRequest(prompt=settings.prompt.strip())
    if drawing is not None:
        request.sketch.CopyFrom(drawing)
    else:
        request.sketch_raster.CopyFrom(_raster(pb, **pixels))
    request.reference_frames.extend(_raster(pb, image.shape[1], image.shape[0], rgba=image.tobytes())
                                    for image in clip.images)
    request.fps = clip.sampled_fps
    return _options(request, settings)


def path_request(pb, pixels: dict, path: list[tuple[float, float]], settings: Settings):
    """PathMotionRequest: the layer's frame travels along `path` (canvas pixels)."""
    import struct

    if len(path) < 2:
        raise ValueError("path: draw the path on a vector layer named 'path' (at least two points)")
    packed = struct.pack(f"<{2 * len(path)}f", *(c for point in path for c in point))
    request = pb.tasks_pb2.PathMotionRequest(raster=_raster(pb, **pixels), path=packed)
    return _options(request, settings)


def svg_path(svg: str) -> list[tuple[float, float]]:
    """The motion path of a `document_svg` document: its first stroke, in document pixels (the
    shape's transform and the page's points applied, curves sampled), as every stroke is read."""
    strokes = svg_strokes(svg)
    if not strokes or len(strokes[0][0]) < 2:
        raise ValueError("path: draw the path on a vector layer named 'path' (one stroke, at least two points)")
    return strokes[0][0]


_PATH_ELEMENT = re.compile(r"<path\b([^>]*)>", re.DOTALL)
_TRANSFORM = re.compile(r"(matrix|translate|scale)\s*\(([^)]*)\)")
_VIEWBOX = re.compile(r'viewBox="([^"]*)"')
CURVE_SAMPLES = 8  # points per cubic segment when shapes become strokes


def _transform(text: str) -> tuple[float, ...]:
    """An SVG transform attribute (matrix, translate, scale) as (a, b, c, d, e, f)."""
    a, b, c, d, e, f = 1.0, 0.0, 0.0, 1.0, 0.0, 0.0
    for name, args in _TRANSFORM.findall(text or ""):
        n = [float(x) for x in re.split(r"[\s,]+", args.strip()) if x]
        if name == "matrix" and len(n) == 6:
            m = n
        elif name == "translate":
            m = [1, 0, 0, 1, n[0] if n else 0.0, n[1] if len(n) > 1 else 0.0]
        elif name == "scale" and n:
            m = [n[0], 0, 0, n[1] if len(n) > 1 else n[0], 0, 0]
        else:
            continue
        a, b, c, d, e, f = (a * m[0] + c * m[1], b * m[0] + d * m[1], a * m[2] + c * m[3], b * m[2] + d * m[3],
                            a * m[4] + c * m[5] + e, b * m[4] + d * m[5] + f)
    return a, b, c, d, e, f


def svg_strokes(svg: str) -> list[tuple[list[tuple[float, float]], float]]:
    """The strokes of a `document_svg` document, in document pixels: each <path>'s subpaths (curves
    sampled, the path's own transform and the page's viewBox applied) with its radius (half its
    stroke-width). Group transforms are not read: Krita writes a shape's transform on the shape."""
    view = _VIEWBOX.search(svg)
    width = re.search(r'<svg\b[^>]*?\swidth="([\d.]+)"', svg)
    scale = 1.0
    if view and width:
        box = [float(x) for x in re.split(r"[\s,]+", view.group(1).strip())]
        scale = float(width.group(1)) / box[2] if len(box) == 4 and box[2] else 1.0
    strokes = []
    for attributes in _PATH_ELEMENT.findall(svg):
        found = dict((name, value[1:-1]) for name, value in _ATTRIBUTE.findall(attributes))
        a, b, c, d, e, f = _transform(found.get("transform", ""))
        width_match = re.match(r"[\d.]+", found.get("stroke-width", "1"))
        radius = max(0.5, float(width_match.group(0)) * scale * abs(a * d - b * c) ** 0.5 / 2) if width_match else 0.5
        for ctrl, closed in subpaths(found.get("d", "")):
            points = [(ctrl[0], ctrl[1])]
            for i in range(2, len(ctrl) - 1, 6):
                x0, y0 = points[-1] if i == 2 else (ctrl[i - 2], ctrl[i - 1])
                x1, y1, x2, y2, x3, y3 = ctrl[i:i + 6]
                for k in range(1, CURVE_SAMPLES + 1):
                    t = k / CURVE_SAMPLES
                    u = 1 - t
                    points.append((u**3 * x0 + 3 * u * u * t * x1 + 3 * u * t * t * x2 + t**3 * x3,
                                   u**3 * y0 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t**3 * y3))
            if closed:
                points.append(points[0])
            strokes.append(([((a * x + c * y + e) * scale, (b * x + d * y + f) * scale) for x, y in points], radius))
    return strokes


def svg_drawing(pb, svg: str, width: int, height: int, layer: str = ""):
    """A Drawing message of a `document_svg` document's strokes (what a task's DRAWING input takes)."""
    import struct

    strokes = svg_strokes(svg)
    if not strokes:
        raise ValueError("the vector layer has no paths Krita can send as strokes: draw on it first")
    flat = [c for points, _ in strokes for point in points for c in point]
    radii = [radius for points, radius in strokes for _ in points]
    return pb.drawing_pb2.Drawing(width=width, height=height, layer=layer, point_counts=[len(p) for p, _ in strokes],
                                  positions=struct.pack(f"<{len(flat)}f", *flat),
                                  radii=struct.pack(f"<{len(radii)}f", *radii))


def drawing_strokes(drawing) -> list[tuple[list[tuple[float, float]], float, tuple]]:
    """A Drawing message's strokes as (points, radius, RGBA 0..1) for a painter to draw."""
    import struct

    count = sum(drawing.point_counts)
    positions = struct.unpack(f"<{2 * count}f", drawing.positions) if count else ()
    radii = struct.unpack(f"<{count}f", drawing.radii) if len(drawing.radii) == 4 * count else (1.0,) * count
    colours = drawing.stroke_colors
    strokes, start = [], 0
    for i, n in enumerate(drawing.point_counts):
        points = [(positions[2 * k], positions[2 * k + 1]) for k in range(start, start + n)]
        radius = sum(radii[start:start + n]) / n if n else 1.0
        colour = struct.unpack("<4f", colours[16 * i:16 * i + 16]) if len(colours) >= 16 * (i + 1) else (0.0, 0.0, 0.0, 1.0)
        strokes.append((points, radius, colour))
        start += n
    return strokes


@dataclass
class Frame:
    """One frame of a result, ready for a layer: PNG bytes, raw RGBA, or strokes to paint."""

    frame: int
    width: int
    height: int
    png: bytes | None = None
    rgba: bytes | None = None
    strokes: list | None = None  # drawing_strokes() of a drawing keyframe


def result_frames(keyframes: Iterable, drawings: bool = False) -> list[Frame]:
    """Keyframes of a result (inkmotion.v1.Keyframe messages) as Frames, in frame order. A drawing
    keyframe raises ValueError (ask the server for rasters: result_form), unless `drawings` (a
    plugin task, which has no result_form): then it comes as strokes for the docker to paint."""
    frames = []
    for key in keyframes:
        if key.WhichOneof("content") == "drawing" and drawings:
            d = key.drawing
            frames.append(Frame(key.frame, d.width, d.height, strokes=drawing_strokes(d)))
            continue
        if key.WhichOneof("content") != "raster":
            raise ValueError(f"frame {key.frame}: the server sent a drawing; this layer needs raster frames")
        raster = key.raster
        kind = raster.WhichOneof("pixels")
        frames.append(Frame(key.frame, raster.width, raster.height,
                            png=raster.png if kind == "png" else None, rgba=raster.rgba if kind == "rgba" else None))
    return sorted(frames, key=lambda f: f.frame)


def fit_frame(frame: Frame, width: int, height: int) -> bool:
    """Whether a result frame must be scaled to the document's `width` x `height` (False: same
    size). A frame of another shape (aspect ratios more than 1% apart) raises ValueError: scaling
    it would distort the drawing."""
    if frame.width <= 0 or frame.height <= 0:
        raise ValueError(f"frame {frame.frame}: the server sent a {frame.width} x {frame.height} image")
    if (frame.width, frame.height) == (width, height):
        return False
    if abs(frame.width * height - frame.height * width) > 0.01 * width * frame.height:
        raise ValueError(f"frame {frame.frame}: the server sent {frame.width} x {frame.height} pixels for a "
                         f"{width} x {height} document; a different shape would be distorted, so nothing was written")
    return True


def result_times(frames: list[Frame], first_time: int) -> list[int]:
    """The timeline times of result frames: the first lands on `first_time`, the rest keep their
    spacing (Inbetween's frames are the keys' own times; Animate's are 1..N from the current time)."""
    if not frames:
        return []
    return [first_time + f.frame - frames[0].frame for f in frames]
