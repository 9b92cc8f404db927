#!/usr/bin/env python3
"""Seconds per clip of Animate from video's engines.

    python scripts/bench_video_motion.py [--repeats 3] [--model DIR] [--steps 3]

`motion-transfer` (CPU, no weights) on the articulated procedural clip of
scripts/eval_video_motion.py, rendered at 256 and 512 px with 16 and 48 frames, written to MP4:
the median of `--repeats` runs of reading the clip (`codec.video.read_clip`) and of the transfer
itself (subject, tracking, warps, the sketch moved).

`sketch-animator` on `--model` (default: a tiny random model made here by make_tiny_models.py,
so the figures are the pipeline's own cost, not ModelScope's): seconds per iteration of each
stage (appearance learning, motion learning, score distillation) at the paper's 256 x 256 and 16
frames, from `--steps` iterations each, and the clip at the paper's 500 + 500 + 500 projected
from them; then the same clip again, its motion LoRA from the cache.
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
    parser.add_argument("--model", help="a ModelScope-layout folder for sketch-animator (default: a tiny random one)")
    parser.add_argument("--steps", type=int, default=3, help="iterations of each sketch-animator stage")
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
        bench_sketch_animator(args.model, args.steps, Path(tmp))
    return 0


def bench_sketch_animator(model: str | None, steps: int, folder: Path, frames: int = 16) -> None:
    import time

    import torch

    from inkmotion import models
    from inkmotion.pipelines.base import Progress
    from inkmotion.pipelines.sketch_animator import SketchAnimatorConfig, SketchAnimatorPipeline

    if model is None:
        import make_tiny_models

        model = str(make_tiny_models.make_tiny_models(folder / "tiny", seed=0))
    path, sketch = case(256, frames, folder)
    reference = video.read_clip(path, frames).frames
    device = "cuda" if torch.cuda.is_available() else "cpu"
    pipeline = SketchAnimatorPipeline.from_model(models.load_text_to_video(models.resolve(model), device))
    config = SketchAnimatorConfig(frames=frames, appearance_steps=steps, motion_steps=steps, steps=steps,
                                  cache_dir=str(folder / "loras"))

    def timed(run_config) -> dict:
        """Seconds per iteration of each stage, from the gaps between its progress reports."""
        seen: dict[str, list[float]] = {}
        last = [time.perf_counter()]

        def on_progress(p: Progress) -> None:
            now = time.perf_counter()
            if p.total:
                seen.setdefault(p.message, []).append(now - last[0])
            last[0] = now

        began = time.perf_counter()
        pipeline(sketch, reference, "figure", run_config, on_progress)
        return {"total": time.perf_counter() - began,
                **{name: float(np.median(gaps[1:] or gaps)) for name, gaps in seen.items()}}

    first = timed(config)
    again = timed(config)  # the same clip and sketch: both LoRAs from the cache
    stages = ("appearance learning", "motion learning", "score distillation")
    print(f"\nsketch-animator on {model} ({device}), 256 x 256, {frames} frames, {steps} iterations a stage:")
    print("| stage | s / iteration | at the paper's 500 (s) |")
    print("|---|---|---|")
    for stage in stages:
        print(f"| {stage} | {first[stage]:.3f} | {500 * first[stage]:.0f} |")
    print(f"| a clip at 500 + 500 + 500 | | {500 * sum(first[s] for s in stages):.0f} |")
    print(f"| the same clip again (LoRAs cached) | | {500 * first['score distillation']:.0f} "
          f"(this run: {again['total']:.2f} s for {steps} iterations) |")


if __name__ == "__main__":
    raise SystemExit(main())
