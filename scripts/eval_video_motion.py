#!/usr/bin/env python3
"""Measure Animate from video's CPU engine (`motion-transfer`) on clips whose motion is known.

    python3 scripts/eval_video_motion.py [--clips 8] [--frames 16] [--clip CLIP] [--json out.json]

Procedural clips, made here and written to MP4 and read back as a user's clip is (H.264, 256 px):
- `shape`: a textured star under a smooth random similarity (it turns, grows or shrinks, travels);
- `figure`: an articulated figure: a body that travels and bobs, and two limbs that swing about
  their joints on the body, out of phase (a walk's legs).
The sketch is the figure's outline as in frame 0 (traced over the clip), so every sketch point
has a true position in every frame. Reported, per kind: the mean distance in px from each moved
sketch point to its true position, over the frames after the first, for
- `motion-transfer` (a similarity plus a thin-plate warp, its default stiffness),
- the global baseline: the similarity alone (stiffness inf),
- the no-motion baseline: the sketch left where it is.
With `--clip MODEL` (a CLIP hub id or folder, e.g. openai/clip-vit-base-patch32), also the paper's
CLIP measures on the frames painted as line art: appearance alignment, the mean CLIP image cosine
of each frame to the input sketch, and temporal consistency, the mean cosine of consecutive frames.
(Both are 1 for the no-motion baseline by construction: they say a method keeps the sketch and
moves smoothly, not that it moves as the clip does; the paper's third measure, X-CLIP motion
alignment, is not reproduced here.)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from inkmotion.codec import video  # noqa: E402
from inkmotion.codec.drawing import Drawing, Stroke  # noqa: E402
from inkmotion.pipelines.motion_transfer import MotionTransferConfig, transfer  # noqa: E402
from inkmotion.strokes.geometry import Similarity  # noqa: E402

SIZE = 256
KINDS = ("shape", "figure")
ENGINES = {"motion-transfer": MotionTransferConfig().stiffness, "global similarity only": float("inf")}


def star(centre, outer: float, inner: float, spikes: int = 7) -> np.ndarray:
    angles = np.arange(2 * spikes) * np.pi / spikes
    radii = np.where(np.arange(2 * spikes) % 2 == 0, outer, inner)
    return np.asarray(centre) + np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def limb(joint, length: float, width: float) -> np.ndarray:
    """A tapered limb hanging down from `joint`, with a notch (corners to track)."""
    x, y = joint
    return np.array([[x - width, y], [x + width, y], [x + 0.7 * width, y + 0.5 * length], [x + 0.3 * width, y + 0.55 * length],
                     [x + 0.6 * width, y + length], [x - 0.6 * width, y + length], [x - 0.7 * width, y + 0.5 * length]])


def about(angle: float, scale: float, shift, centre) -> Similarity:
    m = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return Similarity(angle, scale, np.asarray(shift, np.float64) + np.asarray(centre) - m @ np.asarray(centre))


def shape_clip(rng: np.random.Generator, frames: int):
    """Parts [P, K, 2] at frame 0 and each part's transform per frame."""
    centre = rng.uniform(90, 166, 2)
    body = star(centre, rng.uniform(28, 40), rng.uniform(12, 18))
    t = np.linspace(0, 1, frames)
    turn, grow = rng.uniform(-0.5, 0.5), rng.uniform(-0.2, 0.2)
    travel = rng.uniform(-50, 50, 2)
    return [body], [[about(turn * s, 1 + grow * s, travel * s, centre)] for s in t]


def figure_clip(rng: np.random.Generator, frames: int):
    centre = np.array([rng.uniform(80, 120), rng.uniform(90, 120)])
    body = star(centre, 30, 16, spikes=6)
    hips = [centre + (-12, 22), centre + (12, 22)]
    legs = [limb(h, rng.uniform(45, 60), 7) for h in hips]
    t = np.linspace(0, 1, frames)
    speed = rng.uniform(60, 100)
    swing = rng.uniform(0.35, 0.6)
    phase = rng.uniform(0, 2 * np.pi)
    cycles = rng.uniform(0.8, 1.5)
    transforms = []
    for s in t:
        carry = about(0.0, 1.0, (speed * s, 3.0 * np.sin(2 * np.pi * 2 * cycles * s)), centre)
        parts = [carry]
        for k, hip in enumerate(hips):
            angle = swing * (np.sin(2 * np.pi * cycles * s + phase + np.pi * k) - np.sin(phase + np.pi * k))
            swung = about(angle, 1.0, (0.0, 0.0), hip)
            parts.append(Similarity(carry.angle + swung.angle, 1.0, carry.apply(swung.translation[None])[0]))
        transforms.append(parts)
    return [body, *legs], transforms


def render(parts: list[np.ndarray]) -> np.ndarray:
    import cv2

    frame = np.full((SIZE, SIZE, 3), 255, np.uint8)
    for k, part in enumerate(parts):
        pts = np.rint(part * 16).astype(np.int32)
        cv2.fillPoly(frame, [pts], (200 - 40 * k, 170, 120 + 40 * k), cv2.LINE_AA, shift=4)
        cv2.polylines(frame, [pts], True, (20, 20, 20), 2, cv2.LINE_AA, shift=4)
        c = part.mean(axis=0)
        for a, b in ((part[0], part[len(part) // 2]), (part[len(part) // 4], part[3 * len(part) // 4])):
            p = np.rint((c + 0.6 * (a - c)) * 16).astype(int)
            q = np.rint((c + 0.6 * (b - c)) * 16).astype(int)
            cv2.line(frame, tuple(map(int, p)), tuple(map(int, q)), (60, 30, 30), 2, cv2.LINE_AA, shift=4)
    return frame


def make_case(kind: str, seed: int, frames: int, folder: Path):
    """(the clip's frames as read back from its MP4, the sketch, the truth [T, N, 2])."""
    rng = np.random.default_rng(seed)
    parts, transforms = (shape_clip if kind == "shape" else figure_clip)(rng, frames)
    images = [render([tr.apply(p) for tr, p in zip(step, parts)]) for step in transforms]
    path = video.write_video(images, [1] * frames, 12.0, folder / f"{kind}-{seed}.mp4")
    clip = video.read_clip(path, frames).frames
    strokes = [Stroke(points=p.astype(np.float32), radii=np.ones(len(p), np.float32),
                      opacities=np.ones(len(p), np.float32), cyclic=True) for p in parts]
    truth = np.stack([np.concatenate([tr.apply(p) for tr, p in zip(step, parts)]) for step in transforms])
    return clip, Drawing(SIZE, SIZE, strokes), truth


def errors(out: list[Drawing], truth: np.ndarray) -> float:
    moved = np.stack([np.concatenate([s.points for s in d.strokes]) for d in out])
    return float(np.linalg.norm(moved[1:] - truth[1:], axis=2).mean())


def clip_scores(out: list[Drawing], sketch: Drawing, clip_model) -> tuple[float, float]:
    """(appearance alignment, temporal consistency): the mean CLIP image cosine of each frame to the
    sketch, and of each frame to the next, the frames painted as line art on white."""
    from inkmotion.models import clip_image_embeddings
    from inkmotion.strokes.lineart import paint_lineart

    def on_white(drawing: Drawing) -> np.ndarray:
        rgba = paint_lineart(drawing).rgba.astype(np.float32) / 255
        return np.uint8(255 * (rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:])))

    emb = clip_image_embeddings(*clip_model, [on_white(d) for d in [sketch, *out]])
    frames = emb[1:]
    return float((frames @ emb[0]).mean()), float((frames[1:] * frames[:-1]).sum(-1).mean())


def evaluate(clips: int, frames: int, seed: int = 7000, clip: str | None = None) -> dict:
    """{kind: {method: mean px error, "<method> appearance"/"<method> consistency": CLIP scores
    (with `clip`), "seconds_per_clip": the engine's median}}."""
    clip_model = None
    if clip:
        from inkmotion.models import load_clip

        clip_model = load_clip(clip, "cpu")
    table = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in KINDS:
            rows = {name: [] for name in [*ENGINES, "no motion"]}
            scores = {name: [] for name in rows}
            seconds = []
            for i in range(clips):
                reference, sketch, truth = make_case(kind, seed + i, frames, Path(tmp))
                outputs = {}
                for name, stiffness in ENGINES.items():
                    began = time.perf_counter()
                    outputs[name] = transfer(sketch, reference, MotionTransferConfig(stiffness=stiffness))
                    if name == "motion-transfer":
                        seconds.append(time.perf_counter() - began)
                outputs["no motion"] = [sketch] * frames
                for name, out in outputs.items():
                    rows[name].append(errors(out, truth))
                    if clip_model is not None:
                        scores[name].append(clip_scores(out, sketch, clip_model))
            table[kind] = {name: float(np.mean(v)) for name, v in rows.items()}
            for name, pairs in scores.items():
                if pairs:
                    table[kind][f"{name} appearance"], table[kind][f"{name} consistency"] = map(float, np.mean(pairs, axis=0))
            table[kind]["seconds_per_clip"] = float(np.median(seconds))
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=8, help="clips per kind")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--clip", help="a CLIP model (hub id or folder) for the paper's appearance and consistency measures")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    table = evaluate(args.clips, args.frames, clip=args.clip)
    print(f"| kind ({args.clips} clips, {args.frames} frames, 256 px MP4) | motion-transfer (px) | "
          "global similarity only (px) | no motion (px) |")
    print("|---|---|---|---|")
    for kind, row in table.items():
        print(f"| {kind} | {row['motion-transfer']:.2f} | {row['global similarity only']:.2f} | {row['no motion']:.2f} |")
    if args.clip:
        names = [*ENGINES, "no motion"]
        print(f"\nCLIP ({args.clip}): appearance alignment / temporal consistency")
        print("| kind | " + " | ".join(names) + " |")
        print("|---" * (len(names) + 1) + "|")
        for kind, row in table.items():
            print(f"| {kind} | " + " | ".join(f"{row[n + ' appearance']:.3f} / {row[n + ' consistency']:.3f}" for n in names) + " |")
    if args.json:
        args.json.write_text(json.dumps(table, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
