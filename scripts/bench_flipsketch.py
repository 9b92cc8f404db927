#!/usr/bin/env python3
"""Seconds per FlipSketch clip and peak memory, against frames and seeds.

    python scripts/bench_flipsketch.py                         # CPU, tiny random model
    python scripts/bench_flipsketch.py --device cuda [--model flipsketch]   # the real prior + LoRA

A clip is the whole method at the reference settings: 25 null-prompt DDIM inversion steps, 25
sampling steps with classifier-free guidance (guidance 9), frame alignment while t >= tau1 and the
dual attention composition while t >= tau2, decoding and Otsu binarisation. Input: --sketch PNG;
by default the first of $INKMOTION_TESTDATA/raster_sketches/*.png (the shared sketches by others)
when that is set, else the project's own ink-sans.png (tests/fixtures, 380 x 368 line art).

CPU: the tiny random model of scripts/make_tiny_models.py at 256x256 (the real latent size, far
fewer channels): the pipeline's own cost, not the real model's. CUDA: the registry's `flipsketch`
(ModelScope 1.7B + the sketch LoRA, bf16) or --model. "peak MB" is the peak above what was resident
before the clip ("model MB": the loaded model); torch.cuda.max_memory_allocated on CUDA.
Aim: under 8 GB for 10 frames x 1 seed at 256x256 in fp16. Each case runs in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "scripts"))

from benchlib import PeakMemory, spawn  # noqa: E402


def default_sketch(folder: Path) -> Path:
    """The first shared raster sketch where INKMOTION_TESTDATA names them, else one of our own,
    painted into `folder`."""
    shared = os.environ.get("INKMOTION_TESTDATA")
    if shared:
        found = sorted(Path(shared).glob("raster_sketches/*.png"))
        if not found:
            raise SystemExit(f"INKMOTION_TESTDATA={shared}: no raster_sketches/*.png in it")
        return found[0]
    sys.path.insert(0, str(ROOT / "tests"))
    import fixtures

    spec = next(s for s in fixtures.RASTER_SKETCHES if s.name == "ink-sans.png")
    path = folder / spec.name
    fixtures.paint(fixtures.vector_sketch(spec.source), spec).save(path)
    return path


def run_case(model: str, device: str, frames: int, seeds: int, steps: int, align: int, sketch: str) -> dict:
    from inkmotion import models
    from inkmotion.codec.preview import read_raster
    from inkmotion.pipelines.flipsketch import FlipSketchConfig, FlipSketchPipeline

    spec = models.resolve(model)
    t2v = models.load_text_to_video(spec, device, dtype="float16" if device.startswith("cuda") else None)
    pipeline = FlipSketchPipeline.from_model(t2v)
    config = FlipSketchConfig(frames=frames, clip_frames=frames, seeds=seeds, steps=steps, inversion_steps=steps,
                              align_iterations=align)
    sketch = read_raster(sketch)
    with PeakMemory(device) as memory:
        start = time.perf_counter()
        pipeline(sketch, "a cat is walking", config)
    seconds = time.perf_counter() - start
    return dict(device=device, frames=frames, seeds=seeds, steps=steps, align=align, seconds=seconds,
                peak_mb=memory.peak_mb, model_mb=memory.base_mb, dtype=str(t2v.dtype).removeprefix("torch."))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, or cpu,cuda")
    parser.add_argument("--model", default=None, help="CUDA model: registry name or folder (default flipsketch)")
    parser.add_argument("--frames", type=int, nargs="*", default=None)
    parser.add_argument("--seeds", type=int, nargs="*", default=None)
    parser.add_argument("--steps", type=int, default=25, help="inversion and sampling steps (reference: 25 each)")
    parser.add_argument("--align", type=int, default=10, help="frame-alignment iterations per early step (0: off)")
    parser.add_argument("--sketch", type=Path, default=None,
                        help="raster sketch (default: the first shared one, else tests/fixtures' ink-sans.png)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(**json.loads(args.case))))
        return 0

    import torch

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}")
    header = f"{'device':>7} {'dtype':>8} {'frames':>6} {'seeds':>5} {'align':>5} {'s/clip':>8} {'peak MB':>9} {'model MB':>9}"

    def line(r):
        return (f"{r['device']:>7} {r['dtype']:>8} {r['frames']:>6} {r['seeds']:>5} {r['align']:>5} {r['seconds']:>8.1f} "
                f"{r['peak_mb']:>9.0f} {r['model_mb']:>9.0f}")

    devices = args.device.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        sketch = str(args.sketch or default_sketch(Path(tmp)))
        print(f"sketch: {sketch}")
        if "cpu" in devices:
            sys.path.insert(0, str(ROOT / "scripts"))
            from make_tiny_models import make_tiny_models

            tiny = str(make_tiny_models(Path(tmp) / "tiny"))
            print(f"\nCPU, tiny random model, 256x256, {args.steps} + {args.steps} steps")
            print(header)
            for frames in args.frames or [4, 10]:
                for seeds in args.seeds or [1, 2]:
                    case = dict(model=tiny, device="cpu", frames=frames, seeds=seeds, steps=args.steps, align=args.align,
                                sketch=sketch)
                    print(line(spawn(__file__, case)), flush=True)
        if "cuda" in devices:
            if not torch.cuda.is_available():
                print("\nCUDA: no device here; skipped")
            else:
                model = args.model or "flipsketch"
                print(f"\nCUDA {torch.cuda.get_device_name()}, {model}, fp16 (aim: < 8 GB for 10 frames x 1 seed)")
                print(header)
                for frames in args.frames or [10]:
                    for seeds in args.seeds or [1, 4]:
                        case = dict(model=model, device="cuda", frames=frames, seeds=seeds, steps=args.steps,
                                    align=args.align, sketch=sketch)
                        print(line(spawn(__file__, case)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
