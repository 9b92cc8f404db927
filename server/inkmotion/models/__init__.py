"""Finding, loading and caching model weights: a hub id or a local folder, safetensors only.

The rooms:
- `specs`: the registry - named models (`ModelSpec`), the built-in ones, a studio's or user's
  models.toml, and `resolve` (a name, or a model folder given directly);
- `hub`: whether the weights are here (the Hugging Face cache or a folder, file by file) and
  `pull` to download them; jobs never download on their own;
- `loading`: `load_text_to_video` (and `load_trained`) onto a device, read-only, with CPU offload; the `TextToVideo`
  wrapper the pipelines take in, and `encode_prompt`, the one text encoding;
- `cache`: `CACHE`, the process-wide resident models shared by the jobs on a device;
- `lora`: the sketch LoRA on the UNet (FlipSketch), in our layout or the public checkpoint's.

Callers use the names below (`models.resolve`, `models.CACHE`, ...). torch, diffusers and
transformers are imported only when a model is loaded: listing and checking models stays fast.
"""

from inkmotion.models import lora
from inkmotion.models.cache import CACHE, ModelCache
from inkmotion.models.hub import (
    ALLOW_DOWNLOAD_ENV,
    PICKLE_SUFFIXES,
    WEIGHTS,
    availability,
    check_folder,
    download_patterns,
    downloads_allowed,
    missing_lora_message,
    needs_lora,
    pull,
    pull_hint,
)
from inkmotion.models.loading import (
    OFFLOAD_ENV,
    TextToVideo,
    choose_dtype,
    encode_prompt,
    clip_image_embeddings,
    load_clip,
    load_trained,
    load_text_to_video,
    offload_requested,
)
from inkmotion.models.specs import (
    BUILTIN,
    CONFIG_ENV,
    DEFAULT_FOR_TASK,
    DTYPES,
    FLIPSKETCH,
    KINDS,
    LORA,
    MODEL_TASKS,
    MODELSCOPE_1_7B,
    MOTION_STROKES,
    SKETCH_FLOW,
    TRAINED_KINDS,
    PACKAGE_WEIGHTS,
    SKETCH_ANIMATOR,
    TEXT_TO_VIDEO,
    ModelSpec,
    config_path,
    detect_variant,
    read_config,
    registry,
    resolve,
    spec_for_folder,
    weight_files,
)

__all__ = [
    "ALLOW_DOWNLOAD_ENV", "BUILTIN", "CACHE", "CONFIG_ENV", "DEFAULT_FOR_TASK", "DTYPES", "FLIPSKETCH", "KINDS",
    "LORA", "MODELSCOPE_1_7B", "MODEL_TASKS", "MOTION_STROKES", "PACKAGE_WEIGHTS", "OFFLOAD_ENV", "SKETCH_ANIMATOR", "SKETCH_FLOW", "TRAINED_KINDS", "PICKLE_SUFFIXES", "TEXT_TO_VIDEO", "WEIGHTS",
    "ModelCache", "ModelSpec", "TextToVideo", "availability", "clip_image_embeddings", "check_folder", "choose_dtype", "config_path",
    "detect_variant", "download_patterns", "downloads_allowed", "encode_prompt", "load_clip", "load_trained", "load_text_to_video",
    "lora", "missing_lora_message", "needs_lora", "offload_requested", "pull", "pull_hint", "read_config",
    "registry", "resolve", "spec_for_folder", "weight_files",
]
