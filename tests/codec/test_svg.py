"""SVG in and out: the test sketches (our own and the shared ones), each kind of segment and shape,
styles, bad files, round trips."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from inkmotion.codec.drawing import Drawing, Stroke
from inkmotion.codec.svg import read_svg, write_svg
from inkmotion.errors import InvalidInput

import fixtures

SVG_NS = 'xmlns="http://www.w3.org/2000/svg"'


def svg(body: str, size: str = 'width="100" height="100"') -> str:
    return f"<svg {SVG_NS} {size}>{body}</svg>"


def bezier_dense(bezier: np.ndarray, cyclic: bool, per_segment: int | None = None) -> np.ndarray:
    """The curve evaluated densely, written out here rather than taken from the module under test:
    `per_segment` points on each cubic, or by default 4 per pixel of its control polygon (at least
    8), so that chords stay far within the tolerances below and long pen lines stay cheap."""
    ctrl = np.asarray(bezier, np.float64)
    if cyclic:
        ctrl = np.concatenate([ctrl, ctrl[:1]])
    out = []
    for k in range(0, len(ctrl) - 1, 3):
        p0, p1, p2, p3 = ctrl[k : k + 4]
        n = per_segment or max(8, int(np.ceil(4 * np.linalg.norm(np.diff(ctrl[k : k + 4], axis=0), axis=1).sum())))
        t = np.linspace(0.0, 1.0, n + 1)[:, None]
        out.append((1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3)
    return np.concatenate(out)


def distance_to_polyline(points: np.ndarray, polyline: np.ndarray) -> np.ndarray:
    """Distance of each point to the nearest segment of a polyline."""
    a, b = polyline[:-1][None], polyline[1:][None]
    p = points[:, None]
    ab = b - a
    u = np.clip(((p - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    return np.linalg.norm(p - (a + u[..., None] * ab), axis=-1).min(axis=1)


def closed_polyline(stroke: Stroke) -> np.ndarray:
    pts = stroke.points.astype(np.float64)
    return np.concatenate([pts, pts[:1]]) if stroke.cyclic else pts


# --- the sketches: the project's own, and the shared ones drawn by others ----------------------


@pytest.fixture(scope="module", params=["own", "shared"])
def sketches(request) -> dict:
    """Each sketch read once: {path: Drawing}."""
    paths = request.getfixturevalue("vector_sketches" if request.param == "own" else "shared_vector_sketches")
    return {path: read_svg(path) for path in paths}


def test_every_sketch_loads_with_strokes_on_its_canvas(sketches):
    for path, drawing in sketches.items():
        root = ET.parse(path).getroot()
        assert (drawing.width, drawing.height) == (int(root.get("width")), int(root.get("height"))), path.name
        assert len(drawing.strokes) > 0, path.name
        pts = np.concatenate([s.points for s in drawing.strokes])
        assert np.isfinite(pts).all(), path.name
        size = np.array([drawing.width, drawing.height])
        # A few authored curves swing past the edge (the shared flag_3 by 38 px): most ink must be on
        # the canvas and none far off it.
        outside = ((pts < -2) | (pts > size + 2)).any(axis=1)
        assert outside.mean() < 0.1, path.name
        assert (pts > -0.25 * size).all() and (pts < 1.25 * size).all(), path.name


def _distance_to_dense(points: np.ndarray, dense: np.ndarray) -> np.ndarray:
    """distance_to_polyline, a few hundred points at a time (the truth curves are long)."""
    return np.concatenate([distance_to_polyline(points[i : i + 256], dense) for i in range(0, len(points), 256)])


@pytest.mark.parametrize("name", [n for n in fixtures.VECTOR_NAMES if n in fixtures.PROCEDURAL_NAMES])
def test_each_own_sketch_reads_as_it_was_drawn(vector_sketches, name):
    """Against the strokes tests/fixtures drew (with numpy, not an SVG library): every element kind,
    transform, viewBox, style and inherited opacity comes back where and how it was drawn."""
    truth = fixtures.vector_sketch(name)
    drawing = read_svg(next(p for p in vector_sketches if p.name == name))
    assert (drawing.width, drawing.height) == (truth.width, truth.height)
    assert len(drawing.strokes) == len(truth.strokes)
    for i, (stroke, ink) in enumerate(zip(drawing.strokes, truth.strokes)):
        where = f"{name} stroke {i}"
        assert stroke.cyclic == ink.closed, where
        assert np.allclose(stroke.radii, ink.radius, rtol=1e-5, atol=1e-4), where
        assert np.allclose(stroke.color, ink.color, atol=1 / 255), where
        assert np.allclose(stroke.opacities, ink.opacity, atol=1 / 255), where
        assert (stroke.fill is None) == (ink.fill is None), where
        if ink.fill is not None:
            assert np.allclose(stroke.fill, ink.fill, atol=1 / 255), where
        # Every sample lies on the true curve, and the samples follow all of it.
        assert _distance_to_dense(stroke.points.astype(np.float64), ink.points).max() < 0.05, where
        assert _distance_to_dense(ink.points, closed_polyline(stroke)).max() < 0.5, where
        if ink.cubic is not None:  # cubics as written, lines and quadratics as their exact cubics
            want = ink.cubic[:-1] if ink.closed else ink.cubic
            assert np.allclose(stroke.bezier, want, atol=1e-3), where


def test_every_sketch_keeps_its_bezier_form_and_samples_it_closely(sketches):
    for path, drawing in sketches.items():
        for i, stroke in enumerate(drawing.strokes):
            where = f"{path.name} stroke {i}"
            assert stroke.bezier is not None, where
            n = len(stroke.bezier)
            assert (n % 3 == 0 and n >= 3) if stroke.cyclic else (n % 3 == 1 and n >= 4), where
            assert stroke.points.dtype == np.float32 and stroke.points.shape[1] == 2, where
            assert len(stroke.radii) == len(stroke.opacities) == len(stroke.points), where
            dense = bezier_dense(stroke.bezier, stroke.cyclic)
            polyline = closed_polyline(stroke)
            # The polyline follows the curve: every dense curve point is near it ...
            assert distance_to_polyline(dense, polyline).max() < 0.5, where
            # ... and every sample lies on the curve.
            assert distance_to_polyline(stroke.points.astype(np.float64), dense).max() < 0.05, where
            # It passes through the segment endpoints.
            ends = stroke.bezier[::3]
            for end in ends:
                assert np.min(np.linalg.norm(stroke.points - end, axis=1)) < 1e-3, where


def test_sampling_density_follows_length(sketches):
    for path, drawing in sketches.items():
        for stroke in drawing.strokes:
            steps = np.linalg.norm(np.diff(closed_polyline(stroke), axis=0), axis=1)
            assert steps.max() <= 2.0 + 1e-3, path.name
            # About one point per 2 px: tight turns add some, never many times that. Every segment
            # keeps its endpoints, so a pen line of many short segments has at most one more each.
            segments = len(stroke.bezier) // 3
            assert len(stroke) <= stroke.length() / 2 * 1.5 + 4 + segments, path.name


def test_live_sketch_strokes_are_black_3px_open_curves(vector_sketches):
    # fish-1.svg is laid out as Live-Sketch writes its files: one cubic per <path>, 3 px, black.
    drawing = read_svg(next(p for p in vector_sketches if p.name == "fish-1.svg"))
    truth = fixtures.vector_sketch("fish-1.svg")
    assert len(drawing.strokes) == 16
    for stroke in drawing.strokes:
        assert not stroke.cyclic and stroke.fill is None
        assert np.allclose(stroke.radii, 1.5)
        assert np.allclose(stroke.opacities, 1.0)
        assert np.allclose(stroke.color, [0, 0, 0, 1])
        assert stroke.bezier.shape == (4, 2)  # one cubic each
    first = drawing.strokes[0]
    assert np.allclose(first.bezier, truth.strokes[0].cubic, atol=1e-4)


def test_fill_only_shapes_in_css_classes_become_closed_filled_hairlines(vector_sketches):
    # surf.svg, drawn by hand, is written as a vector exporter does: fills from CSS classes, no
    # strokes, compact relative path data ("-1.9.8" is -1.9 then .8), s/h/v shorthands, two
    # subpaths in one path.
    drawing = read_svg(next(p for p in vector_sketches if p.name == "surf.svg"))
    assert len(drawing.strokes) == 8  # one per subpath, fill from the CSS class
    ink, sea = np.array([2, 2, 2, 255]) / 255, np.array([0x1F, 0x5F, 0x8B, 255]) / 255
    for stroke in drawing.strokes:
        assert stroke.cyclic
        assert stroke.fill is not None and np.allclose(stroke.color[:3], stroke.fill[:3])
        assert np.allclose(stroke.radii, 0.5)
        assert len(stroke.bezier) % 3 == 0
    assert all(np.allclose(s.fill, ink) for s in drawing.strokes[:-1]) and np.allclose(drawing.strokes[-1].fill, sea)
    head = drawing.strokes[0]  # a circle of radius 7 about (120.5, 69.2), in four relative cubics
    assert np.abs(np.linalg.norm(head.points - [120.5, 69.2], axis=1) - 7).max() < 0.1
    # the sea ends with H then Z: its last sides run along the bottom and back up the left edge
    assert np.allclose(drawing.strokes[-1].bezier[-3], [40, 184], atol=1e-4)


def test_a_hand_drawn_kite_with_uses_styles_and_shorthands(vector_sketches):
    kite, cross_v, cross_h, tail, bow_1, bow_2, wind_1, wind_2 = read_svg(
        next(p for p in vector_sketches if p.name == "kite.svg")).strokes
    assert kite.cyclic and np.allclose(kite.fill, [0xF7 / 255, 0x7F / 255, 0, 1], atol=1 / 255)
    assert np.allclose(kite.radii, 1.25) and np.allclose(kite.color, [0x22 / 255] * 3 + [1], atol=1 / 255)
    assert np.allclose(cross_v.points[[0, -1]], [[100, 20], [100, 150]]) and np.allclose(cross_h.points[-1], [150, 80])
    assert np.allclose(tail.points[-1], [110, 235], atol=1e-3)  # S reflects the handle before it
    # Each <use> copies the bow where it says: the second turned 20 degrees about (100, 205).
    assert np.allclose(bow_1.bezier[0], [100, 170]) and bow_1.cyclic and np.allclose(bow_1.radii, 0.5)
    c, s = math.cos(math.radians(20)), math.sin(math.radians(20))
    corner = np.array([96 + 8 - 100, 205 - 5 - 205])  # the bow's second corner, before the turn
    assert np.allclose(bow_2.bezier[3], [100 + c * corner[0] - s * corner[1], 205 + s * corner[0] + c * corner[1]], atol=1e-3)
    for wind in (wind_1, wind_2):  # q then t: each wave is quadratics, the group half transparent
        assert np.allclose(wind.opacities, 0.5) and not wind.cyclic and wind.fill is None
    assert np.allclose(wind_1.points[-1], [80, 30], atol=1e-3) and len(wind_1.bezier) == 10


def test_a_viewbox_that_does_not_start_at_the_origin(vector_sketches):
    # cup.svg: 200 x 200 px showing the viewBox 10 10 100 100: user units x2, shifted by -10.
    drawing = read_svg(next(p for p in vector_sketches if p.name == "cup.svg"))
    assert (drawing.width, drawing.height) == (200, 200) and len(drawing.strokes) == 6
    rim, body, handle, steam, faint, saucer = drawing.strokes
    e = (rim.points - [90, 80]) / [56, 12]  # the rim: ellipse (55, 50) radii 28, 6
    assert rim.cyclic and np.abs(np.hypot(e[:, 0], e[:, 1]) - 1).max() < 1e-3
    assert np.allclose(rim.radii, 1.5) and np.allclose(saucer.radii, 3.0)
    assert np.allclose(body.points[[0, -1]], [[34, 80], [146, 80]], atol=1e-3)
    assert np.allclose(handle.points[0], [144, 96], atol=1e-3)
    assert np.abs(np.linalg.norm(handle.points[:20] - [144, 114], axis=1) - 18).max() < 0.01  # the arc: r 9 -> 18 px
    assert np.allclose(faint.opacities, 0.6) and np.allclose(steam.opacities, 1.0)
    assert np.allclose(saucer.points[[0, -1]], [[40, 172], [140, 172]])


# --- each segment kind and shape -----------------------------------------------------------


def test_line_becomes_an_exact_cubic_and_evenly_spaced_points():
    (stroke,) = read_svg(svg('<path d="M 10 20 L 30 20" stroke="black"/>')).strokes
    assert np.allclose(stroke.bezier, [[10, 20], [10 + 20 / 3, 20], [10 + 40 / 3, 20], [30, 20]], atol=1e-4)
    assert len(stroke) == 11  # 20 px at one point per 2 px
    assert np.allclose(stroke.points[:, 1], 20)
    assert np.allclose(np.diff(stroke.points[:, 0]), 2.0, atol=1e-3)


def test_quadratic_converts_to_the_same_curve():
    (stroke,) = read_svg(svg('<path d="M 0 0 Q 50 100 100 0" stroke="black"/>')).strokes
    p0, q, p1 = np.array([0.0, 0.0]), np.array([50.0, 100.0]), np.array([100.0, 0.0])
    t = np.linspace(0, 1, 2001)[:, None]
    exact = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * q + t**2 * p1
    assert np.allclose(bezier_dense(stroke.bezier, False, 2000), exact, atol=1e-3)
    assert np.allclose(stroke.bezier[1], p0 + 2 / 3 * (q - p0), atol=1e-4)


def test_smooth_quadratic_and_cubic_shorthands():
    (stroke,) = read_svg(svg('<path d="M 0 50 Q 25 0 50 50 T 100 50 S 150 100 100 100" stroke="black"/>')).strokes
    assert len(stroke.bezier) == 10  # three segments
    # T reflects the control point: the second curve bulges the other way, through (75, 75).
    assert distance_to_polyline(np.array([[75.0, 75.0]]), closed_polyline(stroke))[0] < 0.1


def test_arc_points_lie_on_the_circle():
    (stroke,) = read_svg(svg('<path d="M 20 50 A 30 30 0 0 1 80 50" stroke="black"/>')).strokes
    centre = np.array([50.0, 50.0])
    assert np.abs(np.linalg.norm(stroke.points - centre, axis=1) - 30).max() < 1e-3
    assert np.abs(np.linalg.norm(bezier_dense(stroke.bezier, False) - centre, axis=1) - 30).max() < 1e-3
    assert np.allclose(stroke.points[0], [20, 50]) and np.allclose(stroke.points[-1], [80, 50])
    assert stroke.points[:, 1].min() == pytest.approx(20, abs=0.01)  # the sweep goes up (y down)
    assert len(stroke) == pytest.approx(math.pi * 30 / 2, abs=3)


def test_circle_and_ellipse_are_closed_curves():
    circle, ellipse = read_svg(
        svg('<circle cx="50" cy="50" r="20" stroke="black" fill="none"/>'
            '<ellipse cx="50" cy="50" rx="40" ry="10" stroke="black" fill="none"/>')
    ).strokes  # fmt: skip
    assert circle.cyclic and ellipse.cyclic
    assert np.abs(np.linalg.norm(circle.points - 50, axis=1) - 20).max() < 1e-3
    e = (ellipse.points - 50) / [40, 10]
    assert np.abs(np.hypot(e[:, 0], e[:, 1]) - 1).max() < 1e-3
    assert circle.length() == pytest.approx(2 * math.pi * 20, rel=1e-3)
    assert len(circle.bezier) % 3 == 0
    # The closing point is not repeated.
    assert np.linalg.norm(circle.points[0] - circle.points[-1]) > 1


def test_rect_line_polyline_polygon():
    rect, line, polyline, polygon = read_svg(
        svg('<rect x="10" y="10" width="20" height="10" stroke="black" fill="none"/>'
            '<line x1="0" y1="90" x2="40" y2="90" stroke="black"/>'
            '<polyline points="0,0 10,10 20,0" stroke="black" fill="none"/>'
            '<polygon points="50,50 60,60 70,50" stroke="black" fill="none"/>')
    ).strokes  # fmt: skip
    assert rect.cyclic and len(rect.bezier) == 12
    assert rect.length() == pytest.approx(60, abs=1e-3)
    assert set(map(tuple, rect.bezier[::3].tolist())) == {(10, 10), (30, 10), (30, 20), (10, 20)}
    assert not line.cyclic and line.length() == pytest.approx(40, abs=1e-3)
    assert not polyline.cyclic and len(polyline.bezier) == 7
    assert polygon.cyclic and len(polygon.bezier) == 9


def test_each_subpath_is_a_stroke_and_z_closes():
    d = "M 0 0 L 10 0 L 10 10 Z M 20 20 L 30 20 M 40 40 L 40 50 L 50 50 L 40 40 Z"
    drawing = read_svg(svg(f'<path d="{d}" stroke="black" fill="none"/>'))
    a, b, c = drawing.strokes
    assert a.cyclic and len(a.bezier) == 9  # three sides, the closing one included
    assert a.length() == pytest.approx(20 + math.sqrt(200), abs=1e-3)
    assert not b.cyclic and len(b.bezier) == 4
    # A subpath that already ends on its start closes without a zero-length segment.
    assert c.cyclic and len(c.bezier) == 9
    for stroke in drawing.strokes:
        assert np.linalg.norm(np.diff(closed_polyline(stroke), axis=0), axis=1).min() > 1e-3


# --- transforms and canvas -----------------------------------------------------------------


def test_translate_and_rotate_group_moves_points_exactly():
    (stroke,) = read_svg(
        svg('<g transform="translate(30,40)"><g transform="rotate(90)">'
            '<path d="M 0 0 L 10 0" stroke="black" stroke-width="2"/></g></g>')
    ).strokes  # fmt: skip
    assert np.allclose(stroke.points[0], [30, 40], atol=1e-4)
    assert np.allclose(stroke.points[-1], [30, 50], atol=1e-4)  # +x rotated 90 degrees is +y
    assert np.allclose(stroke.points[:, 0], 30, atol=1e-4)
    assert np.allclose(stroke.radii, 1.0)  # rotation keeps the width


def test_matrix_and_scale_transform_points_and_width():
    drawing = read_svg(
        svg('<g transform="scale(2)"><path d="M 5 5 L 15 5" stroke="black" stroke-width="3"/></g>'
            '<path d="M 0 0 L 10 0" stroke="black" transform="matrix(0 1 -1 0 50 10)"/>'
            '<circle cx="0" cy="0" r="5" stroke="black" fill="none" transform="translate(50 50) scale(3)"/>'
            '<rect width="10" height="10" stroke="black" stroke-width="2" fill="none" transform="rotate(30) scale(2)"/>')
    )  # fmt: skip
    scaled, matrix, circle, rect = drawing.strokes
    assert np.allclose(scaled.points[[0, -1]], [[10, 10], [30, 10]], atol=1e-4)
    assert np.allclose(scaled.radii, 3.0)  # width 3 scaled by 2, halved
    assert np.allclose(matrix.points[[0, -1]], [[50, 10], [50, 20]], atol=1e-4)
    assert np.abs(np.linalg.norm(circle.points - 50, axis=1) - 15).max() < 1e-3
    assert np.allclose(circle.radii, 1.5)
    # A rotated rectangle keeps its matrix inside svgelements: the width must still scale.
    assert np.allclose(rect.radii, 2.0)
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    assert np.allclose(rect.bezier[3], [20 * c, 20 * s], atol=1e-4)
    assert rect.length() == pytest.approx(80, abs=1e-3)


def test_viewbox_scales_into_the_pixel_canvas():
    drawing = read_svg(svg('<path d="M 10 10 L 40 10" stroke="black" stroke-width="2"/>',
                           'width="200" height="100" viewBox="0 0 50 25"'))  # fmt: skip
    assert (drawing.width, drawing.height) == (200, 100)
    (stroke,) = drawing.strokes
    assert np.allclose(stroke.points[[0, -1]], [[40, 40], [160, 40]], atol=1e-4)
    assert np.allclose(stroke.radii, 4.0)
    only_viewbox = read_svg(svg('<path d="M 1 1 L 9 9" stroke="black"/>', 'viewBox="0 0 64 48"'))
    assert (only_viewbox.width, only_viewbox.height) == (64, 48)


# --- style ----------------------------------------------------------------------------------


def test_stroke_width_colour_and_opacity():
    named, hexed, rgb, styled = read_svg(
        svg('<path d="M 0 0 L 10 0" stroke="red" stroke-width="6"/>'
            '<path d="M 0 10 L 10 10" stroke="#00ff80" stroke-opacity="0.25"/>'
            '<path d="M 0 20 L 10 20" stroke="rgb(0, 0, 255)" opacity="0.5" stroke-opacity="0.5"/>'
            '<path d="M 0 30 L 10 30" style="stroke: #abc; stroke-width: 4px; opacity: 0.8"/>')
    ).strokes  # fmt: skip
    assert np.allclose(named.color, [1, 0, 0, 1]) and np.allclose(named.radii, 3.0)
    assert np.allclose(named.opacities, 1.0)
    assert np.allclose(hexed.color, [0, 1, 128 / 255, 1], atol=1e-6)
    assert np.allclose(hexed.opacities, 0.25, atol=1 / 255)
    assert np.allclose(rgb.color, [0, 0, 1, 1]) and np.allclose(rgb.opacities, 0.25, atol=1 / 255)
    assert np.allclose(styled.color, [0xAA / 255, 0xBB / 255, 0xCC / 255, 1]) and np.allclose(styled.radii, 2.0)
    assert np.allclose(styled.opacities, 0.8)
    assert named.color.dtype == np.float32 and named.color.shape == (4,)


def test_stroke_style_inherits_and_group_opacities_multiply():
    inner, override = read_svg(
        svg('<g stroke="rgb(255,0,0)" stroke-width="4" opacity="0.5">'
            '<g opacity="0.5"><path d="M 0 0 L 10 0" fill="none"/></g>'
            '<path d="M 0 10 L 10 10" stroke="blue" stroke-width="1" fill="none"/></g>')
    ).strokes  # fmt: skip
    assert np.allclose(inner.color, [1, 0, 0, 1]) and np.allclose(inner.radii, 2.0)
    assert np.allclose(inner.opacities, 0.25)
    assert np.allclose(override.color, [0, 0, 1, 1]) and np.allclose(override.radii, 0.5)
    assert np.allclose(override.opacities, 0.5)


def test_use_copies_and_current_color():
    drawing = read_svg(
        svg('<defs><path id="p" d="M 0 0 L 10 0" stroke="currentColor" color="lime"/></defs>'
            '<use href="#p" x="20" y="30" opacity="0.5"/>'
            '<g color="blue"><path d="M 0 60 L 10 60" stroke="currentColor"/></g>')
    )  # fmt: skip
    used, current = drawing.strokes
    assert np.allclose(used.points[[0, -1]], [[20, 30], [30, 30]], atol=1e-4)
    assert np.allclose(used.opacities, 0.5) and np.allclose(used.color, [0, 1, 0, 1])
    assert np.allclose(current.color, [0, 0, 1, 1])


def test_fill_kept_on_closed_shapes_only():
    closed, opened, fill_only = read_svg(
        svg('<path d="M 0 0 L 10 0 L 10 10 Z" stroke="black" fill="#ff0000" fill-opacity="0.5"/>'
            '<path d="M 20 0 L 30 0 L 30 10" stroke="black"/>'  # SVG's default black fill: ignored
            '<rect x="40" y="40" width="10" height="10" fill="lime" opacity="0.5"/>')
    ).strokes  # fmt: skip
    assert np.allclose(closed.fill, [1, 0, 0, 0.5], atol=1 / 255)
    assert opened.fill is None and not opened.cyclic
    assert fill_only.cyclic and np.allclose(fill_only.fill, [0, 1, 0, 0.5])
    assert np.allclose(fill_only.color, [0, 1, 0, 1]) and np.allclose(fill_only.radii, 0.5)
    assert np.allclose(fill_only.opacities, 0.5)


def test_fill_only_open_path_closes_like_svg_fills_it():
    (stroke,) = read_svg(svg('<path d="M 0 0 L 10 0 L 10 10" fill="red"/>')).strokes
    assert stroke.cyclic and len(stroke.bezier) == 9  # the implied closing side is a segment
    assert stroke.length() == pytest.approx(20 + math.sqrt(200), abs=1e-3)
    assert np.allclose(stroke.fill, [1, 0, 0, 1])


def test_nearly_closed_subpath_closes_without_a_sliver():
    (stroke,) = read_svg(svg('<path d="M 40 40 L 40 50 L 50 50 L 40.0004 40 Z" stroke="black" fill="none"/>')).strokes
    assert stroke.cyclic and len(stroke.bezier) == 9
    assert np.allclose(stroke.bezier[0], [40, 40])


def test_hidden_and_unpainted_elements_are_skipped():
    drawing = read_svg(
        svg('<path d="M 0 0 L 10 0" stroke="black" style="display:none"/>'
            '<g display="none"><path d="M 0 5 L 10 5" stroke="black"/></g>'
            '<path d="M 0 15 L 10 15" stroke="black" visibility="hidden"/>'
            '<path d="M 0 20 L 10 20" stroke="none" fill="none"/>'
            '<path d="M 0 25 L 10 25" stroke="black" stroke-opacity="0" fill="none"/>'
            '<defs><path id="p" d="M 0 30 L 10 30" stroke="black"/></defs>'
            '<path d="M 0 40 L 10 40" stroke="black"/>')
    )  # fmt: skip
    assert len(drawing.strokes) == 1
    assert np.allclose(drawing.strokes[0].points[:, 1], 40)


# --- bad input -------------------------------------------------------------------------------


def test_garbage_is_invalid_input(tmp_path):
    path = tmp_path / "noise.svg"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InvalidInput) as info:
        read_svg(path)
    assert info.value.field == "noise.svg"
    assert "not an SVG" in info.value.problem
    with pytest.raises(InvalidInput, match="not an SVG"):
        read_svg(b"\x89PNG\r\n\x1a\n not svg at all")
    with pytest.raises(InvalidInput, match="root element"):
        read_svg(b"<html><body><p>hello</p></body></html>")


def test_svg_without_shapes_is_invalid_input(tmp_path):
    path = tmp_path / "empty.svg"
    path.write_text(svg('<g><text x="1" y="1">hi</text></g><defs><path d="M 0 0 L 1 1" stroke="black"/></defs>'))
    with pytest.raises(InvalidInput) as info:
        read_svg(path)
    assert info.value.field == "empty.svg"
    assert "no drawable strokes" in info.value.problem
    with pytest.raises(InvalidInput, match="no drawable strokes"):
        read_svg(svg('<path d="M 0 0 L 10 10" stroke="black" style="display:none"/>'))


def test_missing_file_is_invalid_input(tmp_path):
    with pytest.raises(InvalidInput, match="no such file"):
        read_svg(tmp_path / "nowhere.svg")


# --- writing -----------------------------------------------------------------------------------


def assert_same_drawing(a: Drawing, b: Drawing, where: str) -> None:
    assert (a.width, a.height) == (b.width, b.height), where
    assert len(a.strokes) == len(b.strokes), where
    for i, (s, t) in enumerate(zip(a.strokes, b.strokes)):
        w = f"{where} stroke {i}"
        assert s.cyclic == t.cyclic, w
        # Positions within 0.5 px after re-sampling, both ways.
        assert distance_to_polyline(t.points.astype(np.float64), closed_polyline(s)).max() < 0.5, w
        assert distance_to_polyline(s.points.astype(np.float64), closed_polyline(t)).max() < 0.5, w
        assert np.allclose(t.radii.mean(), s.radii.mean(), atol=1e-3), w
        # stroke-opacity comes back in steps of 1/255 (svgelements keeps it in the colour's alpha byte)
        assert np.allclose(t.opacities.mean(), s.opacities.mean() * s.color[3], atol=1 / 255), w
        assert np.allclose(t.color[:3], s.color[:3], atol=1 / 255), w
        assert (s.fill is None) == (t.fill is None), w
        if s.fill is not None:
            assert np.allclose(s.fill, t.fill, atol=1 / 255), w


def test_round_trip_of_every_sketch(sketches):
    for path, drawing in sketches.items():
        text = write_svg(drawing)
        ET.fromstring(text)  # well-formed XML
        again = read_svg(text)
        assert_same_drawing(drawing, again, path.name)
        for s, t in zip(drawing.strokes, again.strokes):
            assert np.allclose(s.bezier, t.bezier, atol=1e-3), path.name


def test_written_svg_attributes():
    stroke = Stroke.from_points([[1, 2], [30, 40], [50, 10]], radius=2.5, opacity=0.5, color=[1, 0.5, 0, 0.8])
    drawing = Drawing(width=64, height=48, strokes=[stroke])
    root = ET.fromstring(write_svg(drawing))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert (root.get("width"), root.get("height"), root.get("viewBox")) == ("64", "48", "0 0 64 48")
    (path,) = root.iter("{http://www.w3.org/2000/svg}path")
    assert path.get("d") == "M 1 2 L 30 40 L 50 10"
    assert path.get("stroke") == "#ff8000"
    assert float(path.get("stroke-width")) == pytest.approx(5.0)
    assert float(path.get("stroke-opacity")) == pytest.approx(0.4)
    assert path.get("fill") == "none"
    assert path.get("stroke-linecap") == "round" and path.get("stroke-linejoin") == "round"


def test_round_trip_of_polylines_per_point_values_and_fills():
    rng = np.random.default_rng(7)
    wobbly = Stroke.from_points(np.cumsum(rng.uniform(-3, 5, (40, 2)), axis=0) + 20, radius=1.0)
    wobbly.radii = np.linspace(0.5, 2.5, 40).astype(np.float32)  # written as the mean width
    closed = Stroke.from_points([[60, 60], [90, 60], [75, 90]], radius=0.75, cyclic=True,
                                color=[0, 0, 1, 1], fill=np.array([1, 1, 0, 0.5], np.float32))  # fmt: skip
    curve = Stroke.from_points([[0, 0], [10, 0]], bezier=np.array([[10, 10], [40, 0], [60, 80], [90, 20]], np.float32))
    drawing = Drawing(width=100, height=100, strokes=[wobbly, closed, curve])
    again = read_svg(write_svg(drawing))
    assert np.allclose(again.strokes[0].radii, 1.5, atol=1e-3)
    assert again.strokes[1].cyclic and np.allclose(again.strokes[1].fill, [1, 1, 0, 0.5], atol=1 / 255)
    assert np.allclose(again.strokes[2].bezier, curve.bezier, atol=1e-3)  # the cubic form wins
    assert_same_drawing(Drawing(100, 100, drawing.strokes[:2]), Drawing(100, 100, again.strokes[:2]), "hand-made")
