"""Video files in and out, with PyAV (its wheels carry FFmpeg and its codecs, so nothing else is needed).

Reading (`read_clip`) is for reference clips as artists have them: an MP4 or MOV from a phone, a
WebM, a GIF from the web, or a folder of frame images. The clip is sampled to the requested number
of frames, evenly over a chosen time range, and scaled to at most `MAX_SIDE` px. A clip past the
limits (duration, source size, frame count) and a file that is not a video are refused with
`InvalidInput`, which names the field, the value and the limit. The CLI and the add-ons read clips
here and send frames, so the server needs no codecs from the host.

Writing (`write_video`) is the MP4 preview of `inkmotion animate -o out.mp4`: H.264 (libx264,
yuv420p) for .mp4 and .mov, VP9 for .webm.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from inkmotion.codec.drawing import Raster
from inkmotion.errors import InvalidInput

MAX_SIDE = 512  # px: frames are scaled down to this, their longer side
MAX_SOURCE_SIDE = 8192  # px: a larger video is refused before any decoding
MAX_SECONDS = 600.0  # a longer clip is refused: choose a range with start/end
FOLDER_FPS = 24.0  # a folder of frames has no frame rate: this one is assumed
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
CODECS = {".mp4": "libx264", ".mov": "libx264", ".webm": "libvpx-vp9"}


@dataclass
class Clip:
    """Frames sampled from a video: what a video-motion request sends."""

    frames: list[Raster]  # RGBA, at most MAX_SIDE px on the longer side
    times: list[float]  # seconds into the source, one per frame
    fps: float  # the source's frame rate
    duration: float  # the source's length in seconds
    source_size: tuple[int, int]  # (width, height) before scaling


def read_clip(source: str | Path, frames: int, *, start: float | None = None, end: float | None = None,
              max_side: int = MAX_SIDE, max_frames: int = 128, field: str = "video") -> Clip:
    """`frames` frames of the video file or frame folder `source`, evenly spaced from `start` to
    `end` seconds (default: the whole clip), both ends included; a range with fewer frames than
    asked for repeats frames."""
    path = Path(source)
    if frames < 1:
        raise InvalidInput(f"{field}.frames", f"{frames} is under the minimum of 1")
    if frames > max_frames:
        raise InvalidInput(f"{field}.frames", f"{frames} is over the limit of {max_frames}")
    if start is not None and not start >= 0:
        raise InvalidInput(f"{field}.start", f"{start:g} s is under the minimum of 0 s")
    if start is not None and end is not None and not end > start:
        raise InvalidInput(f"{field}.end", f"{end:g} s is not after the start ({start:g} s)")
    if path.is_dir():
        return _read_folder(path, frames, start, end, max_side, field)
    if not path.is_file():
        raise InvalidInput(field, f"{path}: no such file or folder")
    return _read_file(path, frames, start, end, max_side, field)


def _pick(times: list[float], frames: int, start: float | None, end: float | None, duration: float,
          field: str) -> list[int]:
    """Indices into `times` (seconds, ascending) of `frames` frames evenly over [start, end]."""
    if start is not None and start >= duration:
        raise InvalidInput(f"{field}.start", f"{start:g} s is past the end of the clip ({duration:.3g} s)")
    low = 0.0 if start is None else start
    high = np.inf if end is None else end
    inside = [i for i, t in enumerate(times) if low - 1e-6 <= t <= high + 1e-6]
    if not inside:
        raise InvalidInput(field, f"has no frames from {low:g} s to {high:g} s")
    chosen = np.rint(np.linspace(0, len(inside) - 1, frames)).astype(int)
    return [inside[i] for i in chosen]


def _check_duration(duration: float, start: float | None, end: float | None, field: str) -> None:
    span = (duration if end is None else min(end, duration)) - (start or 0.0)
    if span > MAX_SECONDS:
        raise InvalidInput(field, f"{span:.1f} s is over the limit of {MAX_SECONDS:g} s: choose a range with start and end")


def _check_size(width: int, height: int, field: str) -> None:
    if max(width, height) > MAX_SOURCE_SIDE:
        raise InvalidInput(field, f"{width} x {height} px is over the limit of {MAX_SOURCE_SIDE} px a side")


def scaled(rgba: np.ndarray, max_side: int) -> Raster:
    """RGBA uint8 [H, W, 4] as a Raster whose longer side is at most `max_side` px (Lanczos)."""
    height, width = rgba.shape[:2]
    factor = max_side / max(width, height)
    if factor < 1:
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        rgba = np.asarray(Image.fromarray(rgba, "RGBA").resize(size, Image.Resampling.LANCZOS))
    return Raster(np.ascontiguousarray(rgba))


def _read_file(path: Path, frames: int, start, end, max_side: int, field: str) -> Clip:
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(field, f"{path.name}: not a video that can be read ({_reason(exc)})") from None
    with container:
        if not container.streams.video:
            raise InvalidInput(field, f"{path.name}: has no video stream")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        _check_size(width, height, field)
        base = stream.time_base
        try:  # the frames' times from the packets, without decoding
            pts = sorted({p.pts for p in container.demux(stream) if p.pts is not None and p.size})
        except av.FFmpegError as exc:
            raise InvalidInput(field, f"{path.name}: is broken ({_reason(exc)})") from None
        if not pts:
            raise InvalidInput(field, f"{path.name}: has no frames")
        first = pts[0]
        times = [float((p - first) * base) for p in pts]
        rate = float(stream.average_rate) if stream.average_rate else (len(times) - 1) / max(times[-1], 1e-9)
        duration = times[-1] + (1.0 / rate if rate > 0 else 0.0)
        _check_duration(duration, start, end, field)
        chosen = _pick(times, frames, start, end, duration, field)
        wanted = {pts[i] for i in chosen}
        decoded: dict[int, Raster] = {}
        container.seek(0)
        try:
            for frame in container.decode(stream):
                if frame.pts in wanted and frame.pts not in decoded:
                    decoded[frame.pts] = scaled(_rgba(frame), max_side)
                    if len(decoded) == len(wanted):
                        break
        except av.FFmpegError as exc:
            raise InvalidInput(field, f"{path.name}: is broken ({_reason(exc)})") from None
    missing = wanted - decoded.keys()
    if missing:
        raise InvalidInput(field, f"{path.name}: {len(missing)} of its frames could not be decoded")
    return Clip([decoded[pts[i]] for i in chosen], [times[i] for i in chosen], rate, duration, (width, height))


def _rgba(frame) -> np.ndarray:
    """A decoded frame as RGBA uint8. Frames without alpha go through rgb24: swscale's rgba from
    yuv420p leaves the last columns of some widths uninitialised."""
    form = frame.format
    if form.has_palette or any(c.is_alpha for c in form.components):  # a GIF's palette, rgba, yuva420p, ...
        return frame.to_ndarray(format="rgba")
    rgb = frame.to_ndarray(format="rgb24")
    return np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=-1)


def _natural(path: Path):
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _read_folder(folder: Path, frames: int, start, end, max_side: int, field: str) -> Clip:
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural)
    if not files:
        raise InvalidInput(field, f"{folder}: no frame images ({', '.join(IMAGE_SUFFIXES)}) in it")
    times = [i / FOLDER_FPS for i in range(len(files))]
    duration = len(files) / FOLDER_FPS
    _check_duration(duration, start, end, field)
    chosen = _pick(times, frames, start, end, duration, field)
    out, size = [], None
    for i in chosen:
        try:
            with Image.open(files[i]) as image:
                _check_size(*image.size, field)
                size = size or image.size
                out.append(scaled(np.asarray(image.convert("RGBA")), max_side))
        except (OSError, Image.DecompressionBombError) as exc:
            raise InvalidInput(field, f"{files[i].name}: not an image that can be read ({_reason(exc)})") from None
    return Clip(out, [times[i] for i in chosen], FOLDER_FPS, duration, size)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r"\s*:\s*'[^']*'$", "", text)


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
