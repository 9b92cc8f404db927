"""Pictures for people: painting drawings, raster files, and animations as folders, GIFs and MP4s."""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

from inkmotion.codec.drawing import Animation, Drawing, Keyframe, Raster, Stroke
from inkmotion.codec.preview import (
    read_animation_folder,
    read_raster,
    render_drawing,
    write_animation,
    write_png,
)
from inkmotion.codec.svg import read_svg
from inkmotion.errors import InvalidInput


def sketch(vector_sketches, name: str) -> Drawing:
    return read_svg(next(p for p in vector_sketches if p.name == name))


def distance_to_points(shape: tuple[int, int], points: np.ndarray, reach: int = 6) -> np.ndarray:
    """Distance from each pixel centre [H, W] to the nearest of the points (inf beyond `reach` px)."""
    h, w = shape
    offsets = np.stack(np.meshgrid(np.arange(-reach, reach + 1), np.arange(-reach, reach + 1)), -1).reshape(-1, 2)
    pixels = np.floor(points).astype(int)[:, None, :] + offsets[None]  # [N, K, 2] as x, y
    d = np.linalg.norm(pixels + 0.5 - points[:, None, :], axis=-1).ravel()
    pixels = pixels.reshape(-1, 2)
    ok = (pixels[:, 0] >= 0) & (pixels[:, 0] < w) & (pixels[:, 1] >= 0) & (pixels[:, 1] < h)
    best = np.full(h * w, np.inf)
    np.minimum.at(best, pixels[ok, 1] * w + pixels[ok, 0], d[ok])
    return best.reshape(h, w)


def ink(raster: Raster) -> np.ndarray:
    """How dark each pixel is, 0 (white) to 255 (black)."""
    return 255 - raster.rgba[..., :3].astype(int).min(axis=-1)


# --- render_drawing ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cat-1.svg", "bird-1.svg", "fish-2.svg"])  # 3 px black lines
def test_ink_where_the_strokes_are_and_white_far_away(vector_sketches, name):
    drawing = sketch(vector_sketches, name)
    raster = render_drawing(drawing)
    assert raster.rgba.shape == (drawing.height, drawing.width, 4) and raster.rgba.dtype == np.uint8
    assert (raster.rgba[..., 3] == 255).all()  # opaque white background
    points = np.concatenate([s.points for s in drawing.strokes])
    # Dark at every stroke point on the canvas (3 px black lines) ...
    on = points[(points >= 0).all(axis=1) & (points < [drawing.width, drawing.height]).all(axis=1)]
    cols, rows = on[:, 0].astype(int), on[:, 1].astype(int)
    assert (ink(raster)[rows, cols] > 150).all()
    # ... pure white a few pixels away from all of them, and grey only at the edges.
    distance = distance_to_points((drawing.height, drawing.width), points)
    assert (ink(raster)[distance > 3.5] == 0).all()
    assert (ink(raster)[distance < 0.5] > 200).mean() > 0.95


def test_fill_paints_the_inside(vector_sketches):
    drawing = sketch(vector_sketches, "surf.svg")
    raster = render_drawing(drawing)
    head = drawing.strokes[0]  # a closed blob 14 px across, filled #020202
    centre = head.points.mean(axis=0).astype(int)
    assert ink(raster)[centre[1], centre[0]] > 250
    assert ink(raster)[5, 5] == 0
    # Without the fill only the hairline outline is left: the middle is white.
    outline_only = Drawing(drawing.width, drawing.height, [head.copy(fill=None)])
    assert ink(render_drawing(outline_only))[centre[1], centre[0]] == 0


def test_width_colour_and_opacity():
    wide_red = Stroke.from_points([[10, 20], [90, 20]], radius=4.0, color=[1, 0, 0, 1])
    faint_blue = Stroke.from_points([[10, 60], [90, 60]], radius=2.0, opacity=0.5, color=[0, 0, 1, 1])
    raster = render_drawing(Drawing(100, 100, [wide_red, faint_blue]))
    rgba = raster.rgba.astype(int)
    assert tuple(rgba[20, 50]) == (255, 0, 0, 255)
    assert tuple(rgba[17, 50]) == (255, 0, 0, 255)  # 2.5 px from the centre line: inside radius 4
    assert tuple(rgba[13, 50]) == (255, 255, 255, 255)  # 6.5 px: outside
    assert abs(rgba[20, 96] - [255, 255, 255, 255]).max() == 0  # past the round cap
    assert rgba[20, 92, 1] < 128  # within the round cap
    assert np.allclose(rgba[60, 50, :3], [128, 128, 255], atol=2)  # half-transparent blue on white
    # "Over" with mixed channels, on a background that is not white.
    teal = Stroke.from_points([[10, 50], [90, 50]], radius=3.0, opacity=0.5, color=[0.2, 0.4, 0.6, 1])
    on_grey = render_drawing(Drawing(100, 100, [teal]), background=(100, 100, 100, 255)).rgba.astype(int)
    assert np.allclose(on_grey[50, 50, :3], [0.5 * 51 + 50, 0.5 * 102 + 50, 0.5 * 153 + 50], atol=2)
    assert (on_grey[40, :, :3] == 100).all() and (on_grey[:, 5, :3] == 100).all()  # untouched nearby


def test_per_point_radius_colour_and_opacity_interpolate():
    stroke = Stroke(
        points=np.array([[10, 50], [190, 50]], np.float32),
        radii=np.array([1.0, 9.0], np.float32),
        opacities=np.array([1.0, 1.0], np.float32),
        point_colors=np.array([[1, 0, 0, 1], [0, 0, 1, 1]], np.float32),
    )
    rgba = render_drawing(Drawing(200, 100, [stroke])).rgba.astype(int)
    assert rgba[50, 15, 0] > 200 and rgba[50, 15, 2] < 60  # red end
    assert rgba[50, 185, 2] > 200 and rgba[50, 185, 0] < 60  # blue end
    assert abs(rgba[50, 100, 0] - rgba[50, 100, 2]) < 20  # purple in the middle
    ink_column = lambda x: (255 - rgba[:, x, :3].min(axis=1) > 128).sum()  # noqa: E731
    assert ink_column(20) <= 3 < 8 <= ink_column(100) < 12 <= ink_column(180)  # it tapers


def test_a_stroke_crossing_itself_does_not_darken():
    loop = Stroke.from_points([[10, 10], [90, 90], [90, 10], [10, 90]], radius=3, opacity=0.5)
    rgba = render_drawing(Drawing(100, 100, [loop])).rgba.astype(int)
    crossing, single = rgba[50, 50, 0], rgba[30, 30, 0]
    assert abs(crossing - single) <= 2
    assert 120 < single < 135  # half-opaque black on white
    # Two separate strokes do darken each other.
    twice = render_drawing(Drawing(100, 100, [loop, loop.copy()])).rgba.astype(int)
    assert twice[30, 30, 0] < 70


def test_scale_transparent_background_and_empty_drawing():
    stroke = Stroke.from_points([[4, 4], [28, 4]], radius=1.0)
    raster = render_drawing(Drawing(32, 16, [stroke]), scale=2.0, background=(0, 0, 0, 0))
    assert (raster.width, raster.height) == (64, 32)
    assert raster.rgba[8, 30, 3] == 255 and tuple(raster.rgba[8, 30, :3]) == (0, 0, 0)
    assert raster.rgba[25, 30, 3] == 0
    blank = render_drawing(Drawing(10, 10, []))
    assert (blank.rgba == 255).all()
    off_canvas = render_drawing(Drawing(10, 10, [Stroke.from_points([[-50, -50], [-40, -40]])]))
    assert (off_canvas.rgba == 255).all()
    dot = render_drawing(Drawing(10, 10, [Stroke.from_points([[5, 5]], radius=2)]))
    assert ink(dot)[5, 5] == 255


# --- raster files -------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["own", "shared"])
def test_read_every_raster_sketch(request, which):
    paths = request.getfixturevalue("raster_sketches" if which == "own" else "shared_raster_sketches")
    for path in paths:
        raster = read_raster(path)
        with Image.open(path) as image:
            size = image.size
        assert (raster.width, raster.height) == size, path.name
        assert raster.rgba.dtype == np.uint8 and raster.rgba.shape[2] == 4, path.name
        # dark lines on white paper, or on a transparent layer: seen over white
        alpha = raster.rgba[..., 3:].astype(float) / 255
        seen = raster.rgba[..., :3] * alpha + 255 * (1 - alpha)
        assert seen.min() < 100 < 200 < seen.mean(), path.name


def test_png_round_trip_and_rgb_jpeg(tmp_path, raster_sketches):
    raster = read_raster(next(p for p in raster_sketches if p.name == "walker-1.png"))
    raster.rgba[:10, :10, 3] = 0  # some transparency survives the trip
    again = read_raster(write_png(raster, tmp_path / "deep" / "copy.png"))
    assert np.array_equal(again.rgba, raster.rgba)
    Image.fromarray(raster.rgba[..., :3]).save(tmp_path / "photo.jpg", quality=95)
    jpeg = read_raster(tmp_path / "photo.jpg")
    assert jpeg.rgba.shape == raster.rgba.shape and (jpeg.rgba[..., 3] == 255).all()
    assert np.abs(jpeg.rgba[..., :3].astype(int) - raster.rgba[..., :3]).mean() < 4


def test_unreadable_raster_is_invalid_input(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(InvalidInput) as info:
        read_raster(bad)
    assert info.value.field == "broken.png"
    (tmp_path / "notes.png").write_text("hello")
    with pytest.raises(InvalidInput, match="not a readable"):
        read_raster(tmp_path / "notes.png")
    with pytest.raises(InvalidInput, match="no such file"):
        read_raster(tmp_path / "missing.png")


# --- animations ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vector_animation(vector_sketches) -> Animation:
    names = ["cat-1.svg", "fish-1.svg", "bird-1.svg"]
    drawings = [sketch(vector_sketches, n) for n in names]
    return Animation(width=256, height=256, keyframes=[Keyframe(f, d) for f, d in zip((1, 2, 4), drawings)], fps=8)


@pytest.fixture(scope="module")
def raster_animation(raster_sketches) -> Animation:
    rasters = [read_raster(p) for p in raster_sketches if p.name in ("walker-1.png", "walker-2.png", "bird-1.png")]
    return Animation(width=256, height=256, keyframes=[Keyframe(i + 1, r) for i, r in enumerate(rasters)], fps=12)


def test_folder_of_svgs_round_trips(tmp_path, vector_animation):
    written = write_animation(vector_animation, f"{tmp_path}/frames/")
    assert [p.name for p in written] == ["0001.svg", "0002.svg", "0004.svg"]
    assert all(p.parent == tmp_path / "frames" and p.stat().st_size > 0 for p in written)
    back = read_animation_folder(tmp_path / "frames")
    assert [k.frame for k in back.keyframes] == [1, 2, 4]
    assert (back.width, back.height) == (224, 224)  # the first frame's canvas: cat-1's
    for original, again in zip(vector_animation.keyframes, back.keyframes):
        assert isinstance(again.content, Drawing)
        assert len(again.content.strokes) == len(original.content.strokes)
        for s, t in zip(original.content.strokes, again.content.strokes):
            assert np.allclose(s.bezier, t.bezier, atol=1e-3)
            assert len(s) == len(t) and np.abs(s.points - t.points).max() < 0.01


def test_folder_of_pngs_round_trips_into_an_existing_folder(tmp_path, raster_animation):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "README.txt").write_text("not a frame")
    written = write_animation(raster_animation, tmp_path / "out")  # existing folder, no trailing slash
    assert [p.name for p in written] == ["0001.png", "0002.png", "0003.png"]
    back = read_animation_folder(tmp_path / "out", fps=12)
    assert back.fps == 12 and [k.frame for k in back.keyframes] == [1, 2, 3]
    for original, again in zip(raster_animation.keyframes, back.keyframes):
        assert isinstance(again.content, Raster)
        assert np.array_equal(original.content.rgba, again.content.rgba)


def test_blank_keyframes_round_trip_through_a_folder(tmp_path):
    blank = Drawing(64, 64, [])
    dot = Drawing(64, 64, [Stroke.from_points([[10, 10], [12, 12]], radius=2)])
    written = write_animation(Animation(64, 64, [Keyframe(1, dot), Keyframe(2, blank)]), f"{tmp_path}/f/")
    back = read_animation_folder(written[0].parent)
    assert [len(k.content.strokes) for k in back.keyframes] == [1, 0]
    assert (back.keyframes[1].content.width, back.keyframes[1].content.height) == (64, 64)
    with pytest.raises(InvalidInput, match="no drawable strokes"):
        read_svg(written[1])  # on its own, an empty SVG is still refused


def test_gif_has_a_frame_per_keyframe_held_until_the_next(tmp_path, vector_animation):
    (path,) = write_animation(vector_animation, tmp_path / "anim.gif")
    assert path == tmp_path / "anim.gif"
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 3
        assert gif.size == (256, 256) and gif.info["loop"] == 0
        durations, frames = [], []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
            frames.append(np.asarray(gif.convert("RGB")))
    assert durations == [120, 250, 120]  # 8 fps; frame 2 holds for 2 frames (GIF counts 10 ms)
    # cat-1 (224 px canvas) is painted to fill the 256 px frame, dark on white.
    assert frames[0].min() < 50 and np.median(frames[0]) == 255
    assert not np.array_equal(frames[0], frames[1])


def test_gif_of_rasters(tmp_path, raster_animation):
    write_animation(raster_animation, tmp_path / "r.gif")
    with Image.open(tmp_path / "r.gif") as gif:
        assert gif.n_frames == 3 and gif.size == (256, 256)


def test_mp4_is_h264_in_an_iso_container(tmp_path, vector_animation, raster_animation):
    (path,) = write_animation(vector_animation, tmp_path / "anim.mp4")
    data = path.read_bytes()
    assert len(data) > 1000
    assert data[4:8] == b"ftyp"  # the first box of an MP4
    assert b"avc1" in data[:64] or b"avc1" in data  # H.264 sample entry
    assert b"moov" in data
    # Odd-sized canvases get padded to even sides for yuv420p.
    odd = Animation(width=101, height=75, keyframes=[Keyframe(1, Raster(np.full((75, 101, 4), 255, np.uint8)))])
    (odd_path,) = write_animation(odd, tmp_path / "odd.mp4")
    assert odd_path.read_bytes()[4:8] == b"ftyp"


def test_bad_outputs_are_invalid_input(tmp_path, vector_animation):
    with pytest.raises(InvalidInput) as info:
        write_animation(vector_animation, tmp_path / "anim.avi")
    assert info.value.field == "output"
    assert ".gif" in info.value.problem and ".mp4" in info.value.problem and "folder" in info.value.problem
    with pytest.raises(InvalidInput, match="no keyframes"):
        write_animation(Animation(10, 10, []), tmp_path / "empty.gif")
    twice = Animation(10, 10, [Keyframe(1, Drawing(10, 10, [])), Keyframe(1, Drawing(10, 10, []))])
    with pytest.raises(InvalidInput, match="more than once"):
        write_animation(twice, f"{tmp_path}/twice/")


def test_reading_a_folder_without_frames_is_invalid_input(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(InvalidInput, match="no frames"):
        read_animation_folder(tmp_path)
    with pytest.raises(InvalidInput, match="not a folder"):
        read_animation_folder(tmp_path / "notes.txt")
    (tmp_path / "0001.svg").write_text("<svg/>")
    (tmp_path / "0001.png").write_bytes(b"")
    with pytest.raises(InvalidInput, match="twice"):
        read_animation_folder(tmp_path)
