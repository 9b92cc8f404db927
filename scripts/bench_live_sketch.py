#!/usr/bin/env python3
"""Seconds per Live-Sketch SDS step, against frames and strokes; peak memory.

    python scripts/bench_live_sketch.py                       # CPU, tiny model, the grid below
    python scripts/bench_live_sketch.py --device cuda         # + the real prior at the defaults
    python scripts/bench_live_sketch.py --model DIR|NAME --device cuda --frames 24 --strokes 16

One step is what the reference does per iteration: two SDS passes (local path, guidance 30;
global path, guidance 40), each rendering every frame, encoding it with the VAE, running the
UNet twice (classifier-free guidance) and back-propagating through the VAE and the rasterizer
into the displacement field. Sketches: --sketches A.svg B.svg (8 strokes: the first 8 of A; 16:
A; 32: A and B side by side); by default cat2_16 and eagle_16 of $INKMOTION_TESTDATA/vector_sketches
(the shared sketches by others) when that is set, else the project's own fish-1.svg and bird-1.svg
(tests/fixtures: 16 single cubics each, as Live-Sketch draws).

CPU: the tiny random model of scripts/make_tiny_models.py (same layout and latent size as
ModelScope's, far fewer channels), so the figures show the pipeline's own cost (rasterizer,
field, VAE/UNet plumbing), not the real prior's. CUDA: the model given (default the registry's
`modelscope-1.7b`, fp16), time per step and torch.cuda.max_memory_allocated. Each case runs in a
fresh process so its peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "scripts"))

from benchlib import PeakMemory, spawn  # noqa: E402


def default_sketches(folder: Path) -> list[Path]:
    """Two shared sketches where INKMOTION_TESTDATA names them, else two of our own, written into
    `folder`."""
    shared = os.environ.get("INKMOTION_TESTDATA")
    if shared:
        paths = [Path(shared) / "vector_sketches" / name for name in ("cat2_16_scaled1.svg", "eagle_16_scaled1.svg")]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise SystemExit(f"INKMOTION_TESTDATA={shared}: no {', '.join(missing)}")
        return paths
    sys.path.insert(0, str(ROOT / "tests"))
    import fixtures

    paths = []
    for name in ("fish-1.svg", "bird-1.svg"):
        paths.append(folder / name)
        paths[-1].write_text(fixtures.vector_sketch(name).svg, encoding="utf-8")
    return paths


def sketch_with(strokes: int, sketches: list[str]):
    from inkmotion.codec.svg import read_svg

    cat = read_svg(sketches[0])
    if strokes <= len(cat.strokes):
        return cat.copy(strokes=cat.strokes[:strokes])
    eagle = read_svg(sketches[1])
    # Two sketches side by side on a canvas twice as wide, each at half scale.
    def shrink(stroke, dx):
        return stroke.copy(points=stroke.points * 0.5 + [dx, cat.height * 0.25], bezier=None)
    both = [shrink(s, 0) for s in cat.strokes] + [shrink(s, cat.width * 0.5) for s in eagle.strokes]
    return cat.copy(strokes=(both * 2)[:strokes])


def run_case(model: str, device: str, frames: int, strokes: int, steps: int, vae_chunk: int | None,
             sketches: list[str]) -> dict:
    import torch

    from inkmotion import models
    from inkmotion.pipelines.live_sketch import LiveSketchConfig, LiveSketchPipeline

    t2v = models.load_text_to_video(models.resolve(model), device)
    pipeline = LiveSketchPipeline.from_model(t2v)
    sketch = sketch_with(strokes, sketches)
    config = LiveSketchConfig(frames=frames, steps=steps, vae_chunk=vae_chunk, seed=0)
    stamps: list[float] = []

    def on_progress(progress):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    with PeakMemory(device) as memory:
        start = time.perf_counter()
        pipeline(sketch, "a cat stretches and yawns", config, on_progress)
    per_step = [b - a for a, b in zip([start] + stamps, stamps)]
    return dict(device=device, model=model, frames=frames, strokes=strokes, steps=steps,
                first_step_s=per_step[0], step_s=statistics.median(per_step[1:]) if steps > 1 else per_step[0],
                peak_mb=memory.peak_mb, model_mb=memory.base_mb, dtype=str(t2v.dtype).removeprefix("torch."))


def _line(r: dict) -> str:
    return (f"{r['device']:>7} {r['dtype']:>8} {r['frames']:>6} {r['strokes']:>7} {r['step_s']:>9.3f} "
            f"{r['step_s'] / r['frames'] * 1000:>12.1f} {r['peak_mb']:>9.0f} {r['model_mb']:>9.0f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or both (cpu,cuda)")
    parser.add_argument("--model", default=None, help="CUDA model: registry name or folder (default modelscope-1.7b)")
    parser.add_argument("--frames", type=int, nargs="*", default=None)
    parser.add_argument("--strokes", type=int, nargs="*", default=None)
    parser.add_argument("--steps", type=int, default=4, help="steps per case; the first is reported apart (warm-up)")
    parser.add_argument("--vae-chunk", type=int, default=None, help="frames per VAE pass (default: 4 on CUDA, all on CPU)")
    parser.add_argument("--sketches", type=Path, nargs=2, default=None, metavar="SVG",
                        help="two vector sketches (default: two shared ones, else tests/fixtures' fish-1 and bird-1)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(**json.loads(args.case))))
        return 0

    import torch

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}, torch {torch.__version__}")
    header = f"{'device':>7} {'dtype':>8} {'frames':>6} {'strokes':>7} {'s/step':>9} {'ms/frame':>12} {'peak MB':>9} {'model MB':>9}"
    results = []
    devices = args.device.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        sketches = [str(p) for p in (args.sketches or default_sketches(Path(tmp)))]
        print(f"sketches: {', '.join(sketches)}")
        if "cpu" in devices:
            sys.path.insert(0, str(ROOT / "scripts"))
            from make_tiny_models import make_tiny_models

            tiny = str(make_tiny_models(Path(tmp) / "tiny"))
            print("\nCPU, tiny random model (pipeline cost without the real prior's FLOPs); 256 x 256")
            print(header)
            for frames in args.frames or [8, 16, 24]:
                for strokes in args.strokes or [8, 16, 32]:
                    r = spawn(__file__, dict(model=tiny, device="cpu", frames=frames, strokes=strokes, steps=args.steps,
                                             vae_chunk=args.vae_chunk, sketches=sketches))
                    results.append(r)
                    print(_line(r), flush=True)
        if "cuda" in devices:
            if not torch.cuda.is_available():
                print("\nCUDA: no device here; skipped")
            else:
                model = args.model or "modelscope-1.7b"
                print(f"\nCUDA {torch.cuda.get_device_name()}, {model}; 256 x 256 (aim: under 12 GB at the defaults)")
                print(header)
                for frames in args.frames or [24]:
                    for strokes in args.strokes or [16]:
                        r = spawn(__file__, dict(model=model, device="cuda", frames=frames, strokes=strokes,
                                                 steps=args.steps, vae_chunk=args.vae_chunk, sketches=sketches))
                        results.append(r)
                        print(_line(r), flush=True)
    first = [r["first_step_s"] for r in results]
    if first:
        print(f"\nfirst step (warm-up, not in s/step): {min(first):.2f}-{max(first):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
