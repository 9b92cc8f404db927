"""inkmotion.pipelines.motion_transfer (the CPU engine of Animate from video) on clips made here,
written to MP4 and read back as a user's clip is: a shape under a known similarity moves the
sketch by that similarity, a still clip leaves it still, a clip mirrored in time mirrors the
motion, the local warp follows a part that moves on its own, and the points keep their attributes."""

from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from harness import script  # noqa: E402
from inkmotion.codec import video  # noqa: E402
from inkmotion.codec.drawing import Drawing, Stroke  # noqa: E402
from inkmotion.pipelines.motion_transfer import MotionTransferConfig, track, transfer  # noqa: E402
from inkmotion.strokes.geometry import fit_similarity  # noqa: E402

clips = script("eval_video_motion")  # its procedural figures and their renderer
SIZE, FRAMES = clips.SIZE, 10
CENTRE = np.array([100.0, 128.0])


def star(centre=CENTRE, outer: float = 40.0, inner: float = 18.0) -> np.ndarray:
    return clips.star(centre, outer, inner)


MOTION = [clips.about(0.03 * t, 1.0 + 0.02 * t, (6.0 * t, -2.0 * t), CENTRE) for t in range(FRAMES)]
render = clips.render  # filled, outlined polygons with a cross inside (corners to track), dark on white


def as_clip(frames: list[np.ndarray], tmp_path, name: str = "clip.mp4"):
    path = video.write_video(frames, [1] * len(frames), 12.0, tmp_path / name)
    return video.read_clip(path, len(frames)).frames


def sketch_of(points: np.ndarray) -> Drawing:
    n = len(points)
    stroke = Stroke(points=np.asarray(points, np.float32), radii=np.linspace(1, 3, n, dtype=np.float32),
                    opacities=np.linspace(0.5, 1, n, dtype=np.float32), cyclic=True,
                    color=np.array([0.2, 0.4, 0.9, 1.0], np.float32))
    return Drawing(SIZE, SIZE, [stroke], layer="Star")


@pytest.fixture(scope="module")
def similarity_clip(tmp_path_factory):
    return as_clip([render([s.apply(star())]) for s in MOTION], tmp_path_factory.mktemp("clip"))


def test_a_shape_under_a_similarity_moves_the_sketch_by_it(similarity_clip):
    sketch = sketch_of(star())  # the sketch is the clip's shape, where it is
    out = transfer(sketch, similarity_clip)
    assert len(out) == FRAMES and out[0] is sketch
    for t in range(1, FRAMES):
        error = np.linalg.norm(out[t].strokes[0].points - MOTION[t].apply(star()), axis=1)
        assert error.max() < 1.0, (t, error.max())


def test_the_motion_is_taken_in_the_sketchs_size_and_place(similarity_clip):
    """A sketch elsewhere and half the size takes the same turn and growth, the shift halved."""
    small = star(centre=np.array([190.0, 60.0]), outer=20.0, inner=9.0)
    out = transfer(sketch_of(small), similarity_clip)
    moved = fit_similarity(small, out[-1].strokes[0].points, scale="least-squares")
    assert moved.angle == pytest.approx(MOTION[-1].angle, abs=0.005)
    assert moved.scale == pytest.approx(MOTION[-1].scale, abs=0.015)
    # the clip's shift in the sketch's size: over the ratio of the subject's box (its tracked
    # points' box) to the sketch's
    x0, y0, x1, y1 = track(similarity_clip).box
    ratio = np.hypot(x1 - x0, y1 - y0) / np.hypot(*(small.max(axis=0) - small.min(axis=0)))
    assert ratio == pytest.approx(2.0, rel=0.1)  # the corners sit on the outline, outside the vertices
    shift = out[-1].strokes[0].points.mean(axis=0) - small.mean(axis=0)
    truth = (MOTION[-1].apply(star()).mean(axis=0) - star().mean(axis=0)) / ratio
    assert np.linalg.norm(shift - truth) < 1.0


def test_a_still_clip_leaves_the_sketch_still(tmp_path):
    frames = as_clip([render([star()])] * 6, tmp_path)
    sketch = sketch_of(star())
    out = transfer(sketch, frames)
    assert len(out) == 6
    assert all(np.array_equal(f.strokes[0].points, sketch.strokes[0].points) for f in out)


def test_a_clip_mirrored_in_time_mirrors_the_motion(similarity_clip):
    """Forward, the sketch drawn over frame 0; backward, the sketch drawn over the last frame (the
    reversed clip's first): backward frame k is forward frame L - k (two estimates, each within
    1 px of the truth)."""
    last = FRAMES - 1
    forward = transfer(sketch_of(star()), similarity_clip)
    backward = transfer(sketch_of(MOTION[last].apply(star())), similarity_clip[::-1])
    for k in range(FRAMES):
        gap = np.linalg.norm(backward[k].strokes[0].points - forward[last - k].strokes[0].points, axis=1)
        assert gap.max() < 1.0, (k, gap.max())


def test_the_points_keep_their_attributes(similarity_clip):
    sketch = sketch_of(star())
    for frame in transfer(sketch, similarity_clip)[1:]:
        moved, given = frame.strokes[0], sketch.strokes[0]
        assert np.array_equal(moved.radii, given.radii) and np.array_equal(moved.opacities, given.opacities)
        assert np.array_equal(moved.color, given.color) and moved.cyclic and frame.layer == "Star"


def test_the_local_warp_follows_a_part_that_moves_on_its_own(tmp_path):
    """Two stars side by side, both drifting right; the right one also rises. The similarity alone
    must split the difference; the thin-plate warp moves each where it goes."""
    left, right = star(centre=np.array([80.0, 140.0]), outer=30, inner=13), star(centre=np.array([170.0, 140.0]), outer=30, inner=13)
    drift = [np.array([2.0 * t, 0.0]) for t in range(FRAMES)]
    rise = [np.array([2.0 * t, -3.0 * t]) for t in range(FRAMES)]
    frames = as_clip([render([left + d, right + r]) for d, r in zip(drift, rise)], tmp_path)
    sketch = Drawing(SIZE, SIZE, [sketch_of(left).strokes[0], sketch_of(right).strokes[0]])
    errors = {}
    for name, stiffness in (("warp", 0.01), ("similarity", float("inf"))):
        out = transfer(sketch, frames, MotionTransferConfig(stiffness=stiffness))
        moved_left, moved_right = (s.points for s in out[-1].strokes)
        errors[name] = max(np.linalg.norm(moved_left - (left + drift[-1]), axis=1).mean(),
                           np.linalg.norm(moved_right - (right + rise[-1]), axis=1).mean())
    assert errors["warp"] < 1.5 and errors["similarity"] > 4 * errors["warp"], errors


def test_the_papers_clip_measures_are_one_for_a_still_sketch_and_below_for_motion(tiny_clip_dir):
    """eval_video_motion's CLIP measures (a tiny random CLIP: the property holds whatever its
    weights): the no-motion baseline keeps the sketch in every frame, so both are exactly 1; a
    moving sketch scores in [-1, 1], and its frames are not all the sketch."""
    table = clips.evaluate(clips=1, frames=6, clip=str(tiny_clip_dir))
    for kind, row in table.items():
        assert row["no motion appearance"] == pytest.approx(1.0, abs=1e-5), kind
        assert row["no motion consistency"] == pytest.approx(1.0, abs=1e-5), kind
        for name in ("motion-transfer", "global similarity only"):
            assert -1.0 <= row[f"{name} appearance"] < 1.0 - 1e-6, (kind, row)
            assert -1.0 <= row[f"{name} consistency"] <= 1.0 + 1e-6, (kind, row)
