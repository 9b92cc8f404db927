"""The add-on's pure-numpy packing module against the server's codec: no Blender needed."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from conftest import REPO
from inkmotion.codec.proto import drawing_from_proto, drawing_to_proto
from inkmotion.codec.svg import read_svg
from inkmotion.v1 import drawing_pb2


@pytest.fixture(scope="module")
def packing():
    path = REPO / "addons" / "blender" / "inkmotion" / "packing.py"
    spec = importlib.util.spec_from_file_location("inkmotion_addon_packing_unit", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_what_the_addon_packs_the_server_reads(packing, vector_sketches):
    drawing = read_svg(vector_sketches[3])
    counts = np.array([len(s) for s in drawing.strokes])
    rng = np.random.default_rng(0)
    points = np.concatenate([s.points for s in drawing.strokes])
    strokes = packing.Strokes(
        point_counts=counts, positions=points, radii=rng.uniform(0.5, 2, len(points)).astype(np.float32),
        opacities=rng.uniform(0, 1, len(points)).astype(np.float32),
        point_colors=rng.uniform(0, 1, (len(points), 4)).astype(np.float32),
        stroke_colors=rng.uniform(0, 1, (len(counts), 4)).astype(np.float32),
        cyclic=np.arange(len(counts)) % 3 == 0, material_indices=np.arange(len(counts)) % 2, materials=["Ink", "Blue"])
    msg = packing.to_proto(drawing_pb2, strokes, 256, 256, "Sketch")
    server_side = drawing_from_proto(msg)
    assert [len(s) for s in server_side.strokes] == counts.tolist()
    assert [s.material for s in server_side.strokes] == strokes.material_indices.tolist()
    assert [s.cyclic for s in server_side.strokes] == strokes.cyclic.tolist()
    np.testing.assert_array_equal(np.concatenate([s.radii for s in server_side.strokes]), strokes.radii)

    back = packing.from_proto(drawing_to_proto(server_side))
    for name in ("point_counts", "positions", "radii", "opacities", "point_colors", "stroke_colors", "cyclic", "material_indices"):
        np.testing.assert_array_equal(getattr(back, name), getattr(strokes, name), err_msg=name)
    assert back.materials == ["Ink", "Blue"]


def test_optional_columns_take_their_documented_defaults(packing):
    msg = drawing_pb2.Drawing(width=8, height=8, point_counts=[2, 1],
                              positions=np.zeros((3, 2), "<f4").tobytes(),
                              stroke_colors=np.array([[1, 0, 0, 1], [0, 1, 0, 1]], "<f4").tobytes())
    strokes = packing.from_proto(msg)
    np.testing.assert_array_equal(strokes.radii, [1, 1, 1])
    np.testing.assert_array_equal(strokes.opacities, [1, 1, 1])
    np.testing.assert_array_equal(strokes.point_colors, [[1, 0, 0, 1], [1, 0, 0, 1], [0, 1, 0, 1]])
    assert strokes.cyclic.tolist() == [False, False] and strokes.material_indices.tolist() == [0, 0]
    with pytest.raises(ValueError, match="drawing.radii: has 2 values, expected 3"):
        packing.from_proto(drawing_pb2.Drawing(point_counts=[3], positions=np.zeros(6, "<f4").tobytes(),
                                               radii=np.zeros(2, "<f4").tobytes()))


@pytest.mark.parametrize("normal, plane", [(1, (0, 2)), (2, (0, 1)), (0, (1, 2))])
def test_the_canvas_lies_on_the_drawing_plane_and_round_trips(packing, normal, plane):
    rng = np.random.default_rng(normal)
    pts = np.zeros((50, 3), np.float32)
    pts[:, plane[0]] = rng.uniform(-3, 1, 50)
    pts[:, plane[1]] = rng.uniform(2, 4, 50)
    pts[:, normal] = 0.25
    canvas = packing.Canvas.fit(pts, 512)
    assert canvas.normal == normal and canvas.depth == pytest.approx(0.25)
    px = canvas.to_pixels(pts)
    assert px.min() >= 512 * 0.1 - 1e-3 and px.max() <= 512 * 0.9 + 1e-3, "inside the margins"
    top = np.argmax(pts[:, plane[1]])
    assert px[top, 1] == px[:, 1].min(), "up in Blender is up on the canvas (y down)"
    np.testing.assert_allclose(canvas.from_pixels(px), pts, atol=1e-5)


def test_colours_cross_between_linear_and_srgb(packing):
    values = np.linspace(0, 1, 101, dtype=np.float32)
    np.testing.assert_allclose(packing.srgb_to_linear(packing.linear_to_srgb(values)), values, atol=1e-6)
    assert packing.linear_to_srgb(np.float32(0.5)) == pytest.approx(0.7354, abs=1e-4)
