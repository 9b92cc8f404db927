#!/usr/bin/env python3
"""Train the motion-strokes model (inkmotion.pipelines.motion_strokes) on procedural clips, on the CPU.

    python3 scripts/train_motion_strokes.py --minutes 35 --seed 0 \
        --out server/inkmotion/weights/motion-strokes --runs runs/motion-strokes

Data: scripts/motion_strokes_data.py (Hershey glyphs moving rigidly along random smooth paths, the
paper's moving-MNIST case; stick people and quadrupeds walking and running, their stride following
the spacing of the path's points, its KTH case), `--clips` training clips from `--seed`, held-out
clips from `--seed + 1000`. Never ../shared/testdata.

Objective, Eq. (8) of the paper (../shared/papers/motion-strokes-one-step.txt):
    min_{E1,E2,P,G} max_{D1,D2}  L_GAN1 + l0 L_GAN2 + l1 L_VGG + l2 L_rec1 + l3 L_rec2
with l0 = 1, l1 = 10, l2 = l3 = 20, Adam 2e-4, beta1 = 0.5 for both sides, alternating steps.
- L_rec1, Eq. (3): |I^_{t+1} - I_{t+1}|_2 per frame. |.|_2 is taken as the root mean square over
  the frame's pixels (the L2 norm / sqrt(H W), so the weights mean the same at 64 and 128 px),
  optionally weighted by 1 + INK_WEIGHT I. A model whose G draws from scratch needs that weight
  (thin ink is a few percent of the pixels: a blank frame is a strong minimum); ours draws the
  change from the carried frame and starts as the rigid baseline, so the plain norm (weight 0,
  what PSNR measures) trains it and keeps the paper clean.
- L_rec2, Eq. (4): |I^_t - G(E1(I_t), C_t)|_2, plus (ours) the plain autoencoder term
  |G(E1(I_t), C_t) - I_t|_2: without it Eq. (4) alone lets E1 and G agree on a blank frame. C_t
  is the first frame carried rigidly to k_t, which G sees besides the state (the model's
  docstring), so the state has to hold what differs from the carried frame.
- L_VGG, Eq. (7): |Phi(I^) - Phi(I)|_2 with Phi a fixed, randomly initialised conv net (no VGG
  weights can be had offline here; random conv features still compare local structure).
- L_GAN1, Eq. (5): D1 on (frame, S_t), the frame conditioned on its step; L_GAN2, Eq. (6): D2 on
  consecutive pairs (I_t, I_{t+1}); the non-saturating form for the generator side. Ours: the GAN
  terms start after `--gan-after` of the run (the reconstruction terms first shape the frames).
Single-step truncated back-propagation (Section III-C): every step t takes the previous *predicted*
state h^_t, detached, as input, so P is trained as a feed-forward net on its own outputs (teacher
forcing fails, Fig. 3).

Every `--eval-every` seconds the held-out set is scored (the MSE of the model, of the
rigid baseline and of a blank frame), a checkpoint goes to --runs, and the best so far to --out.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

import motion_strokes_data as data  # noqa: E402

from inkmotion.pipelines import motion_strokes as ms  # noqa: E402

LAMBDA = {"gan2": 1.0, "vgg": 10.0, "rec1": 20.0, "rec2": 20.0}  # l0 .. l3 of Eq. (8)
INK_WEIGHT = 0.0  # extra weight on the true ink in L_rec1 and L_rec2 (see the docstring)


def rms(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """The mean over frames of each frame's (weighted) root mean square difference: |a - b|_2."""
    square = (a - b) ** 2 if weight is None else weight * (a - b) ** 2
    return (square.flatten(1).mean(dim=1) + 1e-8).sqrt().mean()


def log_mse(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """The mean over frames of log10 of each frame's (weighted) mean square difference: -PSNR / 10.
    The same minimum per frame as |a - b|_2, but every frame counts alike however small its error
    (with the plain norm a frame the rigid carry gets nearly right weighs next to nothing)."""
    square = (a - b) ** 2 if weight is None else weight * (a - b) ** 2
    return torch.log10(square.flatten(1).mean(dim=1) + 1e-6).mean()


DISTANCES = {"rms": rms, "log-mse": log_mse}


class Phi(torch.nn.Module):
    """A fixed random conv net standing in for VGG in Eq. (7): three conv + ReLU stages."""

    def __init__(self, seed: int = 1234):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        layers, width = [], 1
        for out in (16, 32, 64):
            conv = torch.nn.Conv2d(width, out, 3, stride=2, padding=1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * math.sqrt(2 / (9 * width)))
                conv.bias.zero_()
            layers += [conv, torch.nn.ReLU()]
            width = out
        self.net = torch.nn.Sequential(*layers).requires_grad_(False)

    def forward(self, x):
        return self.net(x)


def gan_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, 1.0 if real else 0.0))


def batch_of(clips: np.ndarray, keypoints: np.ndarray, index: np.ndarray, rng: np.random.Generator):
    """Frames [B, T, 1, H, W] in [0, 1] and keypoints [B, T, 2], half of them mirrored left-right."""
    frames = torch.from_numpy(clips[index].astype(np.float32) / 255.0)[:, :, None]
    keys = torch.from_numpy(keypoints[index].astype(np.float32))
    flip = torch.from_numpy(rng.random(len(index)) < 0.5)
    size = frames.shape[-1]
    frames[flip] = frames[flip].flip(-1)
    keys[flip, :, 0] = size - keys[flip, :, 0]
    return frames, keys


def train_step(model, critics, phi, optimisers, frames, keys, use_gan: bool, distance=rms) -> dict[str, float]:
    """One alternating step: the critics on real vs predicted, then E1, E2, P, G on Eq. (8), the
    pixel terms L_rec1 and L_rec2 measured by `distance` (`rms`: |.|_2; or `log_mse`)."""
    d1, d2 = critics
    opt_g, opt_d = optimisers
    first, truth = frames[:, 0], frames[:, 1:]
    steps = truth.shape[1]
    _, step_images = ms.stroke_images(keys, model.config.size)  # S_t [B, T-1, 1, H, W]
    x = model.steps(keys)
    h0 = model.image_encoder(first)
    carried = ms.rigid_shift(first, keys)[:, 1:]  # C_{t+1}: the first frame carried to k_{t+1}
    h, predicted = h0, []
    for t in range(steps):  # single-step truncated BPTT: the predicted state, detached, fed back
        h = model.predictor(h0, h.detach() if t else h, x[:, t])
        predicted.append(model.generator(h, carried[:, t]))
    predicted = torch.stack(predicted, dim=1)
    flat_pred, flat_truth, flat_steps = predicted.flatten(0, 1), truth.flatten(0, 1), step_images.flatten(0, 1)
    before_truth = frames[:, :-1].flatten(0, 1)
    before_pred = torch.cat([first[:, None], predicted[:, :-1]], dim=1).flatten(0, 1)

    terms = {}
    if use_gan:
        opt_d.zero_grad(set_to_none=True)
        fake = flat_pred.detach()
        loss_d = (gan_loss(d1(flat_truth, flat_steps), True) + gan_loss(d1(fake, flat_steps), False)
                  + gan_loss(d2(before_truth, flat_truth), True) + gan_loss(d2(before_pred.detach(), fake), False))
        loss_d.backward()
        opt_d.step()
        terms["d"] = float(loss_d.detach())

    opt_g.zero_grad(set_to_none=True)
    weight = 1.0 + INK_WEIGHT * flat_truth if INK_WEIGHT else None
    flat_carried = carried.flatten(0, 1)
    autoencoded = model.generator(model.image_encoder(flat_truth), flat_carried)
    terms["rec1"] = distance(flat_pred, flat_truth, weight)  # Eq. (3)
    terms["rec2"] = distance(flat_pred, autoencoded, weight) + distance(autoencoded, flat_truth, weight)  # Eq. (4) + ours
    terms["vgg"] = rms(phi(flat_pred), phi(flat_truth))  # Eq. (7)
    total = LAMBDA["vgg"] * terms["vgg"] + LAMBDA["rec1"] * terms["rec1"] + LAMBDA["rec2"] * terms["rec2"]
    if use_gan:
        terms["gan1"] = gan_loss(d1(flat_pred, flat_steps), True)
        terms["gan2"] = gan_loss(d2(before_pred, flat_pred), True)
        total = total + terms["gan1"] + LAMBDA["gan2"] * terms["gan2"]
    total.backward()
    opt_g.step()
    return {k: float(v.detach()) if torch.is_tensor(v) else v for k, v in terms.items()} | {"total": float(total.detach())}


@torch.no_grad()
def evaluate(model, clips: np.ndarray, keypoints: np.ndarray, kinds=None, batch: int = 64) -> dict[str, float]:
    """Held-out MSE over the predicted frames (what PSNR measures): the model, the rigid baseline, a
    blank frame; with `kinds`, also the model and the rigid baseline per kind ("model/stick", ...)."""
    model.eval()
    errors = {"model": [], "rigid": [], "blank": []}
    psnrs = {"model": [], "rigid": []}
    for start in range(0, len(clips), batch):
        frames = torch.from_numpy(clips[start:start + batch].astype(np.float32) / 255.0)[:, :, None]
        keys = torch.from_numpy(keypoints[start:start + batch].astype(np.float32))
        truth = frames[:, 1:]
        outputs = {"model": model.rollout(frames[:, 0], keys)[:, 1:],
                   "rigid": ms.rigid_shift(frames[:, 0], keys)[:, 1:],
                   "blank": torch.zeros_like(truth)}
        for name, out in outputs.items():
            square = ((out - truth) ** 2).mean(dim=(2, 3, 4))  # [B, T-1]
            errors[name].append(square.mean(dim=1).numpy())
            if name in psnrs:  # the mean over frames of each frame's PSNR (dB, at most 60)
                psnrs[name].append((-10 * torch.log10(square.clamp_min(1e-6))).mean(dim=1).numpy())
    model.train()
    per_clip = {k: np.concatenate(v) for k, v in errors.items()}
    per_psnr = {k: np.concatenate(v) for k, v in psnrs.items()}
    scores = {k: float(v.mean()) for k, v in per_clip.items()} | {f"psnr_{k}": float(v.mean()) for k, v in per_psnr.items()}
    if kinds is not None:
        kinds = np.asarray(kinds)
        for kind in sorted(set(kinds.tolist())):
            for name in ("model", "rigid"):
                scores[f"{name}/{kind}"] = float(per_clip[name][kinds == kind].mean())
                scores[f"psnr_{name}/{kind}"] = float(per_psnr[name][kinds == kind].mean())
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the weights folder to write (the best checkpoint)")
    parser.add_argument("--runs", type=Path, default=Path("runs/motion-strokes"), help="checkpoints and the log")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clips", type=int, default=6000, help="training clips")
    parser.add_argument("--held-out", type=int, default=256, help="held-out clips (seed + 1000)")
    parser.add_argument("--size", type=int, default=64, choices=ms.SIZES)
    parser.add_argument("--frames", type=int, default=8, help="frames per training clip")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--minutes", type=float, default=35.0, help="wall-clock budget")
    parser.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: the budget only)")
    parser.add_argument("--gan-after", type=float, default=0.4, help="the GAN terms start after this share of the run")
    parser.add_argument("--eval-every", type=float, default=180.0, help="seconds between held-out scores")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--channels", type=int, default=ms.MotionStrokesConfig.channels)
    parser.add_argument("--resume", type=Path, help="start from this weights folder")
    parser.add_argument("--distance", choices=list(DISTANCES), default="rms",
                        help="how L_rec1 and L_rec2 measure a frame's error (default rms: |.|_2)")
    parser.add_argument("--select", choices=["mse", "psnr"], default="mse",
                        help="the best checkpoint by the held-out MSE, or by the mean per-frame PSNR")
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    began = time.perf_counter()
    train = data.make_dataset(args.seed, args.clips, args.size, args.frames)
    held = data.make_dataset(args.seed + 1000, args.held_out, args.size, args.frames)
    print(f"data: {args.clips} + {args.held_out} clips of {args.frames} frames at {args.size} px in "
          f"{time.perf_counter() - began:.0f} s", flush=True)

    config = ms.MotionStrokesConfig(size=args.size, channels=args.channels)
    model = ms.load(args.resume) if args.resume else ms.build(config)
    model.requires_grad_(True).train()
    critics = ms.build_critics(model.config)
    phi = Phi()
    adam = {"lr": 2e-4, "betas": (0.5, 0.999)}
    optimisers = (torch.optim.Adam(model.parameters(), **adam),
                  torch.optim.Adam([p for c in critics for p in c.parameters()], **adam))
    budget = args.minutes * 60
    args.runs.mkdir(parents=True, exist_ok=True)
    log = (args.runs / "log.jsonl").open("a", encoding="utf-8")
    recipe = {"command": "python3 scripts/train_motion_strokes.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
              "seed": args.seed, "data": {"generator": "scripts/motion_strokes_data.py make_dataset",
                                          "train": {"seed": args.seed, "clips": args.clips},
                                          "held_out": {"seed": args.seed + 1000, "clips": args.held_out},
                                          "size": args.size, "frames": args.frames, "kinds": list(data.KINDS),
                                          "augment": "left-right mirror, p = 0.5"},
              "lambda": LAMBDA, "ink_weight": INK_WEIGHT, "distance": args.distance, "select": args.select, "adam": {"lr": 2e-4, "beta1": 0.5}, "batch": args.batch}

    if args.resume:  # the stage this one continues, as its own recipe said
        earlier = json.loads((args.resume / ms.CONFIG_FILE).read_text(encoding="utf-8")).get("training")
        recipe["resumed_from"] = {"folder": str(args.resume), "training": earlier}

    start = time.perf_counter()
    step, last_eval, best, running = 0, start, math.inf, {}
    while True:
        elapsed = time.perf_counter() - start
        done = elapsed >= budget or (args.steps and step >= args.steps)
        if done or time.perf_counter() - last_eval >= args.eval_every:
            scores = evaluate(model, held["clips"], held["keypoints"], held["kinds"])
            entry = {"step": step, "minutes": round(elapsed / 60, 2), **{f"held_{k}": v for k, v in scores.items()},
                     **{k: v / max(running.get("n", 1), 1) for k, v in running.items() if k != "n"}}
            print(json.dumps(entry), flush=True)
            log.write(json.dumps(entry) + "\n")
            log.flush()
            running, last_eval = {}, time.perf_counter()
            ms.save(model, args.runs / "last", {**recipe, "step": step, "held_out": scores})
            score = scores["model"] if args.select == "mse" else -scores["psnr_model"]
            if score < best:
                best = score
                ms.save(model, args.out, {**recipe, "step": step, "minutes": round(elapsed / 60, 1), "held_out": scores})
        if done:
            break
        index = rng.choice(args.clips, args.batch, replace=False)
        frames, keys = batch_of(train["clips"], train["keypoints"], index, rng)
        use_gan = elapsed >= args.gan_after * budget if not args.steps else step >= args.gan_after * args.steps
        terms = train_step(model, critics, phi, optimisers, frames, keys, use_gan, DISTANCES[args.distance])
        for k, v in terms.items():
            running[k] = running.get(k, 0.0) + v
        running["n"] = running.get("n", 0) + 1
        step += 1
    print(f"best held-out {args.select} {abs(best):.6f}; weights in {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
