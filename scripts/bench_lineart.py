#!/usr/bin/env python3
"""How long tracing raster line art into strokes takes (inkmotion.strokes.lineart.trace_lineart).

    python scripts/bench_lineart.py [--repeats 7] [--sketch PNG]

One line-art sketch, resized (Lanczos) to 256, 512 and 1024 px square, traced once to warm up and
then `--repeats` times: the median and the best run, with the strokes and points it found. The
sketch: --sketch PNG; by default sketch3.png of $INKMOTION_TESTDATA/raster_sketches (the shared
sketches by others) when that is set, else the project's own walker-1.png (tests/fixtures). Sides
above lineart.MAX_SIDE are traced at MAX_SIDE and scaled back. Aim: 512 px well under a second
(it was a unit test once, until a busy machine made it fail at 0.76 s; timing is for benchmarks).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from inkmotion.codec.drawing import Raster  # noqa: E402
from inkmotion.strokes.lineart import MAX_SIDE, trace_lineart  # noqa: E402
from inkmotion.codec.preview import read_raster  # noqa: E402

SIDES = (256, 512, 1024)


def default_sketch(folder: Path) -> Path:
    """sketch3.png of the shared sketches where INKMOTION_TESTDATA names them, else one of our own,
    painted into `folder`."""
    shared = os.environ.get("INKMOTION_TESTDATA")
    if shared:
        path = Path(shared) / "raster_sketches" / "sketch3.png"
        if not path.is_file():
            raise SystemExit(f"INKMOTION_TESTDATA={shared}: no {path}")
        return path
    sys.path.insert(0, str(ROOT / "tests"))
    import fixtures

    spec = next(s for s in fixtures.RASTER_SKETCHES if s.name == "walker-1.png")
    path = folder / spec.name
    fixtures.paint(fixtures.vector_sketch(spec.source), spec).save(path)
    return path


def resized(sketch: Raster, side: int) -> Raster:
    image = Image.fromarray(sketch.rgba, "RGBA").resize((side, side), Image.Resampling.LANCZOS)
    return Raster(np.asarray(image))


def time_tracing(raster: Raster, repeats: int) -> dict:
    drawing = trace_lineart(raster)  # warm up
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        drawing = trace_lineart(raster)
        seconds.append(time.perf_counter() - started)
    return dict(median=statistics.median(seconds), best=min(seconds), strokes=len(drawing.strokes),
                points=sum(len(s) for s in drawing.strokes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sketch", type=Path, default=None,
                        help="line-art PNG (default: the shared sketch3.png, else tests/fixtures' walker-1.png)")
    args = parser.parse_args(argv)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, "
          f"Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.sketch or default_sketch(Path(tmp))
        sketch = read_raster(path)
    print(f"sketch: {path} ({sketch.width} x {sketch.height}); medians of {args.repeats} runs after a warm-up, "
          f"and the best run; traced at most {MAX_SIDE} px a side")
    print(f"{'side':>6} {'median s':>9} {'best s':>8} {'strokes':>8} {'points':>7}")
    for side in SIDES:
        r = time_tracing(resized(sketch, side), args.repeats)
        print(f"{side:>6} {r['median']:>9.3f} {r['best']:>8.3f} {r['strokes']:>8} {r['points']:>7}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
