"""inkmotion.codec.video: reference clips in (MP4, MOV, WebM, GIF, a folder of frames) with PyAV,
sampled and scaled, limits and broken files refused naming the field; MP4 previews out. The clips
are written here, by the same writer the previews use (and GIFs by Pillow)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from inkmotion.codec import clips, video
from inkmotion.errors import InvalidInput

FRAMES, FPS = 30, 12.0


def box_clip(width: int = 161, height: int = 120, frames: int = FRAMES) -> list[np.ndarray]:
    """A black 20 x 20 box moving 4 px right per frame on white: frame i's box centre is x = 20 + 4 i."""
    out = []
    for i in range(frames):
        frame = np.full((height, width, 3), 255, np.uint8)
        frame[40:60, 10 + 4 * i:30 + 4 * i] = 0
        out.append(frame)
    return out


def box_x(raster) -> float:
    return float(np.argwhere(raster.rgba[..., 0] < 128)[:, 1].mean()) + 0.5


def write_gif(frames: list[np.ndarray], path, milliseconds: int = 100):
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=milliseconds, loop=0)
    return path


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".webm"])
def test_a_video_file_is_sampled_evenly_over_the_whole_clip(tmp_path, suffix):
    path = video.write_video(box_clip(), [1] * FRAMES, FPS, tmp_path / f"clip{suffix}")
    clip = video.read_clip(path, 6)
    assert clip.fps == pytest.approx(FPS) and clip.duration == pytest.approx(FRAMES / FPS, abs=0.01)  # WebM: ms
    assert clip.source_size == (162, 120), "odd sides padded to even ones"
    indices = np.rint(np.linspace(0, FRAMES - 1, 6)).astype(int)
    assert clip.times == pytest.approx(list(indices / FPS), abs=1e-3)
    assert [box_x(r) for r in clip.frames] == pytest.approx(list(20 + 4 * indices), abs=1.0), "the frames at those times"
    assert all(r.rgba.shape == (120, 162, 4) and (r.rgba[..., 3] == 255).all() for r in clip.frames)


def test_a_gif_and_a_time_range(tmp_path):
    path = write_gif(box_clip(), tmp_path / "clip.gif")  # 10 fps
    clip = video.read_clip(path, 4, start=0.5, end=2.0)
    assert clip.times == pytest.approx([0.5, 1.0, 1.5, 2.0], abs=1e-3)
    assert [box_x(r) for r in clip.frames] == pytest.approx([40, 60, 80, 100], abs=1.0)


def test_a_folder_of_frames_in_natural_order(tmp_path):
    for i, frame in enumerate(box_clip(frames=12)):
        Image.fromarray(frame).save(tmp_path / f"frame{i}.png")  # frame10 after frame9, not after frame1
    (tmp_path / "notes.txt").write_text("not a frame")
    clip = video.read_clip(tmp_path, 12)
    assert [box_x(r) for r in clip.frames] == pytest.approx([20 + 4 * i for i in range(12)], abs=0.5)
    assert clip.fps == video.FOLDER_FPS


def test_more_frames_than_the_range_holds_repeat_frames(tmp_path):
    path = write_gif(box_clip(frames=3), tmp_path / "short.gif")
    clip = video.read_clip(path, 5)
    assert [box_x(r) for r in clip.frames] == pytest.approx([20, 20, 24, 28, 28], abs=1.0)  # rounded to the nearest frame


def test_large_frames_are_scaled_to_at_most_512_px(tmp_path):
    frames = [np.full((600, 1000, 3), 255, np.uint8) for _ in range(3)]
    clip = video.read_clip(video.write_video(frames, [1] * 3, FPS, tmp_path / "wide.mp4"), 2)
    assert clip.frames[0].rgba.shape[:2] == (307, 512) and clip.source_size == (1000, 600)


@pytest.mark.parametrize(("kwargs", "field", "words"), [
    ({"frames": 0}, "video.frames", "0 is under the minimum of 1"),
    ({"frames": 200}, "video.frames", "200 is over the limit of 128"),
    ({"frames": 4, "start": -1.0}, "video.start", "-1 s is under the minimum of 0 s"),
    ({"frames": 4, "start": 2.0, "end": 1.0}, "video.end", "1 s is not after the start (2 s)"),
    ({"frames": 4, "start": 9.0}, "video.start", "9 s is past the end of the clip (2.5 s)"),
], ids=["no frames", "too many frames", "negative start", "end before start", "start past the end"])
def test_bad_ranges_and_counts_name_the_field(tmp_path, kwargs, field, words):
    path = video.write_video(box_clip(), [1] * FRAMES, FPS, tmp_path / "clip.mp4")
    with pytest.raises(InvalidInput) as caught:
        video.read_clip(path, **kwargs)
    assert caught.value.field == field and words in caught.value.problem


def test_a_clip_over_the_duration_limit_says_to_choose_a_range(tmp_path, monkeypatch):
    monkeypatch.setattr(clips, "MAX_SECONDS", 1.0)
    path = video.write_video(box_clip(), [1] * FRAMES, FPS, tmp_path / "clip.mp4")
    with pytest.raises(InvalidInput, match=r"2.5 s is over the limit of 1 s: choose a range with start and end"):
        video.read_clip(path, 4)
    assert len(video.read_clip(path, 4, start=0.5, end=1.2).frames) == 4


def test_a_video_over_the_size_limit_is_refused_before_decoding(tmp_path, monkeypatch):
    monkeypatch.setattr(clips, "MAX_SOURCE_SIDE", 100)
    path = video.write_video(box_clip(), [1] * FRAMES, FPS, tmp_path / "clip.mp4")
    with pytest.raises(InvalidInput, match=r"162 x 120 px is over the limit of 100 px a side"):
        video.read_clip(path, 4)


def test_broken_or_unsupported_files_are_one_clear_line(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video")
    with pytest.raises(InvalidInput, match=r"notes.mp4: not a video that can be read") as caught:
        video.read_clip(text, 4)
    assert "\n" not in str(caught.value)
    good = video.write_video(box_clip(), [1] * FRAMES, FPS, tmp_path / "clip.mp4")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 3])  # the index (moov) is at the front
    with pytest.raises(InvalidInput, match="cut.mp4: ") as caught:  # all 30 frames asked of a third of the file
        video.read_clip(cut, 30)
    assert caught.value.field == "video" and "\n" not in str(caught.value)
    with pytest.raises(InvalidInput, match="no such file or folder"):
        video.read_clip(tmp_path / "missing.mp4", 4)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match="no frame images"):
        video.read_clip(tmp_path / "empty", 4)


def test_a_still_is_no_clip(tmp_path):
    """One image, a folder of one, a movie of one frame: nothing to take motion from, said so."""
    from PIL import Image

    (tmp_path / "one").mkdir()
    Image.fromarray(box_clip(frames=1)[0]).save(tmp_path / "one" / "frame.png")
    with pytest.raises(InvalidInput, match="frame.png: is one image, not a clip"):
        video.read_clip(tmp_path / "one" / "frame.png", 4)
    with pytest.raises(InvalidInput, match=r"has one frame image \(frame.png\); a clip that moves has at least 2"):
        video.read_clip(tmp_path / "one", 4)
    still = video.write_video(box_clip(frames=1), [1], FPS, tmp_path / "still.mp4")
    with pytest.raises(InvalidInput, match="still.mp4: has 1 frame; a clip that moves has at least 2"):
        video.read_clip(still, 4)
    svg = tmp_path / "drawing.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>')
    with pytest.raises(InvalidInput, match="drawing.svg: not a video that can be read"):
        video.read_clip(svg, 4)


def test_write_video_holds_frames_and_refuses_other_containers(tmp_path):
    path = video.write_video(box_clip(frames=3), [2, 1, 3], FPS, tmp_path / "held.mp4")
    clip = video.read_clip(path, 6)
    assert [box_x(r) for r in clip.frames] == pytest.approx([20, 20, 24, 28, 28, 28], abs=1.0)
    with pytest.raises(InvalidInput, match="a video is .mp4, .mov or .webm"):
        video.write_video(box_clip(frames=1), [1], FPS, tmp_path / "clip.avi")
