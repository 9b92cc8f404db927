"""Video files in and out, with PyAV (its wheels carry FFmpeg and its codecs, so nothing else is needed).

Reading (`read_clip`) is inkmotion.codec.clips (the reader the add-ons vendor) with the server
package's types: frames as Rasters, refusals as `InvalidInput` naming the field, the value and the
limit. The CLI and the add-ons read clips and send frames, so the server needs no codecs from the host.

Writing (`write_video`) is the MP4 preview of `inkmotion animate -o out.mp4`: H.264 (libx264,
yuv420p) for .mp4 and .mov, VP9 for .webm.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from inkmotion.codec import clips
from inkmotion.codec.clips import FOLDER_FPS, IMAGE_SUFFIXES, MAX_SECONDS, MAX_SIDE, MAX_SOURCE_SIDE  # noqa: F401
from inkmotion.codec.drawing import Raster
from inkmotion.errors import InvalidInput

CODECS = {".mp4": "libx264", ".mov": "libx264", ".webm": "libvpx-vp9"}


@dataclass
class Clip:
    """Frames sampled from a video: what a video-motion request sends."""

    frames: list[Raster]  # RGBA, at most MAX_SIDE px on the longer side
    times: list[float]  # seconds into the source, one per frame
    fps: float  # the source's frame rate
    duration: float  # the source's length in seconds
    source_size: tuple[int, int]  # (width, height) before scaling
    sampled_fps: float  # the frames' own rate (clips.Frames.sampled_fps)


def read_clip(source: str | Path, frames: int, *, start: float | None = None, end: float | None = None,
              max_side: int = MAX_SIDE, max_frames: int = 128, field: str = "video") -> Clip:
    """`frames` frames of the video file or frame folder `source`, evenly spaced from `start` to
    `end` seconds (default: the whole clip), both ends included (clips.read_frames)."""
    try:
        got = clips.read_frames(source, frames, start=start, end=end, max_side=max_side, max_frames=max_frames,
                                field=field)
    except clips.ClipError as exc:
        raise InvalidInput(exc.field, exc.problem) from None
    return Clip([Raster(np.ascontiguousarray(a)) for a in got.images], got.times, got.fps, got.duration,
                got.source_size, got.sampled_fps)


def scaled(rgba: np.ndarray, max_side: int) -> Raster:
    """RGBA uint8 [H, W, 4] as a Raster whose longer side is at most `max_side` px (Lanczos)."""
    height, width = rgba.shape[:2]
    factor = max_side / max(width, height)
    if factor < 1:
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        rgba = np.asarray(Image.fromarray(rgba, "RGBA").resize(size, Image.Resampling.LANCZOS))
    return Raster(np.ascontiguousarray(rgba))


def write_video(frames: list[np.ndarray], holds: list[int], fps: float, path: str | Path) -> Path:
    """RGB uint8 frames [H, W, 3], each held `holds[i]` frames, as a video at `fps`: H.264 for .mp4
    and .mov, VP9 for .webm; odd sides are padded with white (yuv420p needs even ones)."""
    import av

    path = Path(path)
    codec = CODECS.get(path.suffix.lower())
    if codec is None:
        raise InvalidInput("output", f"{path.name}: a video is .mp4, .mov or .webm")
    height, width = frames[0].shape[:2]
    even_w, even_h = width + width % 2, height + height % 2
    options = {"movflags": "+faststart"} if codec == "libx264" else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = even_w, even_h, "yuv420p"
        index = 0
        for frame, hold in zip(frames, holds):
            if (even_w, even_h) != (width, height):
                frame = np.pad(frame, ((0, even_h - height), (0, even_w - width), (0, 0)), constant_values=255)
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            for _ in range(hold):
                picture.pts = index
                index += 1
                container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    return path
