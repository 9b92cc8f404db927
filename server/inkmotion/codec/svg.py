"""SVG files <-> `Drawing`: what artists' vector sketches look like on the way in and out.

Reading goes through svgelements, which resolves CSS, inheritance, `<use>`, transforms and the
viewBox; this module only turns its shapes into strokes:

- Every subpath becomes one `Stroke`; a subpath closed with `Z` is `cyclic`.
- `Stroke.bezier` keeps the authored curve as cubic Bezier control points ([3K+1, 2], or [3K, 2]
  with the closing segment included when cyclic). Lines and quadratics convert to cubics exactly,
  arcs to cubics of at most 30 degrees each (error below 1e-5 of the radius).
- `Stroke.points` samples that curve at about one point per `spacing` pixels of arc length, evenly
  along each segment, with every segment endpoint kept; a segment gets more points where the chord
  would stray more than `CHORD_TOLERANCE` from the curve (tight turns), and a stroke has at most
  `max_points` points (the spacing widens on very long strokes; a path with more segments than
  that keeps just their endpoints).
- Radius is half the stroke width as transformed (sqrt |det| of the element's matrix, as
  svgelements computes it); `color` is the stroke's RGB with alpha 1, and `opacities` carry
  stroke-opacity (or an rgba alpha) times every `opacity` on the element and its groups.

Choices where SVG and strokes do not map one to one:
- A fill only counts on closed areas: a filled subpath with a stroke keeps `fill` when it is
  closed and drops it when open (sketch exporters often leave the SVG default `fill: black` on
  open pen strokes, and nobody means those as blobs). `fill` alpha = fill-opacity * opacity.
- An element with a fill but no stroke (a shape drawn as filled outlines, as in surfer-01.svg)
  becomes a closed stroke with that fill and a hairline outline in the fill colour: radius 0.5 px
  (1 px wide, what anti-aliasing gives a fill's edge anyway), so models that see only strokes
  still see the shape. Its subpaths close even without `Z`, as SVG fills them.
- Subpaths are filled one by one, so a hole cut by another subpath of the same path (fill-rule)
  is filled in.
- Paint servers (gradients, patterns) read as black; `display: none` and `visibility: hidden`
  elements are skipped; `<image>` and `<text>` are ignored.
- The canvas is the SVG's width x height in px (a viewBox alone gives its size); with neither, the
  canvas is the drawing's extent rounded up.
"""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import svgelements as se

from inkmotion.codec.drawing import Drawing, Stroke
from inkmotion.errors import InvalidInput

SPACING = 2.0  # pixels of arc length between samples
CHORD_TOLERANCE = 0.25  # pixels a sampled chord may stray from the curve
MAX_POINTS = 2048  # samples per stroke at most
MAX_PER_SEGMENT = 512  # samples per cubic segment at most
HAIRLINE_RADIUS = 0.5  # the outline of a fill-only shape
_CLOSE_SNAP = 1e-3  # a subpath ending this close to its start closes without an extra segment
_ARC_SWEEP = math.tau / 12  # arcs become cubics of at most 30 degrees


# --- reading -------------------------------------------------------------------------------


def read_svg(
    source: str | Path | bytes,
    spacing: float = SPACING,
    max_points: int = MAX_POINTS,
    *,
    allow_empty: bool = False,
) -> Drawing:
    """Read an SVG file (a path, SVG text or bytes) into a Drawing of sampled Bezier strokes.

    Raises InvalidInput naming the file when it is not SVG, or has nothing to draw unless
    `allow_empty` (a blank keyframe read back from a frame folder).
    """
    name, data = _load(source)
    try:
        document = se.SVG.parse(io.BytesIO(data), reify=True)
    except ET.ParseError as exc:
        raise InvalidInput(name, f"not an SVG file: the XML does not parse ({exc})") from None
    except Exception as exc:  # svgelements raises assorted errors on broken attributes
        raise InvalidInput(name, f"not a readable SVG file: {type(exc).__name__}: {exc}") from None
    if not isinstance(document, se.SVG):
        raise InvalidInput(name, "not an SVG file: the root element is not <svg>")

    strokes: list[Stroke] = []
    for shape, opacity in _shapes(document, 1.0):
        strokes.extend(_shape_strokes(shape, opacity, spacing, max_points))
    if not strokes and not allow_empty:
        raise InvalidInput(name, "no drawable strokes: no visible path or shape with a stroke or fill")

    width, height = _canvas(document, strokes, name)
    return Drawing(width=width, height=height, strokes=strokes)


def _load(source: str | Path | bytes) -> tuple[str, bytes]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "svg", bytes(source)
    if isinstance(source, str) and source.lstrip().startswith("<"):
        return "svg", source.encode("utf-8")
    path = Path(source)
    try:
        return path.name, path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(str(path), "no such file") from None
    except IsADirectoryError:
        raise InvalidInput(str(path), "is a folder, not an SVG file") from None
    except OSError as exc:
        raise InvalidInput(str(path), f"cannot be read: {exc.strerror or exc}") from None


def _shapes(node, opacity: float):
    """Visible shapes in drawing order, each with the product of its own and its groups' opacity."""
    own = node.values.get(se.SVG_STRUCT_ATTRIB, {}) if hasattr(node, "values") else {}
    opacity *= _unit_float(own.get("opacity"), 1.0)
    if isinstance(node, se.Shape):
        visibility = str(node.values.get("visibility", "visible")).strip().lower()
        if visibility not in ("hidden", "collapse"):
            yield node, opacity
    elif isinstance(node, (se.Group, se.Use)):  # SVG is a Group; a <use> holds its copy
        for child in node:
            yield from _shapes(child, opacity)


def _unit_float(value, default: float) -> float:
    if value is None:
        return default
    text = str(value).strip()
    try:
        v = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        return default
    return min(max(v, 0.0), 1.0)


def _paint(color) -> np.ndarray | None:
    """svgelements Color -> RGBA floats, None for `none`."""
    if color is None or color.value is None:
        return None
    return np.array([color.red, color.green, color.blue, color.alpha], np.float32) / 255.0


def _shape_strokes(shape, opacity: float, spacing: float, max_points: int) -> list[Stroke]:
    stroke_paint = _paint(shape.stroke)
    fill_paint = _paint(shape.fill)
    if stroke_paint is not None and (stroke_paint[3] <= 0 or not shape.implicit_stroke_width):
        stroke_paint = None  # an invisible outline: the shape may still count for its fill
    if fill_paint is not None and fill_paint[3] <= 0:
        fill_paint = None
    if stroke_paint is None and fill_paint is None:
        return []

    if stroke_paint is not None:
        rgb, alpha = stroke_paint[:3], float(stroke_paint[3])
        radius = float(shape.implicit_stroke_width) / 2
    else:  # fill only: a hairline outline in the fill colour (see the module docstring)
        rgb, alpha = fill_paint[:3], float(fill_paint[3])
        radius = HAIRLINE_RADIUS
    color = np.append(rgb, 1.0).astype(np.float32)
    fill = None
    if fill_paint is not None:
        fill = np.append(fill_paint[:3], fill_paint[3] * opacity).astype(np.float32)

    strokes = []
    for bezier, closed in _subpaths(abs(se.Path(shape))):
        cyclic = closed or stroke_paint is None  # a fill closes its area, Z or not
        if cyclic and not closed:
            bezier = _close(bezier)
        if cyclic:
            bezier = bezier[:-1]  # the closing segment ends at bezier[0]
        points = sample_bezier(bezier, cyclic, spacing, max_points)
        strokes.append(
            Stroke.from_points(
                points,
                radius=radius,
                opacity=alpha * opacity,
                color=color,
                fill=fill if cyclic else None,
                cyclic=cyclic,
                bezier=bezier.astype(np.float32),
            )
        )
    return strokes


def _subpaths(path: se.Path):
    """Each subpath as cubic control points [3K+1, 2] (closing segment included) and whether it closed."""
    ctrl: list[tuple[float, float]] = []
    closed = False

    def flush():
        nonlocal ctrl, closed
        if len(ctrl) >= 4:
            out = np.array(ctrl, np.float64)
            yield out, closed
        ctrl, closed = [], False

    for seg in path:
        if isinstance(seg, se.Move):
            yield from flush()
            ctrl = [_xy(seg.end)]
            continue
        if not ctrl or closed:  # drawing on after Z starts a new subpath at the closing point
            start = _xy(seg.start)
            yield from flush()
            ctrl = [start]
        p0 = ctrl[-1]
        if isinstance(seg, se.Close):
            end = _xy(seg.end)
            # A closing side unless the subpath is back at its start already ("M x y Z", a dot,
            # gets a zero-length one); the caller drops the final point of a closed subpath.
            if math.dist(p0, end) > _CLOSE_SNAP or len(ctrl) < 4:
                ctrl.extend(_line(p0, end))
            closed = True
        elif isinstance(seg, se.Line):
            ctrl.extend(_line(p0, _xy(seg.end)))
        elif isinstance(seg, se.QuadraticBezier):
            q, p1 = np.array(_xy(seg.control)), np.array(_xy(seg.end))
            a = np.array(p0)
            ctrl.extend([tuple(a + 2 / 3 * (q - a)), tuple(p1 + 2 / 3 * (q - p1)), tuple(p1)])
        elif isinstance(seg, se.CubicBezier):
            ctrl.extend([_xy(seg.control1), _xy(seg.control2), _xy(seg.end)])
        elif isinstance(seg, se.Arc):
            pieces = max(1, math.ceil(abs(seg.sweep) / _ARC_SWEEP - 1e-9))
            cubics = list(seg.as_cubic_curves(pieces)) if seg.sweep else []
            if not cubics:  # a degenerate arc (zero radius) is a line
                ctrl.extend(_line(p0, _xy(seg.end)))
            for c in cubics:
                ctrl.extend([_xy(c.control1), _xy(c.control2), _xy(c.end)])
            ctrl[-1] = _xy(seg.end)  # exact endpoint, not the rounded arc's
    yield from flush()


def _xy(point) -> tuple[float, float]:
    return (float(point[0]), float(point[1]))


def _line(p0, p1) -> list[tuple[float, float]]:
    a, b = np.asarray(p0, np.float64), np.asarray(p1, np.float64)
    return [tuple(a + (b - a) / 3), tuple(a + 2 * (b - a) / 3), tuple(b)]


def _close(bezier: np.ndarray) -> np.ndarray:
    """Append a straight closing side unless the curve already ends at its start."""
    if np.linalg.norm(bezier[-1] - bezier[0]) <= _CLOSE_SNAP:
        return bezier
    return np.concatenate([bezier, np.array(_line(bezier[-1], bezier[0]))])


def _canvas(document: se.SVG, strokes: list[Stroke], name: str) -> tuple[int, int]:
    own = document.values.get(se.SVG_STRUCT_ATTRIB, {})
    if "width" in own or "height" in own or document.viewbox is not None:
        width, height = float(document.width), float(document.height)
    else:  # no size anywhere: the drawing's own extent
        pts = np.concatenate([s.points for s in strokes] + [np.ones((1, 2), np.float32)])
        width, height = (float(v) for v in np.max(pts, axis=0))
    w, h = max(1, math.ceil(width - 1e-6)), max(1, math.ceil(height - 1e-6))
    if not (math.isfinite(width) and math.isfinite(height)) or width <= 0 or height <= 0:
        raise InvalidInput(name, f"canvas size {width} x {height} is not positive")
    return w, h


# --- sampling ------------------------------------------------------------------------------


def cubic_segments(bezier: np.ndarray, cyclic: bool) -> np.ndarray:
    """Control points [3K+1, 2] (or [3K, 2] cyclic) -> per-segment control points [K, 4, 2]."""
    ctrl = np.asarray(bezier, np.float64)
    if cyclic:
        ctrl = np.concatenate([ctrl, ctrl[:1]])
    k = (len(ctrl) - 1) // 3
    if k < 1 or len(ctrl) != 3 * k + 1:
        raise ValueError(f"bezier: {len(bezier)} control points is not 3K+1 (3K when cyclic)")
    idx = 3 * np.arange(k)[:, None] + np.arange(4)[None, :]
    return ctrl[idx]


def eval_cubic(segments: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points of cubic segments [K, 4, 2] at parameters t: [K, M] (or [M], shared) -> [K, M, 2]."""
    t = np.broadcast_to(np.asarray(t, np.float64), (len(segments),) + np.shape(t)[-1:])[..., None]
    s = 1 - t
    p0, p1, p2, p3 = (segments[:, i, None, :] for i in range(4))
    return s**3 * p0 + 3 * s * s * t * p1 + 3 * s * t * t * p2 + t**3 * p3


def sample_bezier(
    bezier: np.ndarray,
    cyclic: bool = False,
    spacing: float = SPACING,
    max_points: int = MAX_POINTS,
) -> np.ndarray:
    """A polyline through a cubic Bezier curve: evenly spaced by arc length, endpoints kept.

    Returns float32 [N, 2]; for a cyclic curve the start is not repeated at the end.
    """
    segments = cubic_segments(bezier, cyclic)
    k = len(segments)
    # Dense evaluation for arc length; the control polygon bounds each segment's length.
    hulls = np.linalg.norm(np.diff(segments, axis=1), axis=2).sum(axis=1)
    dense = []
    for segment, hull in zip(segments, hulls):
        t_dense = np.linspace(0.0, 1.0, int(np.clip(np.ceil(hull / 0.1), 32, 8192)) + 1)
        curve = eval_cubic(segment[None], t_dense)[0]
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(curve, axis=0), axis=1))])
        dense.append((t_dense, curve, arc))
    total = sum(float(arc[-1]) for _, _, arc in dense)

    spacing = max(spacing, total / max(max_points - 1, 1))
    cap = max(1, min((max_points - 1) // k, MAX_PER_SEGMENT))
    pieces = []
    for i, (t_dense, curve, arc) in enumerate(dense):
        n = int(np.clip(math.ceil(arc[-1] / spacing - 1e-9), 1, cap))
        t = _refine(segments[i], _arc_params(arc, t_dense, n), t_dense, curve, arc, cap)
        pts = eval_cubic(segments[i : i + 1], t)[0]
        pts[0], pts[-1] = segments[i, 0], segments[i, 3]  # endpoints exactly
        pieces.append(pts if i == 0 else pts[1:])
    points = np.concatenate(pieces)
    if cyclic:
        points = points[:-1]  # it is the first point again
    points = _drop_repeats(points)
    return points.astype(np.float32)


def _arc_params(arc: np.ndarray, t_dense: np.ndarray, n: int) -> np.ndarray:
    """n+1 parameters evenly spaced by arc length along one segment."""
    if arc[-1] <= 0:
        return np.linspace(0.0, 1.0, n + 1)
    return np.interp(np.linspace(0.0, arc[-1], n + 1), arc, t_dense)


def _refine(
    segment: np.ndarray, t: np.ndarray, t_dense: np.ndarray, curve: np.ndarray, arc: np.ndarray, cap: int
) -> np.ndarray:
    """Split, at their arc-length midpoints, the chords that stray from the curve (tight turns)."""
    for _ in range(16):
        pts = eval_cubic(segment[None], t)[0]
        j = np.clip(np.searchsorted(t, t_dense, side="right") - 1, 0, len(t) - 2)
        error = np.zeros(len(t) - 1)
        np.maximum.at(error, j, point_segment_distance(curve, pts[j], pts[j + 1]))
        bad = np.flatnonzero(error > CHORD_TOLERANCE)
        if not len(bad) or len(t) - 1 >= cap:
            break
        bad = bad[: cap - (len(t) - 1)]
        along = np.interp(t, t_dense, arc)
        mids = np.interp((along[bad] + along[bad + 1]) / 2, arc, t_dense)
        t = np.sort(np.concatenate([t, mids]))
    return t


def point_segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of points p [..., 2] to segments a-b [..., 2] (broadcasting)."""
    ab = b - a
    denom = np.maximum((ab * ab).sum(-1), 1e-18)
    u = np.clip(((p - a) * ab).sum(-1) / denom, 0.0, 1.0)
    return np.linalg.norm(p - (a + u[..., None] * ab), axis=-1)


def _drop_repeats(points: np.ndarray) -> np.ndarray:
    """Drop consecutive duplicates (zero-length segments) but keep at least two points."""
    if len(points) < 2:
        return np.concatenate([points, points])[:2] if len(points) else points
    keep = np.ones(len(points), bool)
    keep[1:] = np.linalg.norm(np.diff(points, axis=0), axis=1) > 1e-6
    out = points[keep]
    if len(out) < 2:
        out = points[[0, -1]]
    return out


# --- writing -------------------------------------------------------------------------------


def write_svg(drawing: Drawing) -> str:
    """SVG text for a drawing: its canvas, and one <path> per stroke in drawing order.

    The cubic form is written when a stroke has one, else the polyline. Width is twice the mean
    radius; stroke-opacity the mean opacity times the colour's alpha; caps and joins round.
    """
    w, h = drawing.width, drawing.height
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}">',
    ]
    for stroke in drawing.strokes:
        if len(stroke) == 0:
            continue
        d = _path_data(stroke)
        rgba = np.asarray(stroke.colors(), np.float64).mean(axis=0)
        opacity = float(np.mean(stroke.opacities)) * float(rgba[3]) if len(stroke.opacities) else float(rgba[3])
        width = 2 * float(np.mean(stroke.radii)) if len(stroke.radii) else 0.0
        attrs = [
            f'd="{d}"',
            f'stroke="{_hex(rgba)}"',
            f'stroke-width="{_num(width)}"',
            f'stroke-opacity="{_num(min(max(opacity, 0.0), 1.0))}"',
        ]
        if stroke.fill is not None and stroke.fill[3] > 0:
            attrs += [f'fill="{_hex(stroke.fill)}"', f'fill-opacity="{_num(float(stroke.fill[3]))}"']
        else:
            attrs.append('fill="none"')
        attrs += ['stroke-linecap="round"', 'stroke-linejoin="round"']
        lines.append(f"  <path {' '.join(attrs)}/>")
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


def _path_data(stroke: Stroke) -> str:
    bezier = stroke.bezier
    if bezier is not None:
        n = len(bezier)
        valid = n >= 3 and n % 3 == 0 if stroke.cyclic else n >= 4 and n % 3 == 1
        if valid:
            ctrl = np.concatenate([bezier, bezier[:1]]) if stroke.cyclic else bezier
            parts = [f"M {_pt(ctrl[0])}"]
            for i in range(1, len(ctrl), 3):
                parts.append(f"C {_pt(ctrl[i])} {_pt(ctrl[i + 1])} {_pt(ctrl[i + 2])}")
            if stroke.cyclic:
                parts.append("Z")
            return " ".join(parts)
    pts = stroke.points if len(stroke) > 1 else np.concatenate([stroke.points, stroke.points])
    parts = [f"M {_pt(pts[0])}"] + [f"L {_pt(p)}" for p in pts[1:]]
    if stroke.cyclic:
        parts.append("Z")
    return " ".join(parts)


def _num(v: float) -> str:
    text = f"{float(v):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _pt(p) -> str:
    return f"{_num(p[0])} {_num(p[1])}"


def _hex(rgba) -> str:
    r, g, b = (int(round(min(max(float(c), 0.0), 1.0) * 255)) for c in rgba[:3])
    return f"#{r:02x}{g:02x}{b:02x}"

