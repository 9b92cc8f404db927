"""Limits: every refusal names the field, the value and the limit."""

from __future__ import annotations

import numpy as np
import pytest

from inkmotion.errors import InvalidInput
from inkmotion.limits import Limits, check_drawing, check_prompt, check_raster
from inkmotion.v1 import drawing_pb2

LIMITS = Limits(max_strokes=3, max_points_per_stroke=10, max_points=20, max_canvas_size=512, max_raster_pixels=100)


def drawing(counts, width=100, height=100):
    return drawing_pb2.Drawing(width=width, height=height, point_counts=counts,
                               positions=np.zeros(2 * sum(counts), "<f4").tobytes())


@pytest.mark.parametrize(
    "msg, message",
    [
        (drawing([2], 0, 100), "d.width: canvas 0x100 is empty; width and height must be at least 1"),
        (drawing([2], 513, 100), "d.width: 513 px is over the limit of 512 px"),
        (drawing([2], 100, 600), "d.height: 600 px is over the limit of 512 px"),
        (drawing([]), "d.point_counts: the drawing has no strokes"),
        (drawing([2, 2, 2, 2]), "d.point_counts: 4 strokes is over the limit of 3 strokes"),
        (drawing([2, 11]), "d.point_counts[1]: 11 points is over the limit of 10 points"),
        (drawing([2, 0]), "d.point_counts[1]: stroke has no points"),
        (drawing([10, 10, 5]), "d.point_counts: 25 points is over the limit of 20 points"),
    ],
)
def test_drawing_limits(msg, message):
    with pytest.raises(InvalidInput) as info:
        check_drawing("d", msg, LIMITS)
    assert str(info.value) == message


def test_a_drawing_within_limits_passes():
    check_drawing("d", drawing([10, 10]), LIMITS)


def test_raster_and_prompt_limits():
    with pytest.raises(InvalidInput, match=r"r: 20x20 = 400 pixels is over the limit of 100"):
        check_raster("r", drawing_pb2.Raster(width=20, height=20, rgba=b"\0" * 1600), LIMITS)
    with pytest.raises(InvalidInput, match="p: is empty"):
        check_prompt("p", "  ", LIMITS)
    with pytest.raises(InvalidInput, match="p: 1001 characters is over the limit of 1000 characters"):
        check_prompt("p", "x" * 1001, LIMITS)


def test_png_size_is_read_from_its_header(raster_sketches):
    from PIL import Image

    big = max(raster_sketches, key=lambda p: Image.open(p).width * Image.open(p).height)
    msg = drawing_pb2.Raster(png=big.read_bytes())
    with Image.open(big) as image:
        width, height = image.size
    with pytest.raises(InvalidInput, match=rf"r.width: {width} px is over the limit of 512 px"):
        check_raster("r", msg, LIMITS)
    roomy = Limits(max_canvas_size=10_000, max_raster_pixels=100)
    with pytest.raises(InvalidInput, match=rf"r: {width}x{height} = {width * height} pixels is over the limit of 100"):
        check_raster("r", msg, roomy)
    with pytest.raises(InvalidInput, match="r.png: is not a PNG file"):
        check_raster("r", drawing_pb2.Raster(png=b"GIF89a" + bytes(30)), LIMITS)


def test_a_result_too_large_to_store_is_refused_at_submission():
    """frames x points is checked before anything runs (issue 10, point 3)."""
    from inkmotion import tasks
    from inkmotion.v1 import animation_service_pb2 as service_pb2
    from inkmotion.v1 import tasks_pb2

    def submission(frames):
        key = drawing_pb2.Drawing(width=100, height=100, point_counts=[50], positions=np.linspace(1, 99, 100, dtype="<f4").tobytes())
        return service_pb2.SubmitJobRequest(inbetween=tasks_pb2.InbetweenRequest(
            start=drawing_pb2.Keyframe(frame=1, drawing=key), end=drawing_pb2.Keyframe(frame=frames, drawing=key), frames=frames))

    limits = Limits(max_result_points=10_000)
    tasks.check_submission(submission(100), limits)  # 100 frames x 100 points: at the limit
    with pytest.raises(InvalidInput) as info:
        tasks.check_submission(submission(101), limits)
    assert str(info.value) == ("inbetween.frames: the result would hold 101 frames x 100 points = 10100 points, "
                               "over the limit of 10000; ask for fewer frames or a simpler drawing")
