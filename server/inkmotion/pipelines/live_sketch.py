"""Live-Sketch: vector strokes + a text prompt -> a vector animation.

"Breathing Life Into Sketches Using Text-to-Video Priors" (Gal et al., 2024; arXiv:2311.13608).
A sketch is a set of cubic Bezier strokes. A neural displacement field M turns
the sketch's control points into control points for every frame through two paths (Sec. 4.3):

- the local path M_l predicts a free offset for every control point in every frame (small,
  isolated deformations);
- the global path M_g predicts, for every frame, a scale, shear, rotation and translation that
  move the whole sketch together (large, coordinated motion), each scaled by a fixed weight
  (rotation 0.01, scale 0.05, shear 0.1, translation 1) so they stay plausible.

The frames are rasterized differentiably, encoded by the text-to-video model's VAE, and the field
is trained with score distillation (SDS, Eq. 2) against the model's denoiser:

    grad_z = w(t) * (eps_hat(z_t; y, t) - eps),   eps_hat = eps_u + g * (eps_c - eps_u),   w(t) = 1 - alpha_bar_t

Following the reference implementation, every step runs two passes: one with guidance 30 that
updates the local path, one with guidance 40 that updates the global path, each with its own Adam
and the VectorFusion learning-rate schedule (a delayed start, then log-linear decay).

The output keeps the artist's strokes: the dense points of every input stroke (with their radii,
opacities and colours) are moved by the same global transform and by the local offsets carried
through each point's place on its fitted curve, so with the local path off every frame is an exact
affine transform of the input.

Components (UNet, VAE, text encoder, tokenizer, scheduler, rasterizer) are passed in; nothing is
loaded or cached here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from inkmotion import models
from inkmotion.strokes import chains
from inkmotion.codec.drawing import Drawing, Keyframe
from inkmotion.errors import InvalidInput
from inkmotion.pipelines.base import Progress, ProgressCallback, no_progress


@dataclass(frozen=True)
class LiveSketchConfig:
    """Defaults are the reference implementation's (REFERENCE.md)."""

    frames: int = 24
    steps: int = 1000
    size: int = 256  # render size: the text-to-video model's resolution
    guidance_local: float = 30.0
    guidance_global: float = 40.0
    # SDS timesteps, drawn as integers from [low, high): 50..948, as the reference draws them
    # (its `randint(50, min(950, 1000) - 1)`; "[50, 950)" in its comments).
    timestep_range: tuple[int, int] = (50, 949)
    local_motion: bool = True
    global_motion: bool = True
    motion_strength: float = 1.0
    # Adam learning rates of the two paths, and the VectorFusion schedule they follow.
    lr_local: float = 0.005
    lr_global: float = 1e-4
    lr_init: float = 0.002
    lr_final: float = 0.0008
    lr_delay_mult: float = 0.1
    lr_delay_steps: int = 100
    # Weights of the global path's outputs.
    rotation_weight: float = 0.01
    scale_weight: float = 0.05
    shear_weight: float = 0.1
    translation_weight: float = 1.0
    hidden: int = 128
    code_dropout: float = 0.1  # dropout on the positional code while optimising (the reference's)
    augment: bool = True  # random perspective + resized crop, the same for all frames
    samples_per_segment: int = 8  # polyline points per cubic segment when rendering
    # Frames per VAE pass when back-propagating into the frames. Encoding the whole video with
    # grad keeps every frame's encoder activations alive at once (most of the reference's 24 GB);
    # in chunks, the latents come from one no-grad pass and each chunk is re-encoded with grad
    # for its share of the backward (one extra encoder forward, bounded memory). None: 4 on CUDA,
    # the whole video on the CPU; 0: the whole video.
    vae_chunk: int | None = None
    seed: int = 0
    preview_every: int = 0


def lr_multiplier(step: int, config: LiveSketchConfig) -> float:
    """VectorFusion's schedule, as a multiple of the base learning rate: a 'reverse cosine' ramp
    from lr_delay_mult to 1 over lr_delay_steps, times a log-linear decay lr_init -> lr_final."""
    if config.lr_delay_steps > 0:
        ramp = min(max(step / config.lr_delay_steps, 0.0), 1.0)
        delay = config.lr_delay_mult + (1 - config.lr_delay_mult) * math.sin(0.5 * math.pi * ramp)
    else:
        delay = 1.0
    t = min(max(step / max(config.steps, 1), 0.0), 1.0)
    decayed = math.exp(math.log(config.lr_init) * (1 - t) + math.log(config.lr_final) * t)
    return delay * decayed / config.lr_init


# -----------------------------------------------------------------------------------------------
# The neural displacement field M (Sec. 4.3)


def _sinusoidal(count: int, dim: int) -> torch.Tensor:
    position = torch.arange(count, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(count, dim)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq)
    return table


def _mlp(dims: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(a, b), nn.LayerNorm(b), nn.LeakyReLU()]
    return nn.Sequential(*layers)


class DisplacementField(nn.Module):
    """M: control points of the sketch (centred, in render pixels) -> per-frame motion.

    Shared backbone: each control point's position is projected to `hidden` features and its index
    gets a sinusoidal code (Vaswani et al.); the whole sketch is flattened into one code. The local
    head M_l maps the code to an offset for every point in every frame; the global head M_g maps it
    to per-frame translation (2), rotation (1), shear (2) and scale (2) parameters.

    As the reference implementation (its `PointMLP`), layer for layer, with two differences that
    change nothing it computes:
    - the positional code is only the sinusoid. The reference also computes a learnable index
      embedding times sqrt(h) and then discards it (its PositionalEncoding returns the table alone);
      adding it for real (std ~11 at h=128) would drown the projected points and make the field
      ~13x less sensitive to them at initialisation;
    - the reference flattens F identical copies of the points (one per frame, each with its own
      sinusoid) into its first Linear. The copies share their projected features, so (dropout
      aside) that Linear is one Linear over a single copy, the sum of its F blocks, whose default
      initial variance is the same, plus a constant; one copy is F times smaller and faster.
    Its scale is predicted by its own head; the reference's forward reads the shear head twice
    (its scale head is built and never used), which ties scale to shear: a slip, not a design.
    """

    def __init__(self, points: int, frames: int, config: LiveSketchConfig):
        super().__init__()
        h = config.hidden
        self.points, self.frames, self.config = points, frames, config
        self.project = nn.Sequential(nn.Linear(2, h), nn.LayerNorm(h), nn.LeakyReLU(), nn.Linear(h, h))
        self.register_buffer("index_encoding", _sinusoidal(points, h), persistent=False)
        # local path M_l
        self.local_trunk = _mlp([points * h, h, h, h])
        self.local_out = nn.Linear(h, frames * points * 2)
        # global path M_g: a shared trunk of two blocks, then one head per transform component
        self.global_trunk = _mlp([points * h, h, h])
        self.translation = nn.Sequential(_mlp([h, h, h, h]), nn.Linear(h, frames * 2))
        self.rotation = nn.Sequential(_mlp([h, h]), nn.Linear(h, frames))
        self.shear = nn.Sequential(_mlp([h, h]), nn.Linear(h, frames * 2))
        self.scale = nn.Sequential(_mlp([h, h]), nn.Linear(h, frames * 2))
        # Every layer keeps PyTorch's default initialisation, as the reference's: the first frames
        # are the sketch, jittered by a few pixels (at h = 128 and 256 px: local offsets of std
        # ~0.4 px; the random initial affines move points by ~3 px on average).

    def shared_parameters(self) -> list[nn.Parameter]:
        return [*self.project.parameters()]

    def local_parameters(self) -> list[nn.Parameter]:
        return self.shared_parameters() + [*self.local_trunk.parameters(), *self.local_out.parameters()]

    def global_parameters(self) -> list[nn.Parameter]:
        heads = (self.global_trunk, self.translation, self.rotation, self.shear, self.scale)
        return self.shared_parameters() + [p for m in heads for p in m.parameters()]

    def code(self, centred: torch.Tensor, dropout: torch.Generator | None = None) -> torch.Tensor:
        """The sketch's code [1, P * h]: projected points + their positional code. With a generator,
        the positional code gets dropout (`code_dropout`, drawn from it, as while optimising);
        without, none (the output frames)."""
        position = self.index_encoding
        p = self.config.code_dropout
        if dropout is not None and p > 0:
            keep = torch.rand(position.shape, generator=dropout).to(position.device) >= p
            position = position * keep / (1 - p)
        return (self.project(centred) + position).reshape(1, -1)

    def forward(self, centred: torch.Tensor, dropout: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """centred [P, 2] -> (local offsets [F, P, 2], global affine matrices [F, 2, 3])."""
        c = self.config
        code = self.code(centred, dropout)
        offsets = self.local_out(self.local_trunk(code)).reshape(self.frames, self.points, 2)
        g = self.global_trunk(code)
        translation = self.translation(g).reshape(self.frames, 2) * c.translation_weight
        theta = self.rotation(g).reshape(self.frames) * c.rotation_weight
        shear = self.shear(g).reshape(self.frames, 2) * c.shear_weight
        scale = 1 + self.scale(g).reshape(self.frames, 2) * c.scale_weight
        return offsets, affine_matrices(scale, shear, theta, translation)


def affine_matrices(scale: torch.Tensor, shear: torch.Tensor, theta: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """Per-frame [F, 2, 3] = [R(theta) @ Shear(shear) @ Scale(scale) | translation], the global
    transform of Sec. 4.3, applied to points relative to the sketch's centre."""
    cos, sin = torch.cos(theta), torch.sin(theta)
    sx, sy = scale.unbind(-1)
    hx, hy = shear.unbind(-1)
    row0 = torch.stack([sx * (cos - sin * hx), sy * (cos * hy - sin), translation[:, 0]], -1)
    row1 = torch.stack([sx * (sin + cos * hx), sy * (sin * hy + cos), translation[:, 1]], -1)
    return torch.stack([row0, row1], -2)


def apply_affine(matrices: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """matrices [F, 2, 3], points [..., 2] (shared) -> [F, ..., 2]."""
    flat = points.reshape(-1, 2)
    moved = flat @ matrices[:, :, :2].transpose(1, 2) + matrices[:, None, :, 2]
    return moved.reshape(matrices.shape[0], *points.shape)


# -----------------------------------------------------------------------------------------------
# Score distillation (Eq. 2)


def sds_gradient(
    unet: Callable,
    latents: torch.Tensor,
    text_embeddings: torch.Tensor,
    timesteps: torch.Tensor,
    noise: torch.Tensor,
    alphas_cumprod: torch.Tensor,
    guidance: float,
) -> torch.Tensor:
    """Eq. (2): w(t) * (eps_hat(z_t; y, t) - eps) with classifier-free guidance.

    `latents` [B, C, F, h, w]; `text_embeddings` [2B, L, D] as (unconditional, conditional);
    `timesteps` [B]. Runs without grad: the result is the gradient to push into the latents.
    """
    with torch.no_grad():
        alpha_bar = alphas_cumprod.to(latents.device)[timesteps].float().reshape(-1, 1, 1, 1, 1)
        noisy = alpha_bar.sqrt() * latents.float() + (1 - alpha_bar).sqrt() * noise.float()
        z_in = torch.cat([noisy, noisy]).to(latents.dtype)
        t_in = torch.cat([timesteps, timesteps])
        eps_u, eps_c = unet(z_in, t_in, encoder_hidden_states=text_embeddings).sample.float().chunk(2)
        eps_hat = eps_u + guidance * (eps_c - eps_u)
        grad = (1 - alpha_bar) * (eps_hat - noise.float())
        return torch.nan_to_num(grad, 0.0, 0.0, 0.0)


def sds_loss(latents: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """A scalar whose gradient with respect to `latents` is exactly `grad`."""
    return (grad.detach().to(latents.dtype) * latents).sum()


# -----------------------------------------------------------------------------------------------
# Augmentation: the same random perspective, then resized crop, for every frame (as the reference's
# torchvision `RandomPerspective(distortion_scale=0.5, fill=1)` then `RandomResizedCrop(scale=(0.4, 1),
# ratio=(1, 1))`, drawn once per step for the whole video). Homographies here map output pixels to
# source pixels, in normalised coordinates ([-1, 1]^2), as `warp` samples.

_CORNERS = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])


def random_perspective(generator: torch.Generator, distortion: float = 0.5) -> torch.Tensor:
    """RandomPerspective: the frame's corners move inward, each coordinate by up to `distortion` of
    the half side, so the drawing shrinks toward the centre and white paper fills the border."""
    moved = _CORNERS * (1 - torch.rand(4, 2, generator=generator) * distortion)
    return _homography(moved, _CORNERS)  # where the corners went -> where they came from


def random_crop(generator: torch.Generator, scale: tuple[float, float] = (0.4, 1.0)) -> torch.Tensor:
    """RandomResizedCrop with a square ratio: a window of `scale` of the area, anywhere inside
    the frame, stretched back to the whole frame."""
    r = torch.rand(3, generator=generator).tolist()
    side = math.sqrt(scale[0] + (scale[1] - scale[0]) * r[0])
    cx, cy = (1 - side) * (2 * r[1] - 1), (1 - side) * (2 * r[2] - 1)
    return torch.tensor([[side, 0.0, cx], [0.0, side, cy], [0.0, 0.0, 1.0]])


def random_view(generator: torch.Generator, device) -> torch.Tensor:
    """The perspective, then the crop of its result, as one homography [3, 3]: an output pixel p
    samples the perspective's output at crop(p), which samples the frame at perspective(crop(p))."""
    perspective = random_perspective(generator)
    crop = random_crop(generator)
    return (perspective @ crop).to(device)


def _homography(dst: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    rows = []
    for (x, y), (u, v) in zip(dst.tolist(), src.tolist()):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y, u])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y, v])
    a = torch.tensor(rows, dtype=torch.float64)
    h = torch.linalg.solve(a[:, :8], a[:, 8])
    return torch.cat([h, torch.ones(1, dtype=torch.float64)]).reshape(3, 3).float()


def warp(ink: torch.Tensor, homography: torch.Tensor) -> torch.Tensor:
    """Sample ink [F, H, W] through the homography (output pixel -> source pixel); outside is blank."""
    frames, height, width = ink.shape
    ys = torch.linspace(-1 + 1 / height, 1 - 1 / height, height, device=ink.device)
    xs = torch.linspace(-1 + 1 / width, 1 - 1 / width, width, device=ink.device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    ones = torch.ones_like(gx)
    mapped = torch.stack([gx, gy, ones], -1) @ homography.T
    grid = (mapped[..., :2] / mapped[..., 2:]).expand(frames, height, width, 2)
    return F.grid_sample(ink[:, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[:, 0]


# -----------------------------------------------------------------------------------------------
# The pipeline


@dataclass
class _Sketch:
    """The sketch as optimisation parameters, in render pixels."""

    params: chains.StrokeParameters
    control: torch.Tensor  # [S, P, 2] render pixels
    mask: torch.Tensor  # [S, P] bool: real (not padding) control points
    centre: torch.Tensor  # [2]
    sample_params: torch.Tensor  # [S, M] where on each chain the rendered polyline points lie
    half_widths: torch.Tensor  # [S, M] render pixels
    scale: float  # sketch pixels -> render pixels


class LiveSketchPipeline:
    """Text-to-motion for vector sketches. Components are passed in (see inkmotion.models)."""

    def __init__(self, unet, vae, text_encoder, tokenizer, scheduler, *, device=None, dtype=None,
                 rasterize: Callable | None = None):
        from inkmotion import render

        self.unet, self.vae, self.text_encoder, self.tokenizer, self.scheduler = unet, vae, text_encoder, tokenizer, scheduler
        self.device = torch.device(device) if device is not None else next(unet.parameters()).device
        self.dtype = dtype or next(unet.parameters()).dtype
        self.rasterize = rasterize or render.rasterize

    @classmethod
    def from_model(cls, model, **kwargs) -> "LiveSketchPipeline":
        """From an `inkmotion.models.TextToVideo` (weights shared, read-only; a fresh scheduler)."""
        return cls(model.unet, model.vae, model.text_encoder, model.tokenizer, model.fresh_scheduler(),
                   device=model.device, dtype=model.dtype, **kwargs)

    # -- building blocks ----------------------------------------------------------------------

    def encode_prompt(self, prompt: str) -> torch.Tensor:
        """(unconditional, conditional) text embeddings [2, L, D]."""
        return models.encode_prompt(self.tokenizer, self.text_encoder, ["", prompt], self.device, self.dtype)

    def prepare_sketch(self, sketch: Drawing, config: LiveSketchConfig) -> _Sketch:
        params = chains.to_parameters(sketch)
        scale = config.size / max(sketch.width, sketch.height)
        control = torch.as_tensor(params.control_points, dtype=torch.float32, device=self.device) * scale
        mask = torch.as_tensor(params.control_mask, device=self.device)
        segments = torch.as_tensor(params.segment_counts, dtype=torch.float32, device=self.device)
        m = int(params.segment_counts.max()) * config.samples_per_segment + 1
        sample_params = torch.linspace(0, 1, m, device=self.device)[None, :] * segments[:, None]
        radii = torch.tensor([float(np.mean(s.radii)) for s in sketch.strokes], device=self.device) * scale
        centre = control[mask].mean(0)
        return _Sketch(params, control, mask, centre, sample_params, radii[:, None].expand(-1, m), scale)

    def control_points(self, field: DisplacementField, sketch: _Sketch, config: LiveSketchConfig,
                       local: bool, global_: bool, dropout: torch.Generator | None = None) -> torch.Tensor:
        """Control points of every frame [F, S, P, 2] in render pixels (`dropout`: see DisplacementField.code)."""
        rest = sketch.control[sketch.mask] - sketch.centre  # [P_real, 2]
        offsets, matrices = field(rest, dropout)
        moved = apply_affine(matrices, rest) if global_ else rest.expand(field.frames, *rest.shape)
        if local:
            moved = moved + offsets
        moved = rest + config.motion_strength * (moved - rest)
        frames = sketch.control.expand(field.frames, *sketch.control.shape).clone()
        frames[:, sketch.mask] = moved + sketch.centre
        return frames

    def render(self, control: torch.Tensor, sketch: _Sketch, config: LiveSketchConfig) -> torch.Tensor:
        """Ink coverage [F, H, W] of every frame."""
        polylines = chains.points_on_chain(control, sketch.sample_params)  # [F, S, M, 2]
        return self.rasterize(polylines, sketch.half_widths.expand(control.shape[0], -1, -1), (config.size, config.size))

    def encode_frames(self, ink: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Ink [F, H, W] -> video latents [1, C, F, h, w], black strokes on white in [-1, 1].

        The posterior is sampled with the given `noise` [F, C, h, w], so that re-encoding a chunk
        of frames reproduces exactly the latents of the whole video."""
        rgb = (1 - 2 * ink)[:, None].expand(-1, 3, -1, -1).to(self.dtype)
        posterior = self.vae.encode(rgb).latent_dist
        latents = (posterior.mean + posterior.std * noise.to(posterior.mean.dtype)) * self.vae.config.scaling_factor
        return latents.permute(1, 0, 2, 3)[None]

    def latent_noise_shape(self, frames: int, size: int) -> tuple[int, ...]:
        factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        return (frames, self.vae.config.latent_channels, size // factor, size // factor)

    def sds_backward(self, ink: torch.Tensor, embeddings: torch.Tensor, guidance: float, generator: torch.Generator,
                     config: LiveSketchConfig) -> None:
        """One SDS update's backward: ink [F, H, W] (with grad) <- Eq. (2) through the VAE."""
        frames = ink.shape[0]
        chunk = config.vae_chunk if config.vae_chunk is not None else (4 if self.device.type == "cuda" else 0)
        posterior_noise = torch.randn(self.latent_noise_shape(frames, ink.shape[-1]), generator=generator).to(self.device)
        low, high = config.timestep_range
        timesteps = torch.randint(low, high, (1,), generator=generator).to(self.device)
        if not chunk or chunk >= frames:
            latents = self.encode_frames(ink, posterior_noise)
            noise = torch.randn(latents.shape, generator=generator).to(self.device, torch.float32)
            grad = sds_gradient(self.unet, latents, embeddings, timesteps, noise, self.scheduler.alphas_cumprod, guidance)
            sds_loss(latents, grad).backward()
            return
        pieces = [slice(i, min(i + chunk, frames)) for i in range(0, frames, chunk)]
        with torch.no_grad():
            latents = torch.cat([self.encode_frames(ink[p], posterior_noise[p]) for p in pieces], 2)
        noise = torch.randn(latents.shape, generator=generator).to(self.device, torch.float32)
        grad = sds_gradient(self.unet, latents, embeddings, timesteps, noise, self.scheduler.alphas_cumprod, guidance)
        leaf = ink.detach().requires_grad_()
        for p in pieces:
            sds_loss(self.encode_frames(leaf[p], posterior_noise[p]), grad[:, :, p]).backward()
        ink.backward(leaf.grad)

    # -- the whole run ------------------------------------------------------------------------

    def __call__(
        self,
        sketch: Drawing,
        prompt: str,
        config: LiveSketchConfig = LiveSketchConfig(),
        on_progress: ProgressCallback = no_progress,
    ) -> list[Drawing]:
        if not (config.local_motion or config.global_motion):
            raise InvalidInput("local_motion", "both the local and the global path are off: nothing would move")
        if config.frames < 2:
            raise InvalidInput("frames", f"{config.frames} is under the minimum of 2")
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(config.seed)

        # 1. Encode the prompt (and the empty prompt, for classifier-free guidance).
        on_progress(Progress(0, 0, "encoding the prompt"))  # step 0: a phase, before the steps
        embeddings = self.encode_prompt(prompt)

        # 2. The sketch as cubic control points, in the model's render space.
        on_progress(Progress(0, 0, "preparing the sketch"))
        state = self.prepare_sketch(sketch, config)

        # 3. The displacement field and one optimiser per path (shared backbone in both).
        points = int(state.mask.sum())
        field = DisplacementField(points, config.frames, config).to(self.device)
        passes = []
        if config.local_motion:
            passes.append(("local", config.guidance_local, torch.optim.Adam(field.local_parameters(), lr=config.lr_local, betas=(0.9, 0.9), eps=1e-6)))
        if config.global_motion:
            passes.append(("global", config.guidance_global, torch.optim.Adam(field.global_parameters(), lr=config.lr_global, betas=(0.9, 0.9), eps=1e-6)))
        schedules = [torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_multiplier(step, config)) for _, _, opt in passes]

        # 4. Optimise: per step, an SDS pass for each path. Both passes render both paths; each
        # optimiser steps on its own pass's gradient only. (The reference runs `steps + 1` steps,
        # 0..steps; here `steps` is what runs. Its global optimiser is never zeroed - zeroing the
        # local one clears only the shared backbone - so its global heads step on the running sum
        # of every gradient since the start, local passes included: a slip, not copied.)
        for step in range(1, config.steps + 1):
            for name, guidance, optimizer in passes:
                optimizer.zero_grad(set_to_none=True)
                control = self.control_points(field, state, config, local=config.local_motion,
                                              global_=config.global_motion, dropout=generator)
                ink = self.render(control, state, config)
                if config.augment:
                    ink = warp(ink, random_view(generator, self.device))
                self.sds_backward(ink, embeddings, guidance, generator, config)
                optimizer.step()
            for schedule in schedules:
                schedule.step()
            preview = None
            if config.preview_every and step % config.preview_every == 0:
                preview = Keyframe(0, self.frames_out(field, state, sketch, config, [config.frames // 2])[0])
            on_progress(Progress(step, config.steps, "score distillation", preview))

        # 5. Move the artist's own strokes by the learned motion.
        return self.frames_out(field, state, sketch, config)

    @torch.no_grad()
    def frames_out(self, field: DisplacementField, state: _Sketch, sketch: Drawing, config: LiveSketchConfig,
                   frames: list[int] | None = None) -> list[Drawing]:
        """Every input point moved by its frame's transform plus its curve's local offset, for the
        given frame indices (all by default; a preview needs one)."""
        rest = state.control[state.mask] - state.centre
        offsets, matrices = field(rest)
        if not config.global_motion:
            matrices = torch.eye(2, 3, device=self.device).expand(config.frames, 2, 3)
        if not config.local_motion:
            offsets = torch.zeros_like(offsets)
        s = config.motion_strength
        identity = torch.eye(2, 3, device=self.device)
        matrices = identity + s * (matrices - identity)
        # Local offsets of the control points, carried to every dense point through its curve
        # parameter (Bezier curves are linear in their control points).
        padded = torch.zeros(config.frames, *state.control.shape, device=self.device)
        padded[:, state.mask] = s * offsets
        centred = [torch.from_numpy(np.array(stroke.points, dtype=np.float32)).to(self.device) * state.scale - state.centre
                   for stroke in sketch.strokes]
        out = []
        for f in range(config.frames) if frames is None else frames:
            shift = chains.point_offsets(state.params, padded[f] / state.scale)
            frame = []
            for stroke, points, delta in zip(sketch.strokes, centred, shift):
                moved = (apply_affine(matrices[f : f + 1], points)[0] + state.centre) / state.scale
                frame.append(stroke.copy(points=(moved.cpu().numpy() + delta).astype(np.float32), bezier=None))
            out.append(sketch.copy(strokes=frame))
        return out
