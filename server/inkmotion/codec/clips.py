"""Reference clips read as artists have them: an MP4 or MOV from a phone, a WebM, a GIF from the
web, or a folder of frame images, with PyAV (its wheels carry FFmpeg and its codecs).

The clip is sampled to the requested number of frames, evenly over a chosen time range, and scaled
to at most `MAX_SIDE` px (swscale's Lanczos). A clip past the limits (duration, source size, frame
count) and a file that is not a video are refused with `ClipError`, which names the field, the
value and the limit.

The standard library, numpy and PyAV only: this module is vendored into both add-ons
(scripts/vendoring.py), so Blender and Krita read clips with the same code as the CLI
(inkmotion.codec.video wraps it for the server package) and send frames; the server needs no codecs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_SIDE = 512  # px: frames are scaled down to this, their longer side
MAX_SOURCE_SIDE = 8192  # px: a larger video is refused before any decoding
MAX_SECONDS = 600.0  # a longer clip is refused: choose a range with start/end
FOLDER_FPS = 24.0  # a folder of frames has no frame rate: this one is assumed
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi", ".gif")


class ClipError(ValueError):
    """A clip that cannot be used: `field` is what to fix, `problem` says why."""

    def __init__(self, field: str, problem: str):
        self.field, self.problem = field, problem
        super().__init__(f"{field}: {problem}")


@dataclass
class Frames:
    """Frames sampled from a video."""

    images: list[np.ndarray]  # RGBA uint8 [H, W, 4], at most MAX_SIDE px on the longer side
    times: list[float]  # seconds into the source, one per frame
    fps: float  # the source's frame rate
    duration: float  # the source's length in seconds
    source_size: tuple[int, int]  # (width, height) before scaling

    @property
    def sampled_fps(self) -> float:
        """The frame rate of the frames as sampled: played at it, they last as long as the range did."""
        span = self.times[-1] - self.times[0] if len(self.times) > 1 else 0.0
        return (len(self.times) - 1) / span if span > 0 else self.fps


def read_frames(source: str | Path, frames: int, *, start: float | None = None, end: float | None = None,
                max_side: int = MAX_SIDE, max_frames: int = 128, field: str = "video") -> Frames:
    """`frames` frames of the video file or frame folder `source`, evenly spaced from `start` to
    `end` seconds (default: the whole clip), both ends included; a range with fewer frames than
    asked for repeats frames."""
    path = Path(source)
    if frames < 1:
        raise ClipError(f"{field}.frames", f"{frames} is under the minimum of 1")
    if frames > max_frames:
        raise ClipError(f"{field}.frames", f"{frames} is over the limit of {max_frames}")
    if start is not None and not start >= 0:
        raise ClipError(f"{field}.start", f"{start:g} s is under the minimum of 0 s")
    if start is not None and end is not None and not end > start:
        raise ClipError(f"{field}.end", f"{end:g} s is not after the start ({start:g} s)")
    try:
        import av  # noqa: F401  (here only to say, before any reading, that it is missing)
    except ImportError:
        raise ClipError(field, "reading videos needs PyAV (pip install av)") from None
    if path.is_dir():
        return _read_folder(path, frames, start, end, max_side, field)
    if not path.is_file():
        raise ClipError(field, f"{path}: no such file or folder")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise ClipError(field, f"{path.name}: is one image, not a clip: give a movie file, or the folder of its frames")
    return _read_file(path, frames, start, end, max_side, field)


def _pick(times: list[float], frames: int, start: float | None, end: float | None, duration: float,
          field: str) -> list[int]:
    """Indices into `times` (seconds, ascending) of `frames` frames evenly over [start, end]."""
    if start is not None and start >= duration:
        raise ClipError(f"{field}.start", f"{start:g} s is past the end of the clip ({duration:.3g} s)")
    low = 0.0 if start is None else start
    high = np.inf if end is None else end
    inside = [i for i, t in enumerate(times) if low - 1e-6 <= t <= high + 1e-6]
    if not inside:
        raise ClipError(field, f"has no frames from {low:g} s to {high:g} s")
    chosen = np.rint(np.linspace(0, len(inside) - 1, frames)).astype(int)
    return [inside[i] for i in chosen]


def _check_duration(duration: float, start: float | None, end: float | None, field: str) -> None:
    span = (duration if end is None else min(end, duration)) - (start or 0.0)
    if span > MAX_SECONDS:
        raise ClipError(field, f"{span:.1f} s is over the limit of {MAX_SECONDS:g} s: choose a range with start and end")


def _check_size(width: int, height: int, field: str) -> None:
    if max(width, height) > MAX_SOURCE_SIDE:
        raise ClipError(field, f"{width} x {height} px is over the limit of {MAX_SOURCE_SIDE} px a side")


def _read_file(path: Path, frames: int, start, end, max_side: int, field: str) -> Frames:
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise ClipError(field, f"{path.name}: not a video that can be read ({_reason(exc)})") from None
    with container:
        if not container.streams.video:
            raise ClipError(field, f"{path.name}: has no video stream")
        stream = container.streams.video[0]
        if stream.codec_context is None:  # a format FFmpeg knows of but has no decoder for here
            raise ClipError(field, f"{path.name}: not a video that can be read (this FFmpeg has no decoder for it)")
        width, height = stream.codec_context.width, stream.codec_context.height
        _check_size(width, height, field)
        base = stream.time_base
        try:  # the frames' times from the packets, without decoding
            pts = sorted({p.pts for p in container.demux(stream) if p.pts is not None and p.size})
        except av.FFmpegError as exc:
            raise ClipError(field, f"{path.name}: is broken ({_reason(exc)})") from None
        if len(pts) < 2:
            raise ClipError(field, f"{path.name}: has {len(pts)} frame{'' if len(pts) == 1 else 's'}; a clip that moves "
                                   "has at least 2")
        first = pts[0]
        times = [float((p - first) * base) for p in pts]
        rate = float(stream.average_rate) if stream.average_rate else (len(times) - 1) / max(times[-1], 1e-9)
        duration = times[-1] + (1.0 / rate if rate > 0 else 0.0)
        _check_duration(duration, start, end, field)
        chosen = _pick(times, frames, start, end, duration, field)
        wanted = {pts[i] for i in chosen}
        decoded: dict[int, np.ndarray] = {}
        container.seek(0)
        try:
            for frame in container.decode(stream):
                if frame.pts in wanted and frame.pts not in decoded:
                    decoded[frame.pts] = rgba(frame, max_side)
                    if len(decoded) == len(wanted):
                        break
        except av.FFmpegError as exc:
            raise ClipError(field, f"{path.name}: is broken ({_reason(exc)})") from None
    missing = wanted - decoded.keys()
    if missing:
        raise ClipError(field, f"{path.name}: {len(missing)} of its frames could not be decoded")
    return Frames([decoded[pts[i]] for i in chosen], [times[i] for i in chosen], rate, duration, (width, height))


def rgba(frame, max_side: int = MAX_SIDE) -> np.ndarray:
    """A decoded frame as RGBA uint8, its longer side scaled down to `max_side` (Lanczos). Frames
    without alpha go through rgb24: swscale's rgba from yuv420p leaves the last columns of some
    widths uninitialised."""
    factor = max_side / max(frame.width, frame.height)
    if factor < 1:
        size = {"width": max(1, round(frame.width * factor)), "height": max(1, round(frame.height * factor)),
                "interpolation": "LANCZOS"}
    else:
        size = {}
    form = frame.format
    if form.has_palette or any(c.is_alpha for c in form.components):  # a GIF's palette, rgba, yuva420p, ...
        return frame.reformat(format="rgba", **size).to_ndarray()
    rgb = frame.reformat(format="rgb24", **size).to_ndarray()
    return np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=-1)


def _natural(path: Path):
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _read_folder(folder: Path, frames: int, start, end, max_side: int, field: str) -> Frames:
    import av

    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural)
    if not files:
        raise ClipError(field, f"{folder}: no frame images ({', '.join(IMAGE_SUFFIXES)}) in it")
    if len(files) < 2:
        raise ClipError(field, f"{folder}: has one frame image ({files[0].name}); a clip that moves has at least 2")
    times = [i / FOLDER_FPS for i in range(len(files))]
    duration = len(files) / FOLDER_FPS
    _check_duration(duration, start, end, field)
    chosen = _pick(times, frames, start, end, duration, field)
    out, size = [], None
    for i in chosen:
        try:
            with av.open(str(files[i])) as container:
                image = next(container.decode(video=0))
                _check_size(image.width, image.height, field)
                size = size or (image.width, image.height)
                out.append(rgba(image, max_side))
        except (av.FFmpegError, OSError, StopIteration, UnicodeDecodeError) as exc:
            raise ClipError(field, f"{files[i].name}: not an image that can be read ({_reason(exc)})") from None
    return Frames(out, [times[i] for i in chosen], FOLDER_FPS, duration, size)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", text)  # FFmpeg's error number says nothing to an artist
    return re.sub(r"\s*:\s*'[^']*'$", "", text)
