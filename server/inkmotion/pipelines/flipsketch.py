"""FlipSketch: a raster sketch + a sentence -> raster frames.

"FlipSketch: Flipping Static Drawings to Text-Guided Sketch Animations" (Bandyopadhyay and Song,
2024; arXiv:2411.10818). A text-to-video prior (ModelScope) fine-tuned with a
sketch-animation LoRA generates the frames; two mechanisms keep them faithful to the artist's drawing:

- Setup (Sec. 4.1): the sketch is encoded and DDIM-inverted with the null prompt into the reference
  noise x_T^r, the first frame of the video noise f_T = [x_T^r, f_T^2 .. f_T^M]; the rest is sampled.
- Iterative frame alignment (Sec. 4.2), while t >= tau1: frame 1 is the reference trajectory's
  own latent x_t^r, and the other frames' noise f_t^train is optimised so that denoising
  [x_t^r, f_t^train] with the prompt predicts, for frame 1, what denoising x_t^r alone with the
  null prompt predicts: L_align = ||eta_1' - eta_1||^2, eta_1 = eps(x_t^r, t, P_null).
- Dual attention composition (Sec. 4.3), while t >= tau2: a reference pass denoises x_t^r alone
  (null prompt) and keeps each self-attention layer's queries and keys. In the generation pass
  - spatial self-attention of the first N frames uses the reference queries against the frame's
    own keys: A_spat = C^S(q^g k^g^T, q^r k^g^T) / sqrt(d), the reference repeated N times, N falling
    from M to 1 step by step;
  - temporal self-attention uses the reference key for the first frame:
    A_temp = C^T(q^g k^g^T, q^g k^r^T) / sqrt(d), with k^r scaled by (1 + lambda * 2e-2 * i) for
    query frame i (the public implementation's schedule): lambda trades motion for fidelity.

Defaults are the public implementation's: 10 frames, 256x256, 25 inversion + 25 sampling steps,
guidance 9, lambda 0.5, tau2 = 15 steps of composition. Several seeds run as one batch and, when a
CLIP model is given, the one closest to the input sketch is kept; the output is binarised (Otsu).
Longer clips chain: the last frame of a clip is the sketch of the next.

Components (UNet, VAE, text encoder, tokenizer, scheduler, optional CLIP) are passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from inkmotion import models
from inkmotion.codec.drawing import Keyframe, Raster
from inkmotion.errors import InvalidInput
from inkmotion.pipelines.base import Progress, ProgressCallback, no_progress
from inkmotion.strokes.lineart import ink_darkness, otsu_threshold


SKETCH_ENCODINGS = ("ours", "public")


@dataclass(frozen=True)
class FlipSketchConfig:
    """Defaults are the public implementation's (REFERENCE.md)."""

    frames: int = 10  # frames to return; more than clip_frames chains clips
    clip_frames: int = 10  # M: frames generated together
    size: int = 256
    inversion_steps: int = 25
    steps: int = 25
    guidance: float = 9.0
    lambda_fidelity: float = 0.5  # 0: most motion, 1: most fidelity to the sketch
    # tau1 / tau2 as numbers of sampling steps from the start (t >= tau <=> step index < tau).
    tau1: int = 10  # frame alignment during the first tau1 steps
    tau2: int = 16  # attention composition during the first tau2 steps (public code: i <= 15)
    # Frame alignment: the paper's refinement. The public implementation ships with it switched
    # off (iters_to_alter = [-1]); here it is on, with its settings (10 Adam steps at lr 1e-3).
    align_iterations: int = 10
    align_lr: float = 1e-3
    # How the sketch becomes the reference latents (FlipSketchPipeline.reference_noise):
    # "ours", "public", or None for the model's own (public with the public LoRA checkpoint).
    sketch_encoding: str | None = None
    seeds: int = 1  # samples generated in one batch; the best is kept
    seed: int = 0
    binarize: bool = True
    preview_every: int = 0


# -----------------------------------------------------------------------------------------------
# Dual attention composition (Sec. 4.3)


@dataclass
class Composition:
    """What the composed self-attention processors share during one run."""

    frames: int  # M, frames in the generation pass
    batch: int = 1  # videos (seeds) in the generation pass
    copies: int = 1  # N, reference repeats: the first N frames get the reference queries
    lambda_fidelity: float = 0.5
    mode: str = "plain"  # "plain", "save" (reference pass), "compose" (generation pass)
    saved: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)  # composed or saving calls per layer


class ComposedSelfAttention:
    """A self-attention processor for one layer of the UNet3D: plain SDPA, or saving the reference
    pass's queries and keys, or composing them into the generation pass (Eqs. for A_spat, A_temp)."""

    def __init__(self, name: str, temporal: bool, state: Composition):
        self.name, self.temporal, self.state = name, temporal, state

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        if encoder_hidden_states is not None or attention_mask is not None or hidden_states.ndim != 3:
            raise RuntimeError(f"{self.name}: composition is for unmasked self-attention on token sequences")
        residual = hidden_states
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        rows, length, _ = hidden_states.shape
        query, key, value = attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states)
        head_dim = key.shape[-1] // attn.heads

        def heads(x):
            return x.view(rows, length, attn.heads, head_dim).transpose(1, 2)

        query, key, value = heads(query), heads(key), heads(value)
        state = self.state
        if state.mode == "save":
            state.saved[self.name] = (query, key)
        if state.mode != "plain":
            state.calls[self.name] = state.calls.get(self.name, 0) + 1

        if state.mode == "compose" and self.temporal:
            out = self._temporal(query, key, value)
        else:
            if state.mode == "compose":  # spatial: rows are (video, frame)
                ref_query, _ = state.saved[self.name]
                query = query.clone().view(state.batch, state.frames, *query.shape[1:])
                n = min(state.copies, ref_query.shape[0], state.frames)
                query[:, :n] = ref_query[:n].to(query.dtype)
                query = query.view(rows, *query.shape[2:])
            out = F.scaled_dot_product_attention(query, key, value)

        out = out.transpose(1, 2).reshape(rows, length, attn.heads * head_dim).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor

    def _temporal(self, query, key, value):
        """Rows are (video, pixel), the sequence is frames: the first frame's key is the reference's.

        For every query frame i, as the paper writes and the public code's first (baddbmm) path
        does. Its later torch-2 path indexes [batch, heads, L, S] logits as if heads were query
        frames: it recomposes only query frame 0's row, scaled by the key's index. Not followed."""
        state = self.state
        _, ref_key = state.saved[self.name]  # [pixels, heads, N, d] of the one reference video
        frames = query.shape[2]
        ref_first = ref_key[:, :, :1].to(key.dtype).repeat(state.batch, 1, 1, 1)  # [rows, heads, 1, d]
        scale = 1 / math.sqrt(query.shape[-1])
        logits = query @ key.transpose(-1, -2) * scale  # [rows, heads, F, F]
        boost = 1 + state.lambda_fidelity * 2e-2 * torch.arange(frames, device=query.device, dtype=query.dtype)
        logits[..., 0] = (query @ ref_first.transpose(-1, -2))[..., 0] * scale * boost
        return logits.softmax(-1) @ value


def self_attention_layers(unet) -> dict[str, tuple[object, bool]]:
    """Every self-attention layer the composition touches: `attn1` of the spatial transformers
    (spatial) and of the temporal ones (`temp_attentions`, `transformer_in`: temporal)."""
    layers = {}
    for name, module in unet.named_modules():
        if type(module).__name__ == "Attention" and name.endswith("attn1"):
            layers[name] = (module, "temp_attentions" in name or name.startswith("transformer_in"))
    return layers


class composed_attention:
    """Context manager: our processors on every composed layer, the previous ones back after."""

    def __init__(self, unet, state: Composition):
        self.unet, self.state = unet, state
        self.previous: dict[str, object] = {}

    def __enter__(self) -> Composition:
        for name, (module, temporal) in self_attention_layers(self.unet).items():
            self.previous[name] = module.processor
            module.set_processor(ComposedSelfAttention(name, temporal, self.state))
        return self.state

    def __exit__(self, *exc) -> None:
        layers = self_attention_layers(self.unet)
        for name, processor in self.previous.items():
            layers[name][0].set_processor(processor)
        self.state.saved.clear()


# -----------------------------------------------------------------------------------------------
# DDIM (eta = 0) in both directions


def ddim_move(x: torch.Tensor, eps: torch.Tensor, alpha_from: torch.Tensor, alpha_to: torch.Tensor) -> torch.Tensor:
    """The deterministic DDIM update between two noise levels, either direction:
    x0 = (x - sqrt(1 - a_from) eps) / sqrt(a_from);  x' = sqrt(a_to) x0 + sqrt(1 - a_to) eps."""
    x0 = (x - (1 - alpha_from).sqrt() * eps) / alpha_from.sqrt()
    return alpha_to.sqrt() * x0 + (1 - alpha_to).sqrt() * eps


def noise_levels(scheduler, steps: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The sampling timesteps (descending) and, for each, the alpha_bar it steps from and to,
    exactly as DDIMScheduler.step computes them (the last step lands on final_alpha_cumprod)."""
    scheduler.set_timesteps(steps)
    timesteps = scheduler.timesteps
    ab = scheduler.alphas_cumprod
    stride = scheduler.config.num_train_timesteps // steps
    levels = []
    for t in timesteps.tolist():
        prev = t - stride
        levels.append((ab[t], ab[prev] if prev >= 0 else scheduler.final_alpha_cumprod))
    return timesteps, levels


# -----------------------------------------------------------------------------------------------
# The pipeline


class FlipSketchPipeline:
    """Raster sketch + prompt -> raster frames. Components are passed in (see inkmotion.models)."""

    def __init__(self, unet, vae, text_encoder, tokenizer, scheduler, *, device=None, dtype=None,
                 clip_model=None, clip_processor=None, sketch_encoding: str = "ours"):
        self.unet, self.vae, self.text_encoder, self.tokenizer, self.scheduler = unet, vae, text_encoder, tokenizer, scheduler
        self.device = torch.device(device) if device is not None else next(unet.parameters()).device
        self.dtype = dtype or next(unet.parameters()).dtype
        self.clip_model, self.clip_processor = clip_model, clip_processor
        self.sketch_encoding = sketch_encoding  # the default; a config's sketch_encoding overrides it

    @classmethod
    def from_model(cls, model, **kwargs) -> "FlipSketchPipeline":
        """From an `inkmotion.models.TextToVideo` (a fresh scheduler; the modules are shared). A
        model whose LoRA is the public FlipSketch checkpoint encodes sketches as that LoRA saw them."""
        kwargs.setdefault("sketch_encoding", "public" if model.lora_layout == "unet" else "ours")
        return cls(model.unet, model.vae, model.text_encoder, model.tokenizer, model.fresh_scheduler(),
                   device=model.device, dtype=model.dtype, **kwargs)

    # -- building blocks ----------------------------------------------------------------------

    def encode_prompt(self, prompt: str) -> torch.Tensor:
        """Text embeddings [1, L, D] of one prompt."""
        return models.encode_prompt(self.tokenizer, self.text_encoder, [prompt], self.device, self.dtype)

    def denoise(self, latents: torch.Tensor, t, embeddings: torch.Tensor) -> torch.Tensor:
        """eps for a batch of videos [B, C, F, h, w] with one prompt embedding [1, L, D]."""
        context = embeddings.expand(latents.shape[0], -1, -1)
        return self.unet(latents.to(self.dtype), t, encoder_hidden_states=context).sample.float()

    def sketch_image(self, sketch: Raster, size: int) -> torch.Tensor:
        """Black ink on white paper, padded to a square and resized to `size`: [H, W] in [0, 1]."""
        from PIL import Image

        paper = 1 - pad_to_square(ink_darkness(sketch))
        image = Image.fromarray(np.uint8(np.round(paper * 255))).resize((size, size), Image.Resampling.LANCZOS)
        return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).to(self.device)

    @torch.no_grad()
    def reference_noise(self, sketch: Raster, null: torch.Tensor, config: FlipSketchConfig,
                        generator: torch.Generator) -> torch.Tensor:
        """Sec. 4.1: the sketch, encoded and DDIM-inverted with the null prompt -> x_T^r [1, C, 1, h, w].

        The paper says no more than "encoded" and "inverted", so there are two encodings:
        - "ours": the VAE's own convention - the image in [-1, 1], one frame, the posterior mean -
          the way `scripts/train_flipsketch_lora.py` encodes the clips our LoRAs learn from, and
          deterministic;
        - "public": what the public FlipSketch code does and its published LoRA was used with - the
          image in [0, 1] (torchvision's ToTensor, never rescaled), five identical frames, each
          sampled from the posterior, inverted together as one video, the inverted latents averaged
          over the five frames.
        A model whose LoRA is the public checkpoint uses "public" unless the config says otherwise.
        """
        encoding = config.sketch_encoding or self.sketch_encoding
        if encoding not in SKETCH_ENCODINGS:
            raise InvalidInput("sketch_encoding", f"{encoding!r} is not one of {', '.join(SKETCH_ENCODINGS)}")
        paper = self.sketch_image(sketch, config.size)
        public = encoding == "public"
        frames = 5 if public else 1
        rgb = (paper if public else paper * 2 - 1)[None, None].expand(frames, 3, -1, -1).to(self.dtype)
        posterior = self.vae.encode(rgb).latent_dist
        latents = posterior.mean.float()
        if public:
            noise = torch.randn(latents.shape, generator=generator).to(self.device)
            latents = latents + posterior.std.float() * noise
        clean = (latents * self.vae.config.scaling_factor).permute(1, 0, 2, 3)[None]  # [1, C, frames, h, w]
        return self.invert(clean, null, config.inversion_steps).mean(2, keepdim=True)

    def latents_to_gray(self, latents: torch.Tensor) -> torch.Tensor:
        """[B, C, F, h, w] -> gray frames [B, F, H, W] in [0, 1] (white paper)."""
        b, c, f, h, w = latents.shape
        flat = latents.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w) / self.vae.config.scaling_factor
        with torch.no_grad():
            images = torch.cat([self.vae.decode(x[None].to(self.dtype)).sample.float() for x in flat])
        gray = ((images.mean(1) + 1) / 2).clamp(0, 1)
        return gray.reshape(b, f, *gray.shape[-2:])

    @torch.no_grad()
    def invert(self, latents: torch.Tensor, null: torch.Tensor, steps: int) -> torch.Tensor:
        """DDIM inversion with the null prompt (Sec. 4.1): clean latents -> x_T^r, walking the
        sampling levels backwards, so sampling with the same eps returns exactly to `latents`."""
        timesteps, levels = noise_levels(self.scheduler, steps)
        x = latents
        for t, (alpha_t, alpha_prev) in reversed(list(zip(timesteps, levels))):
            eps = self.denoise(x, t, null)
            x = ddim_move(x, eps, alpha_prev.to(x.device), alpha_t.to(x.device))
        return x

    def align_frames(self, latents: torch.Tensor, reference: torch.Tensor, t, prompt: torch.Tensor,
                     null: torch.Tensor, config: FlipSketchConfig) -> torch.Tensor:
        """Sec. 4.2: [x_t^r, f_t^train], with f_t^train (frames 2..M) optimised so that denoising the
        whole video with the prompt predicts, for frame 1, what x_t^r alone predicts with the null
        prompt (L_align). `reference` is x_t^r [1, C, >= 1, h, w]; frame 1 of the result is x_t^r
        for every seed, as in the paper and the public code."""
        with torch.no_grad():
            target = self.denoise(reference[:, :, :1], t, null)[:, :, 0]  # eta_1
        first = reference[:, :, :1].expand(latents.shape[0], -1, -1, -1, -1)  # x_t^r
        rest = latents[:, :, 1:].detach().clone().requires_grad_(True)
        optimizer = torch.optim.Adam([rest], lr=config.align_lr)
        for _ in range(config.align_iterations):
            optimizer.zero_grad(set_to_none=True)
            with torch.enable_grad():
                predicted = self.denoise(torch.cat([first, rest], 2), t, prompt)[:, :, 0]  # eta_1'
                loss = F.mse_loss(predicted, target.expand_as(predicted))
                loss.backward()
            optimizer.step()
        # With the last step's update (the public code returns the frames from before it).
        return torch.cat([first, rest.detach()], 2)

    def choose(self, frames: torch.Tensor, sketch_gray: np.ndarray) -> int:
        """The seed whose frames are closest to the sketch in CLIP image space (first seed without CLIP)."""
        scores = self.scores(frames, sketch_gray)
        return 0 if scores is None else int(scores.argmax())

    def scores(self, frames: torch.Tensor, sketch_gray: np.ndarray) -> torch.Tensor | None:
        """Each seed's score: the mean cosine similarity of its frames [seeds, M, H, W] to the
        sketch in CLIP image space. None without CLIP, or with one seed (nothing to choose)."""
        if self.clip_model is None or frames.shape[0] == 1:
            return None
        images = [np.uint8(sketch_gray * 255)] + [np.uint8(f * 255) for f in frames.reshape(-1, *frames.shape[-2:]).cpu().numpy()]
        emb = models.clip_image_embeddings(self.clip_model, self.clip_processor, images)
        return (emb[1:] @ emb[0]).reshape(frames.shape[0], frames.shape[1]).mean(1)

    # -- one clip -----------------------------------------------------------------------------

    def clip(self, sketch: Raster, prompt_embeddings: torch.Tensor, null: torch.Tensor, config: FlipSketchConfig,
             generator: torch.Generator, report: Callable[[int, torch.Tensor], None]) -> torch.Tensor:
        """One clip of M frames: gray frames [seeds, M, H, W] in [0, 1]. `report(step, x0)` gets
        each step's prediction of the clean latents (for previews)."""
        m, b = config.clip_frames, config.seeds
        # 1. Encode the sketch and invert it with the null prompt: the reference noise x_T^r.
        reference = self.reference_noise(sketch, null, config, generator)
        # 2. The video noise: f_T = [x_T^r, f_T^2 .. f_T^M] for every seed.
        sampled = torch.randn((b, reference.shape[1], m - 1, *reference.shape[-2:]), generator=generator).to(self.device)
        latents = torch.cat([reference.expand(b, -1, -1, -1, -1), sampled], 2)
        timesteps, levels = noise_levels(self.scheduler, config.steps)
        state = Composition(frames=m, batch=b, lambda_fidelity=config.lambda_fidelity)
        # 3. Denoise. While aligning, frame 1 is x_t^r, the reference's own trajectory (align_frames).
        aligning = config.tau1 if config.align_iterations > 0 else 0
        for i, (t, (alpha_t, alpha_prev)) in enumerate(zip(timesteps, levels)):
            alpha_t, alpha_prev = alpha_t.to(self.device), alpha_prev.to(self.device)
            refs = reference.expand(-1, -1, max(1, m - i), -1, -1)  # N = M - i copies, at least one
            if i < aligning:
                latents = self.align_frames(latents, refs, t, prompt_embeddings, null, config)
            with torch.no_grad():
                eps_uncond = self.denoise(latents, t, null)
                if i < config.tau2:
                    state.copies = refs.shape[2]
                    with composed_attention(self.unet, state):
                        state.mode = "save"  # the reference pass: x_t^r alone, null prompt
                        eps_reference = self.denoise(refs, t, null)
                        state.mode = "compose"  # the generation pass, composed with it
                        eps_text = self.denoise(latents, t, prompt_embeddings)
                        state.mode = "plain"
                else:
                    eps_text = self.denoise(latents, t, prompt_embeddings)
                    if i < aligning:  # alignment still needs the reference's own trajectory
                        eps_reference = self.denoise(refs[:, :, :1], t, null)
                if i < max(config.tau2, aligning):
                    reference = ddim_move(reference, eps_reference[:, :, :1], alpha_t, alpha_prev)
                eps = eps_uncond + config.guidance * (eps_text - eps_uncond)
                predicted_clean = (latents - (1 - alpha_t).sqrt() * eps) / alpha_t.sqrt()
                latents = ddim_move(latents, eps, alpha_t, alpha_prev)
            report(i + 1, predicted_clean)
        return self.latents_to_gray(latents)

    # -- the whole run ------------------------------------------------------------------------

    def __call__(self, sketch: Raster, prompt: str, config: FlipSketchConfig = FlipSketchConfig(),
                 on_progress: ProgressCallback = no_progress) -> list[Raster]:
        if config.clip_frames < 2 or config.frames < 2:
            raise InvalidInput("frames", f"{min(config.frames, config.clip_frames)} is under the minimum of 2")
        if not 0 <= config.lambda_fidelity <= 1:
            raise InvalidInput("lambda_fidelity", f"{config.lambda_fidelity} is outside [0, 1]")
        config = replace(config, clip_frames=min(config.clip_frames, config.frames))
        generator = torch.Generator().manual_seed(config.seed)
        # 1. Encode the prompt and the null prompt.
        on_progress(Progress(0, 0, "encoding the prompt"))  # step 0: a phase, before the steps
        prompt_embeddings, null = self.encode_prompt(prompt), self.encode_prompt("")
        # 2. Clips, chained: each next clip starts from the last frame of the one before.
        clips = max(1, math.ceil((config.frames - 1) / (config.clip_frames - 1)))
        total = clips * config.steps
        out: list[np.ndarray] = []
        current = sketch
        on_progress(Progress(0, 0, f"preparing the sketch (DDIM inversion, {config.inversion_steps} steps)"))
        for k in range(clips):
            def report(step: int, predicted_clean: torch.Tensor, k=k) -> None:
                preview = None
                if config.preview_every and step % config.preview_every == 0:
                    middle = predicted_clean[:1, :, predicted_clean.shape[2] // 2][:, :, None]
                    preview = Keyframe(0, gray_to_raster(self.latents_to_gray(middle)[0, 0].cpu().numpy(), config.binarize))
                on_progress(Progress(k * config.steps + step, total, f"clip {k + 1} of {clips}: denoising", preview))

            gray = self.clip(current, prompt_embeddings, null, config, generator, report)
            best = gray[self.choose(gray, 1 - ink_darkness(current))].cpu().numpy()
            frames = list(best) if k == 0 else list(best[1:])  # a chained clip's first frame repeats the joint
            out.extend(frames)
            current = gray_to_raster(back_to_canvas(frames[-1], sketch.width, sketch.height), config.binarize)
        # 3. Back on the sketch's canvas; binarise (Otsu); rasters, black ink on transparency.
        return [gray_to_raster(back_to_canvas(g, sketch.width, sketch.height), config.binarize)
                for g in out[: config.frames]]


def pad_to_square(ink: np.ndarray) -> np.ndarray:
    """Ink [H, W] centred on a square of blank paper (the model draws square frames)."""
    h, w = ink.shape
    side = max(h, w)
    out = np.zeros((side, side), ink.dtype)
    top, left = (side - h) // 2, (side - w) // 2
    out[top : top + h, left : left + w] = ink
    return out


def back_to_canvas(gray: np.ndarray, width: int, height: int) -> np.ndarray:
    """A square frame (gray, white paper) -> the sketch's canvas: scaled up, the padding cut off."""
    from PIL import Image

    side = max(width, height)
    big = np.asarray(Image.fromarray(np.float32(gray)).resize((side, side), Image.Resampling.BILINEAR))
    top, left = (side - height) // 2, (side - width) // 2
    return big[top : top + height, left : left + width]


def gray_to_raster(gray: np.ndarray, binarize: bool = True) -> Raster:
    """Gray [H, W] in [0, 1], white paper -> RGBA: black ink, alpha = ink (Otsu-binarised if asked)."""
    ink = 1 - np.clip(gray, 0, 1)
    if binarize:
        ink = (ink > otsu_threshold(ink)).astype(np.float32)
    rgba = np.zeros((*gray.shape, 4), np.uint8)
    rgba[..., 3] = np.uint8(np.round(ink * 255))
    return Raster(rgba)
