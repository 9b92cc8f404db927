"""inkmotion.strokes.tangling: self-intersections and crossings of a drawing's strokes, counted
exactly on small drawings whose answer is known, agreeing with the all-pairs reference on random
ones, fast on large ones; and the excess of an inbetween's middle frames over its keys."""

from __future__ import annotations

import time

import numpy as np
import pytest

from inkmotion.codec.drawing import Drawing, Stroke
from inkmotion.strokes.tangling import Tangling, tangle_excess, tangling, tangling_brute_force


def drawing(*strokes) -> Drawing:
    return Drawing(100, 100, list(strokes))


def line(*points, cyclic: bool = False) -> Stroke:
    return Stroke.from_points(np.asarray(points, np.float32), cyclic=cyclic)


def figure_eight(count: int = 40, scale: float = 30.0) -> np.ndarray:
    """A lemniscate of Gerono, sampled so that no vertex falls on its crossing point (the origin)."""
    t = (np.arange(count) + 0.5) * 2 * np.pi / count
    return 50 + scale * np.stack([np.cos(t), np.sin(t) * np.cos(t)], axis=1)


# -- self-intersections ----------------------------------------------------------------------------

def test_a_figure_eight_crosses_itself_once():
    assert tangling(drawing(line(*figure_eight(), cyclic=True))) == Tangling(1, 0, 1, 40)
    # a bow tie: its two diagonals cross (segments 0 and 2, not neighbours)
    assert tangling(drawing(line((0, 0), (2, 2), (2, 0), (0, 2), cyclic=True))).self_intersections == 1


def test_a_convex_polygon_and_a_triangle_are_simple():
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    polygon = 50 + 20 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    assert tangling(drawing(line(*polygon, cyclic=True))) == Tangling(0, 0, 1, 12)
    assert tangling(drawing(line((0, 0), (5, 0), (0, 5), cyclic=True))).self_intersections == 0


def test_the_closing_segment_of_a_cyclic_stroke_counts():
    zed = [(0, 0), (2, 0), (0, 1), (2, 1)]  # open: a Z, simple; closed: (2, 1) -> (0, 0) crosses (2, 0) -> (0, 1)
    assert tangling(drawing(line(*zed))).self_intersections == 0
    assert tangling(drawing(line(*zed, cyclic=True))).self_intersections == 1
    # a closed stroke that repeats its first point as its last is the same polygon
    assert tangling(drawing(line(*zed, zed[0], cyclic=True))) == tangling(drawing(line(*zed, cyclic=True)))


def test_adjacent_segments_and_repeated_points_are_not_crossings():
    # folding back on itself along a line: adjacent, collinear, touching only
    assert tangling(drawing(line((0, 0), (4, 0), (1, 0)))).self_intersections == 0
    # a sharp hairpin whose arms are neighbours
    assert tangling(drawing(line((0, 0), (10, 1), (0, 2)))).self_intersections == 0
    # zero-length segments are merged away: a repeated point neither adds a crossing nor hides one
    bow = [(0, 0), (2, 2), (2, 2), (2, 0), (2, 0), (0, 2)]
    assert tangling(drawing(line(*bow))) == Tangling(1, 0, 1, 3)
    # strokes of fewer than 2 distinct points have no segments
    assert tangling(drawing(line((3, 3)), line((1, 1), (1, 1)), line((5, 5), (5, 5), cyclic=True))) == Tangling(0, 0, 0, 0)
    assert tangling(drawing()) == Tangling(0, 0, 0, 0)


# -- crossings between strokes ---------------------------------------------------------------------

def test_an_x_of_two_strokes_crosses_once_and_parallels_never():
    assert tangling(drawing(line((0, 0), (10, 10)), line((0, 10), (10, 0)))) == Tangling(0, 1, 2, 2)
    assert tangling(drawing(line((0, 0), (10, 0), (20, 0)), line((0, 1), (10, 1), (20, 1)))).crossings == 0
    # collinear and overlapping is not crossing either
    assert tangling(drawing(line((0, 0), (10, 0)), line((5, 0), (15, 0)))).crossings == 0


@pytest.mark.parametrize("teeth", [1, 2, 7, 20])
def test_a_zigzag_crossed_by_a_straight_stroke_once_per_segment(teeth):
    zigzag = line(*[(i, 10 + 4 * (-1) ** i) for i in range(teeth + 1)])
    across = line((-1, 10.5), (teeth + 1, 10.5))  # through every segment, through no vertex
    assert tangling(drawing(zigzag, across)) == Tangling(0, teeth, 2, teeth + 1)
    above = line((-1, 20), (teeth + 1, 20))
    assert tangling(drawing(zigzag, above)).crossings == 0
    # the zigzag split into two strokes at a vertex: the same crossings
    half = teeth // 2 + 1
    parts = [line(*[(i, 10 + 4 * (-1) ** i) for i in range(a, b)]) for a, b in ((0, half), (half - 1, teeth + 1))]
    assert tangling(drawing(*parts, across)).crossings == teeth


def test_touching_is_not_crossing():
    base = line((0, 0), (10, 0))
    # a T: an end point on the other stroke's inside
    assert tangling(drawing(base, line((5, 0), (5, 5)))).crossings == 0
    # end to end, turning either way
    assert tangling(drawing(base, line((10, 0), (15, 5)))).crossings == 0
    assert tangling(drawing(base, line((10, 0), (15, -5)))).crossings == 0
    # the same two strokes, one pushed through: a crossing
    assert tangling(drawing(base, line((5, -1), (5, 5)))).crossings == 1
    # both ends of a stroke resting on another: touching twice, crossing never
    assert tangling(drawing(base, line((2, 0), (5, 3), (8, 0)))).crossings == 0


def test_crossings_are_per_point_and_counted_per_pair_of_strokes():
    # a closed square crossed by a line through two of its sides: two points
    square = line((0, 0), (10, 0), (10, 10), (0, 10), cyclic=True)
    assert tangling(drawing(square, line((-5, 5), (15, 5.5)))).crossings == 2
    # three lines through one small region, pairwise crossing: three points
    lines = [line((0, 0), (10, 10)), line((0, 10), (10, 0)), line((0, 4.3), (10, 5.1))]
    assert tangling(drawing(*lines)) == Tangling(0, 3, 3, 3)


# -- against the reference, and speed --------------------------------------------------------------

def random_drawing(rng: np.random.Generator, strokes: int, points: int, width: float = 100.0) -> Drawing:
    """Random walks and random polygons (some cyclic), some long straight strokes, a few dots and
    repeated points: every case the grid has to get right."""
    out = []
    for k in range(strokes):
        n = int(rng.integers(1, points + 1))
        kind = k % 4
        if kind == 0:  # a random polygon: vertices anywhere in a box
            pts = rng.uniform(0, width, (n, 2))
        elif kind == 1:  # a random walk
            pts = rng.uniform(0, width, 2) + rng.normal(0, width / 30, (n, 2)).cumsum(axis=0)
        elif kind == 2:  # a long straight-ish stroke with few points
            pts = rng.uniform(-width / 4, width * 1.25, (min(n, 3), 2))
        else:  # on a coarse lattice, with repeats (exact collinear and touching cases)
            pts = rng.integers(0, 6, (n, 2)) * (width / 5)
        out.append(Stroke.from_points(pts, cyclic=bool(rng.random() < 0.4)))
    return Drawing(int(width), int(width), out)


@pytest.mark.parametrize("seed", range(12))
def test_the_grid_agrees_with_all_pairs(seed):
    rng = np.random.default_rng(seed)
    d = random_drawing(rng, strokes=int(rng.integers(1, 40)), points=int(rng.integers(2, 40)),
                       width=float(rng.choice([1.0, 100.0, 5000.0])))
    fast, reference = tangling(d), tangling_brute_force(d)
    assert fast == reference
    # moving the whole drawing changes nothing
    moved = d.copy()
    for s in moved.strokes:
        s.points = s.points + np.float32(3.0)
    assert tangling(moved).total == tangling_brute_force(moved).total


def test_a_large_drawing_takes_well_under_a_second():
    rng = np.random.default_rng(7)
    strokes = [Stroke.from_points(rng.uniform(0, 512, 2) + rng.normal(0, 3, (100, 2)).cumsum(axis=0),
                                  cyclic=bool(i % 3 == 0)) for i in range(200)]
    d = Drawing(512, 512, strokes)
    tangling(d)  # warm up
    began = time.perf_counter()
    result = tangling(d)
    assert time.perf_counter() - began < 1.0
    assert result.strokes == 200 and result.segments > 19_000 and result.total > 0
    # a few long strokes across everything: the grid gets coarser, the answer stays right
    d.strokes += [Stroke.from_points([[0, 0], [512, 512]]), Stroke.from_points([[0, 512], [512, 0]])]
    sub = Drawing(512, 512, d.strokes[::10])
    assert tangling(sub) == tangling_brute_force(sub)


# -- excess over the keys --------------------------------------------------------------------------

def test_tangle_excess_charges_only_what_the_keys_lack():
    x = drawing(line((0, 0), (10, 10)), line((0, 10), (10, 0)))  # 1 crossing
    apart = drawing(line((0, 0), (10, 0)), line((0, 5), (10, 5)))  # 0
    zig = drawing(line(*[(i, 10 + 4 * (-1) ** i) for i in range(4)]), line((-1, 10.5), (5, 10.5)))  # 3
    eight = drawing(line(*figure_eight(), cyclic=True))  # 1 self-intersection
    report = tangle_excess([x, apart, zig, eight, apart])
    assert report["keys"]["start"]["crossings"] == 1 and report["keys"]["end"]["crossings"] == 0
    assert [f["crossings"] for f in report["frames"]] == [0, 3, 0]
    assert [f["excess_crossings"] for f in report["frames"]] == [0, 2, 0]
    assert [f["excess_self_intersections"] for f in report["frames"]] == [0, 0, 1]
    assert report["max_excess"] == 2 and report["tangled_frames"] == 2
    assert report["mean_excess_crossings"] == pytest.approx(2 / 3)
    # linear: the base falls from 1 to 0 over the frames (3/4, 1/2, 1/4 at the middle ones)
    linear = tangle_excess([x, x, x, x, apart], baseline="linear")
    assert [f["excess_crossings"] for f in linear["frames"]] == pytest.approx([0.25, 0.5, 0.75])
    assert tangle_excess([x, x, x, x, apart])["max_excess"] == 0
    with pytest.raises(ValueError):
        tangle_excess([x], baseline="max")
    with pytest.raises(ValueError):
        tangle_excess([x, x], baseline="median")


def test_a_shifted_copy_inbetweens_without_tangling():
    from inkmotion.pipelines.inbetween import inbetween

    start = drawing(line(*figure_eight(), cyclic=True), line((10, 10), (90, 80)), line((10, 80), (90, 12)))
    end = start.copy()
    for s in end.strokes:
        s.points = s.points + np.float32([6.0, -4.0])
    report = tangle_excess(inbetween(start, end, 7, easing="linear"))
    assert report["keys"]["start"] == report["keys"]["end"]
    assert report["max_excess"] == 0 and len(report["frames"]) == 5
