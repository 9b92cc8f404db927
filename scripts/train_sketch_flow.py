#!/usr/bin/env python3
"""Train sketch-flow (inkmotion.pipelines.sketch_flow) on the CPU, on procedural line-art clips.

    python scripts/train_sketch_flow.py OUT [--steps 3000] [--minutes 40] [--batch 4] [--frames 7]
                                        [--size 128] [--channels 16] [--lr 1e-3] [--seed 0]

Data: scripts/sketch_flow_data.py, the training seeds only (never ../shared/testdata): every
motion kind and line style in turn, clips of `--frames` frames whose first and last are the keys.
Scored every `--eval-every` steps on held-out clips (the data's HELD_OUT_SEEDS): the pixel loss of the
frames between the keys, for the model and for the cross-dissolve it starts as. The best model so
far is in OUT (safetensors + config.json with this command, the seed and the data recipe); the run
stops at `--steps` or after `--minutes`, whichever comes first.

Importable: `train(out, ...) -> dict` (the held-out scores before and after).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "scripts"))

import sketch_flow_data as data  # noqa: E402

from inkmotion.pipelines import sketch_flow as sf  # noqa: E402


def batches(batch: int, frames: int, size: int, seed: int):
    """Endless training batches [B, T, H, W], every kind and style in turn, from training seeds."""
    clips = data.dataset(10**9, seed=seed, frames=frames, size=size)
    while True:
        yield torch.from_numpy(np.stack([next(clips).frames for _ in range(batch)]))


def held_out(count: int, frames: int, size: int) -> torch.Tensor:
    start = data.HELD_OUT_SEEDS.start
    return torch.from_numpy(np.stack([c.frames for c in data.dataset(count, seed=start, frames=frames, size=size)]))


@torch.no_grad()
def score(model: sf.SketchFlow, clips: torch.Tensor) -> dict:
    """The frames between the keys (z from seed 0), for the model and the cross-dissolve: the mean
    L1, and the training's pixel loss (L1 at the sharp and the blurred scales, which the best model
    is chosen by: plain L1 alone rewards erasing a moving line)."""
    model.eval()
    frames = clips.shape[1]
    times = [i / (frames - 1) for i in range(1, frames - 1)]
    sums = dict.fromkeys(("model_l1", "cross_dissolve_l1", "model_pix", "cross_dissolve_pix"), 0.0)
    blurs = model.config.pix_blurs
    for clip in clips:
        start, end = clip[None, :1], clip[None, -1:]
        made = sf.inbetween(model, start, end, times, seed=0)
        for i, (frame, t) in enumerate(zip(made, times), start=1):
            truth = clip[None, i:i + 1]
            dissolve = (1 - t) * start + t * end
            for name, image in (("model", frame), ("cross_dissolve", dissolve)):
                sums[f"{name}_l1"] += float((image - truth).abs().mean())
                sums[f"{name}_pix"] += float(sf.pixel_loss(image, truth, blurs))
    n = len(clips) * len(times)
    model.train()
    return {k: v / n for k, v in sums.items()}


def train(out: Path, *, steps: int = 3000, minutes: float = 40.0, batch: int = 4, frames: int = 7, size: int = 128,
          channels: int = 16, lr: float = 1e-3, seed: int = 0, eval_every: int = 200, eval_clips: int = 40,
          command: str = "", base: str = "flow", log=print) -> dict:
    torch.manual_seed(seed)
    config = sf.SketchFlowConfig(size=size, channels=channels, base=base)
    model = sf.SketchFlow(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s / steps, 1))))
    generator = torch.Generator().manual_seed(seed)
    validation = held_out(eval_clips, frames, size)
    first = best = score(model, validation)
    log(f"held-out pixel loss: model {first['model_pix']:.5f} (a new model is the cross-dissolve: "
        f"{first['cross_dissolve_pix']:.5f}); L1 {first['model_l1']:.5f}")
    recipe = {"command": command, "seed": seed, "data": f"scripts/sketch_flow_data.py dataset(seed={seed}), kinds "
              f"{list(data.KINDS)}, styles {list(data.STYLES)}, {frames} frames at {size} px; held out: "
              f"{eval_clips} clips from seed {data.HELD_OUT_SEEDS.start}", "steps": 0, "held_out": first}
    sf.save(model, out, {"recipe": recipe})
    began = time.perf_counter()
    source = batches(batch, frames, size, seed)
    for step in range(1, steps + 1):
        loss, parts = sf.training_loss(model, next(source), generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        elapsed = time.perf_counter() - began
        if step % 20 == 0:
            log(f"step {step}/{steps}  loss {float(loss.detach()):.5f}  " + "  ".join(f"{k} {v:.4f}" for k, v in parts.items())
                + f"  {elapsed / step:.2f} s/step")
        last = step == steps or elapsed > 60 * minutes
        if step % eval_every == 0 or last:
            now = score(model, validation)
            log(f"step {step}: held-out pixel loss model {now['model_pix']:.5f} vs cross-dissolve "
                f"{now['cross_dissolve_pix']:.5f}; L1 {now['model_l1']:.5f} vs {now['cross_dissolve_l1']:.5f}")
            if now["model_pix"] < best["model_pix"]:
                best = now
                sf.save(model, out, {"recipe": {**recipe, "steps": step, "held_out": now}})
        if last:
            break
    return {"before": first, "best": best}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--minutes", type=float, default=40.0)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--frames", type=int, default=7)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-every", type=int, default=200)
    parser.add_argument("--eval-clips", type=int, default=40)
    parser.add_argument("--base", choices=("flow", "global", "dissolve"), default="flow",
                        help="what the learned flows add to: the keys' affine motion and dense residual flow, "
                             "the affine motion alone, or nothing")
    args = parser.parse_args(argv)
    import cv2

    cv2.setNumThreads(1)  # ECC and Farneback per clip: OpenCV's own threads only fight torch's for the cores
    command = "python scripts/train_sketch_flow.py " + " ".join(sys.argv[1:] if argv is None else argv)
    result = train(args.out, steps=args.steps, minutes=args.minutes, batch=args.batch, frames=args.frames, size=args.size,
                   channels=args.channels, lr=args.lr, seed=args.seed, eval_every=args.eval_every,
                   eval_clips=args.eval_clips, command=command, base=args.base, log=lambda m: print(m, flush=True))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
