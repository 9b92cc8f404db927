"""Loading a text-to-video model onto its device, read-only, and the wrapper pipelines take it in.

`load_text_to_video` loads the five components of a diffusers text-to-video folder (hub id or
folder, safetensors only) into a `TextToVideo`, with CPU offload if asked. Loaded models are shared
by jobs (see `inkmotion.models.cache`), so shared means read-only: a pipeline makes its own
scheduler (`TextToVideo.fresh_scheduler()`), and anything it attaches to a shared module (a LoRA)
it must name and remove, or load its own copy.

torch, diffusers and transformers are imported only when a model is loaded: listing and checking
models stays fast.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inkmotion.errors import InvalidInput, ModelUnavailable
from inkmotion.models import lora
from inkmotion.models.hub import MOTION_STROKES_FILES, availability, check_folder, downloads_allowed, pull_hint
from inkmotion.models.specs import DTYPES, TEXT_TO_VIDEO, TRAINED_KINDS, ModelSpec

if TYPE_CHECKING:
    import torch

OFFLOAD_ENV = "INKMOTION_CPU_OFFLOAD"  # `inkmotion serve --cpu-offload`


def offload_requested() -> bool:
    return os.environ.get(OFFLOAD_ENV, "").strip().lower() in ("1", "true", "yes")



@dataclass
class TextToVideo:
    """The components of a text-to-video diffusion model, ready on their device, read-only.

    `device` is where inputs go and outputs come from. With offload the modules move to it only
    while they run, so pipelines use `device`/`dtype` here, never `next(unet.parameters())`.
    """

    unet: Any  # diffusers.UNet3DConditionModel
    vae: Any  # diffusers.AutoencoderKL
    text_encoder: Any  # transformers.CLIPTextModel
    tokenizer: Any  # transformers.CLIPTokenizer
    scheduler: Any  # diffusers.DDIMScheduler: the configured one; see fresh_scheduler()
    device: torch.device
    dtype: torch.dtype
    spec: ModelSpec | None = None
    offload: bool = False
    # The layout of the LoRA in the UNet (inkmotion.models.lora.layout): "adapter" (ours), "unet"
    # (the public FlipSketch checkpoint), "" for none. Pipelines match their inputs to what it saw.
    lora_layout: str = ""
    _offloader: Any = field(default=None, repr=False)

    def encode_prompt(self, prompts: list[str]) -> torch.Tensor:
        """CLIP text embeddings [len(prompts), 77, D] on `device` in `dtype`, without gradients."""
        return encode_prompt(self.tokenizer, self.text_encoder, prompts, self.device, self.dtype)

    def fresh_scheduler(self):
        """A scheduler of this model's class and config for one job (set_timesteps changes its state)."""
        return type(self.scheduler).from_config(self.scheduler.config)

    @property
    def vae_scale_factor(self) -> int:
        """Pixels per latent cell along each side (8 for ModelScope)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        return int(self.unet.config.in_channels)

    @property
    def scaling_factor(self) -> float:
        """VAE latents are multiplied by this before the UNet sees them (0.18215 for ModelScope)."""
        return float(self.vae.config.scaling_factor)


def encode_prompt(tokenizer, text_encoder, prompts: str | list[str], device: torch.device,
                  dtype: torch.dtype) -> torch.Tensor:
    """CLIP text embeddings [len(prompts), 77, D] on `device` in `dtype`, without gradients.

    The one text encoding: `TextToVideo.encode_prompt`, and the pipelines built from components,
    call it. The text encoder runs where it is (on the CPU under offload)."""
    import torch

    if isinstance(prompts, str):
        prompts = [prompts]
    tokens = tokenizer(list(prompts), padding="max_length", max_length=tokenizer.model_max_length,
                       truncation=True, return_tensors="pt")
    encoder_device = next(text_encoder.parameters()).device
    with torch.no_grad():
        hidden = text_encoder(tokens.input_ids.to(encoder_device))[0]
    return hidden.to(device, dtype)


class _OneAtATime:
    """Simple offload (no accelerate): of the modules it watches, only the one about to run sits
    on the GPU; the others wait on the CPU. Fine for sampling; an SDS loop, which needs the VAE and
    the UNet every step and backpropagates through both, should keep them resident instead."""

    def __init__(self, device: torch.device):
        self.device = device
        self.resident = None
        self._lock = threading.Lock()

    def watch(self, module, entry_points) -> None:
        for entry in entry_points:
            entry.register_forward_pre_hook(lambda *_, module=module: self.bring(module))

    def bring(self, module) -> None:
        with self._lock:
            if self.resident is module:
                return
            if self.resident is not None:
                self.resident.to("cpu")
            module.to(self.device)
            self.resident = module


def choose_dtype(spec: ModelSpec, device: str | torch.device, dtype: str | torch.dtype | None = None) -> torch.dtype:
    """The spec's dtype on CUDA, float32 elsewhere, unless one is asked for."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    name = dtype or (spec.dtype if torch.device(device).type == "cuda" else "float32")
    if name not in DTYPES:
        raise InvalidInput("dtype", f"{name!r} is not one of {', '.join(DTYPES)}")
    return getattr(torch, name)


def load_text_to_video(
    spec: ModelSpec,
    device: str | torch.device = "cpu",
    *,
    dtype: str | torch.dtype | None = None,
    offload: bool = False,
    local_files_only: bool | None = None,
    cache_dir: str | Path | None = None,
) -> TextToVideo:
    """Load the five components of a text-to-video model, read-only, on `device`.

    Hub ids load from the Hugging Face cache only unless INKMOTION_ALLOW_DOWNLOAD=1 (or
    local_files_only=False); missing weights raise ModelUnavailable saying how to pull them.
    On CUDA: the spec's dtype, SDPA attention, VAE slicing; `offload` keeps the text encoder on
    the CPU and moves the UNet and VAE to the GPU only while each runs.
    """
    import torch

    if spec.kind != TEXT_TO_VIDEO:
        raise InvalidInput("model", f"{spec.name!r} is a {spec.kind} model, not {TEXT_TO_VIDEO}")
    if local_files_only is None:
        local_files_only = not downloads_allowed()
    if local_files_only and not spec.is_local:
        # Missing weights are said before diffusers and transformers are imported: that import
        # holds the interpreter lock for seconds, and in a server every RPC would wait on it.
        available, why = availability(spec, cache_dir=cache_dir)
        if not available:
            raise ModelUnavailable(why)
    from diffusers import AutoencoderKL, DDIMScheduler, UNet3DConditionModel
    from diffusers.models.attention_processor import AttnProcessor2_0
    from transformers import CLIPTextModel, CLIPTokenizer

    device = torch.device(device)
    torch_dtype = choose_dtype(spec, device, dtype)
    offload = offload and device.type == "cuda"  # nothing to save on the CPU
    if spec.is_local:
        check_folder(spec)
        where: dict[str, Any] = {"local_files_only": True}
    else:
        where = {"revision": spec.revision, "local_files_only": local_files_only, "cache_dir": cache_dir}
    weights = {"use_safetensors": True, "variant": spec.variant}
    encoder_dtype = torch.float32 if offload else torch_dtype  # the text encoder runs on the CPU then

    try:
        with _quiet_loading():
            unet = UNet3DConditionModel.from_pretrained(spec.source, subfolder="unet", dtype=torch_dtype, **weights, **where)
            vae = AutoencoderKL.from_pretrained(spec.source, subfolder="vae", dtype=torch_dtype, **weights, **where)
            text_encoder = CLIPTextModel.from_pretrained(spec.source, subfolder="text_encoder", dtype=encoder_dtype,
                                                         **weights, **where)
            tokenizer = CLIPTokenizer.from_pretrained(spec.source, subfolder="tokenizer", **where)
            scheduler = DDIMScheduler.from_pretrained(spec.source, subfolder="scheduler", **where)
    except (OSError, ValueError) as exc:
        raise _load_failed(spec, exc, where.get("local_files_only", True), cache_dir) from exc

    lora_layout = ""
    if spec.lora:
        folder = lora.locate(spec.lora, revision=spec.lora_revision, local_files_only=local_files_only)
        lora_layout = lora.layout(folder)
        unet = lora.apply(unet, folder, dtype=torch_dtype)
    for module in (unet, vae, text_encoder):
        module.eval()
        module.requires_grad_(False)
    # Explicit, so a later custom processor is a visible choice (torch 2's SDPA is the memory saver).
    unet.set_attn_processor(AttnProcessor2_0())
    vae.set_attn_processor(AttnProcessor2_0())
    offloader = None
    if device.type == "cuda":
        vae.enable_slicing()  # decode one video at a time
    if offload:
        offloader = _OneAtATime(device)
        offloader.watch(unet, [unet])
        # AutoencoderKL.encode/decode are not forward(): watch the submodules they call.
        offloader.watch(vae, list(vae.children()))
    else:
        unet.to(device)
        vae.to(device)
        text_encoder.to(device)
    return TextToVideo(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler,
                       device=device, dtype=torch_dtype, spec=spec, offload=offload, lora_layout=lora_layout,
                       _offloader=offloader)


def load_trained(spec: ModelSpec, device: str | torch.device = "cpu", *, dtype: str | torch.dtype | None = None,
                 local_files_only: bool | None = None, cache_dir: str | Path | None = None):
    """A model we train (motion-strokes, sketch-flow: `TRAINED_KINDS`) from its folder or hub id,
    read-only on `device`, by the pipeline of its kind: config.json + model.safetensors,
    safetensors only. On CUDA in the spec's dtype (float16 by default), float32 on the CPU."""
    import importlib

    if spec.kind not in TRAINED_KINDS:
        raise InvalidInput("model", f"{spec.name!r} is a {spec.kind} model, not one of {', '.join(TRAINED_KINDS)}")
    pipeline = importlib.import_module("inkmotion.pipelines." + spec.kind.replace("-", "_"))
    if local_files_only is None:
        local_files_only = not downloads_allowed()
    if spec.is_local:
        folder = check_folder(spec)
    else:
        available, why = availability(spec, cache_dir=cache_dir)
        if local_files_only and not available:
            raise ModelUnavailable(why)
        from huggingface_hub import snapshot_download

        try:
            folder = Path(snapshot_download(spec.source, revision=spec.revision, cache_dir=cache_dir,
                                            allow_patterns=[name for (name,) in MOTION_STROKES_FILES],
                                            local_files_only=local_files_only))
        except Exception as exc:  # network, auth, a missing repository: the same for whoever asked
            raise ModelUnavailable(f"model {spec.name!r}: cannot load {spec.where}: {exc}") from exc
    try:
        return pipeline.load(folder, device, choose_dtype(spec, device, dtype))
    except ModelUnavailable as exc:
        raise ModelUnavailable(f"model {spec.name!r}: {exc}") from None


@contextlib.contextmanager
def _quiet_loading():
    """Loading is logged once by the server; the libraries' own progress bars and deprecation
    chatter (diffusers still passes huggingface_hub a retired argument) would only add noise."""
    from transformers.utils import logging as transformers_logging

    was_enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*local_dir_use_symlinks.*")
            yield
    finally:
        if was_enabled:
            transformers_logging.enable_progress_bar()


def _load_failed(spec: ModelSpec, exc: Exception, local_only: bool, cache_dir) -> ModelUnavailable:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if spec.is_local:
        return ModelUnavailable(f"model {spec.name!r}: cannot load {spec.source}: {detail}")
    if local_only:
        ok, why = availability(spec, cache_dir=cache_dir)
        if not ok:
            return ModelUnavailable(why)
        return ModelUnavailable(f"model {spec.name!r} ({spec.where}) is in the cache but does not load ({detail}); "
                                f"{pull_hint(spec)} to fetch it again")
    return ModelUnavailable(f"model {spec.name!r}: cannot load {spec.where} (safetensors only): {detail}")


def load_clip(source: str, device: str | torch.device = "cpu"):
    """(CLIPModel, CLIPImageProcessor) from a hub id or folder, safetensors only, cached."""
    import torch

    key = (source, str(torch.device(device)))
    with _CLIP_LOCK:
        if key not in _CLIPS:
            from transformers import CLIPImageProcessor, CLIPModel

            local_only = Path(source).is_absolute() or not downloads_allowed()
            try:
                with _quiet_loading():
                    model = CLIPModel.from_pretrained(source, use_safetensors=True, local_files_only=local_only)
                    processor = CLIPImageProcessor.from_pretrained(source, local_files_only=local_only)
            except (OSError, ValueError) as exc:
                raise ModelUnavailable(f"CLIP model {source}: cannot load it ({exc})") from exc
            _CLIPS[key] = (model.eval().requires_grad_(False).to(device), processor)
        return _CLIPS[key]


_CLIPS: dict[tuple, tuple] = {}
_CLIP_LOCK = threading.Lock()


def clip_image_embeddings(clip_model, processor, images) -> "torch.Tensor":
    """Unit CLIP image embeddings [N, D] (float32) of RGB uint8 images [H, W, 3] (or gray [H, W])."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    rgb = [np.repeat(i[..., None], 3, -1) if i.ndim == 2 else i for i in images]
    inputs = processor(images=rgb, return_tensors="pt")
    device = next(clip_model.parameters()).device
    with torch.no_grad():
        emb = clip_model.get_image_features(pixel_values=inputs.pixel_values.to(device))
    if not torch.is_tensor(emb):  # transformers 5: an output whose pooler_output is the projection
        emb = emb.pooler_output
    return F.normalize(emb.float(), dim=-1)
