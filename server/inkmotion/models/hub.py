"""Whether a model's weights are here, and fetching them: the Hugging Face cache or a local folder.

Weights are safetensors only: pickle files (.bin, .pt) can run code when loaded, so a folder or
repository that has nothing else is refused. Jobs never download on their own (5 GB would arrive
silently in the middle of a job): `inkmotion models pull NAME` fills the Hugging Face cache first,
or `INKMOTION_ALLOW_DOWNLOAD=1` lets loading download.

huggingface_hub is imported only to look in its cache or download: checking a folder does not.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from inkmotion.errors import InvalidInput, ModelUnavailable
from inkmotion.models import lora
from inkmotion.models.specs import (BUILTIN, MODELSCOPE_1_7B, MOTION_STROKES_CONFIG, MOTION_STROKES_WEIGHTS,
                                    TEXT_TO_VIDEO, TRAINED_KINDS, ModelSpec, resolve, weight_files)

ALLOW_DOWNLOAD_ENV = "INKMOTION_ALLOW_DOWNLOAD"

# The components of a diffusers text-to-video folder and the stem of their weight files.
WEIGHTS = {"unet": "diffusion_pytorch_model", "vae": "diffusion_pytorch_model", "text_encoder": "model"}
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


# A folder of a model we train (motion-strokes, sketch-flow: its pipeline's `save`): config and weights.
MOTION_STROKES_FILES = [(MOTION_STROKES_CONFIG,), (MOTION_STROKES_WEIGHTS,)]


def _required_files(variant: str | None, kind: str = TEXT_TO_VIDEO) -> list[tuple[str, ...]]:
    """What a model folder of `kind` needs; each entry is a set of alternatives."""
    if kind in TRAINED_KINDS:
        return MOTION_STROKES_FILES
    needed: list[tuple[str, ...]] = [("model_index.json",), ("scheduler/scheduler_config.json",),
                                      ("tokenizer/vocab.json", "tokenizer/tokenizer.json")]
    for component, stem in WEIGHTS.items():
        needed.append((f"{component}/config.json",))
        needed.append(tuple(f"{component}/{name}" for name in weight_files(stem, variant)))
    return needed


def pull_hint(spec: ModelSpec) -> str:
    size = f" ({spec.size})" if spec.size else ""
    return (f"run `inkmotion models pull {spec.name}` to download it{size} into the Hugging Face cache, "
            f"or set {ALLOW_DOWNLOAD_ENV}=1 to let jobs download it")


def check_folder(spec: ModelSpec) -> Path:
    """A local model folder, checked file by file; ModelUnavailable says what is wrong."""
    folder = Path(spec.source)
    if not folder.is_dir():
        raise ModelUnavailable(f"model {spec.name!r}: folder {folder} does not exist")
    for alternatives in _required_files(spec.variant, spec.kind):
        if any((folder / name).is_file() for name in alternatives):
            continue
        if spec.kind in TRAINED_KINDS and alternatives[0].endswith(".safetensors"):
            pickles = sorted(p.name for p in folder.iterdir() if p.name.endswith(PICKLE_SUFFIXES))
            if pickles:
                raise ModelUnavailable(f"model {spec.name!r}: {folder} has only pickle weights ({', '.join(pickles)}); "
                                       f"InkMotion loads safetensors only ({MOTION_STROKES_WEIGHTS})")
        component = Path(alternatives[0]).parent
        if str(component) in WEIGHTS:
            _explain_missing_weights(spec, folder / component)
        raise ModelUnavailable(f"model {spec.name!r}: {folder / alternatives[0]} is missing")
    return folder


def _explain_missing_weights(spec: ModelSpec, folder: Path) -> None:
    present = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    pickles = [name for name in present if name.endswith(PICKLE_SUFFIXES)]
    other = [name for name in present if name.endswith(".safetensors")]
    wanted = weight_files(WEIGHTS[folder.name], spec.variant)[0]
    if pickles and not other:
        raise ModelUnavailable(
            f"model {spec.name!r}: {folder} has only pickle weights ({', '.join(pickles)}); InkMotion loads "
            f"safetensors only ({wanted}), since pickle files can run code when loaded. Convert once where "
            f"you trust the file: load it with diffusers/transformers and save_pretrained(..., safe_serialization=True)")
    if other:
        raise ModelUnavailable(f"model {spec.name!r}: {folder} has {', '.join(other)} but not {wanted} "
                               f"(variant {spec.variant or 'none'}); set variant in models.toml to match")
    raise ModelUnavailable(f"model {spec.name!r}: no weights in {folder} (expected {wanted})")


def availability(spec: ModelSpec, *, task: str | None = None, cache_dir: str | Path | None = None) -> tuple[bool, str]:
    """Whether the weights are here, without downloading anything: (available, why or where).
    For the raster task (FlipSketch) a model also needs its sketch LoRA."""
    if spec.kind != TEXT_TO_VIDEO and spec.kind not in TRAINED_KINDS:
        return False, f"{spec.kind} models are not loadable by this version"
    if needs_lora(spec, task):
        return False, missing_lora_message(spec)
    if spec.lora:
        try:
            lora.layout(lora.locate(spec.lora, revision=spec.lora_revision))
        except ModelUnavailable as exc:
            return False, f"model {spec.name!r}: {exc}"
    if spec.is_local:
        try:
            return True, f"local folder {check_folder(spec)}"
        except ModelUnavailable as exc:
            return False, str(exc)

    from huggingface_hub import try_to_load_from_cache

    found = None
    for alternatives in _required_files(spec.variant, spec.kind):
        hits = [try_to_load_from_cache(spec.source, name, cache_dir=cache_dir, revision=spec.revision)
                for name in alternatives]
        hits = [hit for hit in hits if isinstance(hit, str)]
        if not hits:
            return False, f"model {spec.name!r} ({spec.where}) is not downloaded ({alternatives[0]} missing): {pull_hint(spec)}"
        found = found or hits[0]
    snapshot = Path(found).parent if found else None
    return True, f"in the Hugging Face cache ({snapshot})"


def download_patterns(variant: str | None) -> tuple[list[str], list[str]]:
    """(allow_patterns, ignore_patterns) for snapshot_download: configs, tokenizer, the variant's safetensors."""
    allow = ["*.json", "*.txt", "tokenizer*/*"]  # model_index.json, configs, vocab.json, merges.txt
    if variant:
        return allow + [f"*.{variant}.safetensors", f"*.{variant}-*.safetensors"], []
    # Plain files only: a repo often carries an fp16 copy of everything beside them.
    others = [f"*.{v}{tail}" for v in ("fp16", "bf16") for tail in (".safetensors", "-*.safetensors")]
    return allow + ["*.safetensors"], others


def pull(name: str, *, revision: str | None = None, cache_dir: str | Path | None = None) -> Path:
    """Download a registered hub model's safetensors into the Hugging Face cache; its snapshot folder."""
    spec = resolve(name)
    if spec.is_local:
        raise InvalidInput("model", f"{spec.name!r} is already local: {spec.source}")
    if revision:
        spec = replace(spec, revision=revision)
    from huggingface_hub import snapshot_download

    allow, ignore = download_patterns(spec.variant)
    try:
        path = snapshot_download(spec.source, revision=spec.revision, allow_patterns=allow,
                                 ignore_patterns=ignore or None, cache_dir=cache_dir)
    except Exception as exc:  # network, auth, missing repo: all end the same way for the person pulling
        raise ModelUnavailable(f"model {spec.name!r}: could not download {spec.where}: {exc}") from exc
    if spec.lora and not Path(spec.lora).is_absolute():
        try:
            lora.locate(spec.lora, revision=spec.lora_revision, local_files_only=False)
        except Exception as exc:
            raise ModelUnavailable(f"model {spec.name!r}: could not download its LoRA {spec.lora}: {exc}") from exc
    ok, why = availability(spec, cache_dir=cache_dir)
    if not ok:
        raise ModelUnavailable(f"model {spec.name!r}: downloaded {spec.where} but it is incomplete: {why}")
    return Path(path)


def needs_lora(spec: ModelSpec, task: str | None) -> bool:
    """FlipSketch on the plain ModelScope prior has no sketch fine-tuning: it needs its LoRA. A
    folder of its own (say the public FlipSketch checkpoint, the LoRA merged) is taken as it is."""
    return task == "raster_text_motion" and not spec.lora and spec.source == BUILTIN[MODELSCOPE_1_7B].source



def missing_lora_message(spec: ModelSpec) -> str:
    return (f"model {spec.name!r} needs its sketch LoRA: set lora = FOLDER or HUB_ID under [models.{spec.name}] "
            "in models.toml (the public FlipSketch checkpoint folder, or a LoRA trained with "
            "scripts/train_flipsketch_lora.py)")



def downloads_allowed() -> bool:
    return os.environ.get(ALLOW_DOWNLOAD_ENV, "").strip().lower() in ("1", "true", "yes")

