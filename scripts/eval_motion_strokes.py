#!/usr/bin/env python3
"""Measure the motion-strokes model against the rigid baseline (the subject pasted along its path).

    python3 scripts/eval_motion_strokes.py [--model motion-strokes|DIR] [--testdata ../shared/testdata] \
        [--json out.json] [--gif-dir docs/]

Two sets:
- held-out clips of scripts/motion_strokes_data.py (seed 5000, which no training run uses: training
  takes seed 0 and scores itself on seed 1000), per kind: `glyph` moves rigidly (the paper's
  moving-MNIST case: there the rigid baseline *is* the truth up to resampling), `stick` and
  `quadruped` walk and run (its KTH case: the limbs move, which pasting cannot do). Scored in the
  model's 64 px window against the true frames.
- the shared raster sketches (drawn by others; INKMOTION_TESTDATA or --testdata, raster_sketches/*.png)
  scaled to at most 512 px, moved along a random smooth path through the whole pipeline (`motion_strokes.animate`: the canvas
  resampled into the model's window and back). There is no true motion for a drawing, so the truth
  is the sketch carried rigidly at the canvas's full resolution. The baseline runs the same pipeline
  with a "model" that draws no change (`Rigid`): `animate` carries the subject at full resolution
  and adds the model's change, so the baseline is the truth there (PSNR at its 60 dB cap) and the
  model can only lose; its figures say how much it disturbs a drawing that has no limbs to move.

Figures per frame predicted (frame 0, the input, is left out), averaged: PSNR (dB) and SSIM of the
ink (1 = ink, 0 = paper; SSIM with an 11-px Gaussian window, sigma 1.5), and the distance in px from
the frame's ink centroid to the path (the polyline through the keypoints; at 64 px for the clips, on
the canvas for the sketches), for the truth too where there is one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

import motion_strokes_data as data  # noqa: E402

from inkmotion import models  # noqa: E402
from inkmotion.codec import video  # noqa: E402
from inkmotion.pipelines import motion_strokes as ms  # noqa: E402

HELD_OUT_SEED = 5000
MAX_PSNR = 60.0  # dB, for a frame that matches exactly
SKETCH_SIDE = 512  # px: the shared sketches are scaled down to this first
MOVED_PX = 0.5  # a frame whose keypoint is this far from k_0 or more is a moving one


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per image [N, 1, H, W] in [0, 1]: 10 log10(1 / MSE), at most MAX_PSNR."""
    mse = ((a - b) ** 2).flatten(1).mean(dim=1)
    return (10 * torch.log10(1.0 / mse.clamp_min(10 ** (-MAX_PSNR / 10)))).clamp(max=MAX_PSNR)


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per image [N, 1, H, W] in [0, 1]: Wang et al.'s SSIM, 11-px Gaussian window (sigma 1.5)."""
    x = torch.arange(11, dtype=a.dtype) - 5
    g = torch.exp(-x**2 / (2 * 1.5**2))
    g = g / g.sum()
    window = (g[:, None] * g[None, :])[None, None]
    blur = lambda t: F.conv2d(t, window, padding=5)  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    score = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return score.flatten(1).mean(dim=1)


def distance_to_path(points: np.ndarray, path: np.ndarray) -> np.ndarray:
    """The distance from each point [N, 2] to the polyline `path` [M, 2]."""
    a, b = path[:-1], path[1:]
    ab = b - a
    span = np.maximum((ab**2).sum(axis=1), 1e-12)
    out = []
    for p in points:
        w = np.clip(((p - a) * ab).sum(axis=1) / span, 0.0, 1.0)
        out.append(np.linalg.norm(p - (a + w[:, None] * ab), axis=1).min())
    return np.array(out)


def centroids(ink: torch.Tensor) -> np.ndarray:
    """The ink-weighted centre (x, y) px of each image [N, 1, H, W] (pixel centres at i + 0.5)."""
    height, width = ink.shape[-2:]
    weights = ink[:, 0].double()
    total = weights.sum(dim=(1, 2)).clamp_min(1e-9)
    ys = torch.arange(height, dtype=torch.float64) + 0.5
    xs = torch.arange(width, dtype=torch.float64) + 0.5
    cx = (weights.sum(dim=1) * xs).sum(dim=1) / total
    cy = (weights.sum(dim=2) * ys).sum(dim=1) / total
    return torch.stack([cx, cy], dim=1).numpy()


def figures(out: torch.Tensor, truth: torch.Tensor | None, paths: list[np.ndarray],
            moving: torch.Tensor | None = None) -> dict[str, float]:
    """out/truth [B, T, 1, H, W] (the predicted frames only) -> mean PSNR, MSE, SSIM, centroid
    distance; with `moving` [B, T] (the frames whose keypoint has left k_0), the PSNR over those."""
    flat = out.flatten(0, 1).float()
    frames = out.shape[1]
    where = centroids(flat).reshape(out.shape[0], frames, 2)
    result = {"path_px": float(np.mean([distance_to_path(w, p).mean() for w, p in zip(where, paths)]))}
    if truth is not None:
        flat_truth = truth.flatten(0, 1).float()
        per_frame = psnr(flat, flat_truth)
        result["psnr"] = float(per_frame.mean())
        result["psnr_median"] = float(per_frame.median())
        result["mse"] = float(((flat - flat_truth) ** 2).mean())
        result["ssim"] = float(ssim(flat, flat_truth).mean())
        if moving is not None:
            keep = moving.flatten()
            result["psnr_moving"] = float(per_frame[keep].mean())
            result["moving_share"] = float(keep.float().mean())
    return result


class Rigid(torch.nn.Module):
    """The rigid baseline as a model `motion_strokes.animate` can run: the first frame pasted at
    every keypoint, no change drawn."""

    def __init__(self, size: int):
        super().__init__()
        self.config = ms.MotionStrokesConfig(size=size)
        self.anchor = torch.nn.Parameter(torch.zeros(()), requires_grad=False)  # device and dtype

    def rollout(self, first, keypoints, on_step=None):
        return ms.rigid_shift(first, keypoints)


@torch.no_grad()
def held_out(model, count: int, frames: int) -> tuple[dict, dict]:
    """Per kind: the model's, the baseline's (and the truth's path distance) figures; and one clip
    of each kind (truth | rigid | model) for the GIF."""
    size = model.config.size
    table, samples = {}, {}
    for kind in data.KINDS:
        clips = data.make_dataset(HELD_OUT_SEED, count, size, frames, kinds=(kind,))
        video = torch.from_numpy(clips["clips"].astype(np.float32) / 255.0)[:, :, None]
        keys = torch.from_numpy(clips["keypoints"].astype(np.float32))
        paths = [k.astype(np.float64) for k in clips["keypoints"]]
        outputs = {"model": model.rollout(video[:, 0], keys), "rigid": ms.rigid_shift(video[:, 0], keys)}
        truth = video[:, 1:]
        moving = (keys[:, 1:] - keys[:, :1]).norm(dim=-1) > MOVED_PX  # a clip can stand still: then pasting is exact
        table[kind] = {name: figures(out[:, 1:], truth, paths, moving) for name, out in outputs.items()}
        table[kind]["truth"] = {"path_px": figures(truth, None, paths)["path_px"]}
        travelled = (keys[:16, -1] - keys[:16, 0]).norm(dim=-1)  # the GIF: the clip going furthest of the first 16
        pick = int(travelled.argmax())
        samples[kind] = [video[pick], outputs["rigid"][pick], outputs["model"][pick]]
    return table, samples


def smooth_path(rng: np.random.Generator, start: np.ndarray, width: int, height: int, points: int = 64) -> np.ndarray:
    """A cubic Bezier from `start` to a point about half the canvas away, inside the canvas."""
    span = 0.5 * min(width, height)
    angle = rng.uniform(0, 2 * np.pi)
    end = np.clip(start + span * np.array([np.cos(angle), np.sin(angle)]), 0.1 * width, 0.9 * width)
    end[1] = np.clip(end[1], 0.1 * height, 0.9 * height)
    bend = rng.normal(0, 0.25 * span, size=(2, 2))
    controls = np.stack([start, start + (end - start) / 3 + bend[0], start + 2 * (end - start) / 3 + bend[1], end])
    t = np.linspace(0, 1, points)[:, None]
    return ((1 - t) ** 3 * controls[0] + 3 * (1 - t) ** 2 * t * controls[1] + 3 * (1 - t) * t**2 * controls[2]
            + t**3 * controls[3])


def carried(ink: np.ndarray, keys: np.ndarray) -> torch.Tensor:
    """The ink [H, W] moved rigidly to every keypoint at full resolution, [T, 1, H, W]."""
    first = torch.from_numpy(ink.astype(np.float32))[None, None]
    return ms.rigid_shift(first, torch.from_numpy(keys.astype(np.float32))[None])[0]


@torch.no_grad()
def shared_sketches(model, folder: Path, frames: int) -> tuple[dict, list]:
    from inkmotion.codec.preview import read_raster
    from inkmotion.strokes.lineart import ink_darkness

    rng = np.random.default_rng(HELD_OUT_SEED)
    rigid = Rigid(model.config.size)
    sums: dict[str, list] = {"model": [], "rigid": []}
    truth_paths, first_sample = [], []
    files = sorted(folder.glob("*.png"))
    for file in files:
        raster = video.scaled(read_raster(file).rgba, SKETCH_SIDE)  # the sketches go up to 8160 px
        ink = ink_darkness(raster)
        box = ms.ink_box(ink)
        if box is None:
            continue
        centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        path = smooth_path(rng, centre, raster.width, raster.height)
        keys = ms.subject_keypoints(path, centre, frames, "ease-in-out", "even")
        full = carried(ink, keys)  # the truth, frame 0 included
        truth = full[1:]
        ideal_path = centroids(truth)
        outs = {}
        for name, net in (("model", model), ("rigid", rigid)):
            painted = ms.animate(net, raster, path, frames)
            outs[name] = torch.stack([torch.from_numpy(ink_darkness(r).astype(np.float32))[None] for r in painted[1:]])
            # the centroid's distance to the path the ink's own centroid takes when carried exactly
            scores = figures(outs[name][None], truth[None], [ideal_path])
            sums[name].append(scores)
        truth_paths.append(file.name)
        if not first_sample:  # truth (= rigid) | model
            first_sample = [full, torch.cat([full[:1], outs["model"]])]
    table = {name: {k: float(np.mean([s[k] for s in rows])) for k in rows[0]} for name, rows in sums.items()}
    table["count"] = len(truth_paths)
    return table, first_sample


def gif(rows: list[list[torch.Tensor]], path: Path, zoom: int = 3, size: int = 0) -> None:
    """Rows of [T, 1, H, W] ink videos side by side (dark ink on white), one frame per step."""
    from PIL import Image

    frames = rows[0][0].shape[0]
    images = []
    for t in range(frames):
        row_images = []
        for row in rows:
            tiles = [(255 * (1 - v[t, 0].clamp(0, 1))).byte().numpy() for v in row]
            gap = np.full((tiles[0].shape[0], 2), 160, np.uint8)
            row_images.append(np.concatenate(sum([[tile, gap] for tile in tiles], [])[:-1], axis=1))
        sheet = np.concatenate(sum([[r, np.full((2, r.shape[1]), 160, np.uint8)] for r in row_images], [])[:-1], axis=0)
        image = Image.fromarray(sheet)
        if size:
            image = image.resize((size, round(size * sheet.shape[0] / sheet.shape[1])), Image.LANCZOS)
        else:
            image = image.resize((sheet.shape[1] * zoom, sheet.shape[0] * zoom), Image.NEAREST)
        images.append(image)
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=160, loop=0)


def markdown(held: dict, shared: dict | None) -> str:
    lines = ["| set | kind | PSNR (dB), all frames | PSNR, moving frames | median PSNR | MSE x 1000 | SSIM | "
             "ink centroid to path (px), truth's |", "|---|---|---|---|---|---|---|---|"]

    def pair(m: dict, r: dict, key: str, scale: float = 1.0, digits: int = 2) -> str:
        if key not in m:
            return "-"
        return f"{scale * m[key]:.{digits}f} / {scale * r[key]:.{digits}f}"

    def row(label: str, kind: str, m: dict, r: dict, truth: float) -> str:
        return (f"| {label} | {kind} | {pair(m, r, 'psnr')} | {pair(m, r, 'psnr_moving')} | {pair(m, r, 'psnr_median')} | "
                f"{pair(m, r, 'mse', 1000, 3)} | {pair(m, r, 'ssim', 1, 3)} | {pair(m, r, 'path_px')}, {truth:.2f} |")

    for kind, figures_ in held.items():
        lines.append(row("held-out clips, 64 px", kind, figures_["model"], figures_["rigid"], figures_["truth"]["path_px"]))
    if shared:
        lines.append(row(f"shared sketches ({shared['count']}), canvas", "rigid carry (= truth)", shared["model"],
                         shared["rigid"], 0.0))
    return "\n".join(lines) + "\n\nEach cell: model / rigid baseline."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=models.DEFAULT_FOR_TASK["path_motion"], help="a model name or folder")
    parser.add_argument("--clips", type=int, default=128, help="held-out clips per kind")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--testdata", type=Path, default=os.environ.get("INKMOTION_TESTDATA"),
                        help="the shared test data (raster_sketches/*.png); default env INKMOTION_TESTDATA")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--gif-dir", type=Path, help="write motion_strokes_held_out.gif (and the sketches' GIF) here")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    model = models.CACHE.get(models.resolve(args.model), "cpu")
    held, samples = held_out(model, args.clips, args.frames)
    shared, sample = None, None
    if args.testdata:
        shared, sample = shared_sketches(model, Path(args.testdata) / "raster_sketches", args.frames)
    print(markdown(held, shared))
    for kind, figures_ in held.items():
        m, r = figures_["model"], figures_["rigid"]
        for name, higher in (("psnr", True), ("psnr_moving", True), ("psnr_median", True), ("mse", False), ("ssim", True)):
            better = m[name] > r[name] if higher else m[name] < r[name]
            print(f"{kind}: the model {'beats' if better else 'does not beat'} the rigid baseline in {name.upper()} "
                  f"({m[name]:.4g} vs {r[name]:.4g})")
    if shared:
        better = shared["model"]["psnr"] > shared["rigid"]["psnr"]
        print(f"shared sketches: the model {'beats' if better else 'does not beat'} the rigid carry at its resolution "
              f"({shared['model']['psnr']:.2f} vs {shared['rigid']['psnr']:.2f} dB)")
    if args.json:
        args.json.write_text(json.dumps({"held_out": held, "shared": shared, "model": args.model,
                                         "held_out_seed": HELD_OUT_SEED, "frames": args.frames}, indent=2) + "\n")
    if args.gif_dir:
        gif([samples[k] for k in data.KINDS], args.gif_dir / "motion_strokes_held_out.gif")
        if sample:  # drawings by others: written for a look, not for the repository
            gif([sample], args.gif_dir / "motion_strokes_shared_sketch.gif", size=720)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
