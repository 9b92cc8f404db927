"""Path follow: the anchor stays on the path for every option, the first frame is the input, rigid
motion when the options are off, as-drawn timing follows the point spacing, turning, attributes
kept, follow-through lags and catches up, squash and stretch keeps area, bad input names its field."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from inkmotion.codec.drawing import Drawing, Stroke
from harness import cancel_at
from inkmotion.errors import Cancelled, InvalidInput
from inkmotion.pipelines.base import Progress
from inkmotion.pipelines.inbetween import EASINGS
from inkmotion.pipelines.path_follow import TIMINGS, PathFollowConfig, follow_path, keypoints, path_anchor

WIDTH, HEIGHT = 512, 512
ANCHOR = np.array([120.0, 150.0])


# --- helpers -------------------------------------------------------------------------------------


def distance_to_polyline(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Distance from each point to the nearest segment of `line`."""
    points = np.asarray(points, float).reshape(-1, 2)
    a, b = line[:-1][None], line[1:][None]
    p = points[:, None]
    ab = b - a
    t = np.clip(((p - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    return np.linalg.norm(p - (a + t[..., None] * ab), axis=-1).min(axis=1)


def subject(anchor=ANCHOR) -> Drawing:
    """Several strokes around `anchor`: stroke 0 is a tail ending exactly at the anchor (its last
    point tracks the anchor), drawn in the +x direction; then a closed triangle behind it with a
    fill, a wiggle with per-point colours, radii and opacities, a curve with bezier control points
    (its points are the curve's on-curve anchors), and a dot ahead of the anchor."""
    ax, ay = anchor
    tail = Stroke.from_points(np.stack([np.linspace(ax - 60, ax, 13), np.full(13, ay)], 1), radius=2.0)
    triangle = Stroke.from_points(
        [[ax - 50, ay - 30], [ax - 20, ay - 30], [ax - 35, ay - 10]],
        radius=1.5,
        opacity=0.7,
        color=[0.8, 0.1, 0.1, 1.0],
        fill=np.array([0.2, 0.9, 0.3, 0.5], np.float32),
        cyclic=True,
        material=1,
    )
    x = np.linspace(ax - 45, ax - 5, 21)
    wiggle = Stroke.from_points(np.stack([x, ay + 20 + 6 * np.sin(x / 4)], 1))
    wiggle.radii = np.linspace(0.5, 3.0, 21).astype(np.float32)
    wiggle.opacities = np.linspace(1.0, 0.2, 21).astype(np.float32)
    wiggle.point_colors = np.random.default_rng(0).uniform(0, 1, (21, 4)).astype(np.float32)
    on_curve = np.array([[ax - 40, ay + 40], [ax - 25, ay + 45], [ax - 10, ay + 38]])
    handles = np.array([[ax - 35, ay + 48], [ax - 30, ay + 48], [ax - 20, ay + 42], [ax - 15, ay + 40]])
    bezier = np.array([on_curve[0], handles[0], handles[1], on_curve[1], handles[2], handles[3], on_curve[2]])
    curve = Stroke.from_points(on_curve, radius=1.2, material=2, bezier=bezier.astype(np.float32))
    dot = Stroke.from_points([[ax + 8, ay + 3]], radius=3.0, color=[0.1, 0.1, 0.9, 1.0])
    return Drawing(WIDTH, HEIGHT, [tail, triangle, wiggle, curve, dot], "ink", ["Black", "Red", "Blue"])


def tracked(drawing: Drawing) -> np.ndarray:
    """The point that started at the anchor."""
    return drawing.strokes[0].points[-1].astype(float)


def all_points(drawing: Drawing) -> np.ndarray:
    return np.concatenate([s.points for s in drawing.strokes]).astype(float)


def pairwise(points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[:, None] - points[None], axis=-1)


def direction(drawing: Drawing, stroke: int = 0) -> float:
    """The angle of a stroke's chord, first to last point, degrees (canvas coordinates)."""
    p = drawing.strokes[stroke].points.astype(float)
    d = p[-1] - p[0]
    return float(np.degrees(np.arctan2(d[1], d[0])))


def shoelace(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def quarter_circle(start=ANCHOR, radius=150.0, n=200) -> np.ndarray:
    """From `start` heading +x, turning towards +y (clockwise on screen) by 90 degrees."""
    center = np.asarray(start) + [0.0, radius]
    psi = np.linspace(-np.pi / 2, 0.0, n)
    return center + radius * np.stack([np.cos(psi), np.sin(psi)], 1)


def s_curve(start=ANCHOR, radius=80.0, n=120) -> np.ndarray:
    """A quarter circle clockwise on screen (heading +x to +y), then one counter-clockwise (back to
    +x): turning one way, then the other."""
    first = quarter_circle(start, radius, n)
    center = first[-1] + [radius, 0.0]
    psi = np.linspace(np.pi, np.pi / 2, n)[1:]
    second = center + radius * np.stack([np.cos(psi), np.sin(psi)], 1)
    return np.concatenate([first, second])


def random_path(seed: int, start=ANCHOR, n=60) -> np.ndarray:
    """A wandering hand-drawn-like path: the heading random-walks, steps 3 to 9 px."""
    rng = np.random.default_rng(seed)
    heading = np.cumsum(rng.normal(0.0, 0.12, n - 1))
    steps = rng.uniform(3.0, 9.0, n - 1)
    moves = steps[:, None] * np.stack([np.cos(heading), np.sin(heading)], 1)
    return np.asarray(start) + np.concatenate([[[0.0, 0.0]], np.cumsum(moves, axis=0)])


PATHS = {
    "straight": np.array([ANCHOR, ANCHOR + [300.0, 40.0]]),
    "quarter-circle": quarter_circle(),
    "s-curve": s_curve(),
    "random-1": random_path(1),
    "random-2": random_path(2),
}

OPTIONS = [
    dict(keep_upright=upright, squash_stretch=squash, follow_through=follow, timing=timing)
    for upright, squash, follow, timing in itertools.product((False, True), (0.0, 1.5), (0.0, 1.0), TIMINGS)
]


def option_id(options: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in options.items())


def config(index: int = 0, **options) -> PathFollowConfig:
    """Options with an easing that changes from one combination to the next."""
    return PathFollowConfig(frames=options.pop("frames", 12), easing=EASINGS[index % len(EASINGS)], **options)


# --- 1. the anchor stays on the path ---------------------------------------------------------------


@pytest.mark.parametrize("path_name", list(PATHS))
@pytest.mark.parametrize("index, options", list(enumerate(OPTIONS)), ids=[option_id(o) for o in OPTIONS])
def test_the_anchor_lies_on_the_path_at_every_frame(path_name, index, options):
    path = PATHS[path_name]
    drawing = subject()
    np.testing.assert_array_equal(path_anchor(drawing, path), path[0])
    frames = follow_path(drawing, path, config(index, **options))
    anchors = np.array([tracked(f) for f in frames])
    assert distance_to_polyline(anchors, path).max() < 0.5
    np.testing.assert_allclose(anchors[-1], path[-1], atol=1e-3)
    # It travels the whole path (the frames' chords add up to nearly its length).
    travelled = np.linalg.norm(np.diff(anchors, axis=0), axis=1).sum()
    assert travelled > 0.9 * np.linalg.norm(np.diff(path, axis=0), axis=1).sum()


# --- 2. the first frame is the input ---------------------------------------------------------------


@pytest.mark.parametrize("index, options", list(enumerate(OPTIONS)), ids=[option_id(o) for o in OPTIONS])
def test_the_first_frame_is_the_input(index, options):
    drawing = subject()
    frames = follow_path(drawing, PATHS["s-curve"], config(index, frames=7, **options))
    assert len(frames) == 7
    first = frames[0]
    assert first is not drawing
    assert (first.width, first.height, first.layer, first.materials) == (WIDTH, HEIGHT, "ink", ["Black", "Red", "Blue"])
    for got, want in zip(first.strokes, drawing.strokes, strict=True):
        np.testing.assert_allclose(got.points, want.points, atol=1e-4)
        assert got.points is not want.points
        assert (got.bezier is None) == (want.bezier is None)
        if want.bezier is not None:
            np.testing.assert_allclose(got.bezier, want.bezier, atol=1e-4)


# --- 3. rigid when the options are off, not rigid when they are on ---------------------------------


@pytest.mark.parametrize("path_name", list(PATHS))
def test_everything_off_is_a_pure_translation(path_name):
    drawing = subject()
    before = all_points(drawing)
    frames = follow_path(drawing, PATHS[path_name], config(1, keep_upright=True))
    for frame in frames:
        moved = all_points(frame) - before
        np.testing.assert_allclose(moved, np.broadcast_to(moved[0], moved.shape), atol=1e-3)  # no rotation
        np.testing.assert_allclose(pairwise(all_points(frame)), pairwise(before), atol=1e-3)
        np.testing.assert_allclose(moved[0], tracked(frame) - tracked(drawing), atol=1e-3)


@pytest.mark.parametrize("path_name", ["quarter-circle", "s-curve", "random-1", "random-2"])
def test_turning_only_is_rigid_and_turns(path_name):
    drawing = subject()
    before = all_points(drawing)
    frames = follow_path(drawing, PATHS[path_name], config(2, keep_upright=False))
    turned = 0.0
    for frame in frames:
        np.testing.assert_allclose(pairwise(all_points(frame)), pairwise(before), atol=2e-3)
        turned = max(turned, abs(direction(frame) - direction(drawing)))
    assert turned > 5.0  # it did turn, so this was no translation in disguise


@pytest.mark.parametrize(
    "options",
    [
        dict(squash_stretch=1.0),
        dict(squash_stretch=2.0, keep_upright=True),
        dict(follow_through=1.0),
        dict(follow_through=0.5, keep_upright=True),
    ],
    ids=option_id,
)
@pytest.mark.parametrize("path_name", ["quarter-circle", "s-curve"])
def test_squash_stretch_or_follow_through_bend_the_shape(path_name, options):
    drawing = subject()
    before = pairwise(all_points(drawing))
    frames = follow_path(drawing, PATHS[path_name], PathFollowConfig(frames=12, **options))
    change = [np.abs(pairwise(all_points(f)) - before).max() for f in frames[2:-2]]
    assert max(change) > 2.0


def test_squash_and_stretch_keeps_area_and_stretches_along_the_motion():
    drawing = subject()
    triangle = drawing.strokes[1].points.astype(float)
    path = PATHS["straight"]
    frames = follow_path(drawing, path, PathFollowConfig(frames=12, squash_stretch=1.0, keep_upright=True))
    tail = np.linalg.norm(np.diff(drawing.strokes[0].points[[0, -1]].astype(float), axis=0))
    stretched = []
    for frame in frames:
        assert shoelace(frame.strokes[1].points.astype(float)) == pytest.approx(shoelace(triangle), rel=1e-4)
        stretched.append(np.linalg.norm(np.diff(frame.strokes[0].points[[0, -1]].astype(float), axis=0)) / tail)
    # The tail lies nearly along the motion: it grows with speed (fastest mid-way), by at most 1.5.
    stretched = np.array(stretched)
    assert stretched[0] == pytest.approx(1.0, abs=1e-5)
    assert stretched.max() > 1.1
    assert stretched.max() < 1.5
    assert np.argmax(stretched) in (5, 6)


# --- 4. timing -------------------------------------------------------------------------------------


def slow_then_fast() -> np.ndarray:
    """A straight path: 40 points 1 px apart, then 40 more 8 px apart."""
    x = np.concatenate([50.0 + np.arange(41), 90.0 + 8.0 * np.arange(1, 41)])
    return np.stack([x, np.full_like(x, 150.0)], 1)


@pytest.mark.parametrize("keep_upright", [True, False])
def test_as_drawn_timing_follows_the_point_spacing(keep_upright):
    path = slow_then_fast()
    drawing = subject(path[0])
    cfg = PathFollowConfig(frames=9, easing="linear", timing="as-drawn", keep_upright=keep_upright)
    anchors = np.array([tracked(f) for f in follow_path(drawing, path, cfg)])
    steps = np.linalg.norm(np.diff(anchors, axis=0), axis=1)
    np.testing.assert_allclose(steps[:4], 10.0, rtol=0.02)
    np.testing.assert_allclose(steps[4:], 80.0, rtol=0.02)
    assert steps[4:].mean() / steps[:4].mean() == pytest.approx(8.0, rel=0.05)


def test_even_timing_ignores_the_point_spacing():
    path = slow_then_fast()
    drawing = subject(path[0])
    cfg = PathFollowConfig(frames=9, easing="linear", timing="even")
    anchors = np.array([tracked(f) for f in follow_path(drawing, path, cfg)])
    steps = np.linalg.norm(np.diff(anchors, axis=0), axis=1)
    np.testing.assert_allclose(steps, 360.0 / 8, rtol=1e-3)


def test_easing_spends_time_at_the_ends():
    path = PATHS["straight"]
    anchors = np.array([tracked(f) for f in follow_path(subject(), path, PathFollowConfig(frames=9))])
    steps = np.linalg.norm(np.diff(anchors, axis=0), axis=1)
    assert steps[0] < steps[3] / 3 and steps[-1] < steps[4] / 3


# --- 5. turning ------------------------------------------------------------------------------------


def test_on_a_quarter_circle_the_subject_turns_with_the_tangent():
    path = quarter_circle()
    drawing = subject()
    center = ANCHOR + [0.0, 150.0]
    frames = follow_path(drawing, path, PathFollowConfig(frames=10, keep_upright=False))
    assert direction(frames[-1]) - direction(drawing) == pytest.approx(90.0, abs=1.0)
    for frame in frames:
        offset = tracked(frame) - center
        tangent = np.degrees(np.arctan2(offset[1], offset[0])) + 90.0  # where the anchor is on the circle
        assert direction(frame) - direction(drawing) == pytest.approx(tangent, abs=1.0)


def test_keep_upright_does_not_turn():
    drawing = subject()
    for path_name in ("quarter-circle", "s-curve", "random-1"):
        frames = follow_path(drawing, PATHS[path_name], PathFollowConfig(frames=10, keep_upright=True))
        for frame in frames:
            assert direction(frame) == pytest.approx(direction(drawing), abs=1e-3)


def test_a_jittery_path_does_not_shake_the_subject():
    rng = np.random.default_rng(3)  # its first point is 1.4 px off the line: a hook at the start
    x = np.arange(50.0, 450.0, 4.0)
    path = np.stack([x, 150.0 + rng.normal(0.0, 0.7, len(x))], 1)
    drawing = subject(path[0])
    raw = np.degrees(np.arctan2(np.diff(path[:, 1]), np.diff(path[:, 0])))
    assert np.ptp(raw) > 30.0  # turning with every segment would shake it
    frames = follow_path(drawing, path, PathFollowConfig(frames=24))
    turns = np.array([direction(f) - direction(drawing) for f in frames])
    assert np.abs(np.diff(turns)).max() < 3.0  # no shake from frame to frame ...
    assert np.abs(turns).max() < 8.0  # ... and no more tilt than the hook at its start explains


def test_banking_leans_into_the_turn():
    """On a turn clockwise on screen the subject turns further than the tangent (clockwise), not
    less; by at most 30 degrees at strength 1, and not at all at the first frame."""
    path = quarter_circle()
    plain = follow_path(subject(), path, PathFollowConfig(frames=10))
    banked = follow_path(subject(), path, PathFollowConfig(frames=10, squash_stretch=1.0))
    lean = np.array([direction(b) - direction(p) for b, p in zip(banked, plain)])
    assert lean[0] == 0.0
    assert lean[1:-1].min() > 1.0 and lean.max() < 30.0
    # Turning the other way (the S-curve's second half) leans the other way.
    s_plain = follow_path(subject(), PATHS["s-curve"], PathFollowConfig(frames=13))
    s_banked = follow_path(subject(), PATHS["s-curve"], PathFollowConfig(frames=13, squash_stretch=1.0))
    s_lean = np.array([direction(b) - direction(p) for b, p in zip(s_banked, s_plain)])
    assert s_lean[3] > 1.0 and s_lean[9] < -1.0


# --- 6. attributes -------------------------------------------------------------------------------


@pytest.mark.parametrize("index, options", list(enumerate(OPTIONS)), ids=[option_id(o) for o in OPTIONS])
def test_radii_opacities_colours_and_the_rest_are_kept(index, options):
    drawing = subject()
    frames = follow_path(drawing, PATHS["random-2"], config(index, frames=5, **options))
    for k, frame in enumerate(frames):
        assert (frame.width, frame.height, frame.layer) == (WIDTH, HEIGHT, "ink")
        assert frame.materials == ["Black", "Red", "Blue"]
        assert len(frame.strokes) == len(drawing.strokes)
        for got, want in zip(frame.strokes, drawing.strokes):
            assert (got.cyclic, got.material) == (want.cyclic, want.material)
            assert got.points.dtype == np.float32 and got.points.shape == want.points.shape
            for name in ("radii", "opacities", "color", "point_colors", "fill"):
                a, b = getattr(got, name), getattr(want, name)
                assert (a is None) == (b is None), name
                if a is not None:
                    np.testing.assert_array_equal(a, b, err_msg=name)
                    assert not np.shares_memory(a, b), name
            if want.bezier is None:
                assert got.bezier is None
            elif options["follow_through"] > 0 and k > 0:
                assert got.bezier is None  # not an affine motion: the curve no longer fits
            else:
                # The same affine map as the points: the on-curve anchors are still the points.
                np.testing.assert_allclose(got.bezier[::3], got.points, atol=1e-3)
                assert not np.shares_memory(got.bezier, want.bezier)


def test_the_input_is_not_changed():
    drawing = subject()
    before = [s.copy() for s in drawing.strokes]
    follow_path(drawing, PATHS["s-curve"], PathFollowConfig(squash_stretch=2.0, follow_through=1.0))
    for got, want in zip(drawing.strokes, before):
        np.testing.assert_array_equal(got.points, want.points)
        assert (got.bezier is None) == (want.bezier is None)
        if want.bezier is not None:
            np.testing.assert_array_equal(got.bezier, want.bezier)


# --- 7. follow-through ---------------------------------------------------------------------------


def test_follow_through_lags_behind_and_catches_up_on_a_straight_path():
    path = np.array([ANCHOR, ANCHOR + [300.0, 0.0]])
    drawing = subject()
    rigid = follow_path(drawing, path, PathFollowConfig(frames=11, keep_upright=True))
    lagging = follow_path(drawing, path, PathFollowConfig(frames=11, keep_upright=True, follow_through=1.0))
    for k in range(3, 8):  # the middle frames
        tail_lag = rigid[k].strokes[0].points[:, 0].astype(float) - lagging[k].strokes[0].points[:, 0]
        assert tail_lag[0] > 3.0  # the far end of the tail is behind its rigid copy ...
        assert (np.diff(tail_lag) <= 1e-3).all()  # ... the farther behind the anchor, the more
        assert tail_lag[-1] == pytest.approx(0.0, abs=1e-4)  # the anchor does not lag
        np.testing.assert_allclose(lagging[k].strokes[4].points, rigid[k].strokes[4].points, atol=1e-4)  # ahead of it
        np.testing.assert_allclose(lagging[k].strokes[0].points[:, 1], rigid[k].strokes[0].points[:, 1], atol=1e-4)
    np.testing.assert_allclose(all_points(lagging[-1]), all_points(rigid[-1]), atol=1.0)
    np.testing.assert_allclose(all_points(lagging[0]), all_points(drawing), atol=1e-4)


@pytest.mark.parametrize("path_name", ["quarter-circle", "s-curve", "random-1"])
def test_follow_through_on_curves_takes_the_pose_of_an_earlier_time(path_name):
    """The far end of the tail, mid-way, is where its rigid copy was some time before (on the
    copy's track, found on a run with 20 times the frames), and ends where the copy ends."""
    path = PATHS[path_name]
    drawing = subject()
    lagging = follow_path(drawing, path, PathFollowConfig(frames=12, follow_through=1.0))
    fine = follow_path(drawing, path, PathFollowConfig(frames=221))
    track = np.array([f.strokes[0].points[0] for f in fine], float)  # frame 20 k is at frame k's time
    for k in range(3, 9):
        far = lagging[k].strokes[0].points[0].astype(float)
        assert distance_to_polyline(far, track)[0] < 0.2
        when = np.argmin(np.linalg.norm(track - far, axis=1))
        assert when <= 20 * k - 2  # earlier ...
        if k <= 5:
            assert when <= 20 * k - 10  # ... by half a frame or more on the way, less as it catches up
    np.testing.assert_allclose(all_points(lagging[-1]), all_points(fine[-1]), atol=1.0)


@pytest.mark.parametrize("path_name", ["quarter-circle", "s-curve", "random-1"])
def test_follow_through_with_squash_and_stretch_ends_at_the_pose_without_lag(path_name):
    path = PATHS[path_name]
    drawing = subject()
    rigid = follow_path(drawing, path, PathFollowConfig(frames=12, squash_stretch=1.0))
    lagging = follow_path(drawing, path, PathFollowConfig(frames=12, squash_stretch=1.0, follow_through=1.0))
    for k in range(3, 9):
        assert np.linalg.norm(lagging[k].strokes[0].points[0] - rigid[k].strokes[0].points[0]) > 2.0
        np.testing.assert_allclose(tracked(lagging[k]), tracked(rigid[k]), atol=1e-4)
    np.testing.assert_allclose(all_points(lagging[-1]), all_points(rigid[-1]), atol=1.0)


# --- anchor ----------------------------------------------------------------------------------------


def test_the_anchor_is_the_paths_start_on_the_subject_else_its_centroid():
    line = Drawing(WIDTH, HEIGHT, [Stroke.from_points([[100.0, 100.0], [200.0, 100.0]], radius=1.0)])
    for start in ([150.0, 100.0], [150.0, 103.5], [97.5, 100.0]):  # on the ink, near it (outside the box)
        np.testing.assert_array_equal(path_anchor(line, np.array([start, [400.0, 400.0]])), start)
    np.testing.assert_allclose(path_anchor(line, np.array([[150.0, 106.0], [400.0, 400.0]])), [150.0, 100.0])
    ring = Drawing(WIDTH, HEIGHT, [Stroke.from_points([[0, 0], [100, 0], [100, 100], [0, 100]], cyclic=True)])
    in_the_box = np.array([[40.0, 60.0], [300.0, 300.0]])  # 40 px from the ink, inside its bounding box
    np.testing.assert_array_equal(path_anchor(ring, in_the_box), [40.0, 60.0])
    np.testing.assert_allclose(path_anchor(ring, np.array([[300.0, 300.0], [310.0, 300.0]])), [50.0, 50.0])
    # Far away: the centre of the ink, by length (100 px of line, 3 px of a dense wiggle), not of the points.
    wiggle = Stroke.from_points([[300.0, 300.0], [300.0, 301.0], [300.0, 302.0], [300.0, 303.0]])
    both = Drawing(WIDTH, HEIGHT, [line.strokes[0], wiggle])
    want = (100.0 * np.array([150.0, 100.0]) + 3.0 * np.array([300.0, 301.5])) / 103.0
    np.testing.assert_allclose(path_anchor(both, np.array([[10.0, 450.0], [50.0, 450.0]])), want)


def test_a_path_off_the_subject_moves_its_centroid_to_the_paths_end():
    drawing = subject()
    path = np.array([[300.0, 400.0], [450.0, 420.0]])  # starts 250 px away
    centroid = path_anchor(drawing, path)
    assert np.linalg.norm(centroid - path[0]) > 100
    frames = follow_path(drawing, path, PathFollowConfig(frames=6, keep_upright=True))
    np.testing.assert_allclose(all_points(frames[0]), all_points(drawing), atol=1e-4)
    np.testing.assert_allclose(all_points(frames[-1]), all_points(drawing) + (path[-1] - centroid), atol=1e-3)


# --- 8. bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, words",
    [
        (np.zeros((0, 2)), "under the minimum of 2"),
        (np.array([[10.0, 10.0]]), "under the minimum of 2"),
        (np.array([[10.0, 10.0], [np.nan, 20.0]]), "NaN or infinite"),
        (np.array([[10.0, 10.0], [20.0, np.inf], [30.0, 5.0]]), "NaN or infinite"),
        (np.array([[10.0, 10.0], [10.0, 10.0], [10.0, 10.0]]), "has zero length"),
        (np.array([[600.0, 10.0], [700.0, 50.0]]), "outside the canvas [0, 512] x [0, 512]"),
        (np.array([[-50.0, -10.0], [-5.0, -90.0], [-80.0, -60.0]]), "outside the canvas"),
        (np.array([[10.0, 10.0, 0.0], [20.0, 20.0, 0.0]]), "[P, 2]"),
    ],
)
def test_a_bad_path_is_refused_by_name(path, words):
    with pytest.raises(InvalidInput) as err:
        follow_path(subject(), path, PathFollowConfig())
    assert err.value.field == "path"
    assert words in str(err.value)


def test_a_path_crossing_the_canvas_with_every_point_outside_is_fine():
    path = np.array([[-40.0, 150.0], [600.0, 160.0]])
    frames = follow_path(subject(), path, PathFollowConfig(frames=3))
    assert len(frames) == 3


@pytest.mark.parametrize(
    "options, field, words",
    [
        (dict(frames=1), "frames", "minimum of 2"),
        (dict(frames=0), "frames", "minimum of 2"),
        (dict(frames=2.5), "frames", "whole number"),
        (dict(frames=True), "frames", "whole number"),
        (dict(timing="fast"), "timing", "even, as-drawn"),
        (dict(easing="bounce"), "easing", "linear, ease-in-out, ease-in, ease-out"),
        (dict(squash_stretch=2.5), "squash_stretch", "[0, 2]"),
        (dict(squash_stretch=-0.1), "squash_stretch", "[0, 2]"),
        (dict(follow_through=1.5), "follow_through", "[0, 1]"),
        (dict(follow_through=float("nan")), "follow_through", "[0, 1]"),
    ],
)
def test_bad_options_name_the_field_the_value_and_the_limit(options, field, words):
    with pytest.raises(InvalidInput) as err:
        follow_path(subject(), PATHS["straight"], PathFollowConfig(**options))
    assert err.value.field == field
    assert words in str(err.value)
    assert str(next(iter(options.values()))) in str(err.value)


@pytest.mark.parametrize("timing", TIMINGS)
@pytest.mark.parametrize("easing", EASINGS)
def test_keypoints_are_where_the_anchor_goes(timing, easing):
    for path in (PATHS["random-1"], slow_then_fast()):
        points = keypoints(path, 9, easing, timing)
        assert points.shape == (9, 2)
        frames = follow_path(subject(path[0]), path, PathFollowConfig(frames=9, easing=easing, timing=timing,
                                                                       squash_stretch=1.0, follow_through=1.0))
        np.testing.assert_allclose(points, [tracked(f) for f in frames], atol=1e-3)
        np.testing.assert_allclose(points[[0, -1]], path[[0, -1]], atol=1e-9)
    with pytest.raises(InvalidInput) as err:
        keypoints(np.array([[1.0, 1.0], [1.0, 1.0]]), 9, easing, timing)
    assert err.value.field == "path"
    with pytest.raises(InvalidInput) as err:
        keypoints(PATHS["straight"], 1, easing, timing)
    assert err.value.field == "frames"


# --- progress, odd drawings, speed -------------------------------------------------------------------


def test_progress_once_per_frame_and_cancellation_within_a_step():
    seen: list[tuple[int, int]] = []
    follow_path(subject(), PATHS["s-curve"], PathFollowConfig(frames=6), lambda p: seen.append((p.step, p.total)))
    assert seen == [(k, 6) for k in range(1, 7)]

    calls, cancel_at_third = cancel_at(3)
    with pytest.raises(Cancelled):
        follow_path(subject(), PATHS["s-curve"], PathFollowConfig(frames=20, follow_through=1.0), cancel_at_third)
    assert calls == [1, 2, 3]


def test_empty_strokes_and_an_empty_drawing():
    drawing = subject()
    drawing.strokes.insert(2, Stroke.from_points(np.zeros((0, 2))))
    cfg = PathFollowConfig(frames=4, follow_through=1.0, squash_stretch=1.0)
    frames = follow_path(drawing, PATHS["quarter-circle"], cfg)
    assert [len(s) for s in frames[-1].strokes] == [len(s) for s in drawing.strokes]
    assert distance_to_polyline(tracked(frames[2]), PATHS["quarter-circle"]).max() < 0.5
    empty = Drawing(WIDTH, HEIGHT, [], "ink", [])
    assert [len(f.strokes) for f in follow_path(empty, PATHS["straight"], PathFollowConfig(frames=3))] == [0, 0, 0]

