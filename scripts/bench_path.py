#!/usr/bin/env python3
"""Frames per second of the two path_motion engines (Follow path).

    python scripts/bench_path.py [--frames 16] [--repeats 5] [--device cpu|cuda]

- `path-follow` (the vector engine): the project's walker-1.svg (tests/fixtures) along a 64-point
  curve, every option off and every option on (squash/stretch 1, follow-through 0.5, as-drawn timing).
- `motion-strokes` (the learned model, the shipped weights): the model's rollout alone at its 64 px
  (batch 1, the predictor and generator once per frame), and the whole `animate` on a 512 px line-art
  raster (walker-1.png painted from the same sketch: into the window, the rollout, back, painted).
The median of `--repeats` runs after one to warm up, as frames per second of output (frame 0, the
input, included in the count). `--device cuda` (or auto where CUDA is there) runs the model there
too, in float16.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

import fixtures  # noqa: E402
from benchlib import median_seconds  # noqa: E402

from inkmotion import models  # noqa: E402
from inkmotion.pipelines import motion_strokes as ms  # noqa: E402
from inkmotion.pipelines.path_follow import PathFollowConfig, follow_path  # noqa: E402


def curve(start: np.ndarray, width: float, height: float, points: int = 64) -> np.ndarray:
    t = np.linspace(0.0, 1.0, points)[:, None]
    end = np.array([0.85 * width, 0.8 * height])
    bend = np.array([0.7 * width, 0.1 * height])
    return (1 - t) ** 2 * start + 2 * (1 - t) * t * bend + t**2 * end


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] for the model")
    parser.add_argument("--threads", type=int, default=0, help="torch threads on the CPU (0: torch's choice)")
    args = parser.parse_args(argv)

    import torch

    from inkmotion.codec.svg import read_svg
    from inkmotion.devices import resolve_devices

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_devices(args.device)[0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, "
          f"Python {platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"model on {device}")
    frames = args.frames

    sketch = fixtures.vector_sketch("walker-1.svg")
    drawing = read_svg(sketch.svg.encode())
    start = np.concatenate([s.points for s in drawing.strokes]).mean(axis=0)
    path = curve(start, drawing.width, drawing.height)
    points = sum(len(s) for s in drawing.strokes)
    print(f"path-follow: walker-1.svg ({len(drawing.strokes)} strokes, {points} points), {frames} frames")
    for name, config in (
        ("options off", PathFollowConfig(frames=frames, easing="linear", keep_upright=True)),
        ("options on", PathFollowConfig(frames=frames, timing="as-drawn", squash_stretch=1.0, follow_through=0.5)),
    ):
        seconds = median_seconds(lambda: follow_path(drawing, path, config), args.repeats)
        print(f"  {name:12} {frames / seconds:9.0f} frames/s  ({seconds * 1000:.1f} ms for {frames})")

    spec = models.resolve(models.DEFAULT_FOR_TASK["path_motion"])
    model = models.CACHE.get(spec, device)
    parameter = next(model.parameters())
    size = model.config.size
    first = torch.zeros(1, 1, size, size, device=parameter.device, dtype=parameter.dtype)
    first[..., size // 3:size // 2, size // 3:size // 2] = 1
    keys = torch.linspace(size * 0.4, size * 0.6, frames, device=parameter.device, dtype=parameter.dtype)[None, :, None]
    keys = keys.repeat(1, 1, 2)

    def rollout():
        with torch.inference_mode():
            model.rollout(first, keys)
        if parameter.device.type == "cuda":
            torch.cuda.synchronize()

    seconds = median_seconds(rollout, args.repeats)
    print(f"motion-strokes ({spec.name}, {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, "
          f"{parameter.dtype}), {frames} frames")
    print(f"  rollout at {size} px  {frames / seconds:9.0f} frames/s  ({seconds * 1000:.1f} ms for {frames})")
    raster_spec = next(s for s in fixtures.RASTER_SKETCHES if s.name == "walker-1.png")
    from dataclasses import replace

    from inkmotion.codec.drawing import Raster

    raster = Raster(np.asarray(fixtures.paint(sketch, replace(raster_spec, size=(512, 512))).convert("RGBA")))
    ink_path = curve(np.array([256.0, 256.0]) * 0.5, 512, 512)
    seconds = median_seconds(lambda: ms.animate(model, raster, ink_path, frames), args.repeats)
    print(f"  animate at 512 px  {frames / seconds:9.0f} frames/s  ({seconds * 1000:.1f} ms for {frames})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
