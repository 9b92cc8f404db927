"""scripts/motion_strokes_data.py: the procedural clips a path-following model trains on (a rigid
glyph or a walking figure, its anchor at each keypoint of a motion stroke)."""

from __future__ import annotations

import numpy as np
import pytest

from harness import script

msd = script("motion_strokes_data")
SIZE, FRAMES = 64, 8


@pytest.fixture(scope="module")
def data():
    return msd.make_dataset(0, 150, SIZE, FRAMES)


def centroid(frame: np.ndarray) -> np.ndarray:
    """The ink's centre of mass (x, y) in canvas px (pixel centres at i + 0.5)."""
    ys, xs = np.mgrid[:frame.shape[0], :frame.shape[1]]
    w = frame.astype(np.float64)
    return np.array([(xs * w).sum(), (ys * w).sum()]) / w.sum() + 0.5


def moved(frame: np.ndarray, d) -> np.ndarray:
    """`frame` moved by d = (dx, dy) px, bilinearly between whole pixels."""
    d = np.asarray(d, np.float64)
    (ix, iy), (fx, fy) = np.floor(d).astype(int), d - np.floor(d)
    f = np.roll(frame.astype(np.float64), (iy, ix), axis=(0, 1))
    f = (1 - fx) * f + fx * np.roll(f, 1, axis=1)
    return (1 - fy) * f + fy * np.roll(f, 1, axis=0)


def residual(a: np.ndarray, b: np.ndarray) -> float:
    """How much two ink images differ, relative to b's ink."""
    return float(np.abs(a.astype(np.float64) - b).sum() / b.astype(np.float64).sum())


def non_rigid(clip: np.ndarray, keypoints: np.ndarray) -> float:
    """The largest difference between a frame and frame 0 moved by the keypoints' displacement."""
    return max(residual(moved(clip[0], keypoints[t] - keypoints[0]), clip[t]) for t in range(1, len(clip)))


def travel_of(keypoints: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(keypoints, axis=0), axis=1).sum())


def horizontal(start: float, step: float, y: float = 64.0) -> np.ndarray:
    return np.stack([start + step * np.arange(FRAMES), np.full(FRAMES, y)], axis=1)


def test_same_seed_same_clips_prefix_and_other_seed(data):
    again = msd.make_dataset(0, 150, SIZE, FRAMES)
    assert np.array_equal(again["clips"], data["clips"])
    assert np.array_equal(again["keypoints"], data["keypoints"])
    first = msd.make_dataset(0, 5, SIZE, FRAMES)
    assert np.array_equal(first["clips"], data["clips"][:5])
    assert np.array_equal(first["keypoints"], data["keypoints"][:5])
    assert first["kinds"] == data["kinds"][:5]
    other = msd.make_dataset(1, 5, SIZE, FRAMES)
    assert not np.array_equal(other["clips"], first["clips"])
    assert not np.array_equal(other["keypoints"], first["keypoints"])


def test_shapes_kinds_ink_and_margins(data):
    clips, keypoints = data["clips"], data["keypoints"]
    assert clips.shape == (150, FRAMES, SIZE, SIZE) and clips.dtype == np.uint8
    assert keypoints.shape == (150, FRAMES, 2) and keypoints.dtype == np.float32
    assert data["kinds"] == [msd.KINDS[i % 3] for i in range(150)]
    per_frame = clips.reshape(150 * FRAMES, -1)
    assert per_frame.max(axis=1).min() >= 200  # every frame has full-strength ink
    assert (per_frame > 128).sum(axis=1).min() >= 20
    border = np.concatenate([clips[:, :, 0], clips[:, :, -1], clips[:, :, :, 0], clips[:, :, :, -1]], axis=-1)
    assert border.max() == 0  # the subject never touches the canvas's edge
    assert np.all((keypoints > 0) & (keypoints < SIZE))


def test_bigger_canvas_and_one_kind():
    big = msd.make_dataset(2, 6, size=128, frames=4, kinds=("quadruped",))
    assert big["clips"].shape == (6, 4, 128, 128) and big["kinds"] == ["quadruped"] * 6
    assert big["clips"][:, :, [0, -1]].max() == 0 and big["clips"][:, :, :, [0, -1]].max() == 0
    with pytest.raises(ValueError):
        msd.make_dataset(0, 1, kinds=("horse",))


def test_spacing_speed_profiles_still_and_short_clips(data):
    steps = np.linalg.norm(np.diff(data["keypoints"].astype(np.float64), axis=1), axis=2)
    assert steps.max() <= SIZE / 8 + 0.5
    still, fastest = steps.max(axis=1) == 0, steps.max(axis=1)
    assert 1 <= still.sum() <= 20  # ~5% stand still
    assert ((fastest > 0) & (fastest < 2)).sum() >= 8  # some take short steps
    assert (fastest > SIZE / 16).sum() >= 30  # and many long ones
    moving = steps[~still]
    assert moving.min() >= 0.3
    uneven = moving.max(axis=1) / moving.min(axis=1) > 1.5
    assert 0.4 <= uneven.mean() < 1  # most clips change speed, some keep it


def test_glyph_anchor_is_its_bbox_centre_and_it_translates_rigidly(data):
    glyphs = [n for n, kind in enumerate(data["kinds"]) if kind == "glyph"]
    for n in glyphs:
        clip, keypoints = data["clips"][n], data["keypoints"][n].astype(np.float64)
        rows, cols = np.nonzero(clip[0])
        bbox_centre = np.array([cols.min() + cols.max() + 1, rows.min() + rows.max() + 1]) / 2
        assert np.abs(bbox_centre - keypoints[0]).max() <= 1.0
        for t in range(1, FRAMES):
            shift = centroid(clip[t]) - centroid(clip[0])
            assert np.abs(shift - (keypoints[t] - keypoints[0])).max() <= 1.0, (n, t)
        assert non_rigid(clip, keypoints) < 0.4, n  # only the sub-pixel resampling differs


@pytest.mark.parametrize("font", ["futural", "timesr"])
def test_glyphs_stand_upright(font):
    def widest_stroke_height(char):  # y of the stroke reaching furthest across (y down)
        strokes = msd.glyph_strokes(font, char)
        widest = max(strokes, key=lambda s: np.ptp(s[:, 0]))
        everything = np.concatenate(strokes)
        return (widest[:, 1].mean() - everything[:, 1].min()) / np.ptp(everything[:, 1])

    assert widest_stroke_height("T") < 0.1  # T's bar on top
    assert widest_stroke_height("L") > 0.9  # L's foot at the bottom


def test_glyph_frames_are_exact_shifts():
    keypoints = np.stack([20 + 3 * np.arange(FRAMES), 30 + np.arange(FRAMES) % 3], axis=1).astype(np.float64)
    clip = msd.render_clip("glyph", keypoints, np.random.default_rng(4), SIZE)
    for t in range(1, FRAMES):
        d = (keypoints[t] - keypoints[0]).astype(int)
        assert np.array_equal(np.roll(clip[0], (d[1], d[0]), axis=(0, 1)), clip[t])


def test_moving_figures_change_pose_still_ones_keep_it(data):
    clips, keypoints = data["clips"], data["keypoints"].astype(np.float64)
    for kind in ("stick", "quadruped"):
        indices = [n for n, k in enumerate(data["kinds"]) if k == kind]
        far = [n for n in indices if travel_of(keypoints[n]) > 6]
        assert len(far) >= 20
        changes = np.array([non_rigid(clips[n], keypoints[n]) for n in far])
        assert (changes > 0.45).mean() >= 0.9, (kind, np.sort(changes)[:5])
    still = [n for n in range(len(clips)) if travel_of(keypoints[n]) == 0]
    assert still
    for n in still:
        assert all(np.array_equal(clips[n][0], frame) for frame in clips[n]), n
    for kind in ("stick", "quadruped"):
        clip = msd.render_clip(kind, horizontal(64, 0.0), np.random.default_rng(2), 128)
        assert all(np.array_equal(clip[0], frame) for frame in clip)


@pytest.mark.parametrize("kind", ["stick", "quadruped"])
@pytest.mark.parametrize("seed", [0, 1])
def test_pose_change_per_frame_grows_with_step_length(kind, seed):
    def change_per_frame(step: int) -> float:
        keypoints = horizontal(40, step)
        clip = msd.render_clip(kind, keypoints, np.random.default_rng(seed), 128)
        return np.mean([residual(np.roll(clip[t], step, axis=1), clip[t + 1]) for t in range(FRAMES - 1)])

    changes = [change_per_frame(step) for step in (1, 2, 4)]
    assert changes[0] > 0.05 and changes[0] < changes[1] < changes[2], changes


@pytest.mark.parametrize("kind", ["stick", "quadruped"])
def test_figures_face_the_way_they_go(kind):
    right = msd.render_clip(kind, horizontal(64, 3.0), np.random.default_rng(5), 128)[0]
    left = msd.render_clip(kind, horizontal(64, -3.0), np.random.default_rng(5), 128)[0]
    assert residual(right, left) > 0.3  # the figure is not symmetric...
    assert residual(right[:, ::-1], left) < 0.1  # ...but going left is going right, mirrored


def test_contact_sheet():
    sheet = msd.contact_sheet(msd.make_dataset(3, 3, SIZE, 4), zoom=1)
    assert sheet.size == (4 * (SIZE + 2), 3 * (SIZE + 2)) and sheet.mode == "RGB"
