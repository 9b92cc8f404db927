"""SketchAnimator: vector strokes + a reference clip -> a vector animation with the clip's motion.

"SketchAnimator: Animate Sketch via Motion Customization of Text-to-Video Diffusion Models"
(Yang, Li, Zhang and Song, 2024). Three stages on a text-to-video prior (ModelScope):

1. Appearance learning (Eq. 5): LoRAs on the attention of the UNet's *spatial* transformers
   (A-LoRAs, dW_A) learn the rasterised sketch, a one-frame video, with its one-word subject
   prompt y_a, by the usual noise-prediction loss ||eps - eps_W(z_t, y_a, t)||^2.
2. Motion learning (Eqs. 6-7): on the reference clip with its prompt y_m, spatial LoRAs A' learn
   single frames picked at random (Eq. 6: appearance without motion) while LoRAs on the *temporal*
   attention (M-LoRAs, dW_M) learn the whole clip (the VDM loss, Eq. 2), L_motion = L_spatial +
   L_temporal (Eq. 7). A' soaks up the clip's look, so dW_M keeps mostly its motion; A' is then
   thrown away.
3. Video prior distillation: the customised prior W' = W0 + lambda1 dW_A + lambda2 dW_M (Eq. 9,
   lambda1 0.5, lambda2 1), and score distillation on the strokes' control points directly: the
   sketch is copied into every frame (S = {P^f}), rasterised and encoded, z_0 = E(R(S)) (Eq. 8), and
   the SDS gradient of the customised prior flows back to the control points (Eqs. 10-12).

The paper gives 500 iterations per LoRA stage, 256x256 frames, the frame count of the clip and a
rasterizer learning rate of 2e-3. It gives no LoRA rank, LoRA learning rate or guidance: those follow
MotionDirector (the public recipe this one builds on: rank 32, AdamW 5e-4, weight decay 1e-2, LoRA
dropout 0.1, a spatial loss on one random frame, each LoRA family trained by its own loss) and
Live-Sketch (guidance 30, the SDS weighting w(t) = 1 - alpha_bar_t, timesteps from [50, 950),
the same random perspective + crop for every frame).

Reused, not copied, from Live-Sketch (inkmotion.pipelines.live_sketch): the sketch as padded
control points, the differentiable rasterizer, the VAE encoding with its chunked backward, the SDS
gradient and the augmentation. As there, the output keeps the artist's strokes: each dense point
(with its radius, opacity and colour) moves by its control points' offsets, carried through its
place on its fitted curve (`strokes.chains.point_offsets`), so a control point that stays put moves
nothing.

The LoRAs live on the shared UNet only for the job (`models.lora_cache.AdapterSession` puts it back
as it was, also on failure or cancellation) and are cached by content hash
(`models.lora_cache.LoraCache`): the same clip with another sketch skips motion learning, the same
sketch with another clip skips appearance learning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
import torch.nn.functional as F

from inkmotion import models
from inkmotion.codec.drawing import Drawing, Keyframe, Raster
from inkmotion.errors import InvalidInput
from inkmotion.models.lora_cache import AdapterSession, LoraCache, content_key, unet_fingerprint
from inkmotion.pipelines.base import Progress, ProgressCallback, no_progress
from inkmotion.pipelines.live_sketch import LiveSketchConfig, LiveSketchPipeline, random_view, warp
from inkmotion.strokes import chains

if TYPE_CHECKING:
    from inkmotion.pipelines.live_sketch import _Sketch  # what LiveSketchPipeline.prepare_sketch returns

log = logging.getLogger(__name__)

# The adapters, by the paper's names.
APPEARANCE = "appearance"  # A-LoRAs: the sketch (stage 1)
APPEARANCE_VIDEO = "appearance_video"  # A'-LoRAs: the clip's single frames (stage 2, then dropped)
MOTION = "motion"  # M-LoRAs: the clip's motion (stage 2)

# Where they go in diffusers' UNet3DConditionModel (peft target_modules, a regex matched against the
# whole module name). Spatial: the self- and cross-attention projections of every Transformer2DModel
# (`attentions.*` in the down, mid and up blocks). Temporal: those of every TransformerTemporalModel
# (`temp_attentions.*`, and `transformer_in` after conv_in). Feed-forwards stay as they are.
_PROJECTIONS = r"transformer_blocks\.\d+\.attn[12]\.(to_q|to_k|to_v|to_out\.0)"
_BLOCKS = r"(down_blocks\.\d+|mid_block|up_blocks\.\d+)"
SPATIAL_ATTENTION = rf"{_BLOCKS}\.attentions\.\d+\.{_PROJECTIONS}"
TEMPORAL_ATTENTION = rf"({_BLOCKS}\.temp_attentions\.\d+|transformer_in)\.{_PROJECTIONS}"


@dataclass(frozen=True)
class SketchAnimatorConfig:
    """The paper's settings where it gives them; the rest as commented."""

    frames: int = 16  # the task passes the clip's frame count
    size: int = 256  # the paper's frames are 256x256
    appearance_steps: int = 500  # stage 1 (0: no A-LoRA, the paper's "w/o A-LoRAs" ablation)
    motion_steps: int = 500  # stage 2 (0: no M-LoRA, "w/o M-LoRAs")
    steps: int = 500  # stage 3: SDS iterations on the control points
    # Not in the paper: MotionDirector's LoRA rank (alpha = rank, so a LoRA at scale 1 adds B A),
    # its AdamW learning rate and weight decay, and its LoRA dropout.
    rank: int = 32
    lora_lr: float = 5e-4
    lora_weight_decay: float = 1e-2
    lora_dropout: float = 0.1
    # The paper's rasterizer learning rate. Applied to control points in canvas units ([0, 1] across
    # the render): Adam moves a point by about lr per step, 0.5 px at 256 px, so 500 steps can carry
    # a stroke across the frame. In pixels the same rate would cap the whole motion near 1 px.
    points_lr: float = 2e-3
    appearance_weight: float = 0.5  # lambda1 (Eq. 9)
    motion_weight: float = 1.0  # lambda2 (Eq. 9)
    # Not in the paper: Live-Sketch's guidance for its local path, the one that, like stage 3 here,
    # moves every control point freely.
    guidance: float = 30.0
    timestep_range: tuple[int, int] = (50, 949)  # SDS timesteps, as Live-Sketch draws them
    augment: bool = True  # Live-Sketch's random perspective + crop, the same for every frame
    subject_prompt: str = ""  # y_a of Eq. 5, the sketch's subject in a word ("A horse."); "": the prompt
    # y_m of Eqs. 6-7, the clip's caption. "" (none known): the empty prompt, the model's "any video",
    # so that the motion LoRA depends on the clip alone and serves every sketch from the cache.
    motion_prompt: str = ""
    samples_per_segment: int = 8  # polyline points per cubic segment when rendering
    vae_chunk: int | None = None  # see LiveSketchConfig.vae_chunk
    seed: int = 0
    preview_every: int = 0
    cache_dir: str | None = None  # None: $INKMOTION_LORA_CACHE, else ~/.cache/inkmotion/loras ($XDG_CACHE_HOME honoured)

    @property
    def total_steps(self) -> int:
        return self.appearance_steps + self.motion_steps + self.steps


def denoising_loss(unet, scheduler, latents: torch.Tensor, text: torch.Tensor, timesteps: torch.Tensor,
                   noise: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Eqs. (5)-(7), one draw: ||eps - eps_W(z_t, tau(y), t)||^2 (mean) with z_t = alpha_t z_0 + sigma_t eps
    (Eq. 1). `latents` and `noise` [B, C, F, h, w] (float32), `text` [B, L, D]."""
    noisy = scheduler.add_noise(latents.float(), noise.float(), timesteps)
    dtype = dtype or next(unet.parameters()).dtype
    predicted = unet(noisy.to(dtype), timesteps, encoder_hidden_states=text).sample.float()
    return F.mse_loss(predicted, noise.float())


class SketchAnimatorPipeline:
    """Motion from a reference clip for vector sketches. Components are passed in (see inkmotion.models)."""

    def __init__(self, unet, vae, text_encoder, tokenizer, scheduler, *, device=None, dtype=None,
                 rasterize: Callable | None = None, model_id: str = ""):
        # Live-Sketch's building blocks (sketch, rasterizer, VAE, SDS) on the same components.
        self.live = LiveSketchPipeline(unet, vae, text_encoder, tokenizer, scheduler, device=device, dtype=dtype,
                                       rasterize=rasterize)
        self.unet, self.vae, self.scheduler = unet, vae, scheduler
        self.device, self.dtype = self.live.device, self.live.dtype
        self.model_id = model_id  # the registry's name for the weights, part of every cache key
        self._fingerprint: str | None = None

    @classmethod
    def from_model(cls, model, **kwargs) -> "SketchAnimatorPipeline":
        """From an `inkmotion.models.TextToVideo` (weights shared; the UNet is left as it was found)."""
        spec = model.spec
        if spec is not None and "model_id" not in kwargs:
            kwargs["model_id"] = f"{spec.source}@{spec.revision}:{spec.variant}:{spec.lora}@{spec.lora_revision}"
        return cls(model.unet, model.vae, model.text_encoder, model.tokenizer, model.fresh_scheduler(),
                   device=model.device, dtype=model.dtype, **kwargs)

    # -- building blocks ----------------------------------------------------------------------

    @staticmethod
    def live_config(config: SketchAnimatorConfig) -> LiveSketchConfig:
        """The Live-Sketch settings its reused building blocks read."""
        return LiveSketchConfig(frames=config.frames, size=config.size, timestep_range=config.timestep_range,
                                augment=config.augment, samples_per_segment=config.samples_per_segment,
                                vae_chunk=config.vae_chunk, seed=config.seed)

    def encode_text(self, prompt: str) -> torch.Tensor:
        """The conditional text embedding [1, L, D] the LoRAs train with."""
        return models.encode_prompt(self.live.tokenizer, self.live.text_encoder, [prompt], self.device, self.dtype)

    @torch.no_grad()
    def sketch_image(self, state: _Sketch, config: SketchAnimatorConfig) -> torch.Tensor:
        """The sketch rasterised as stage 3 renders it: ink [1, H, W] in [0, 1]."""
        return self.live.render(state.control[None], state, self.live_config(config))

    @torch.no_grad()
    def sketch_latents(self, ink: torch.Tensor) -> torch.Tensor:
        """Ink [1, H, W] -> a one-frame video latent [1, C, 1, h, w] (posterior mean), float32."""
        zeros = torch.zeros(self.live.latent_noise_shape(1, ink.shape[-1]), device=self.device)
        return self.live.encode_frames(ink, zeros).float()

    @staticmethod
    def clip_pixels(clip: list[Raster], size: int) -> torch.Tensor:
        """The clip's frames over white paper, padded to squares with white and resized: [F, 3, size, size]
        in [0, 1]. (The paper pre-processes its frames to 256x256.)"""
        frames = []
        for raster in clip:
            rgba = torch.from_numpy(np.asarray(raster.rgba, dtype=np.float32) / 255)
            rgb = rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:])  # straight alpha over white
            image = rgb.permute(2, 0, 1)
            h, w = image.shape[1:]
            side = max(h, w)
            top, left = (side - h) // 2, (side - w) // 2
            image = F.pad(image, (left, side - w - left, top, side - h - top), value=1.0)
            frames.append(F.interpolate(image[None], size=(size, size), mode="bilinear", antialias=True,
                                        align_corners=False)[0].clamp(0, 1))
        return torch.stack(frames)

    @torch.no_grad()
    def clip_latents(self, pixels: torch.Tensor, chunk: int = 4) -> torch.Tensor:
        """Frames [F, 3, H, W] in [0, 1] -> video latents [1, C, F, h, w] (posterior mean), float32."""
        parts = []
        for i in range(0, pixels.shape[0], chunk):
            rgb = (pixels[i : i + chunk] * 2 - 1).to(self.device, self.dtype)
            parts.append(self.vae.encode(rgb).latent_dist.mean.float() * self.vae.config.scaling_factor)
        return torch.cat(parts).permute(1, 0, 2, 3)[None]

    def lora_config(self, target: str, config: SketchAnimatorConfig):
        from peft import LoraConfig

        return LoraConfig(r=config.rank, lora_alpha=config.rank, target_modules=target,
                          lora_dropout=config.lora_dropout, init_lora_weights=True)

    def _optimizer(self, parameters, config: SketchAnimatorConfig):
        optimizer = torch.optim.AdamW(parameters, lr=config.lora_lr, weight_decay=config.lora_weight_decay)
        # fp16 activations can underflow the LoRAs' gradients: scale the loss, as mixed precision does.
        scaler = torch.amp.GradScaler(self.device.type, enabled=self.device.type == "cuda" and self.dtype == torch.float16)
        return optimizer, scaler

    def _training_draw(self, latents: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        train_steps = int(self.scheduler.config.num_train_timesteps)
        timesteps = torch.randint(0, train_steps, (latents.shape[0],), generator=generator).to(self.device)
        noise = torch.randn(latents.shape, generator=generator).to(self.device)
        return timesteps, noise

    # -- stage 1: appearance learning (Eq. 5) --------------------------------------------------

    def learn_appearance(self, adapters: AdapterSession, latents: torch.Tensor, text: torch.Tensor,
                         config: SketchAnimatorConfig, on_step: Callable[[int], None] = lambda step: None) -> None:
        """Train the A-LoRAs (spatial attention only) on the sketch's one-frame latent [1, C, 1, h, w]:
        L_appearance = E ||eps - eps_W(z_t, tau(y_a), t)||^2 (Eq. 5)."""
        torch.manual_seed(config.seed)  # peft draws the LoRAs' A matrices from the global generator
        adapters.add(APPEARANCE, self.lora_config(SPATIAL_ATTENTION, config))
        adapters.activate({APPEARANCE: 1.0})
        parameters = adapters.train(APPEARANCE)
        optimizer, scaler = self._optimizer(parameters, config)
        generator = torch.Generator().manual_seed(config.seed)
        try:
            for step in range(1, config.appearance_steps + 1):
                timesteps, noise = self._training_draw(latents, generator)
                optimizer.zero_grad(set_to_none=True)
                loss = denoising_loss(self.unet, self.scheduler, latents, text, timesteps, noise, self.dtype)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                on_step(step)
        finally:
            adapters.train(APPEARANCE, False)

    # -- stage 2: motion learning (Eqs. 6-7) ---------------------------------------------------

    def learn_motion(self, adapters: AdapterSession, latents: torch.Tensor, text: torch.Tensor,
                     config: SketchAnimatorConfig, on_step: Callable[[int], None] = lambda step: None) -> None:
        """Train the A'-LoRAs (spatial) and M-LoRAs (temporal) on the clip's latents [1, C, F, h, w].

        Each step draws one timestep and one noise for the clip (as MotionDirector) and
        - Eq. (6), L_spatial: A' alone acts, on a frame i ~ U(0, F) of z_t as a one-frame video;
        - L_temporal (the VDM loss, Eq. 2): A' and M act on the whole clip.
        L_motion = L_spatial + L_temporal (Eq. 7), each LoRA family trained by its own term as in
        MotionDirector: A' by the spatial loss, M by the temporal one (A' acts there, frozen), so
        that M cannot take the appearance of single frames and A' cannot take motion.
        """
        torch.manual_seed(config.seed + 1)
        adapters.add(APPEARANCE_VIDEO, self.lora_config(SPATIAL_ATTENTION, config))
        adapters.add(MOTION, self.lora_config(TEMPORAL_ATTENTION, config))
        parameters = adapters.parameters(APPEARANCE_VIDEO) + adapters.parameters(MOTION)
        optimizer, scaler = self._optimizer(parameters, config)
        generator = torch.Generator().manual_seed(config.seed + 1)
        frames = latents.shape[2]
        try:
            for step in range(1, config.motion_steps + 1):
                timesteps, noise = self._training_draw(latents, generator)
                i = int(torch.randint(0, frames, (1,), generator=generator))
                optimizer.zero_grad(set_to_none=True)
                # Eq. (6): one frame, spatial LoRAs only (the temporal ones would learn appearance here)
                adapters.activate({APPEARANCE_VIDEO: 1.0})
                adapters.train(APPEARANCE_VIDEO)
                spatial = denoising_loss(self.unet, self.scheduler, latents[:, :, i : i + 1], text, timesteps,
                                         noise[:, :, i : i + 1], self.dtype)
                scaler.scale(spatial).backward()
                # the temporal term: the whole clip, A' acting (frozen), M learning
                adapters.activate({APPEARANCE_VIDEO: 1.0, MOTION: 1.0})
                adapters.train(MOTION)
                temporal = denoising_loss(self.unet, self.scheduler, latents, text, timesteps, noise, self.dtype)
                scaler.scale(temporal).backward()
                scaler.step(optimizer)
                scaler.update()
                on_step(step)
        finally:
            adapters.train(APPEARANCE_VIDEO, False)
            adapters.train(MOTION, False)

    # -- stage 3: video prior distillation (Eqs. 8-12) -----------------------------------------

    def use_video_prior(self, adapters: AdapterSession, config: SketchAnimatorConfig) -> None:
        """Eq. (9): W' = W0 + lambda1 dW_A + lambda2 dW_M, as peft adapter scales (the UNet's own
        weights are never touched; an absent LoRA, from a stage with 0 steps, adds nothing)."""
        scales = {APPEARANCE: config.appearance_weight, MOTION: config.motion_weight}
        adapters.activate({name: s for name, s in scales.items() if name in adapters.names})

    def control_points(self, points: torch.Tensor, state: _Sketch, config: SketchAnimatorConfig) -> torch.Tensor:
        """The optimised points [F, P_real, 2] (canvas units) as padded control points [F, S, P, 2] in
        render pixels (padding stays where it is: the renderer never reads it)."""
        frames = state.control.expand(points.shape[0], *state.control.shape).clone()
        frames[:, state.mask] = points * config.size
        return frames

    def distill(self, state: _Sketch, sketch: Drawing, embeddings: torch.Tensor, config: SketchAnimatorConfig,
                on_step: Callable[[int, Keyframe | None], None] = lambda step, preview: None) -> torch.Tensor:
        """SDS of the customised prior on the control points of every frame; returns them [F, S, P, 2]
        (render pixels). S = {P^f}: the sketch copied into every frame; z_0 = E(R(S)) (Eq. 8); the
        gradient w(t) (eps_W'(z_t; y, t) - eps) dz/dS (Eq. 10, with guidance) moves S (Eqs. 11-12)."""
        live = self.live_config(config)
        rest = state.control[state.mask] / config.size  # canvas units (see points_lr)
        points = rest.expand(config.frames, *rest.shape).clone().requires_grad_(True)
        optimizer = torch.optim.Adam([points], lr=config.points_lr)
        generator = torch.Generator().manual_seed(config.seed + 2)
        for step in range(1, config.steps + 1):
            optimizer.zero_grad(set_to_none=True)
            ink = self.live.render(self.control_points(points, state, config), state, live)
            if config.augment:
                ink = warp(ink, random_view(generator, self.device))
            self.live.sds_backward(ink, embeddings, config.guidance, generator, live)
            optimizer.step()
            preview = None
            if config.preview_every and step % config.preview_every == 0:
                with torch.no_grad():
                    middle = self.control_points(points, state, config)[config.frames // 2 : config.frames // 2 + 1]
                preview = Keyframe(0, self.frames_out(middle, state, sketch)[0])
            on_step(step, preview)
        with torch.no_grad():
            return self.control_points(points, state, config)

    @torch.no_grad()
    def frames_out(self, control: torch.Tensor, state: _Sketch, sketch: Drawing) -> list[Drawing]:
        """The artist's strokes moved by the control points of each frame [F, S, P, 2]: every dense
        point by its curve's offsets at its own parameter; radii, opacities and colours unchanged."""
        offsets = ((control - state.control) / state.scale).detach().to("cpu", torch.float64)
        out = []
        for frame in offsets:
            shift = chains.point_offsets(state.params, frame)
            strokes = [stroke.copy(points=(stroke.points + delta).astype(np.float32), bezier=None)
                       for stroke, delta in zip(sketch.strokes, shift)]
            out.append(sketch.copy(strokes=strokes))
        return out

    # -- the cache ------------------------------------------------------------------------------

    def model_identity(self) -> str:
        """The weights the LoRAs were trained on: the registry's name and a fingerprint of the UNet."""
        if self._fingerprint is None:
            self._fingerprint = unet_fingerprint(self.unet)
        return f"{self.model_id}|{self._fingerprint}"

    def appearance_key(self, ink: torch.Tensor, subject: str, config: SketchAnimatorConfig) -> str:
        pixels = (ink.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
        return content_key({"stage": APPEARANCE, "model": self.model_identity(), "sketch": pixels, "prompt": subject,
                            "steps": config.appearance_steps, **self._lora_settings(config)})

    def motion_key(self, clip: list[Raster], caption: str, config: SketchAnimatorConfig) -> str:
        frames = [np.asarray(r.rgba, dtype=np.uint8) for r in clip]
        return content_key({"stage": MOTION, "model": self.model_identity(), "clip": frames, "prompt": caption,
                            "frames": config.frames, "steps": config.motion_steps, **self._lora_settings(config)})

    @staticmethod
    def _lora_settings(config: SketchAnimatorConfig) -> dict:
        return {"size": config.size, "rank": config.rank, "lr": config.lora_lr, "weight_decay": config.lora_weight_decay,
                "dropout": config.lora_dropout, "seed": config.seed, "targets": [SPATIAL_ATTENTION, TEMPORAL_ATTENTION]}

    def _cached_or_trained(self, adapters: AdapterSession, cache: LoraCache, stage: str, key: str,
                           keep: str, train: Callable[[], None], metadata: dict) -> bool:
        """Adapter `keep` from the cache (True), or trained by `train()` and cached (False)."""
        entry = cache.get(stage, key)
        if entry is not None:
            try:
                adapters.load(keep, entry)
                return True
            except Exception as exc:  # a damaged entry: learn it again
                log.warning("cached %s LoRA %s does not load (%s): training it again", stage, entry, exc)
                cache.discard(stage, key)
        train()
        try:
            cache.put(stage, key, lambda folder: adapters.save(keep, folder, metadata))
        except OSError as exc:  # a read-only or full disk costs the next job time, not this one its result
            log.warning("could not cache the %s LoRA in %s: %s", stage, cache.folder, exc)
        return False

    # -- the whole run ------------------------------------------------------------------------

    def check(self, sketch: Drawing, clip: list[Raster], config: SketchAnimatorConfig) -> None:
        if config.frames < 2:
            raise InvalidInput("frames", f"{config.frames} is under the minimum of 2")
        if not sketch.strokes:
            raise InvalidInput("sketch", "has no strokes to animate")
        for name in ("appearance_steps", "motion_steps", "steps"):
            if getattr(config, name) < 0:
                raise InvalidInput(name, f"{getattr(config, name)} is negative")
        if config.rank < 1:
            raise InvalidInput("rank", f"{config.rank} is under the minimum of 1")
        if config.motion_steps:
            if len(clip) != config.frames:
                raise InvalidInput("clip", f"{len(clip)} frames, but frames is {config.frames} "
                                           "(sample the clip to the frame count)")
            for i, raster in enumerate(clip):
                rgba = np.asarray(raster.rgba)
                if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8 or 0 in rgba.shape:
                    raise InvalidInput(f"clip[{i}]", f"expected RGBA uint8 [H, W, 4], got {rgba.dtype} {list(rgba.shape)}")

    def __call__(
        self,
        sketch: Drawing,
        clip: list[Raster],
        prompt: str,
        config: SketchAnimatorConfig = SketchAnimatorConfig(),
        on_progress: ProgressCallback = no_progress,
    ) -> list[Drawing]:
        """`config.frames` drawings: the sketch moved as the clip moves, frame 0 the start of the
        motion. `clip`: `config.frames` RGBA frames (any one size; resized to `config.size` here),
        unused when `motion_steps` is 0. `prompt`: the text of the animation, y of Eq. 10, usually
        the sketch's subject; also y_a unless `config.subject_prompt` says otherwise."""
        self.check(sketch, clip, config)
        torch.manual_seed(config.seed)
        total = config.total_steps
        first_motion_step = config.appearance_steps
        first_sds_step = config.appearance_steps + config.motion_steps

        # 1. Encode the prompts: y for SDS (with the empty prompt, for guidance), y_a and y_m for the LoRAs.
        on_progress(Progress(0, 0, "encoding the prompts"))  # step 0: a phase, before the steps
        subject, caption = config.subject_prompt or prompt, config.motion_prompt
        embeddings = self.live.encode_prompt(prompt)

        # 2. The sketch as cubic control points in render space, and its raster (stage 1's image).
        on_progress(Progress(0, 0, "preparing the sketch and the clip"))
        state = self.live.prepare_sketch(sketch, self.live_config(config))
        cache = LoraCache(config.cache_dir)
        self.model_identity()  # fingerprinted before any adapter joins the UNet
        metadata = {"prompt": prompt, "subject_prompt": subject, "motion_prompt": caption, "model": self.model_id}

        with AdapterSession(self.unet) as adapters:
            # 3. Stage 1, appearance learning (Eq. 5): A-LoRAs on spatial attention.
            if config.appearance_steps:
                ink = self.sketch_image(state, config)

                def appearance():
                    latents, text = self.sketch_latents(ink), self.encode_text(subject)
                    self.learn_appearance(adapters, latents, text, config,
                                          lambda step: on_progress(Progress(step, total, "appearance learning")))

                if self._cached_or_trained(adapters, cache, APPEARANCE, self.appearance_key(ink, subject, config),
                                           APPEARANCE, appearance, {**metadata, "steps": config.appearance_steps}):
                    on_progress(Progress(first_motion_step, total, "appearance LoRA from the cache"))

            # 4. Stage 2, motion learning (Eqs. 6-7): A'-LoRAs (spatial) + M-LoRAs (temporal); A' is dropped.
            if config.motion_steps:
                def motion():
                    latents = self.clip_latents(self.clip_pixels(clip, config.size))
                    self.learn_motion(adapters, latents, self.encode_text(caption), config,
                                      lambda step: on_progress(Progress(first_motion_step + step, total, "motion learning")))

                if self._cached_or_trained(adapters, cache, MOTION, self.motion_key(clip, caption, config),
                                           MOTION, motion, {**metadata, "steps": config.motion_steps}):
                    on_progress(Progress(first_sds_step, total, "motion LoRA from the cache"))
                if APPEARANCE_VIDEO in adapters.names:
                    adapters.remove(APPEARANCE_VIDEO)

            # 5. Stage 3, video prior distillation: W' (Eq. 9), then SDS on the control points (Eqs. 8, 10-12).
            self.use_video_prior(adapters, config)
            control = self.distill(state, sketch, embeddings, config,
                                   lambda step, preview: on_progress(Progress(first_sds_step + step, total,
                                                                              "score distillation", preview)))

        # 6. Move the artist's own strokes by the learned control points.
        return self.frames_out(control, state, sketch)
