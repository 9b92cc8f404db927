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

from inkmotion.budget import check_budget
from inkmotion.codec.drawing import Drawing, Stroke
from inkmotion.codec.pathdata import CLOSE_SNAP, parse_path_data
from inkmotion.errors import InvalidInput
from inkmotion.limits import MAX_COORDINATE
from inkmotion.strokes.bezier import cubic_segments, eval_cubic, point_segment_distance, points_on_segments

SPACING = 2.0  # pixels of arc length between samples
CHORD_TOLERANCE = 0.25  # pixels a sampled chord may stray from the curve
MAX_POINTS = 2048  # samples per stroke at most
MAX_PER_SEGMENT = 512  # samples per cubic segment at most
HAIRLINE_RADIUS = 0.5  # the outline of a fill-only shape
MAX_CANVAS = 1 << 16  # px; a server's own limit (Limits.max_canvas_size) is usually smaller


# --- reading -------------------------------------------------------------------------------


def read_svg(
    source: str | Path | bytes,
    spacing: float = SPACING,
    max_points: int = MAX_POINTS,
    *,
    allow_empty: bool = False,
    max_canvas: int = MAX_CANVAS,
) -> Drawing:
    """Read an SVG file (a path, SVG text or bytes) into a Drawing of sampled Bezier strokes.

    Raises InvalidInput naming the file when it is not SVG, or has nothing to draw unless
    `allow_empty` (a blank keyframe read back from a frame folder). Linear in the size of the
    file: path data is read by `pathdata.parse_path_data`, svgelements resolves the rest.
    """
    name, data = _load(source)
    try:
        data, path_data = _set_path_data_aside(data)
        document = se.SVG.parse(io.BytesIO(data), reify=False)
    except ET.ParseError as exc:
        raise InvalidInput(name, f"not an SVG file: the XML does not parse ({exc})") from None
    except InvalidInput:
        raise
    except Exception as exc:  # svgelements raises assorted errors on broken attributes
        raise InvalidInput(name, f"not a readable SVG file: {type(exc).__name__}: {exc}") from None
    if not isinstance(document, se.SVG):
        raise InvalidInput(name, "not an SVG file: the root element is not <svg>")

    strokes: list[Stroke] = []
    for shape, opacity in _shapes(document, 1.0):
        check_budget(name)
        strokes.extend(_shape_strokes(shape, opacity, spacing, max_points, path_data))
    if not strokes and not allow_empty:
        raise InvalidInput(name, "no drawable strokes: no visible path or shape with a stroke or fill")

    width, height = _canvas(document, strokes, name, max_canvas)
    return Drawing(width=width, height=height, strokes=strokes)


_ASIDE = "inkmotion-d"  # the attribute that says which set-aside path data a <path> had


def _set_path_data_aside(data: bytes) -> tuple[bytes, list[str]]:
    """Take every <path>'s `d` out of the document (svgelements would parse it segment by
    segment), leaving an index to it; `_subpaths_of` reads it back with the fast parser."""
    root = ET.fromstring(data)
    aside: list[str] = []
    for element in root.iter():
        tag = element.tag
        if isinstance(tag, str) and tag.rpartition("}")[2] == "path" and "d" in element.attrib:
            element.set(_ASIDE, str(len(aside)))
            aside.append(element.get("d"))
            element.set("d", "")
    if not aside:
        return data, aside
    return ET.tostring(root), aside


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


def _shape_strokes(shape, opacity: float, spacing: float, max_points: int, path_data: list[str]) -> list[Stroke]:
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
        if not 0 <= radius <= MAX_COORDINATE:
            raise InvalidInput("svg", f"a stroke width of {2 * radius:g} px is outside [0, {2 * MAX_COORDINATE:g}]")
    else:  # fill only: a hairline outline in the fill colour (see the module docstring)
        rgb, alpha = fill_paint[:3], float(fill_paint[3])
        radius = HAIRLINE_RADIUS
    color = np.append(rgb, 1.0).astype(np.float32)
    fill = None
    if fill_paint is not None:
        fill = np.append(fill_paint[:3], fill_paint[3] * opacity).astype(np.float32)

    strokes = []
    for bezier, closed in _subpaths_of(shape, path_data):
        if not np.all(np.abs(bezier) <= MAX_COORDINATE):  # NaN fails too
            raise InvalidInput("svg", f"a shape reaches beyond +-{MAX_COORDINATE:g} px (a coordinate or transform "
                                      "out of range)")
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


def _subpaths_of(shape, path_data: list[str]) -> list[tuple[np.ndarray, bool]]:
    """Each subpath of a shape, transformed, as cubic control points [3K+1, 2] and whether it closed."""
    index = shape.values.get(_ASIDE)
    if index is not None:  # a <path>: its own data, read here
        m = shape.transform
        return parse_path_data(path_data[int(index)], (m.a, m.b, m.c, m.d, m.e, m.f))
    # rect, circle, polyline...: a few segments, as svgelements writes them (transform applied)
    return parse_path_data(abs(se.Path(shape)).d())


def _line(p0, p1) -> list[tuple[float, float]]:
    a, b = np.asarray(p0, np.float64), np.asarray(p1, np.float64)
    return [tuple(a + (b - a) / 3), tuple(a + 2 * (b - a) / 3), tuple(b)]


def _close(bezier: np.ndarray) -> np.ndarray:
    """Append a straight closing side unless the curve already ends at its start."""
    if np.linalg.norm(bezier[-1] - bezier[0]) <= CLOSE_SNAP:
        return bezier
    return np.concatenate([bezier, np.array(_line(bezier[-1], bezier[0]))])


def _canvas(document: se.SVG, strokes: list[Stroke], name: str, max_canvas: int) -> tuple[int, int]:
    own = document.values.get(se.SVG_STRUCT_ATTRIB, {})
    if "width" in own or "height" in own or document.viewbox is not None:
        width, height = float(document.width), float(document.height)
    else:  # no size anywhere: the drawing's own extent
        pts = np.concatenate([s.points for s in strokes] + [np.ones((1, 2), np.float32)])
        width, height = (float(v) for v in np.max(pts, axis=0))
    if not (math.isfinite(width) and math.isfinite(height)) or width <= 0 or height <= 0:
        raise InvalidInput(f"{name}.width", f"canvas size {width:g} x {height:g} is not positive")
    for label, value in (("width", width), ("height", height)):
        if value > max_canvas:
            raise InvalidInput(f"{name}.{label}", f"{value:g} px is over the limit of {max_canvas} px")
    return max(1, math.ceil(width - 1e-6)), max(1, math.ceil(height - 1e-6))


# --- sampling ------------------------------------------------------------------------------


def sample_bezier(
    bezier: np.ndarray,
    cyclic: bool = False,
    spacing: float = SPACING,
    max_points: int = MAX_POINTS,
) -> np.ndarray:
    """A polyline through a cubic Bezier curve: evenly spaced by arc length, endpoints kept.

    Returns float32 [N, 2]; for a cyclic curve the start is not repeated at the end. All segments
    are sampled together (a path of 100,000 segments costs a few numpy passes, not a Python loop
    per segment): arc lengths from a dense table per segment, parameters spaced evenly along it,
    then chords that stray more than CHORD_TOLERANCE from the curve split at their midpoints.
    """
    segments = cubic_segments(bezier, cyclic)
    k = len(segments)
    table = _ArcTable(segments)
    total = float(table.lengths.sum())
    check_budget()

    spacing = max(spacing, total / max(max_points - 1, 1))
    cap = max(1, min((max_points - 1) // k, MAX_PER_SEGMENT))
    pieces = np.clip(np.ceil(table.lengths / spacing - 1e-9), 1, cap).astype(np.int64)
    # Parameters [segment index + t], evenly spaced by arc length within each segment.
    seg = np.repeat(np.arange(k), pieces + 1)
    first = np.concatenate([[0], np.cumsum(pieces + 1)[:-1]])
    fraction = (np.arange(len(seg)) - first[seg]) / pieces[seg]
    t = table.params(seg, fraction * table.lengths[seg])
    flat = table.lengths[seg] <= 0
    t[flat] = fraction[flat]  # a zero-length segment: its parameter is as good as any
    t[first] = 0.0
    t[first + pieces] = 1.0
    seg, t = _refine(segments, table, seg, t, cap)

    points = points_on_segments(segments[seg], t)
    ends = t == 1.0
    points[t == 0.0] = segments[seg[t == 0.0], 0]  # endpoints exactly
    points[ends] = segments[seg[ends], 3]
    keep = np.ones(len(points), bool)
    keep[1:] = seg[1:] == seg[:-1]  # each segment's first point is the previous one's last
    points = points[keep]
    if cyclic:
        points = points[:-1]  # it is the first point again
    points = _drop_repeats(points)
    return points.astype(np.float32)


class _ArcTable:
    """Arc length along each segment, tabulated densely (about every 0.1 px of its control
    polygon, 32..8192 samples). Segments are grouped by table size, each group in one pass;
    straight segments need no table."""

    def __init__(self, segments: np.ndarray):
        p0, p3 = segments[:, 0], segments[:, 3]
        # Straight lines (what `L` becomes: handles at a third and two thirds of the chord) move
        # at constant speed: their length is the chord and t is the fraction of it, no table.
        self.straight = (
            np.abs(segments[:, 1] - (2 * p0 + p3) / 3).max(axis=1) <= 1e-9 * (1 + np.abs(p0).max(axis=1))
        ) & (np.abs(segments[:, 2] - (p0 + 2 * p3) / 3).max(axis=1) <= 1e-9 * (1 + np.abs(p3).max(axis=1)))
        self.lengths = np.linalg.norm(p3 - p0, axis=1)
        curved = np.flatnonzero(~self.straight)
        hulls = np.linalg.norm(np.diff(segments[curved], axis=1), axis=2).sum(axis=1)
        need = np.clip(np.ceil(hulls / 0.1), 32, 8192)
        size = (2 ** np.ceil(np.log2(need))).astype(np.int64)  # 32, 64, ... samples
        self.groups = []  # (segment indices, t [M+1], curve [B, M+1, 2], arc [B, M+1])
        for m in np.unique(size):
            index = curved[size == m]
            t_dense = np.linspace(0.0, 1.0, int(m) + 1)
            for chunk in np.array_split(index, max(1, len(index) * int(m) // 2_000_000)):
                curve = eval_cubic(segments[chunk], t_dense)
                arc = np.zeros(curve.shape[:2])
                np.cumsum(np.linalg.norm(np.diff(curve, axis=1), axis=2), axis=1, out=arc[:, 1:])
                self.lengths[chunk] = arc[:, -1]
                self.groups.append((chunk, t_dense, curve, arc))
                check_budget()
        self.row = np.zeros(len(segments), np.int64)  # segment -> (group, row); group -1: straight
        self.group_of = np.full(len(segments), -1, np.int64)
        for g, (chunk, *_rest) in enumerate(self.groups):
            self.group_of[chunk] = g
            self.row[chunk] = np.arange(len(chunk))

    def _each_group(self, seg: np.ndarray):
        groups = self.group_of[seg]
        for g, (_chunk, t_dense, curve, arc) in enumerate(self.groups):
            where = np.flatnonzero(groups == g)
            if len(where):
                yield where, self.row[seg[where]], t_dense, curve, arc

    def params(self, seg: np.ndarray, along: np.ndarray) -> np.ndarray:
        """t in each segment `seg` at arc length `along` from its start."""
        length = self.lengths[seg]
        t = np.divide(along, length, out=np.zeros(len(seg)), where=length > 0)  # straight ones
        for where, rows, t_dense, _curve, arc in self._each_group(seg):
            t[where] = _interp_rows(along[where], rows, arc, t_dense)
        return t

    def along(self, seg: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Arc length from each segment's start at parameter t."""
        out = t * self.lengths[seg]  # straight ones
        for where, rows, t_dense, _curve, arc in self._each_group(seg):
            m = len(t_dense) - 1
            x = t[where] * m
            i = np.clip(np.floor(x).astype(np.int64), 0, m - 1)
            w = x - i
            out[where] = arc[rows, i] * (1 - w) + arc[rows, i + 1] * w
        return out


def _interp_rows(x: np.ndarray, rows: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """np.interp of each x in its own row of the nondecreasing tables xp [R, M] (fp shared, [M]).

    One np.interp over all rows: each row's table is scaled into [row, row + 0.5], each x into its
    row's range, so no row's values reach another's."""
    length = xp[:, -1]
    safe = np.where(length > 0, length, 1.0)
    keys = (np.arange(len(xp))[:, None] + 0.5 * (xp / safe[:, None])).ravel()
    targets = rows + 0.5 * np.clip(x / safe[rows], 0.0, 1.0)
    return np.interp(targets, keys, np.tile(fp, len(xp)))


def _refine(segments: np.ndarray, table: _ArcTable, seg: np.ndarray, t: np.ndarray, cap: int):
    """Split, at their arc-length midpoints, the chords that stray from the curve (tight turns).

    `seg`, `t`: the samples, sorted by segment then parameter. A segment gets at most `cap` chords."""
    for _ in range(16):
        pts = points_on_segments(segments[seg], t)
        key = seg + t * 0.5  # sorts by segment, then t; each segment within [s, s + 0.5]
        error = np.zeros(len(t))  # per chord, indexed by its first sample
        for chunk, t_dense, curve, _arc in table.groups:
            dense_seg = np.repeat(chunk, len(t_dense))
            j = np.searchsorted(key, dense_seg + np.tile(t_dense, len(chunk)) * 0.5, side="right") - 1
            last = np.searchsorted(key, dense_seg + 0.5, side="right") - 1  # the segment's final sample
            j = np.minimum(j, last - 1)
            d = point_segment_distance(curve.reshape(-1, 2), pts[j], pts[j + 1])
            runs = np.flatnonzero(np.concatenate([[True], j[1:] != j[:-1]]))  # j never decreases
            error[j[runs]] = np.maximum(error[j[runs]], np.maximum.reduceat(d, runs))
        check_budget()
        chords = np.bincount(seg, minlength=len(segments)) - 1
        bad = np.flatnonzero(error > CHORD_TOLERANCE)
        if not len(bad):
            break
        # At most `cap` chords per segment: the first bad ones of each segment get split.
        rank = np.arange(len(bad)) - np.searchsorted(seg[bad], seg[bad], side="left")
        bad = bad[rank < cap - chords[seg[bad]]]
        if not len(bad):
            break
        s = seg[bad]
        mid = (table.along(s, t[bad]) + table.along(s, t[bad + 1])) / 2
        new_t = table.params(s, mid)
        order = np.lexsort((np.concatenate([t, new_t]), np.concatenate([seg, s])))
        seg, t = np.concatenate([seg, s])[order], np.concatenate([t, new_t])[order]
    return seg, t


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

