"""Stroke geometry: arc-length resampling, optimal assignment against brute force, similarity fits."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from inkmotion.strokes.geometry import (
    Polylines,
    Similarity,
    arc_length_parameter,
    cumulative_length,
    fit_similarities,
    fit_similarity,
    linear_assignment,
    prefix_parameter,
    resample,
    sample_at,
    wrap_angle,
)


# --- resampling ----------------------------------------------------------------------------------


def test_resample_spaces_points_evenly_and_keeps_the_ends():
    # A line sampled unevenly (dense at the start), with a repeated point.
    x = np.array([0.0, 0.5, 1.0, 1.0, 2.0, 10.0])
    pts = np.stack([x, 2 * x], axis=1)
    out = resample(pts, 11)
    assert out.shape == (11, 2)
    np.testing.assert_allclose(out[:, 0], np.linspace(0, 10, 11), atol=1e-12)
    np.testing.assert_allclose(out[:, 1], 2 * out[:, 0], atol=1e-12)


def test_resample_keeps_a_curve_on_its_polyline_and_its_length():
    t = np.linspace(0, np.pi, 200)
    arc = np.stack([np.cos(t), np.sin(t)], axis=1) * 50
    out = resample(arc, 37)
    np.testing.assert_allclose(np.hypot(*out.T), 50, rtol=1e-3)
    steps = np.hypot(*np.diff(out, axis=0).T)
    np.testing.assert_allclose(steps, steps.mean(), rtol=1e-3)
    assert cumulative_length(out)[-1] == pytest.approx(cumulative_length(arc)[-1], rel=1e-3)


def test_resample_cyclic_goes_round_the_closed_loop_without_repeating_the_start():
    square = np.array([[0, 0], [4, 0], [4, 4], [0, 4]], float)
    out = resample(square, 8, cyclic=True)
    expected = [[0, 0], [2, 0], [4, 0], [4, 2], [4, 4], [2, 4], [0, 4], [0, 2]]
    np.testing.assert_allclose(out, expected, atol=1e-12)
    assert cumulative_length(square, cyclic=True)[-1] == pytest.approx(16)


def test_attributes_resample_at_the_same_parameter():
    pts = np.array([[0, 0], [1, 0], [10, 0]], float)
    radii = np.array([1.0, 2.0, 11.0])  # radius grows with x
    colors = np.array([[0, 0, 0, 1], [0.1, 0, 0, 1], [1, 0, 0, 1]], float)
    u = arc_length_parameter(pts, 6)
    xs = sample_at(pts, u)[:, 0]
    np.testing.assert_allclose(sample_at(radii, u), xs + 1)
    np.testing.assert_allclose(sample_at(colors, u)[:, 0], xs / 10)
    assert sample_at(colors, u).shape == (6, 4)


def test_cyclic_sampling_wraps_over_the_closing_segment():
    values = np.array([0.0, 10.0, 20.0])
    np.testing.assert_allclose(sample_at(values, [2.5], cyclic=True), [10.0])  # halfway 20 -> 0


def test_degenerate_strokes_resample():
    assert resample([[3, 4]], 5).tolist() == [[3, 4]] * 5
    same = np.array([[1, 1], [1, 1], [1, 1]], float)
    np.testing.assert_allclose(arc_length_parameter(same, 5), np.linspace(0, 2, 5))
    with pytest.raises(ValueError):
        resample(np.zeros((0, 2)), 3)


def test_prefix_parameter_cuts_by_arc_length():
    pts = np.array([[0, 0], [1, 0], [2, 0], [10, 0]], float)
    part = sample_at(pts, prefix_parameter(pts, 0.5))
    np.testing.assert_allclose(part, [[0, 0], [1, 0], [2, 0], [5, 0]])
    np.testing.assert_allclose(sample_at(pts, prefix_parameter(pts, 1.0)), pts)
    assert len(prefix_parameter(pts, 0.0)) == 2
    square = np.array([[0, 0], [4, 0], [4, 4], [0, 4]], float)
    closed = sample_at(square, prefix_parameter(square, 1.0, cyclic=True), cyclic=True)
    np.testing.assert_allclose(closed, [[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]])


def _mixed_strokes():
    rng = np.random.default_rng(3)
    strokes = [rng.random((k, 2)) * 50 for k in (1, 2, 5, 17, 3, 1, 8)]
    strokes += [np.ones((3, 2)), np.array([[0, 0], [0, 0], [3, 0], [3, 0], [6, 0]], float)]
    cyclic = [False, True, True, False, True, True, False, True, False]
    return strokes, cyclic


def test_polylines_do_for_many_strokes_what_the_single_functions_do_for_one():
    strokes, cyclic = _mixed_strokes()
    lines = Polylines.of(strokes, cyclic)
    counts = np.array([4, 5, 6, 7, 1, 3, 9, 4, 6])
    u = lines.arc_length_parameter(counts)
    points = lines.resample(counts)
    radii = np.concatenate([np.arange(len(s), dtype=float) for s in strokes])
    sampled_radii = lines.sample_at(radii, u, counts)
    at = np.concatenate([[0], np.cumsum(counts)])
    for k, (s, c) in enumerate(zip(strokes, cyclic)):
        part = slice(at[k], at[k + 1])
        np.testing.assert_allclose(u[part], arc_length_parameter(s, counts[k], c), atol=1e-12)
        np.testing.assert_allclose(points[part], resample(s, counts[k], c), atol=1e-12)
        index = np.arange(len(s), dtype=float)
        np.testing.assert_allclose(sampled_radii[part], sample_at(index, u[part], c), atol=1e-12)
        assert lines.lengths()[k] == pytest.approx(cumulative_length(s, c)[-1])


def test_polylines_vertex_fractions_and_back():
    strokes, cyclic = _mixed_strokes()
    lines = Polylines.of(strokes, cyclic)
    fractions = lines.vertex_fractions()
    assert fractions.shape == (len(lines.points),)
    assert ((fractions >= 0) & (fractions <= 1)).all()
    # Where a stroke has length and no repeated points, the fractions lead back to the vertices.
    u = lines.parameter_at(fractions, lines.sizes)
    at = np.concatenate([[0], np.cumsum(lines.sizes)])
    for k in (2, 3, 6):
        np.testing.assert_allclose(u[at[k] : at[k + 1]], np.arange(lines.sizes[k]), atol=1e-9)
    line = Polylines.of([[[0, 0], [1, 0], [4, 0]]])
    np.testing.assert_allclose(line.vertex_fractions(), [0, 0.25, 1])
    np.testing.assert_allclose(line.parameter_at([0.5, 0.125], 2), [1 + 1 / 3, 0.5])


# --- assignment ----------------------------------------------------------------------------------


def _brute_force(cost: np.ndarray) -> float:
    n, m = cost.shape
    if n <= m:
        return min(cost[range(n), list(p)].sum() for p in itertools.permutations(range(m), n))
    return _brute_force(cost.T)


@pytest.mark.parametrize("shape", [(5, 5), (4, 6), (6, 4), (1, 5), (3, 3)])
def test_linear_assignment_is_optimal(shape):
    rng = np.random.default_rng(sum(shape))
    for trial in range(40):
        cost = rng.random(shape) * 10
        if trial % 4 == 0:
            cost = np.round(cost)  # ties
        if trial % 4 == 1:
            cost -= 5  # negative costs
        rows, cols = linear_assignment(cost)
        assert len(rows) == min(shape)
        assert len(set(rows.tolist())) == len(rows) and len(set(cols.tolist())) == len(cols)
        assert list(rows) == sorted(rows)
        assert cost[rows, cols].sum() == pytest.approx(_brute_force(cost), abs=1e-9)


def test_linear_assignment_edge_cases():
    rows, cols = linear_assignment(np.zeros((0, 3)))
    assert len(rows) == len(cols) == 0
    rows, cols = linear_assignment([[7.0]])
    assert rows.tolist() == [0] and cols.tolist() == [0]
    with pytest.raises(ValueError):
        linear_assignment([[1.0, np.inf]])
    # A larger one stays consistent with its own optimality: no improving swap of two pairs.
    cost = np.random.default_rng(0).random((40, 50))
    rows, cols = linear_assignment(cost)
    for a, b in itertools.combinations(range(40), 2):
        kept = cost[rows[a], cols[a]] + cost[rows[b], cols[b]]
        assert kept <= cost[rows[a], cols[b]] + cost[rows[b], cols[a]] + 1e-12


# --- similarity ----------------------------------------------------------------------------------


@pytest.mark.parametrize("angle", [0.3, -2.0, np.pi - 0.01, -np.pi + 0.01])
def test_fit_similarity_recovers_a_known_transform(angle):
    rng = np.random.default_rng(1)
    src = rng.normal(size=(20, 2)) * 30
    truth = Similarity(angle, 1.7, np.array([12.0, -5.0]))
    for scale in ("rms", "least-squares"):
        fit = fit_similarity(src, truth.apply(src), scale=scale)
        assert wrap_angle(fit.angle - angle) == pytest.approx(0, abs=1e-9)
        assert fit.scale == pytest.approx(1.7)
        np.testing.assert_allclose(fit.translation, truth.translation, atol=1e-9)
    np.testing.assert_allclose(truth.inverse().apply(truth.apply(src)), src, atol=1e-9)


def test_fit_similarities_fits_each_set_on_its_own():
    rng = np.random.default_rng(5)
    sizes = [3, 10, 1, 6]
    sources = [rng.normal(size=(k, 2)) * 20 for k in sizes]
    truths = [Similarity(rng.uniform(-3, 3), rng.uniform(0.5, 2), rng.normal(size=2) * 10) for _ in sizes]
    targets = [t.apply(s) for t, s in zip(truths, sources)]
    angle, scale, translation = fit_similarities(np.concatenate(sources), np.concatenate(targets), sizes)
    for k, (src, dst) in enumerate(zip(sources, targets)):
        one = fit_similarity(src, dst)
        assert (angle[k], scale[k]) == pytest.approx((one.angle, one.scale))
        np.testing.assert_allclose(translation[k], one.translation, atol=1e-9)


def test_fit_similarity_weights_and_degenerate_inputs():
    src = np.array([[0, 0], [1, 0], [0, 1], [50, 50]], float)
    dst = src.copy()
    dst[:3] = src[:3] @ Similarity(np.pi / 2, 1.0, np.zeros(2)).matrix.T
    fit = fit_similarity(src, dst, weights=[1, 1, 1, 0])  # the outlier does not count
    assert fit.angle == pytest.approx(np.pi / 2)
    # A mirrored shape still gets a proper rotation, never a reflection.
    mirrored = fit_similarity(src[:3], src[:3] * [-1, 1])
    assert np.linalg.det(mirrored.matrix) > 0
    # A point has no rotation or scale: only its centroid moves.
    point = fit_similarity([[1, 1], [1, 1]], [[4, 5], [6, 7]])
    assert (point.angle, point.scale) == (0.0, 1.0)
    np.testing.assert_allclose(point.translation, [4, 5])
    # The symmetric scale does not collapse for unrelated shapes; the least-squares one does.
    # (a circle, and the same circle gone round twice as fast: uncorrelated point for point).
    t = np.arange(16) * 2 * np.pi / 16
    circle = np.stack([np.cos(t), np.sin(t)], axis=1)
    twice = np.stack([np.cos(2 * t), np.sin(2 * t)], axis=1)
    assert fit_similarity(circle, twice).scale == pytest.approx(1.0)
    assert fit_similarity(circle, twice, scale="least-squares").scale < 1e-9
    with pytest.raises(ValueError):
        fit_similarity(circle, twice, scale="median")
