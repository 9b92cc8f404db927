"""scripts/sketch_flow_data.py: the procedural line-art clips sketch-flow trains on (TRAIN_SEEDS) and
is scored on (HELD_OUT_SEEDS, whose middle frames are known)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from harness import script

sfd = script("sketch_flow_data")
FRAMES, SIZE = 9, 256
INK = 0.3  # a pixel darker than this is ink (paper grain stays under 0.05)


@pytest.fixture(scope="module")
def grid() -> dict:
    """One clip of every kind in every style, each its own seed."""
    return {(kind, style): sfd.make_clip(kind, style, 100 + 4 * i + j, FRAMES, SIZE)
            for i, kind in enumerate(sfd.KINDS) for j, style in enumerate(sfd.STYLES)}


def points(drawing) -> np.ndarray:
    return np.concatenate([s.points for s in drawing.strokes]).astype(np.float64)


def rigid_fit(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """The rotation (rad, y down) of the best rigid map of points a onto b, and its largest miss in px."""
    ca, cb = a.mean(axis=0), b.mean(axis=0)
    p, q = a - ca, b - cb
    angle = np.arctan2((p[:, 0] * q[:, 1] - p[:, 1] * q[:, 0]).sum(), (p * q).sum())
    c, s = np.cos(angle), np.sin(angle)
    moved = p @ np.array([[c, s], [-s, c]]) + cb
    return float(angle), float(np.linalg.norm(moved - b, axis=1).max())


def relative_l1(a: np.ndarray, b: np.ndarray, ink: np.ndarray) -> float:
    return float(np.abs(a - b).sum() / ink.sum())


def test_same_seed_same_clip_and_dataset_prefix():
    a, b = (sfd.make_clip("walk", "sketchy", 42) for _ in range(2))
    assert np.array_equal(a.frames, b.frames)
    long = [c.frames for c in sfd.dataset(6, 0, frames=3, size=64)]
    short = [c.frames for c in sfd.dataset(3, 0, frames=3, size=64)]
    assert all(np.array_equal(x, y) for x, y in zip(short, long))


def test_seed_ranges_are_disjoint_and_seeds_give_different_clips():
    assert not set(sfd.TRAIN_SEEDS) & set(sfd.HELD_OUT_SEEDS)
    assert len(sfd.HELD_OUT_SEEDS) >= len(sfd.KINDS) * len(sfd.STYLES) * 10
    seeds = [0, 1, 2, sfd.HELD_OUT_SEEDS.start]
    for kind in sfd.KINDS:
        clips = [sfd.make_clip(kind, "clean", s, frames=3, size=128).frames for s in seeds]
        for i in range(len(clips)):
            for j in range(i):
                assert np.abs(clips[i] - clips[j]).sum() > 10, (kind, seeds[i], seeds[j])


def test_dataset_seeds_stay_in_their_range():
    assert [c.seed for c in sfd.dataset(3, sfd.TRAIN_SEEDS.stop - 1, frames=3, size=64)] == [
        sfd.TRAIN_SEEDS.stop - 1, sfd.TRAIN_SEEDS.start, sfd.TRAIN_SEEDS.start + 1]  # wraps, never held out
    held = sfd.dataset(len(sfd.HELD_OUT_SEEDS), sfd.HELD_OUT_SEEDS.start, frames=3, size=64)
    assert next(held).seed == sfd.HELD_OUT_SEEDS.start
    with pytest.raises(ValueError, match="count"):
        sfd.dataset(2, sfd.HELD_OUT_SEEDS.stop - 1)
    with pytest.raises(ValueError, match="seed"):
        sfd.dataset(1, sfd.TRAIN_SEEDS.stop)


def test_shapes_range_and_arguments(grid):
    for (kind, style), clip in grid.items():
        assert (clip.kind, clip.style) == (kind, style)
        assert clip.frames.shape == (FRAMES, SIZE, SIZE) and clip.frames.dtype == np.float32
        assert clip.frames.min() >= 0.0 and clip.frames.max() <= 1.0
        assert clip.frames.max() > 0.5, (kind, style)  # dark lines, not a grey haze (thin pencil: ~0.65)
        assert len(clip.drawings) == FRAMES
    small = sfd.make_clip("occlusion", "shaded", 3, frames=5, size=96)
    assert small.frames.shape == (5, 96, 96)
    for bad, field in (({"kind": "dance"}, "kind"), ({"style": "ink"}, "style"), ({"frames": 2}, "frames")):
        args = {"kind": "glyph", "style": "clean", "seed": 0, **bad}
        with pytest.raises(ValueError, match=field):
            sfd.make_clip(**args)


def test_every_kind_and_style_draws_ink_in_every_frame(grid):
    for key, clip in grid.items():
        assert (clip.frames > INK).mean(axis=(1, 2)).min() > 0.004, key


def test_real_motion_between_the_keys_not_a_fade(grid):
    for key, clip in grid.items():
        first, last, middle = clip.frames[0], clip.frames[-1], clip.frames[FRAMES // 2]
        assert relative_l1(first, last, middle) > 0.2, key
        assert relative_l1(middle, first, middle) > 0.15, key
        assert relative_l1(middle, last, middle) > 0.15, key
        assert relative_l1(middle, (first + last) / 2, middle) > 0.15, key


def test_motion_is_inbetween_sized(grid):
    moved = {key: np.linalg.norm(points(c.drawings[-1]) - points(c.drawings[0]), axis=1).mean()
             for key, c in grid.items()}
    assert 10 <= np.median(list(moved.values())) <= 60, moved
    assert all(5 <= m <= 80 for m in moved.values()), moved


def test_lines_keep_their_style_across_frames():
    """Rigid motion: every frame's strokes are the first frame's turned and moved (same wobble, gaps,
    hatching, widths), so the ink hardly changes from frame to frame."""
    for style in sfd.STYLES:
        for seed in (1, 2):
            clip = sfd.make_clip("rotation", style, seed, grain=False)
            first = clip.drawings[0]
            for drawing in clip.drawings[1:]:
                _, miss = rigid_fit(points(first), points(drawing))
                assert miss < 1e-3, (style, seed)
                for a, b in zip(first.strokes, drawing.strokes):
                    assert np.array_equal(a.radii, b.radii) and np.array_equal(a.opacities, b.opacities)
            ink = clip.frames.reshape(FRAMES, -1).sum(axis=1)
            assert np.abs(np.diff(ink) / ink[:-1]).max() < 0.04, (style, seed, ink)


def test_deforming_lines_keep_their_pens():
    for kind in ("glyph", "figure", "walk"):
        clip = sfd.make_clip(kind, "sketchy", 5, grain=False)
        first = clip.drawings[0]
        for drawing in clip.drawings[1:]:
            assert [len(s) for s in drawing.strokes] == [len(s) for s in first.strokes]
            assert all(np.array_equal(a.radii, b.radii) for a, b in zip(first.strokes, drawing.strokes))


def test_middle_frame_is_halfway():
    """Every parameter moves linearly in time: the middle of a turn is half the turn."""
    for seed in range(3):
        clip = sfd.make_clip("rotation", "clean", sfd.HELD_OUT_SEEDS.start + seed)
        first = points(clip.drawings[0])
        end, _ = rigid_fit(first, points(clip.drawings[-1]))
        middle, _ = rigid_fit(first, points(clip.drawings[FRAMES // 2]))
        assert np.radians(14) < abs(end) < np.radians(61)
        assert middle == pytest.approx(end / 2, abs=1e-6)


def test_paper_grain_is_the_same_in_every_frame():
    grained = 0
    for seed in range(6):
        plain = sfd.make_clip("glyph", "clean", seed, grain=False).frames
        paper = sfd.make_clip("glyph", "clean", seed).frames
        blank = plain.max(axis=0) == 0
        assert np.array_equal(paper[:, blank], np.repeat(paper[:1, blank], FRAMES, axis=0))
        assert paper[:, blank].max() <= 0.05
        grained += paper[:, blank].max() > 0
    assert 0 < grained < 6


def test_occluder_hides_the_shape_passing_behind_it():
    for seed, style in enumerate(sfd.STYLES * 2):
        clip = sfd.make_clip("occlusion", style, seed, grain=False)
        hidden = []
        for drawing in clip.drawings:
            fill = next(i for i, s in enumerate(drawing.strokes) if s.fill is not None)
            behind = sfd.paint(drawing.copy(strokes=drawing.strokes[:fill])).sum()
            unfilled = drawing.copy(strokes=[s for s in drawing.strokes if s.fill is None])
            hidden.append(np.maximum(sfd.paint(unfilled) - sfd.paint(drawing), 0).sum() / behind)
        assert max(hidden) > 0.1, (seed, style, hidden)
        assert max(hidden) - min(hidden) > 0.05, (seed, style, hidden)  # it passes behind, not sits there
    walk = sfd.make_clip("walk", "clean", 0)
    assert all(s.fill is None for s in walk.drawings[0].strokes)


def test_styles_draw_as_described():
    clean, sketchy, broken, shaded = (sfd.make_clip("walk", style, 11, grain=False).drawings[0] for style in sfd.STYLES)
    assert len({float(r) for s in clean.strokes for r in s.radii}) == 1
    assert 1.0 <= 2 * clean.strokes[0].radii[0] <= 4.0
    assert 2 * len(clean.strokes) <= len(sketchy.strokes) <= 3 * len(clean.strokes)
    assert any(np.ptp(s.radii) > 0 for s in sketchy.strokes)  # pressure
    assert len({float(s.opacities[0]) for s in sketchy.strokes}) > 1
    assert len(broken.strokes) > len(clean.strokes)  # dashes
    hatches = [s for s in shaded.strokes if len(s) == 2 and s.opacities[0] < 1]
    assert hatches and len(shaded.strokes) > len(clean.strokes)


def test_dataset_is_balanced():
    clips = list(sfd.dataset(40, 0, frames=3, size=64))
    assert [c.seed for c in clips] == list(range(40))
    assert Counter(c.kind for c in clips) == {k: 8 for k in sfd.KINDS}
    assert Counter(c.style for c in clips) == {s: 10 for s in sfd.STYLES}
    assert Counter((c.kind, c.style) for c in clips) == {(k, s): 2 for k in sfd.KINDS for s in sfd.STYLES}
    some = list(sfd.dataset(4, 0, frames=3, size=64, kinds=("walk", "rotation"), styles=("broken",)))
    assert [(c.kind, c.style) for c in some] == [("walk", "broken"), ("rotation", "broken")] * 2
    with pytest.raises(ValueError, match="kinds"):
        sfd.dataset(1, 0, kinds=("dance",))


def test_painter_agrees_with_paint_lineart(grid):
    from inkmotion.strokes.lineart import ink_darkness, paint_lineart

    ys, xs = np.mgrid[:SIZE, :SIZE] + 0.5
    for kind in sfd.KINDS:
        drawing = grid[kind, "clean"].drawings[FRAMES // 2]
        ours, theirs = sfd.paint(drawing), ink_darkness(paint_lineart(drawing))
        assert ours.sum() == pytest.approx(theirs.sum(), rel=0.1), kind
        centre = [np.array([(xs * f).sum(), (ys * f).sum()]) / f.sum() for f in (ours, theirs)]
        assert np.linalg.norm(centre[0] - centre[1]) < 0.3, kind
        a, b = ours > 0.5, theirs > 0.5
        assert (a & b).sum() / (a | b).sum() > 0.85, kind
