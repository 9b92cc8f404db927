#!/usr/bin/env python3
"""Seconds per clip of Animate from video's engines.

    python scripts/bench_video_motion.py [--repeats 3]

`motion-transfer` (CPU, no weights) on the articulated procedural clip of
scripts/eval_video_motion.py, rendered at 256 and 512 px with 16 and 48 frames, written to MP4:
the median of `--repeats` runs of reading the clip (`codec.video.read_clip`) and of the transfer
itself (subject, tracking, warps, the sketch moved). `sketch-animator` is not in the server yet.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

import eval_video_motion as clips  # noqa: E402
from benchlib import median_seconds  # noqa: E402

from inkmotion.codec import video  # noqa: E402
from inkmotion.pipelines.motion_transfer import transfer  # noqa: E402


def case(side: int, frames: int, folder: Path):
    """The figure clip at `side` px (the 256 px scene scaled), as an MP4, and its sketch."""
    from PIL import Image

    rng = np.random.default_rng(7000)
    parts, transforms = clips.figure_clip(rng, frames)
    images = [clips.render([tr.apply(p) for tr, p in zip(step, parts)]) for step in transforms]
    if side != clips.SIZE:
        images = [np.asarray(Image.fromarray(i).resize((side, side), Image.Resampling.LANCZOS)) for i in images]
    path = video.write_video(images, [1] * frames, 24.0, folder / f"figure-{side}-{frames}.mp4")
    _, sketch, _ = clips.make_case("figure", 7000, frames, folder)
    return path, sketch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    import cv2

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, "
          f"Python {platform.python_version()}, OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads)")
    print("| clip | read (s) | motion-transfer (s) |")
    print("|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for side in (256, 512):
            for frames in (16, 48):
                path, sketch = case(side, frames, Path(tmp))
                read = median_seconds(lambda: video.read_clip(path, frames), args.repeats, warm_up=False)
                reference = video.read_clip(path, frames).frames
                run = median_seconds(lambda: transfer(sketch, reference), args.repeats, warm_up=False)
                print(f"| {side} px, {frames} frames | {read:.3f} | {run:.3f} |")
    print("sketch-animator: not in the server yet")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
