#!/usr/bin/env python3
"""How fast the inbetween task's two models make frames, and the memory sketch-flow takes.

    python scripts/bench_inbetween.py [--frames 9] [--repeats 3] [--sizes 256 512 1024] [--device cpu]

- `stroke-match`: two vector keys (the project's own fixture pair cat-1/cat-2; 16 strokes), the
  engine's frames/s (both keys counted) at `--frames`.
- `sketch-flow`: the shipped weights (server/inkmotion/weights/sketch-flow) on two painted keys
  at each of `--sizes` px square (the network works at its own 128 px; the flows are scaled up and
  the keys warped at full size): frames/s of the frames between the keys, through
  `sketch_flow.animate` (ink in, painted rasters out), and the peak memory above the loaded model
  (resident set on the CPU, the CUDA allocator on a GPU), each case in a fresh process.
Prints one line per case, then the machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))

import benchlib  # noqa: E402


def keys(size: int):
    """Two painted keys of a figure that moves and turns: the fixture cat, painted at `size`."""
    import numpy as np

    from inkmotion.strokes.geometry import Similarity
    from inkmotion.strokes.lineart import paint_lineart

    start, end = vector_keys()
    scale = size / max(start.width, start.height)

    def scaled(drawing, motion=None):
        strokes = []
        for s in drawing.strokes:
            points = s.points * scale if motion is None else motion.apply(s.points * scale)
            strokes.append(s.copy(points=np.asarray(points, np.float32), radii=s.radii * scale, bezier=None))
        return drawing.copy(strokes=strokes, width=size, height=size)

    turn = Similarity(np.radians(12.0), 1.0, np.array([0.08 * size, 0.03 * size]))
    return paint_lineart(scaled(start)), paint_lineart(scaled(start, turn))


def vector_keys():
    from inkmotion.codec.svg import read_svg

    import fixtures

    folder = Path(tempfile.mkdtemp())
    paths = {p.name: p for p in fixtures.write_vector_sketches(folder)}
    return read_svg(paths["cat-1.svg"]), read_svg(paths["cat-2.svg"])


def run_case(case: dict) -> dict:
    import torch

    from inkmotion import models
    from inkmotion.pipelines import sketch_flow
    from inkmotion.pipelines.inbetween import inbetween

    frames, repeats = case["frames"], case["repeats"]
    if case["model"] == "stroke-match":
        start, end = vector_keys()
        seconds = benchlib.median_seconds(lambda: inbetween(start, end, frames), repeats)
        return {**case, "seconds": seconds, "frames_per_s": frames / seconds, "strokes": len(start.strokes)}
    torch.set_num_threads(case["threads"]) if case.get("threads") else None
    net = models.load_trained(models.BUILTIN[models.SKETCH_FLOW], case["device"])
    start, end = keys(case["size"])
    run = lambda: sketch_flow.animate(net, start, end, frames)  # noqa: E731
    run()  # warm up
    with benchlib.PeakMemory(case["device"]) as memory:
        seconds = benchlib.median_seconds(run, repeats, warm_up=False)
    between = frames - 2
    return {**case, "seconds": seconds, "frames_per_s": between / seconds, "peak_mb": round(memory.peak_mb, 1),
            "parameters": sketch_flow.parameter_count(net)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=9)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return 0
    base = {"frames": args.frames, "repeats": args.repeats, "device": args.device}
    result = benchlib.spawn(__file__, {**base, "model": "stroke-match"})
    print(f"stroke-match  {result['strokes']} strokes, {args.frames} frames: {result['seconds'] * 1000:.1f} ms, "
          f"{result['frames_per_s']:.0f} frames/s")
    for size in args.sizes:
        result = benchlib.spawn(__file__, {**base, "model": "sketch-flow", "size": size})
        print(f"sketch-flow   {size}x{size} px, {args.frames - 2} frames between: {result['seconds']:.2f} s, "
              f"{result['frames_per_s']:.1f} frames/s, peak {result['peak_mb']:.0f} MiB above the loaded model "
              f"({result['parameters'] / 1e6:.2f} M parameters)")
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}, "
          f"{args.device}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
