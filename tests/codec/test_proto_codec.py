"""Records <-> inkmotion.v1 messages: exact round trips and clear refusals."""

from __future__ import annotations

import numpy as np
import pytest

from inkmotion.codec import Animation, Drawing, Keyframe, Raster, Stroke
from inkmotion.codec.proto import (
    animation_from_parts,
    animation_to_proto,
    drawing_from_proto,
    drawing_to_proto,
    keyframe_from_proto,
    keyframe_to_proto,
    raster_from_proto,
    raster_to_proto,
)
from inkmotion.errors import InvalidInput
from inkmotion.v1 import drawing_pb2


def _drawing(rng) -> Drawing:
    strokes = []
    for i in range(5):
        n = int(rng.integers(2, 40))
        strokes.append(Stroke(
            points=rng.uniform(0, 256, (n, 2)).astype(np.float32),
            radii=rng.uniform(0.5, 3, n).astype(np.float32),
            opacities=rng.uniform(0, 1, n).astype(np.float32),
            color=rng.uniform(0, 1, 4).astype(np.float32),
            point_colors=rng.uniform(0, 1, (n, 4)).astype(np.float32) if i % 2 else None,
            fill=np.array([1, 0, 0, 0.5], np.float32) if i == 3 else None,
            cyclic=i == 3,
            material=i % 2,
        ))
    return Drawing(320, 200, strokes, layer="Lines", materials=["Black", "Red"])


def _assert_same(a: Drawing, b: Drawing) -> None:
    assert (a.width, a.height, a.layer, a.materials) == (b.width, b.height, b.layer, b.materials)
    assert len(a.strokes) == len(b.strokes)
    for s, t in zip(a.strokes, b.strokes):
        np.testing.assert_array_equal(s.points, t.points)
        np.testing.assert_array_equal(s.radii, t.radii)
        np.testing.assert_array_equal(s.opacities, t.opacities)
        np.testing.assert_array_equal(s.colors(), t.colors())
        np.testing.assert_array_equal(s.color, t.color)
        assert (s.cyclic, s.material) == (t.cyclic, t.material)
        assert (s.fill is None) == (t.fill is None)


def test_drawing_round_trip_is_exact():
    drawing = _drawing(np.random.default_rng(0))
    wire = drawing_to_proto(drawing).SerializeToString()
    _assert_same(drawing, drawing_from_proto(drawing_pb2.Drawing.FromString(wire)))


def test_bezier_form_round_trips():
    ctrl = np.array([[0, 0], [10, 0], [20, 10], [30, 30], [40, 50], [50, 50], [60, 40]], np.float32)
    stroke = Stroke.from_points(ctrl[::3], bezier=ctrl)
    back = drawing_from_proto(drawing_to_proto(Drawing(64, 64, [stroke])))
    np.testing.assert_array_equal(back.strokes[0].bezier, ctrl)


def test_defaults_fill_missing_attributes():
    msg = drawing_pb2.Drawing(width=10, height=10, point_counts=[2], positions=np.zeros(4, "<f4").tobytes())
    stroke = drawing_from_proto(msg).strokes[0]
    assert stroke.radii.tolist() == [1.0, 1.0] and stroke.opacities.tolist() == [1.0, 1.0]
    assert stroke.color.tolist() == [0, 0, 0, 1]


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda m: setattr(m, "positions", m.positions[:-4]), "d.positions"),
        (lambda m: setattr(m, "radii", b"\0" * 4), "d.radii"),
        (lambda m: m.point_counts.append(0), "d.point_counts[1]"),
        (lambda m: setattr(m, "positions", np.array([np.nan, 0, 1, 1], "<f4").tobytes()), "d.positions"),
        (lambda m: setattr(m, "radii", np.array([-1, 1], "<f4").tobytes()), "d.radii"),
        (lambda m: m.cyclic.extend([True, False]), "d.cyclic"),
        (lambda m: (m.materials.append("Ink"), m.material_indices.append(3)), "d.material_indices"),
    ],
)
def test_broken_drawings_name_the_field(change, field):
    msg = drawing_pb2.Drawing(width=10, height=10, point_counts=[2], positions=np.zeros(4, "<f4").tobytes())
    change(msg)
    with pytest.raises(InvalidInput) as info:
        drawing_from_proto(msg, "d")
    assert info.value.field == field


@pytest.mark.parametrize("png", [True, False])
def test_raster_round_trip(png):
    rgba = np.random.default_rng(1).integers(0, 256, (7, 5, 4), dtype=np.uint8)
    back = raster_from_proto(drawing_pb2.Raster.FromString(raster_to_proto(Raster(rgba), png=png).SerializeToString()))
    np.testing.assert_array_equal(back.rgba, rgba)


def test_broken_rasters_are_refused():
    with pytest.raises(InvalidInput, match="r.rgba"):
        raster_from_proto(drawing_pb2.Raster(width=2, height=2, rgba=b"\0" * 15), "r")
    with pytest.raises(InvalidInput, match="not a readable PNG"):
        raster_from_proto(drawing_pb2.Raster(png=b"\x89PNG garbage"), "r")
    with pytest.raises(InvalidInput, match="neither"):
        raster_from_proto(drawing_pb2.Raster(), "r")


def test_png_pixel_limit_is_read_from_the_header():
    big = raster_to_proto(Raster(np.zeros((300, 300, 4), np.uint8)))
    with pytest.raises(InvalidInput, match="over the limit of 10000 pixels"):
        raster_from_proto(big, "r", max_pixels=10_000)


def test_animation_round_trip():
    rng = np.random.default_rng(2)
    keys = [Keyframe(10 + i, _drawing(rng)) for i in range(3)] + [Keyframe(13, Raster(np.zeros((4, 4, 4), np.uint8)))]
    anim = Animation(320, 200, keys, fps=12.0, layer="Walk")
    msg = animation_to_proto(anim)
    back = animation_from_parts(msg.info, [drawing_pb2.Keyframe.FromString(k.SerializeToString()) for k in msg.keyframes])
    assert (back.width, back.height, back.fps, back.layer) == (320, 200, 12.0, "Walk")
    assert [k.frame for k in back.keyframes] == [10, 11, 12, 13]
    _assert_same(keys[1].content, back.keyframes[1].content)
    assert isinstance(back.keyframes[3].content, Raster)


def test_keyframe_without_content_is_refused():
    with pytest.raises(InvalidInput, match="k: has neither"):
        keyframe_from_proto(drawing_pb2.Keyframe(frame=1), "k")
    assert keyframe_to_proto(Keyframe(5, Drawing(1, 1))).frame == 5
