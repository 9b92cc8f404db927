"""Classical inbetweening: keys unchanged, strokes paired by shape and position (not by order),
rotation-aware motion, easing, attribute blending, unmatched strokes, cancellation, the test sketches."""

from __future__ import annotations


import numpy as np
import pytest

from inkmotion.codec.drawing import Drawing, Stroke
from harness import cancel_at
from inkmotion.errors import Cancelled, InvalidInput
from inkmotion.strokes.geometry import Similarity, cumulative_length, fit_similarity, resample
from inkmotion.pipelines.base import Progress
from inkmotion.pipelines.inbetween import ease, inbetween, match_strokes

from inkmotion.codec.svg import read_svg


# --- helpers -------------------------------------------------------------------------------------


def transformed(drawing: Drawing, motion: Similarity, order=None, reverse=False) -> Drawing:
    """The drawing moved by `motion`, its strokes in `order`, optionally each drawn the other way."""
    order = range(len(drawing.strokes)) if order is None else order
    strokes = []
    for k in order:
        s = drawing.strokes[k]
        flip = slice(None, None, -1) if reverse else slice(None)
        strokes.append(
            s.copy(
                points=motion.apply(s.points)[flip].astype(np.float32),
                radii=s.radii[flip].copy(),
                opacities=s.opacities[flip].copy(),
                bezier=None,
            )
        )
    return Drawing(drawing.width, drawing.height, strokes, drawing.layer, list(drawing.materials))


def about(center, angle: float, shift=(0.0, 0.0), scale: float = 1.0) -> Similarity:
    """Turn (and scale) about `center`, then shift."""
    linear = Similarity(angle, scale, np.zeros(2))
    center = np.asarray(center, float)
    return Similarity(angle, scale, center - linear.apply(center) + np.asarray(shift, float))


def assert_same_drawing(got: Drawing, want: Drawing) -> None:
    assert got is not want
    assert (got.width, got.height, got.layer, got.materials) == (want.width, want.height, want.layer, want.materials)
    assert len(got.strokes) == len(want.strokes)
    for g, w in zip(got.strokes, want.strokes):
        assert (g.cyclic, g.material) == (w.cyclic, w.material)
        for name in ("points", "radii", "opacities", "color", "point_colors", "fill", "bezier"):
            a, b = getattr(g, name), getattr(w, name)
            assert (a is None) == (b is None), name
            if a is not None:
                assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), name
                assert not np.shares_memory(a, b), f"{name} is shared with the key"


def distance_to_polyline(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Distance from each point to the nearest segment of `line`."""
    a, b = line[:-1][None], line[1:][None]
    p = points[:, None]
    ab = b - a
    t = np.clip(((p - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    return np.linalg.norm(p - (a + t[..., None] * ab), axis=-1).min(axis=1)


def hook(center=(128.0, 128.0), size=40.0, n=40) -> np.ndarray:
    """An asymmetric open curve: a half circle with a straight tail."""
    t = np.linspace(0, np.pi, n // 2)
    arc = np.stack([np.cos(t), np.sin(t)], axis=1) * size / 2
    tail = np.stack([np.full(n - n // 2, -size / 2), np.linspace(0, -size, n - n // 2 + 1)[1:]], axis=1)
    pts = np.concatenate([arc, tail])
    return (pts - pts.mean(axis=0) + center).astype(np.float32)


@pytest.fixture(scope="module", params=["own", "shared"])
def sketches(request) -> dict[str, Drawing]:
    """Every sketch, {name: Drawing}: the project's own (neighbours are pairs of keys), and the
    shared ones drawn by others."""
    paths = request.getfixturevalue("vector_sketches" if request.param == "own" else "shared_vector_sketches")
    return {p.name: read_svg(p) for p in paths}


@pytest.fixture(scope="module")
def own(vector_sketches) -> dict[str, Drawing]:
    return {p.name: read_svg(p) for p in vector_sketches}


@pytest.fixture(scope="module")
def cat(own) -> Drawing:
    """16 open single-cubic strokes on a 224 px canvas, as Live-Sketch draws them."""
    return own["cat-1.svg"]


# --- keys, frames, options -----------------------------------------------------------------------


def test_keys_come_out_unchanged_and_frames_count_both(own):
    start, end = own["cat-1.svg"], own["cat-2.svg"]
    start.materials[:] = []  # whatever the reader gives, both keys must come back as they are
    for frames in (2, 3, 7):
        out = inbetween(start, end, frames)
        assert len(out) == frames
        assert_same_drawing(out[0], start)
        assert_same_drawing(out[-1], end)
    between = inbetween(start, end, 5)[1:-1]
    assert all(s.bezier is None for d in between for s in d.strokes)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"frames": 1}, "frames"),
        ({"frames": 0}, "frames"),
        ({"frames": -3}, "frames"),
        ({"frames": 2.5}, "frames"),
        ({"frames": True}, "frames"),
        ({"easing": "bounce"}, "easing"),
        ({"motion_path": "spline"}, "motion_path"),
        ({"unmatched": "pop"}, "unmatched"),
    ],
)
def test_bad_options_name_the_field_and_the_choices(cat, kwargs, field):
    args = {"frames": 4, **kwargs}
    with pytest.raises(InvalidInput) as err:
        inbetween(cat, cat, args.pop("frames"), **args)
    assert err.value.field == field
    if field == "easing":
        assert "linear, ease-in-out, ease-in, ease-out" in str(err.value)
    if field == "unmatched":
        assert "fade, draw-on" in str(err.value)


# --- matching ------------------------------------------------------------------------------------


def test_shuffled_strokes_go_to_their_true_partners(sketches):
    """End = start turned 25 degrees about the canvas centre, shifted, strokes shuffled: pairing
    strokes by their order (as Blender's Interpolate does) gets this wrong."""
    rng = np.random.default_rng(7)
    for name, start in sketches.items():
        if name.startswith("hatching-"):
            continue  # a lattice of like strokes: see test_a_turned_lattice_of_like_strokes_pairs_up
        motion = about((128, 128), np.radians(25), shift=(18, -10))
        order = rng.permutation(len(start.strokes))
        end = transformed(start, motion, order)
        match = match_strokes(start, end)
        assert len(match.start_only) == len(match.end_only) == 0, name
        assert (order[match.pairs[:, 1]] == match.pairs[:, 0]).all(), name

        mid = inbetween(start, end, 3, easing="linear")[1]
        assert len(mid.strokes) == len(start.strokes)
        half = Similarity(motion.angle / 2, 1.0, np.zeros(2))
        for k, stroke in enumerate(start.strokes):
            # Each stroke turns half way about its centroid (of even arc-length samples) while that
            # moves half way: the points that travel are the start key's own.
            center = resample(stroke.points, len(stroke), stroke.cyclic).mean(axis=0)
            expected = half.apply(stroke.points - center) + (center + motion.apply(center)) / 2
            where = f"{name} stroke {k}"
            if stroke.cyclic:
                # A closed stroke's start point is the pipeline's to choose (it rolls it by a
                # fraction of a sample), and one that looks the same turned (a circle) may travel
                # without turning: where it lands and its shape are fixed, to half a pixel. (Small
                # ellipses, the face's eyes, come out ~0.3 px off a clean half turn.)
                got = mid.strokes[k].points
                assert distance_to_polyline(got, np.concatenate([expected, expected[:1]])).max() < 0.5, where
                assert distance_to_polyline(expected, np.concatenate([got, got[:1]])).max() < 0.5, where
                continue
            np.testing.assert_allclose(mid.strokes[k].points, expected, atol=0.05, err_msg=where)


def test_strokes_drawn_the_other_way_keep_their_shape(cat):
    rng = np.random.default_rng(1)
    order = rng.permutation(len(cat.strokes))
    end = transformed(cat, Similarity(0.0, 1.0, np.array([6.0, 4.0])), order, reverse=True)
    mid = inbetween(cat, end, 3, easing="linear", motion_path="linear")[1]
    for k, stroke in enumerate(cat.strokes):
        np.testing.assert_allclose(mid.strokes[k].points, stroke.points + [3.0, 2.0], atol=0.01)


@pytest.mark.xfail(strict=True, reason="known limit: the first assignment, by the drawing's shift alone, pairs a "
                   "lattice of like strokes one cell off once it turns 10 degrees or more, and the similarity "
                   "refit starts from those pairs")
def test_a_turned_lattice_of_like_strokes_pairs_up(own):
    """hatching-1.svg: 60 short strokes on a jittered grid, turned 25 degrees and shuffled."""
    start = own["hatching-1.svg"]
    motion = about((128, 128), np.radians(25), shift=(18, -10))
    order = np.random.default_rng(7).permutation(len(start.strokes))
    match = match_strokes(start, transformed(start, motion, order))
    assert (order[match.pairs[:, 1]] == match.pairs[:, 0]).all()


def test_closed_strokes_starting_elsewhere_and_reversed_do_not_twist(own):
    start = own["surf.svg"]
    assert all(s.cyclic for s in start.strokes)
    strokes = []
    for k, s in enumerate(start.strokes):
        roll = (5 * k + 3) % len(s)
        flip = slice(None, None, -1) if k % 2 else slice(None)
        strokes.append(s.copy(points=np.roll(s.points, -roll, axis=0)[flip].copy(), bezier=None))
    end = Drawing(start.width, start.height, strokes[::-1], start.layer, list(start.materials))
    for path in ("linear", "arc"):
        mid = inbetween(start, end, 3, motion_path=path)[1]
        for k, s in enumerate(start.strokes):
            loop = np.concatenate([s.points, s.points[:1]])
            assert distance_to_polyline(mid.strokes[k].points, loop).max() < 0.3, (path, k)
            assert mid.strokes[k].length() == pytest.approx(s.length(), rel=0.02)


def test_different_point_counts_per_stroke(cat):
    """End strokes: the start's resampled to 4..90 points (and in reverse order). Each frame has
    the larger count and stays between the two polylines: no further from the start's than the
    eased time times the end polyline's own distance from it."""
    rng = np.random.default_rng(3)
    strokes = []
    for s in cat.strokes:
        n = int(rng.integers(4, 90))
        strokes.append(Stroke.from_points(resample(s.points, n, s.cyclic), radius=float(s.radii[0]), cyclic=s.cyclic))
    end = Drawing(cat.width, cat.height, strokes[::-1])
    out = inbetween(cat, end, 4)
    times = ease(np.linspace(0, 1, 4), "ease-in-out")
    for i, frame in enumerate(out[1:-1], start=1):
        for k, s in enumerate(cat.strokes):
            got = frame.strokes[k].points
            assert len(got) == max(len(s), len(strokes[k]))
            apart = distance_to_polyline(s.points, strokes[k].points).max()
            assert distance_to_polyline(got, s.points).max() <= times[i] * apart + 0.1


def test_unmatched_strokes_fade(cat):
    removed = [2, 9]
    kept = [k for k in range(len(cat.strokes)) if k not in removed]
    t = np.linspace(0, 2 * np.pi, 60)
    ring = Stroke.from_points(np.stack([240 + 12 * np.cos(t), 16 + 12 * np.sin(t)], axis=1), radius=2, opacity=0.8)
    end = Drawing(cat.width, cat.height, [cat.strokes[k].copy() for k in kept[::-1]] + [ring])
    match = match_strokes(cat, end)
    assert match.start_only.tolist() == removed
    assert match.end_only.tolist() == [len(kept)]

    # A stroke lying on a piece of another merges into it; the rest fade in place (the drawing
    # stands still).
    from inkmotion.pipelines.inbetween import match_pieces

    merging, splitting = match_pieces(cat, end, match)
    assert not splitting and {p.stroke for p in merging} < set(removed), merging
    out = inbetween(cat, end, 6, easing="linear")
    times = np.linspace(0, 1, 6)
    for piece in merging:
        apart = distance_to_polyline(cat.strokes[piece.stroke].points, piece.points).max()
        assert distance_to_polyline(out[-2].strokes[piece.stroke].points, piece.points).max() <= 0.2 * apart + 0.5
    removed = [k for k in removed if k not in {p.stroke for p in merging}]
    for i, frame in enumerate(out[1:-1], start=1):
        assert len(frame.strokes) == len(cat.strokes) + 1  # start order, then the new ring
        for k in removed:
            np.testing.assert_array_equal(frame.strokes[k].points, cat.strokes[k].points)
            expected = cat.strokes[k].opacities * (1 - times[i])
            np.testing.assert_allclose(frame.strokes[k].opacities, expected, rtol=1e-6)
        np.testing.assert_allclose(frame.strokes[-1].opacities, 0.8 * times[i], rtol=1e-6)
        np.testing.assert_array_equal(frame.strokes[-1].points, ring.points)
    # Opacity heads to 0 at the key without the stroke, and comes from 0 at the key without the ring.
    fading = [f.strokes[removed[0]].opacities.max() for f in out[1:-1]]
    assert all(np.diff(fading) < 0) and fading[-1] < 0.25
    appearing = [f.strokes[-1].opacities.max() for f in out[1:-1]]
    assert all(np.diff(appearing) > 0) and appearing[0] < 0.2


def test_unmatched_strokes_draw_on_along_their_length(cat):
    from inkmotion.pipelines.inbetween import match_pieces

    t = np.linspace(0, 2 * np.pi, 60)
    ring = Stroke.from_points(np.stack([240 + 12 * np.cos(t), 16 + 12 * np.sin(t)], axis=1), cyclic=True)

    def without(k):
        return Drawing(cat.width, cat.height, [s.copy() for i, s in enumerate(cat.strokes) if i != k] + [ring])

    # The first stroke that, taken away, lies on no piece of another (so it is erased, not merged).
    k = next(k for k in range(len(cat.strokes)) if match_pieces(cat, without(k), match_strokes(cat, without(k)))[0] == [])
    cat = Drawing(cat.width, cat.height, [cat.strokes[k]] + [s for i, s in enumerate(cat.strokes) if i != k])
    end = without(0)
    out = inbetween(cat, end, 7, easing="linear", unmatched="draw-on")
    times = np.linspace(0, 1, 7)
    drawn = [f.strokes[-1].length() for f in out[1:-1]]
    np.testing.assert_allclose(drawn, ring.length() * times[1:-1], rtol=1e-4)
    for f in out[1:-1]:
        assert not f.strokes[-1].cyclic  # an open part of the ring until it is whole
    # The stroke removed is erased in place (the drawing stands still), along its length.
    erased = [f.strokes[0].length() for f in out[1:-1]]
    np.testing.assert_allclose(erased, cat.strokes[0].length() * (1 - times[1:-1]), rtol=1e-4)
    for f in out[1:-1]:
        assert distance_to_polyline(f.strokes[0].points, cat.strokes[0].points).max() < 1e-3


# --- motion --------------------------------------------------------------------------------------


def test_arc_turns_a_stroke_rigidly_where_linear_shrinks_it():
    start_points = hook()
    turn = about(start_points.mean(axis=0), np.pi / 2)
    start = Drawing(256, 256, [Stroke.from_points(start_points)])
    end = Drawing(256, 256, [Stroke.from_points(turn.apply(start_points).astype(np.float32))])
    length = start.strokes[0].length()

    arc = inbetween(start, end, 3, easing="linear", motion_path="arc")[1].strokes[0]
    assert arc.length() == pytest.approx(length, rel=1e-3)
    fit = fit_similarity(start_points, arc.points)
    assert np.degrees(fit.angle) == pytest.approx(45.0, abs=0.5)
    assert fit.scale == pytest.approx(1.0, abs=1e-3)

    linear = inbetween(start, end, 3, easing="linear", motion_path="linear")[1].strokes[0]
    assert linear.length() < 0.8 * length  # the chords of a quarter turn: cos 45 of the length
    assert fit_similarity(start_points, linear.points).scale < 0.75


def test_arc_interpolates_scale_geometrically_and_moves_the_centroid_straight():
    start_points = hook()
    grow = about(start_points.mean(axis=0), np.radians(60), shift=(40, 10), scale=2.0)
    start = Drawing(256, 256, [Stroke.from_points(start_points)])
    end = Drawing(256, 256, [Stroke.from_points(grow.apply(start_points).astype(np.float32))])
    frames = inbetween(start, end, 5, easing="linear")
    for i, frame in enumerate(frames[1:-1], start=1):
        fit = fit_similarity(start_points, frame.strokes[0].points)
        assert fit.scale == pytest.approx(2.0 ** (i / 4), rel=1e-3)
        assert np.degrees(fit.angle) == pytest.approx(60 * i / 4, abs=0.2)
        # The centroid (of the curve: of even arc-length samples) moves on a straight line.
        center = resample(start_points, 40).mean(axis=0)
        got = resample(frame.strokes[0].points, 40).mean(axis=0)
        np.testing.assert_allclose(got, center + (grow.apply(center) - center) * i / 4, atol=0.02)


def test_easing_spends_time_differently_but_meets_at_the_middle():
    start_points = hook()
    start = Drawing(256, 256, [Stroke.from_points(start_points)])
    end = Drawing(256, 256, [Stroke.from_points(start_points + np.float32(60))])

    def travelled(easing):
        out = inbetween(start, end, 5, easing=easing)
        return [float(np.mean(f.strokes[0].points[:, 0] - start_points[:, 0])) for f in out]

    linear, in_out = travelled("linear"), travelled("ease-in-out")
    assert in_out[2] == pytest.approx(linear[2], abs=1e-3) == pytest.approx(30, abs=1e-3)
    assert 0 < in_out[1] < linear[1]
    assert travelled("ease-in")[1] < linear[1] < travelled("ease-out")[1]
    assert all(np.diff(in_out) > 0)
    np.testing.assert_allclose(ease([0, 0.5, 1], "ease-in-out"), [0, 0.5, 1])


def test_width_opacity_and_colours_blend_monotonically():
    pts = hook()
    start_stroke = Stroke.from_points(pts, radius=1.0, opacity=0.2, color=[1, 0, 0, 1])
    start_stroke.point_colors = np.tile(np.float32([1, 0.5, 0, 1]), (len(pts), 1))
    start_stroke.material = 1
    end_stroke = Stroke.from_points(pts[::-1][::2] + np.float32(20), radius=5.0, opacity=1.0, color=[0, 0, 1, 1])
    end_stroke.fill = np.float32([0, 1, 0, 0.6])
    start = Drawing(256, 256, [start_stroke], materials=["a", "b"])
    end = Drawing(256, 256, [end_stroke], materials=["a", "b"])
    out = inbetween(start, end, 6, easing="linear")
    between = [f.strokes[0] for f in out[1:-1]]
    for name in ("radii", "opacities"):
        series = [float(getattr(start_stroke, name).mean())] + [float(getattr(s, name).mean()) for s in between] + [
            float(getattr(end_stroke, name).mean())
        ]
        assert all(np.diff(series) > 0), name
    reds = [s.color[0] for s in between]
    blues = [s.color[2] for s in between]
    assert all(np.diff(reds) < 0) and all(np.diff(blues) > 0)
    greens = [float(s.point_colors[:, 1].mean()) for s in between]  # 0.5 -> 0 (end is all blue)
    assert all(np.diff(greens) < 0)
    fill_alpha = [s.fill[3] for s in between]  # no fill at the start: it fades in
    assert all(np.diff(fill_alpha) > 0) and fill_alpha[0] < 0.2
    assert all(s.material == 1 and not s.cyclic for s in between)
    assert all(s.points.dtype == np.float32 and s.radii.dtype == np.float32 for s in between)


# --- cancellation, progress ----------------------------------------------------------------------


def test_calls_back_once_per_frame_and_a_cancel_stops_it(cat):
    seen: list[Progress] = []
    inbetween(cat, cat, 6, on_progress=seen.append)
    assert [p.step for p in seen] == [1, 2, 3, 4, 5, 6]
    assert all(p.total == 6 for p in seen)

    calls, cancel_at_third = cancel_at(3)
    with pytest.raises(Cancelled):
        inbetween(cat, cat, 24, on_progress=cancel_at_third)
    assert calls == [1, 2, 3]


# --- real sketches and odd inputs ----------------------------------------------------------------


def _finite(drawing: Drawing) -> bool:
    return all(
        np.isfinite(s.points).all() and np.isfinite(s.radii).all() and np.isfinite(s.opacities).all()
        for s in drawing.strokes
    )


def test_runs_on_every_sketch(sketches):
    names = list(sketches)  # in order: the project's own neighbours are pairs
    for k, name in enumerate(names):
        start, other = sketches[name], sketches[names[(k + 1) % len(names)]]
        moved = transformed(start, about((128, 128), np.radians(-40), shift=(-20, 25), scale=0.8))
        for end, unmatched in ((other, "fade"), (other, "draw-on"), (moved, "fade")):
            out = inbetween(start, end, 5, unmatched=unmatched, motion_path=["arc", "linear"][k % 2])
            assert len(out) == 5
            assert_same_drawing(out[0], start)
            assert_same_drawing(out[-1], end)
            assert all(_finite(f) for f in out), (name, unmatched)
            for f in out[1:-1]:
                assert len(f.strokes) >= max(len(start.strokes), len(end.strokes))
                assert all(len(s.points) == len(s.radii) == len(s.opacities) for s in f.strokes)


def test_empty_and_degenerate_keys():
    dot = Stroke.from_points([[10, 10]])
    same = Stroke.from_points([[50, 50], [50, 50], [50, 50]])
    line = Stroke.from_points([[0, 0], [30, 0]])
    empty = Stroke.from_points(np.zeros((0, 2)))
    blank = Drawing(64, 64)
    full = Drawing(64, 64, [dot, same, line, empty])
    moved = Drawing(64, 64, [Stroke.from_points(s.points + 3) for s in (line, same, dot)] + [empty.copy()])
    for a, b in ((blank, blank), (blank, full), (full, blank), (full, moved), (moved, full)):
        for unmatched in ("fade", "draw-on"):
            out = inbetween(a, b, 4, unmatched=unmatched)
            assert len(out) == 4 and all(_finite(f) for f in out)
    mid = inbetween(full, moved, 3, easing="linear")[1]
    np.testing.assert_allclose(mid.strokes[0].points, [[11.5, 11.5]])  # the dot moved half way
    np.testing.assert_allclose(mid.strokes[2].points, [[1.5, 1.5], [31.5, 1.5]])
    assert cumulative_length(mid.strokes[2].points)[-1] == pytest.approx(30)


# --- between different drawings: pieces, attached strokes, tangling ------------------------------------


def test_a_stroke_drawn_as_two_splits_from_its_piece():
    """The start key's one long line is two strokes in the end key, moved 30 px down: one pairs
    with it whole, the other lies on its other half (a piece) and travels from there, at full
    opacity, rather than fading in where it ends."""
    from inkmotion.pipelines.inbetween import match_pieces

    line = np.stack([np.linspace(40, 200, 81), np.full(81, 100.0)], axis=1)
    start = Drawing(256, 256, [Stroke.from_points(line)])
    end = Drawing(256, 256, [Stroke.from_points(line[:41] + (0, 30)), Stroke.from_points(line[40:] + (0, 30))])
    match = match_strokes(start, end)
    merging, splitting = match_pieces(start, end, match)
    assert len(match.pairs) == 1 and not merging and len(splitting) == 1
    piece = splitting[0]
    assert piece.other == 0 and piece.stroke == int(match.end_only[0])
    half = line[40:] if piece.stroke == 1 else line[:41]
    assert distance_to_polyline(piece.points, half).max() < 1.0, "laid on the right half of the line"
    out = inbetween(start, end, 5, easing="linear")
    for i, frame in enumerate(out[1:-1], start=1):
        grown = frame.strokes[-1]
        assert grown.opacities.min() == pytest.approx(1.0)
        assert abs(float(grown.points[:, 1].mean()) - (100 + 30 * i / 4)) < 1.0, "it travels with the line"


def test_an_unmatched_stroke_rides_with_the_stroke_it_attaches_to():
    """A body moving 80 px right; the end key adds an eye (a small ring, no piece of anything) by
    its head. Between the keys the eye moves with the body, from the body's start, instead of
    fading in at its end place."""
    body = hook(center=(80.0, 128.0))
    eye = np.array([(80 + 6 * np.cos(a), 96 + 6 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 24, endpoint=False)])
    start = Drawing(256, 256, [Stroke.from_points(body)])
    end = Drawing(256, 256, [Stroke.from_points(body + (80, 0)), Stroke.from_points(eye + (80, 0), cyclic=True)])
    for unmatched in ("fade", "draw-on"):
        out = inbetween(start, end, 5, easing="linear", unmatched=unmatched)
        for i, frame in enumerate(out[1:-1], start=1):
            carried = np.concatenate([eye, eye[:1]]) + (80 * i / 4, 0)  # where the body has the eye then
            assert distance_to_polyline(frame.strokes[-1].points, carried).max() < 2.0, (unmatched, i)


def test_the_shared_pairs_of_different_drawings_tangle_no_more_than_their_keys(shared_vector_sketches):
    """dolphin_2 -> dolphin_3, gazelle2 -> gazelle_3, hummingbird1 -> hummingbird_3: two drawings
    of one subject by others. The frames between cross themselves (stroke crossings plus
    self-intersections) on average at most 10 % more than the more tangled key."""
    from inkmotion.strokes.tangling import tangling

    by_name = {p.stem.replace("_scaled1", ""): p for p in shared_vector_sketches}
    for a, b in (("dolphin_2", "dolphin_3"), ("gazelle2", "gazelle_3"), ("hummingbird1", "hummingbird_3")):
        start, end = read_svg(by_name[a]), read_svg(by_name[b])
        counts = [tangling(f) for f in inbetween(start, end, 7, easing="linear")]
        keys = max(c.crossings + c.self_intersections for c in (counts[0], counts[-1]))
        between = np.mean([c.crossings + c.self_intersections for c in counts[1:-1]])
        assert between <= 1.1 * keys, (a, b, between, keys)
