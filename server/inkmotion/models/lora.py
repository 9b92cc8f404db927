"""LoRA adapters for the text-to-video UNet (FlipSketch's sketch LoRA), in two on-disk layouts:

- ours (what `scripts/train_flipsketch_lora.py` writes): a peft adapter folder,
  `adapter_config.json` + `adapter_model.safetensors`, injected with `peft.inject_adapter_in_model`
  (diffusers 0.42's UNet3DConditionModel has no `add_adapter`);
- the public FlipSketch checkpoint (`checkpoint-2500/`): a diffusers folder whose `unet/` holds the
  whole fine-tuned UNet (the adapter already merged), which then replaces the base UNet.

A source is a local folder or a hub id (downloaded only where downloads are allowed, as for
models). Safetensors only.
"""

from __future__ import annotations

import json
from pathlib import Path

from inkmotion.errors import ModelUnavailable

ADAPTER_NAME = "sketch"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
# Attention projections of every spatial and temporal transformer, as FlipSketch trains them.
TARGET_MODULES = ["to_q", "to_k", "to_v", "to_out.0"]


def locate(source: str, *, revision: str = "main", local_files_only: bool = True) -> Path:
    """The folder of a LoRA source: a local folder as it is, or the hub snapshot of a hub id."""
    path = Path(source).expanduser()
    if path.is_absolute() or path.is_dir():
        if not path.is_dir():
            raise ModelUnavailable(f"LoRA folder {path} does not exist")
        return path
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = snapshot_download(source, revision=revision, local_files_only=local_files_only,
                                   allow_patterns=[ADAPTER_CONFIG, ADAPTER_WEIGHTS, "unet/config.json",
                                                   "unet/*.safetensors", "unet/*.json"])
    except LocalEntryNotFoundError:
        raise ModelUnavailable(f"LoRA {source}@{revision} is not downloaded: run `inkmotion models pull` for the "
                               "model that uses it, or set INKMOTION_ALLOW_DOWNLOAD=1") from None
    return Path(folder)


def layout(folder: Path) -> str:
    """'adapter' (ours, peft) or 'unet' (the public checkpoint); ModelUnavailable otherwise."""
    if (folder / ADAPTER_CONFIG).is_file():
        if not (folder / ADAPTER_WEIGHTS).is_file():
            pickled = [p.name for p in folder.glob("adapter_model.bin")]
            why = f"only {pickled[0]} (pickle, refused: convert it to safetensors)" if pickled else f"{ADAPTER_WEIGHTS} is missing"
            raise ModelUnavailable(f"LoRA {folder}: {why}")
        return "adapter"
    if (folder / "unet" / "config.json").is_file():
        if not list((folder / "unet").glob("*.safetensors")):
            raise ModelUnavailable(f"LoRA checkpoint {folder}: unet/ has no .safetensors weights (pickle is refused)")
        return "unet"
    raise ModelUnavailable(f"{folder} is not a LoRA: expected {ADAPTER_CONFIG} + {ADAPTER_WEIGHTS} (peft), "
                           "or a FlipSketch checkpoint with unet/")


def apply(unet, folder: Path, *, dtype=None):
    """The UNet with the LoRA in `folder`: the same module with the adapter injected (ours), or the
    checkpoint's fine-tuned UNet (public layout). Frozen, in eval mode."""
    from safetensors.torch import load_file

    kind = layout(folder)
    if kind == "unet":
        from diffusers import UNet3DConditionModel

        tuned = UNet3DConditionModel.from_pretrained(folder, subfolder="unet", use_safetensors=True,
                                                     dtype=dtype or unet.dtype, local_files_only=True)
        return tuned.to(unet.device).eval().requires_grad_(False)

    from peft import LoraConfig, inject_adapter_in_model, set_peft_model_state_dict

    config = LoraConfig.from_pretrained(str(folder))
    inject_adapter_in_model(config, unet, adapter_name=ADAPTER_NAME)
    state = load_file(str(folder / ADAPTER_WEIGHTS), device=str(unet.device))
    result = set_peft_model_state_dict(unet, state, adapter_name=ADAPTER_NAME)
    unexpected = getattr(result, "unexpected_keys", None) or []
    if unexpected:
        raise ModelUnavailable(f"LoRA {folder} does not fit this UNet: {len(unexpected)} unexpected weights "
                               f"(first: {unexpected[0]})")
    for name, parameter in unet.named_parameters():
        if "lora_" in name:
            parameter.data = parameter.data.to(dtype or unet.dtype)
    return unet.eval().requires_grad_(False)


def save_adapter(unet, folder: Path, *, rank: int, alpha: float, metadata: dict | None = None) -> Path:
    """Write the UNet's injected adapter in our layout (peft's file names and config)."""
    from peft import LoraConfig, get_peft_model_state_dict
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    LoraConfig(r=rank, lora_alpha=alpha, target_modules=TARGET_MODULES).save_pretrained(str(folder))
    state = {k: v.detach().float().cpu().contiguous() for k, v in get_peft_model_state_dict(unet, adapter_name=ADAPTER_NAME).items()}
    save_file(state, str(folder / ADAPTER_WEIGHTS), metadata={"format": "pt", **{k: json.dumps(v) for k, v in (metadata or {}).items()}})
    return folder


def inject_trainable(unet, *, rank: int = 16, alpha: float = 16):
    """A fresh adapter on the UNet's attention projections; only its weights train."""
    from peft import LoraConfig, inject_adapter_in_model

    unet.requires_grad_(False)
    inject_adapter_in_model(LoraConfig(r=rank, lora_alpha=alpha, target_modules=TARGET_MODULES), unet,
                            adapter_name=ADAPTER_NAME)
    parameters = [p for name, p in unet.named_parameters() if "lora_" in name]
    for p in parameters:
        p.requires_grad_(True)
    return parameters
