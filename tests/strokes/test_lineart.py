"""Line art both ways: raster sketches traced into strokes, strokes painted back into frames."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from inkmotion.codec.drawing import Drawing, Raster, Stroke
from inkmotion.strokes.lineart import (
    MAX_SIDE,
    binarize,
    coverage_iou,
    otsu_threshold,
    paint_lineart,
    paper_distance,
    simplify,
    skeletonize,
    trace_lineart,
)
from inkmotion.codec.preview import read_raster

import fixtures


def _working_size(raster: Raster) -> Raster:
    """The raster at the size the tracer works at (large sketches are traced at MAX_SIDE)."""
    scale = min(1.0, MAX_SIDE / max(raster.width, raster.height))
    if scale == 1.0:
        return raster
    size = (round(raster.width * scale), round(raster.height * scale))
    return Raster(np.asarray(Image.fromarray(raster.rgba, "RGBA").resize(size, Image.Resampling.BOX)))


def _canvas(width: int = 128, height: int = 96, background=(255, 255, 255, 255)):
    image = Image.new("RGBA", (width, height), background)
    return image, ImageDraw.Draw(image)


def _retrace_iou(path) -> float:
    """How well the traced strokes, painted back, cover the original's ink (at the working size)."""
    original = read_raster(path)
    drawing = trace_lineart(original)
    assert (drawing.width, drawing.height) == (original.width, original.height), path.name
    assert drawing.strokes, path.name

    work = _working_size(original)
    ink = binarize(work)
    painted = paint_lineart(drawing, work.width, work.height).rgba[..., 3] >= 128
    return coverage_iou(ink, painted)


@pytest.mark.parametrize("name", [spec.name for spec in fixtures.RASTER_SKETCHES])
def test_retraced_sketch_covers_the_original_ink(raster_sketches, name):
    iou = _retrace_iou(next(p for p in raster_sketches if p.name == name))
    assert iou > 0.8, f"{name}: IoU {iou:.3f}"


def test_every_shared_raster_sketch_retraces_covering_its_ink(shared_raster_sketches):
    ious = {path.name: _retrace_iou(path) for path in shared_raster_sketches}
    assert all(iou > 0.8 for iou in ious.values()), {name: round(iou, 3) for name, iou in ious.items() if iou <= 0.8}


def test_a_straight_line_is_one_stroke_of_its_width_end_to_end():
    image, draw = _canvas()
    draw.line([(20, 40), (100, 40)], fill=(0, 0, 0, 255), width=5)  # rows 38..42
    drawing = trace_lineart(Raster(np.asarray(image)))
    assert len(drawing.strokes) == 1
    stroke = drawing.strokes[0]
    assert not stroke.cyclic
    assert np.allclose(stroke.points[:, 1], 40.5, atol=0.6)
    xs = sorted(stroke.points[[0, -1], 0])
    # With its round caps the stroke reaches the line's ends to within a pixel.
    assert xs[0] - stroke.radii[0] == pytest.approx(20, abs=1.5)
    assert xs[1] + stroke.radii[-1] == pytest.approx(101, abs=1.5)
    assert np.allclose(stroke.radii, 2.5, atol=0.6)
    assert len(stroke) <= 4  # a straight line simplifies to (nearly) its two ends


def test_a_ring_is_one_closed_stroke():
    image, draw = _canvas()
    draw.ellipse([24, 16, 88, 80], outline=(0, 0, 0, 255), width=3)
    drawing = trace_lineart(Raster(np.asarray(image)))
    assert len(drawing.strokes) == 1
    stroke = drawing.strokes[0]
    assert stroke.cyclic
    centre = stroke.points.mean(axis=0)
    assert np.allclose(centre, (56.5, 48.5), atol=1.5)
    assert np.allclose(np.hypot(*(stroke.points - centre).T), 31, atol=1.5)


def test_black_ink_on_a_transparent_layer_traces_like_ink_on_paper():
    on_paper, draw = _canvas()
    draw.line([(10, 10), (110, 80)], fill=(0, 0, 0, 255), width=4)
    on_layer, draw = _canvas(background=(0, 0, 0, 0))  # a paint layer: transparent black around the ink
    draw.line([(10, 10), (110, 80)], fill=(0, 0, 0, 255), width=4)
    a = trace_lineart(Raster(np.asarray(on_paper)))
    b = trace_lineart(Raster(np.asarray(on_layer)))
    assert len(a.strokes) == len(b.strokes) == 1
    assert np.allclose(a.strokes[0].points, b.strokes[0].points)


def test_stroke_colour_comes_from_the_ink():
    image, draw = _canvas()
    draw.line([(10, 50), (110, 50)], fill=(200, 20, 20, 255), width=6)
    stroke = trace_lineart(Raster(np.asarray(image))).strokes[0]
    assert np.allclose(stroke.color, (200 / 255, 20 / 255, 20 / 255, 1), atol=0.05)


def test_a_blank_page_has_no_strokes():
    for background in ((255, 255, 255, 255), (0, 0, 0, 0)):
        image, _ = _canvas(background=background)
        drawing = trace_lineart(Raster(np.asarray(image)), layer="empty")
        assert drawing.strokes == [] and drawing.layer == "empty"
        assert (drawing.width, drawing.height) == (128, 96)


def test_large_sketches_are_traced_small_and_scaled_back():
    image, draw = _canvas(2400, 1200)
    draw.line([(200, 600), (2200, 600)], fill=(0, 0, 0, 255), width=24)
    drawing = trace_lineart(Raster(np.asarray(image)), max_side=600)
    assert (drawing.width, drawing.height) == (2400, 1200)
    (stroke,) = drawing.strokes
    assert np.allclose(stroke.points[:, 1], 600, atol=4)
    assert np.allclose(stroke.radii, 12, atol=4)
    assert stroke.points[:, 0].min() - stroke.radii[0] < 220 and stroke.points[:, 0].max() + stroke.radii[-1] > 2180


def test_paint_lineart_is_ink_on_transparent():
    drawing = Drawing(64, 32, [Stroke.from_points([(8, 16), (56, 16)], radius=3.0)])
    raster = paint_lineart(drawing)
    assert (raster.width, raster.height) == (64, 32)
    alpha = raster.rgba[..., 3]
    assert alpha[0, 0] == 0 and alpha[16, 32] == 255
    assert (raster.rgba[alpha == 255][:, :3] == 0).all()
    doubled = paint_lineart(drawing, 128, 64)
    assert (doubled.width, doubled.height) == (128, 64) and doubled.rgba[32, 64, 3] == 255


def test_skeleton_is_one_pixel_wide():
    ink = np.zeros((20, 40), bool)
    ink[8:13, 5:35] = True
    skeleton = skeletonize(ink)
    assert skeleton[:, 10:30].sum(axis=0).tolist() == [1] * 20
    assert skeleton[10, 10:30].all()


def test_paper_distance_is_euclidean():
    ink = np.ones((21, 21), bool)
    ink[10, 0] = False
    d = paper_distance(ink, np.array([10, 10, 0]), np.array([10, 3, 0]))
    assert d.tolist() == pytest.approx([10, 3, 1])  # the border counts as paper


def test_simplify_keeps_corners_and_ends():
    pts = np.array([(x, 0) for x in range(11)] + [(10, y) for y in range(1, 11)], np.float32)
    kept = simplify(pts, 0.25)
    assert pts[kept].tolist() == [[0, 0], [10, 0], [10, 10]]


def test_otsu_splits_two_levels():
    values = np.concatenate([np.full(100, 0.1), np.full(50, 0.9)])
    assert 0.1 < otsu_threshold(values) < 0.9
