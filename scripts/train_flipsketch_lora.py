#!/usr/bin/env python3
"""Train FlipSketch's sketch LoRA on text-animation pairs rendered from vector animations.

    python scripts/train_flipsketch_lora.py --model modelscope-1.7b --data CLIPS/ --out LORA/ \\
        [--steps 2500] [--lr 1e-4] [--rank 16] [--frames 10] [--size 256] [--device cuda]

As the paper does (Sec. 4, "Text-to-Animation LoRA"): the vector animations (for example our own
Live-Sketch output, `inkmotion animate text ... -o clip/`) are rendered as black line art on white,
encoded by the VAE, and a LoRA on the UNet's attention projections (spatial and temporal) learns to
denoise them given their text, with the standard noise-prediction loss
    L = E_{t, eps} || eps - eps_theta(sqrt(a_t) z + sqrt(1 - a_t) eps, t, text) ||^2.

CLIPS/ holds one folder per animation: frames named like 0001.svg (or .png), as `inkmotion
animate -o folder/` writes them, and `prompt.txt` with its text. Clips with more frames than
--frames are sampled as evenly spaced windows. The adapter is written to --out in our layout
(peft: adapter_config.json + adapter_model.safetensors); register it with
`[models.flipsketch] lora = "LORA/"` in models.toml.

Importable: `train(...)` returns the held-out loss before and after training (fixed timesteps and
noise), so a short run can show the loss falling.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from inkmotion import models  # noqa: E402
from inkmotion.models import lora  # noqa: E402
from inkmotion.codec.drawing import Drawing  # noqa: E402
from inkmotion.codec.preview import read_animation_folder, render_drawing  # noqa: E402
from inkmotion.errors import InvalidInput, ModelUnavailable  # noqa: E402


@dataclass
class Clip:
    prompt: str
    frames: np.ndarray  # [F, S, S] gray in [0, 1], white paper


def load_clips(data: Path, frames: int, size: int) -> list[Clip]:
    """Every clip folder under `data`, rendered to `frames` gray frames of `size` x `size`."""
    from PIL import Image

    clips = []
    for folder in sorted(p for p in Path(data).iterdir() if p.is_dir()):
        prompt_file = folder / "prompt.txt"
        if not prompt_file.is_file():
            raise InvalidInput(str(folder), "has no prompt.txt (the text of this animation)")
        animation = read_animation_folder(folder)
        keys = animation.keyframes
        if len(keys) < frames:
            raise InvalidInput(str(folder), f"{len(keys)} frames, under the {frames} a training clip needs")
        pick = np.linspace(0, len(keys) - 1, frames).round().astype(int)
        gray = []
        for index in pick:
            content = keys[index].content
            raster = render_drawing(content) if isinstance(content, Drawing) else content
            rgba = raster.rgba.astype(np.float32) / 255
            image = 1 - (1 - rgba[..., :3].mean(-1)) * rgba[..., 3]  # ink over white
            gray.append(np.asarray(Image.fromarray(np.uint8(image * 255)).resize((size, size), Image.Resampling.LANCZOS),
                                   np.float32) / 255)
        clips.append(Clip(prompt_file.read_text(encoding="utf-8").strip(), np.stack(gray)))
    if not clips:
        raise InvalidInput(str(data), "no clip folders (each: frames 0001.svg... and prompt.txt)")
    return clips


def encode(t2v, clip: Clip) -> torch.Tensor:
    """Gray frames -> video latents [1, C, F, h, w] (posterior mean)."""
    images = torch.from_numpy(clip.frames * 2 - 1).to(t2v.device)[:, None].expand(-1, 3, -1, -1)
    with torch.no_grad():
        latents = t2v.vae.encode(images.to(t2v.dtype)).latent_dist.mean * t2v.vae.config.scaling_factor
    return latents.float().permute(1, 0, 2, 3)[None]


def denoising_loss(t2v, latents, text, timesteps, noise) -> torch.Tensor:
    noisy = t2v.scheduler.add_noise(latents, noise, timesteps)
    predicted = t2v.unet(noisy.to(t2v.dtype), timesteps, encoder_hidden_states=text).sample.float()
    return F.mse_loss(predicted, noise)


def train(model: str, data: Path, out: Path, *, steps: int = 2500, lr: float = 1e-4, rank: int = 16,
          frames: int = 10, size: int = 256, device: str = "cpu", seed: int = 0, log=print,
          save_every: int = 500) -> dict:
    torch.manual_seed(seed)
    t2v = models.load_text_to_video(models.resolve(model), device)
    clips = load_clips(data, frames, size)
    latents = [encode(t2v, c) for c in clips]
    texts = [t2v.encode_prompt([c.prompt]) for c in clips]
    parameters = lora.inject_trainable(t2v.unet, rank=rank, alpha=rank)
    t2v.unet.train()
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=1e-2)
    train_steps = t2v.scheduler.config.num_train_timesteps

    # A fixed held-out draw of (clip, t, eps) to measure progress on.
    g = torch.Generator().manual_seed(seed + 1)
    held = [(i, torch.randint(0, train_steps, (1,), generator=g), torch.randn(latents[i].shape, generator=g))
            for i in range(len(clips)) for _ in range(4)]

    def held_out_loss() -> float:
        with torch.no_grad():
            return float(np.mean([denoising_loss(t2v, latents[i], texts[i], t.to(device), e.to(device)).item()
                                  for i, t, e in held]))

    first = held_out_loss()
    log(f"{len(clips)} clips x {frames} frames at {size}px; {sum(p.numel() for p in parameters):,} LoRA weights; "
        f"held-out loss {first:.4f}")
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    for step in range(1, steps + 1):
        i = int(torch.randint(0, len(clips), (1,), generator=generator))
        timesteps = torch.randint(0, train_steps, (1,), generator=generator).to(device)
        noise = torch.randn(latents[i].shape, generator=generator).to(device)
        loss = denoising_loss(t2v, latents[i], texts[i], timesteps, noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        if step % max(1, steps // 20) == 0 or step == steps:
            log(f"step {step}/{steps}  loss {loss.item():.4f}  {(time.perf_counter() - started) / step:.2f} s/step")
        if save_every and step % save_every == 0 and step != steps:
            lora.save_adapter(t2v.unet, out, rank=rank, alpha=rank, metadata={"step": step})
    t2v.unet.eval()
    last = held_out_loss()
    lora.save_adapter(t2v.unet, out, rank=rank, alpha=rank, metadata={"step": steps, "base": model})
    log(f"held-out loss {first:.4f} -> {last:.4f}; adapter in {out}")
    return {"held_out_before": first, "held_out_after": last, "out": Path(out)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=models.MODELSCOPE_1_7B, help="base text-to-video model: name or folder")
    parser.add_argument("--data", type=Path, required=True, help="folder of clip folders (frames + prompt.txt)")
    parser.add_argument("--out", type=Path, required=True, help="where the adapter goes")
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-every", type=int, default=500)
    args = parser.parse_args(argv)
    try:
        train(args.model, args.data, args.out, steps=args.steps, lr=args.lr, rank=args.rank, frames=args.frames,
              size=args.size, device=args.device, seed=args.seed, save_every=args.save_every)
    except (InvalidInput, ModelUnavailable) as exc:
        print(f"train_flipsketch_lora: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
