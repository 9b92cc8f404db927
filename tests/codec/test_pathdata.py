"""Path data: the fast reader draws what svgelements (the reference reader) draws, in linear time."""

from __future__ import annotations

import numpy as np
import pytest
import svgelements as se

import math

from inkmotion.codec.pathdata import ARC_SWEEP, CLOSE_SNAP, parse_path_data

COMMANDS = "MLHVCSQTAZ"


def random_path(rng: np.random.Generator, commands: int) -> str:
    """Path data with every command, absolute and relative, implicit repeats and touching flags.

    Two things svgelements reads against the SVG spec are left out: a smooth command after a
    curve of the other kind (it reflects that curve's handle; the spec says the current point,
    see test_smooth_commands_reflect_only_their_own_kind) and a second Z in a row (a dot)."""
    parts = [f"M {rng.uniform(0, 100):.3f} {rng.uniform(0, 100):.3f}"]
    previous = "m"
    for _ in range(commands):
        c = COMMANDS[rng.integers(len(COMMANDS))].lower()
        if (c == "t" and previous in "cs") or (c == "s" and previous in "qt") or (c == previous == "z"):
            continue
        previous = c
        arity = {"m": 2, "l": 2, "h": 1, "v": 1, "c": 6, "s": 4, "q": 4, "t": 2, "a": 7, "z": 0}[c]
        repeats = 0 if arity == 0 else int(rng.integers(1, 3))
        groups = []
        for _ in range(repeats):
            if c == "a":
                rx, ry, rot = rng.uniform(5, 40), rng.uniform(5, 40), rng.uniform(0, 360)
                flags = f"{rng.integers(2)}{rng.integers(2)}" if rng.random() < 0.5 else f"{rng.integers(2)} {rng.integers(2)}"
                groups.append(f"{rx:.2f},{ry:.2f} {rot:.1f} {flags} {rng.uniform(-50, 50):.2f} {rng.uniform(-50, 50):.2f}")
            else:
                groups.append(" ".join(f"{v:.3f}" for v in rng.uniform(-50, 50, arity)))
        parts.append((c.upper() if rng.random() < 0.5 else c) + " " + " ".join(groups))
    return " ".join(parts)


def _xy(point) -> tuple[float, float]:
    return (float(point[0]), float(point[1]))


def _line(p0, p1) -> list[tuple[float, float]]:
    a, b = np.asarray(p0, np.float64), np.asarray(p1, np.float64)
    return [tuple(a + (b - a) / 3), tuple(a + 2 * (b - a) / 3), tuple(b)]


def svgelements_subpaths(path: se.Path):
    """The reading this module replaced (svgelements' segments made cubic), kept as the reference."""
    ctrl: list[tuple[float, float]] = []
    closed = False

    def flush():
        nonlocal ctrl, closed
        if len(ctrl) >= 4:
            out = np.array(ctrl, np.float64)
            yield out, closed
        ctrl, closed = [], False

    for seg in path:
        if isinstance(seg, se.Move):
            yield from flush()
            ctrl = [_xy(seg.end)]
            continue
        if not ctrl or closed:  # drawing on after Z starts a new subpath at the closing point
            start = _xy(seg.start)
            yield from flush()
            ctrl = [start]
        p0 = ctrl[-1]
        if isinstance(seg, se.Close):
            end = _xy(seg.end)
            # A closing side unless the subpath is back at its start already ("M x y Z", a dot,
            # gets a zero-length one); the caller drops the final point of a closed subpath.
            if math.dist(p0, end) > CLOSE_SNAP or len(ctrl) < 4:
                ctrl.extend(_line(p0, end))
            closed = True
        elif isinstance(seg, se.Line):
            ctrl.extend(_line(p0, _xy(seg.end)))
        elif isinstance(seg, se.QuadraticBezier):
            q, p1 = np.array(_xy(seg.control)), np.array(_xy(seg.end))
            a = np.array(p0)
            ctrl.extend([tuple(a + 2 / 3 * (q - a)), tuple(p1 + 2 / 3 * (q - p1)), tuple(p1)])
        elif isinstance(seg, se.CubicBezier):
            ctrl.extend([_xy(seg.control1), _xy(seg.control2), _xy(seg.end)])
        elif isinstance(seg, se.Arc):
            pieces = max(1, math.ceil(abs(seg.sweep) / ARC_SWEEP - 1e-9))
            cubics = list(seg.as_cubic_curves(pieces)) if seg.sweep else []
            if not cubics:  # a degenerate arc (zero radius) is a line
                ctrl.extend(_line(p0, _xy(seg.end)))
            for c in cubics:
                ctrl.extend([_xy(c.control1), _xy(c.control2), _xy(c.end)])
            ctrl[-1] = _xy(seg.end)  # exact endpoint, not the rounded arc's
    yield from flush()


def _xy(point) -> tuple[float, float]:
    return (float(point[0]), float(point[1]))


def _line(p0, p1) -> list[tuple[float, float]]:
    a, b = np.asarray(p0, np.float64), np.asarray(p1, np.float64)
    return [tuple(a + (b - a) / 3), tuple(a + 2 * (b - a) / 3), tuple(b)]


@pytest.mark.parametrize("seed", range(60))
def test_random_paths_read_as_svgelements_reads_them(seed):
    d = random_path(np.random.default_rng(seed), 12)
    mine, theirs = parse_path_data(d), list(svgelements_subpaths(se.Path(d)))
    assert [closed for _, closed in mine] == [closed for _, closed in theirs], d
    for (a, _), (b, _) in zip(mine, theirs):
        if "a" in d.lower():
            # Arcs: the same curve. Pieces may split differently (an arc of 180.0000012 degrees,
            # radii scaled up to reach, is 6 pieces here, 7 there) and svgelements' handles are
            # a slightly different approximation: within 3e-4 of the radius (up to 40 here).
            assert hausdorff(dense(a), dense(b)) < 1e-2, d
        else:  # lines and curves: exactly
            assert a.shape == b.shape and np.allclose(a, b, atol=1e-9, rtol=0), d


def dense(ctrl: np.ndarray, per_segment: int = 32) -> np.ndarray:
    t = np.linspace(0, 1, per_segment + 1)[1:, None]
    pts = [ctrl[:1]]
    for k in range(0, len(ctrl) - 1, 3):
        p0, p1, p2, p3 = ctrl[k : k + 4]
        pts.append((1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3)
    return np.concatenate(pts)


def to_polyline(points: np.ndarray, polyline: np.ndarray) -> float:
    """The largest distance from a point to the polyline."""
    a, b, p = polyline[:-1][None], polyline[1:][None], points[:, None]
    ab = b - a
    u = np.clip(((p - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    return float(np.linalg.norm(p - (a + u[..., None] * ab), axis=-1).min(axis=1).max())


def hausdorff(a: np.ndarray, b: np.ndarray) -> float:
    return max(to_polyline(a, b), to_polyline(b, a))


def test_closing_and_drawing_on_after_z():
    (a, closed_a), (b, closed_b) = parse_path_data("M 0 0 L 10 0 L 10 10 Z l 5 5")
    assert closed_a and len(a) == 10 and np.allclose(a[-1], [0, 0])  # the closing side included
    assert not closed_b and np.allclose(b[0], [0, 0]) and np.allclose(b[-1], [5, 5])  # from the start point


def test_transform_applies_to_every_control_point():
    (plain, _), = parse_path_data("M 1 2 C 3 4 5 6 7 8")
    (moved, _), = parse_path_data("M 1 2 C 3 4 5 6 7 8", (0, 1, -1, 0, 10, 20))  # rotate 90, translate
    assert np.allclose(moved, plain @ np.array([[0, 1], [-1, 0]]) + [10, 20])


def test_a_malformed_command_ends_the_path_keeping_what_came_before():
    (ctrl, _), = parse_path_data("M 0 0 L 10 10 L 20 C 1 2 3")
    assert np.allclose(ctrl[-1], [10, 10])
    assert parse_path_data("garbage") == [] and parse_path_data("") == []


def test_compact_arc_flags_and_numbers():
    (ctrl, _), = parse_path_data("M0,0a10,10 0 0110,10")  # flags "0" "1" touching the x
    assert np.allclose(ctrl[-1], [10, 10])
    (ctrl, _), = parse_path_data("M0-1.5.5.5L-2e1 3")  # "-1.5" ".5" ".5": implicit separators
    assert np.allclose(ctrl[3], [0.5, 0.5]) and np.allclose(ctrl[-1], [-20, 3])


def test_smooth_commands_reflect_only_their_own_kind():
    # SVG 1.1, 8.3.6/8.3.7: T reflects the previous Q/T control point, else uses the current point.
    (ctrl, _), = parse_path_data("M 0 0 S 10 10 20 0 T 40 0")
    assert np.allclose(ctrl[-3:], [[20 + 2 / 3 * 0, 0], [40 + 2 / 3 * (20 - 40), 0], [40, 0]])
    (ctrl, _), = parse_path_data("M 0 0 Q 10 10 20 0 T 40 0")
    assert np.allclose(ctrl[-3], [20 + 2 / 3 * 10, -2 / 3 * 10])  # reflected: (30, -10)


def test_the_reader_is_plain_python_for_hosts_without_numpy():
    """codec/svgpath.py is what the Krita plugin vendors: standard library imports only, and its
    subpaths are exactly the arrays parse_path_data hands out."""
    import ast
    import sys

    from inkmotion.codec import svgpath

    tree = ast.parse(open(svgpath.__file__, encoding="utf-8").read())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)
    d = "M 0 0 C 10 0 10 10 0 10 Q -5 5 0 0 Z m 20 20 a 5 5 0 1 1 10 0 h 4"
    for (numbers, closed), (ctrl, closed_too) in zip(svgpath.subpaths(d), parse_path_data(d), strict=True):
        assert closed == closed_too and np.array_equal(np.array(numbers).reshape(-1, 2), ctrl)


def test_nodes_are_the_segment_ends_of_every_subpath():
    from inkmotion.codec.svgpath import nodes

    assert nodes("M10,20 L30 40 h5 v-5 C 1 1 2 2 50 60 z") == [(10, 20), (30, 40), (35, 40), (35, 35), (50, 60), (10, 20)]
    assert nodes("m1 1 l2 2 3 3 M 0 0 q 1 1 2 0") == [(1, 1), (3, 3), (6, 6), (0, 0), (2, 0)]
    assert nodes("M 0 0 A 5 5 0 0 1 10 0")[-1] == (10, 0) and len(nodes("M 0 0 A 5 5 0 0 1 10 0")) == 7  # 180 deg: 6 pieces
    assert nodes("M 5 5") == [] and nodes("M 0 0 L 1 1 L 2") == [(0, 0), (1, 1)]


def test_the_time_budget_still_stops_a_huge_path():
    from inkmotion.budget import time_budget
    from inkmotion.errors import InvalidInput

    with time_budget(0.0, "sketch_svg"), pytest.raises(InvalidInput, match="sketch_svg"):
        parse_path_data("M 0 0" + " L 1 1" * 5000)
