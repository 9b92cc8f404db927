#!/usr/bin/env python3
"""How fast and how small inkmotion.render is, and how close to an 8x8 supersampled reference.

    PYTHONPATH=server python scripts/bench_render.py [--repeats 7] [--devices cpu,cuda] [--skip-memory]

Cases (each in a fresh process, so its peak memory is its own):
- Live-Sketch sized: 16 frames x 256 x 256, 16 and 32 strokes of 4 cubic segments each sampled to
  41-point polylines, 1.5 px wide (half width 0.75): forward, and forward + backward of a weighted
  sum. Target: forward + backward well under 0.06 s per frame on the CPU (pydiffvg's CPU build
  takes ~0.3 s per frame).
- Memory: 24 frames x 512 x 512, 64 strokes x 64 points, 3 px wide, forward + backward.
Peak memory is the process's peak RSS over its RSS before the case (CPU), or
torch.cuda.max_memory_allocated (CUDA). The quality check renders one frame black on white and
compares it with the same scene rendered at 8x the resolution (a 1/8 px AA ramp) and averaged
over 8 x 8 pixel blocks. pydiffvg is compared only where it is installed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "scripts"))

from benchlib import PeakMemory, spawn, timings  # noqa: E402

from inkmotion import render  # noqa: E402


def strokes(frames: int, count: int, size: int, segments: int, seed: int = 0) -> torch.Tensor:
    """Cubic chains [F, S, 3K+1, 2]: random-walk control points, then a per-frame wobble (motion)."""
    g = torch.Generator().manual_seed(seed)
    start = torch.rand(count, 1, 2, generator=g) * size * 0.6 + size * 0.2
    steps = torch.randn(count, 3 * segments, 2, generator=g) * size / 21
    ctrl = torch.cat([start, start + steps.cumsum(1)], 1)
    shift = torch.randn(frames, 1, 1, 2, generator=g) * size / 85
    return ctrl[None] + shift + torch.randn(frames, count, 3 * segments + 1, 2, generator=g) * size / 256


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_case(device: str, frames: int, count: int, size: int, segments: int, per_segment: int,
             half_width: float, repeats: int, backend: str = "torch") -> dict:
    """One case in this process: peak memory of the first forward + backward, then timings."""
    ctrl = strokes(frames, count, size, segments).to(device).requires_grad_()
    weights = torch.rand(size, size, generator=torch.Generator().manual_seed(1)).to(device)

    def forward():
        return render.rasterize(render.sample_bezier_path(ctrl, per_segment), half_width, (size, size), backend=backend)

    def forward_only():
        with torch.no_grad():
            forward()
        _sync(device)

    def forward_backward():
        (forward() * weights).sum().backward()
        ctrl.grad = None
        _sync(device)

    with PeakMemory(device) as memory:
        t0 = time.perf_counter()
        forward_backward()
    first = time.perf_counter() - t0
    peak_mb = memory.peak_mb

    def timed(fn):
        seconds = timings(fn, repeats)
        return statistics.median(seconds), min(seconds)

    fwd = timed(forward_only) if repeats else (math.nan, math.nan)
    fwd_bwd = timed(forward_backward) if repeats else (first, first)
    return dict(device=device, frames=frames, strokes=count, size=size,
                points=segments * per_segment + 1, peak_mb=peak_mb, forward=fwd, forward_backward=fwd_bwd)


def quality(device: str, count: int = 16, size: int = 256, backend: str = "torch") -> dict:
    """Mean absolute difference, black on white, against the 8x8 supersampled reference."""
    ctrl = strokes(1, count, size, 4).to(device)
    pts = render.sample_bezier_path(ctrl, 10)
    with torch.no_grad():
        ours = render.rasterize(pts, 0.75, (size, size), backend=backend)[0]
        fine = render.rasterize(pts * 8, 0.75 * 8, (size * 8, size * 8))[0]
    reference = torch.nn.functional.avg_pool2d(fine[None, None], 8)[0, 0]
    difference = ((1 - ours) - (1 - reference)).abs()
    inked = (ours > 0) | (reference > 0)
    return dict(mad=difference.mean().item(), mad_inked=difference[inked].mean().item(),
                max=difference.max().item(), ink=reference.sum().item(), ink_ours=ours.sum().item())


def _child(args) -> None:
    torch.set_num_threads(args.threads or torch.get_num_threads())
    case = json.loads(args.case)
    if case.pop("kind") == "quality":
        print(json.dumps(quality(**case)))
    else:
        print(json.dumps(run_case(**case)))


def _spawn(case: dict, threads: int | None) -> dict:
    return spawn(__file__, case, *(["--threads", str(threads)] if threads else []))


def _line(r: dict) -> str:
    f = r["frames"]
    fwd_med, fwd_min = r["forward"]
    fb_med, fb_min = r["forward_backward"]
    return (f"{r['device']:>6} {f:>3} x {r['size']}^2, {r['strokes']:>2} strokes x {r['points']} pts | "
            f"fwd {fwd_med / f * 1e3:6.2f} ms/frame ({f / fwd_med:6.0f} frames/s, best {fwd_min / f * 1e3:5.2f}) | "
            f"fwd+bwd {fb_med / f * 1e3:6.2f} ms/frame ({f / fb_med:5.0f} frames/s, best {fb_min / f * 1e3:5.2f}) | "
            f"peak {r['peak_mb']:6.0f} MB")


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--devices", default="cpu,cuda", help="comma-separated; cuda is skipped when absent")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--skip-memory", action="store_true", help="skip the 24 x 512^2 x 64 strokes case")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        return _child(args)

    devices = [d for d in args.devices.split(",") if d == "cpu" or (d.startswith("cuda") and torch.cuda.is_available())]
    print(f"machine: {_cpu_name()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}, Python {platform.python_version()}, torch {torch.__version__}, "
          f"{args.threads or torch.get_num_threads()} CPU threads")
    for d in devices:
        if d.startswith("cuda"):
            print(f"cuda: {torch.cuda.get_device_name(d)}")
    print(f"rasterizer: inkmotion.render (tile {render.DEFAULT_TILE_SIZE} px); "
          f"medians of {args.repeats} runs after a warm-up, and the best run")

    for device in devices:
        for count in (16, 32):
            r = _spawn(dict(kind="run", device=device, frames=16, count=count, size=256, segments=4,
                            per_segment=10, half_width=0.75, repeats=args.repeats), args.threads)
            print(_line(r))
        if not args.skip_memory:
            r = _spawn(dict(kind="run", device=device, frames=24, count=64, size=512, segments=7,
                            per_segment=9, half_width=1.5, repeats=min(args.repeats, 2)), args.threads)
            print(_line(r) + "   <- memory case")

    device = devices[-1]
    q = _spawn(dict(kind="quality", device=device), args.threads)
    print(f"quality ({device}, 16 strokes, 256^2, black on white) vs 8x8 supersampled reference: "
          f"MAD {q['mad']:.5f} over all pixels, {q['mad_inked']:.4f} over inked pixels, max {q['max']:.3f}; "
          f"total ink {q['ink_ours']:.1f} vs {q['ink']:.1f} px")

    if render._pydiffvg_available():
        q = _spawn(dict(kind="quality", device=device, backend="pydiffvg"), args.threads)
        print(f"pydiffvg vs the same reference: MAD {q['mad']:.5f} (inked {q['mad_inked']:.4f}); "
              f"ours is above")
        theirs = _spawn(dict(kind="run", device=device, frames=16, count=16, size=256, segments=4,
                             per_segment=10, half_width=0.75, repeats=max(1, args.repeats // 3),
                             backend="pydiffvg"), args.threads)
        ours = _spawn(dict(kind="run", device=device, frames=16, count=16, size=256, segments=4,
                           per_segment=10, half_width=0.75, repeats=args.repeats), args.threads)
        print("pydiffvg: " + _line(theirs))
        ratio = theirs["forward_backward"][0] / ours["forward_backward"][0]
        print(f"speed ratio pydiffvg / ours, fwd+bwd: {ratio:.1f}x")
    else:
        print("pydiffvg: not installed here; the comparison with it (MAD and speed ratio) runs only where it is.")


if __name__ == "__main__":
    main()
