"""Finding, loading and caching model weights: a hub id or a local folder, safetensors only.

A model has a name in a registry: the built-in entries below, plus a studio's or user's TOML file
(`INKMOTION_MODELS`, else `$XDG_CONFIG_HOME/inkmotion/models.toml`, else
`~/.config/inkmotion/models.toml`) that adds or overrides entries:

    [models.modelscope-1.7b]            # override the built-in: a copy on the studio's NAS
    source = "/mnt/models/text-to-video-ms-1.7b"

    [models.my-t2v]
    source = "my-org/my-text-to-video"  # a hub id, or a folder (relative to this file)
    revision = "0123abcd..."            # a branch, tag or commit
    dtype = "bfloat16"                  # on CUDA: float16 (default), bfloat16 or float32
    variant = "fp16"                    # which weight files: diffusion_pytorch_model.fp16.safetensors
    kind = "text-to-video"
    description = "..."
    tasks = ["text_motion"]

`--model` also takes a model folder directly (anything with a model_index.json, e.g. what
`scripts/make_tiny_models.py` writes), loaded through the same code path.

Weights are safetensors only: pickle files (.bin, .pt) can run code when loaded, so a folder or
repository that has nothing else is refused. Jobs never download on their own (5 GB would arrive
silently in the middle of a job): `inkmotion models pull NAME` fills the Hugging Face cache first,
or `INKMOTION_ALLOW_DOWNLOAD=1` lets loading download.

Loaded models stay resident in a process-wide `ModelCache` and are shared by the jobs that run on
the same device. Shared means read-only: a pipeline makes its own scheduler
(`TextToVideo.fresh_scheduler()`), and anything it attaches to a shared module (a LoRA) it must
name and remove, or load its own copy.

torch, diffusers and transformers are imported only when a model is loaded: listing and checking
models stays fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import warnings
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inkmotion.errors import InvalidInput, ModelUnavailable

if TYPE_CHECKING:
    import torch

TEXT_TO_VIDEO = "text-to-video"
LORA = "lora"  # reserved for stand-alone adapters; a LoRA rides on its base model (ModelSpec.lora)
KINDS = (TEXT_TO_VIDEO, LORA)
DTYPES = ("float16", "bfloat16", "float32")

CONFIG_ENV = "INKMOTION_MODELS"
ALLOW_DOWNLOAD_ENV = "INKMOTION_ALLOW_DOWNLOAD"
OFFLOAD_ENV = "INKMOTION_CPU_OFFLOAD"  # `inkmotion serve --cpu-offload`


@dataclass(frozen=True)
class ModelSpec:
    """A named model: where its weights are and how to load them."""

    name: str
    source: str  # a hub id ("org/name") or an absolute path to a local folder
    kind: str = TEXT_TO_VIDEO
    revision: str = "main"  # hub branch, tag or commit; ignored for local folders
    dtype: str = "float16"  # on CUDA; the CPU always gets float32 unless asked otherwise
    variant: str | None = None  # weight file variant: "fp16" -> diffusion_pytorch_model.fp16.safetensors
    description: str = ""
    tasks: tuple[str, ...] = ("text_motion",)
    size: str = ""  # download size, for the pull hint
    # A LoRA on the UNet (FlipSketch's sketch LoRA): a folder or hub id, ours or the public layout
    # (inkmotion.lora). Required for the raster task.
    lora: str = ""
    lora_revision: str = "main"
    # A CLIP model (hub id or folder) to pick the best of several samples; optional.
    clip: str = ""

    @property
    def is_local(self) -> bool:
        return Path(self.source).is_absolute()

    @property
    def where(self) -> str:
        return self.source if self.is_local else f"{self.source}@{self.revision}"


MODELSCOPE_1_7B = "modelscope-1.7b"

BUILTIN: dict[str, ModelSpec] = {
    MODELSCOPE_1_7B: ModelSpec(
        name=MODELSCOPE_1_7B,
        # Now also reachable as ali-vilab/text-to-video-ms-1.7b (the hub redirects the old id).
        source="damo-vilab/text-to-video-ms-1.7b",
        variant="fp16",  # the repo carries *.fp16.safetensors beside the float32 files
        description="ModelScope text-to-video 1.7B (UNet3D, SD VAE, OpenCLIP ViT-H text encoder), 256x256",
        tasks=("text_motion",),
        size="about 3.7 GB",
    ),
}
FLIPSKETCH = "flipsketch"
BUILTIN[FLIPSKETCH] = ModelSpec(
    name=FLIPSKETCH,
    source="damo-vilab/text-to-video-ms-1.7b",
    variant="fp16",
    dtype="bfloat16",  # as the public FlipSketch implementation runs it
    description="FlipSketch: ModelScope 1.7B + a sketch-animation LoRA (set its `lora` in models.toml)",
    tasks=("raster_text_motion",),
    size="about 3.7 GB plus the LoRA",
)
DEFAULT_FOR_TASK = {"text_motion": MODELSCOPE_1_7B, "raster_text_motion": FLIPSKETCH}
MODEL_TASKS = tuple(DEFAULT_FOR_TASK)  # the tasks (inkmotion.tasks names) that run registry models

# The components of a diffusers text-to-video folder and the stem of their weight files.
WEIGHTS = {"unet": "diffusion_pytorch_model", "vae": "diffusion_pytorch_model", "text_encoder": "model"}
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


# -- the registry ------------------------------------------------------------------------------

def config_path() -> Path | None:
    """The models.toml in effect: INKMOTION_MODELS (must exist) or the user's, if there is one."""
    named = os.environ.get(CONFIG_ENV)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise InvalidInput(CONFIG_ENV, f"{path}: no such file")
        return path
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    path = base / "inkmotion" / "models.toml"
    return path if path.is_file() else None


def registry(config: Path | None = None) -> dict[str, ModelSpec]:
    """The built-in models with the config file's entries added or overriding them."""
    models = dict(BUILTIN)
    path = config if config is not None else config_path()
    if path is not None:
        models.update(read_config(Path(path), models))
    return models


_CONFIG_KEYS = {"source", "revision", "dtype", "variant", "kind", "description", "tasks", "size", "lora",
                "lora_revision", "clip"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def read_config(path: Path, known: dict[str, ModelSpec] | None = None) -> dict[str, ModelSpec]:
    """The [models.NAME] tables of a models.toml; InvalidInput names the file, model and key."""
    known = BUILTIN if known is None else known
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(str(path), f"not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(str(path), f"cannot read it: {exc}") from None
    for key in data:
        if key != "models":
            raise InvalidInput(f"{path}: {key}", "unknown section; models go in [models.NAME] tables")
    tables = data.get("models", {})
    if not isinstance(tables, dict):
        raise InvalidInput(f"{path}: models", "must be a table of [models.NAME] tables")

    specs = {}
    for name, entry in _model_tables(tables):
        where = f"{path}: models.{name}"
        if not _NAME.match(name):
            raise InvalidInput(where, "a model name is letters, digits, '.', '_' and '-' (no '/': that is a hub id, set it as source)")
        if not isinstance(entry, dict):
            raise InvalidInput(where, 'must be a table: [models.NAME] with source = "org/name" or a folder')
        values = _config_values(entry, where, path.parent)
        base = known.get(name)
        if base is None and "source" not in values:
            raise InvalidInput(f"{where}.source", "missing: a hub id like org/name, or a local folder")
        if "variant" not in values and Path(values.get("source", "")).is_absolute():
            values["variant"] = detect_variant(Path(values["source"]))  # what the folder holds
        specs[name] = replace(base, **values) if base else ModelSpec(name=name, **values)
    return specs


def _model_tables(tables: dict[str, Any], prefix: str = ""):
    """(name, table) pairs. TOML reads [models.modelscope-1.7b] as modelscope-1 -> 7b; a model's
    table holds strings and lists, never only tables, so such nesting is joined back into the name."""
    for key, value in tables.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            yield from _model_tables(value, name)
        else:
            yield name, value


def _config_values(entry: dict[str, Any], where: str, base_dir: Path) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in entry.items():
        here = f"{where}.{key}"
        if key not in _CONFIG_KEYS:
            raise InvalidInput(here, f"unknown key; known keys: {', '.join(sorted(_CONFIG_KEYS))}")
        if key == "tasks":
            if not isinstance(value, list) or not all(isinstance(t, str) and t for t in value):
                raise InvalidInput(here, f"{value!r} is not a list of task names like [\"text_motion\"]")
            unknown = [t for t in value if t not in MODEL_TASKS]
            if unknown:
                raise InvalidInput(here, f"unknown task {unknown[0]!r}; the tasks that take these models: "
                                         + ", ".join(MODEL_TASKS))
            values[key] = tuple(value)
            continue
        if not isinstance(value, str):
            raise InvalidInput(here, f"{value!r} is not a string")
        if key in ("source", "lora", "clip"):
            values[key] = _parse_source(value, base_dir, here) if (key == "source" or value) else ""
        elif key == "dtype" and value not in DTYPES:
            raise InvalidInput(here, f"{value!r} is not one of {', '.join(DTYPES)}")
        elif key == "kind" and value not in KINDS:
            raise InvalidInput(here, f"{value!r} is not one of {', '.join(KINDS)}")
        elif key == "revision" and not value.strip():
            raise InvalidInput(here, "empty: a branch, tag or commit (default main)")
        elif key == "variant":
            values[key] = value or None  # variant = "" clears a built-in variant
        else:
            values[key] = value
    return values


def _parse_source(value: str, base_dir: Path, where: str) -> str:
    """An absolute folder path, or a hub id. Relative folders are relative to the config file."""
    value = value.strip()
    if not value:
        raise InvalidInput(where, "empty: a hub id like org/name, or a local folder")
    path = Path(value).expanduser()
    looks_local = value.startswith(("/", "~", ".")) or "\\" in value or path.is_absolute()
    if looks_local or (base_dir / path).is_dir():
        return str((base_dir / path).resolve())
    if not _HUB_ID.match(value):
        raise InvalidInput(where, f"{value!r} is neither a hub id like org/name nor a folder")
    return value


def detect_variant(folder: Path) -> str | None:
    """The weight variant a local folder holds: None when it has the plain files, else fp16/bf16."""
    unet = folder / "unet"
    for variant in (None, "fp16", "bf16"):
        if any((unet / name).is_file() for name in weight_files("diffusion_pytorch_model", variant)):
            return variant
    return None


def weight_files(stem: str, variant: str | None) -> tuple[str, str]:
    """diffusers' names for a component's weights: the single file, and the index of a sharded one."""
    if variant:
        return f"{stem}.{variant}.safetensors", f"{stem}.safetensors.index.{variant}.json"
    return f"{stem}.safetensors", f"{stem}.safetensors.index.json"


def resolve(name_or_dir: str, *, config: Path | None = None) -> ModelSpec:
    """A registered model name, or a model folder (one with model_index.json) used as it is."""
    models = registry(config)
    if name_or_dir in models:
        return models[name_or_dir]
    path = Path(name_or_dir).expanduser()
    if name_or_dir and path.is_dir():
        return spec_for_folder(path)
    known = ", ".join(sorted(models))
    raise InvalidInput("model", f"{name_or_dir!r} is neither a known model nor a model folder; known models: {known}")


def spec_for_folder(path: Path) -> ModelSpec:
    """The spec for a diffusers text-to-video folder given directly (`--model DIR`)."""
    path = path.expanduser().resolve()
    index_file = path / "model_index.json"
    if not index_file.is_file():
        raise InvalidInput("model", f"{path} has no model_index.json: not a diffusers model folder "
                                    "(scripts/make_tiny_models.py DIR writes one)")
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput("model", f"{index_file}: cannot read it: {exc}") from None
    unet_class = (index.get("unet") or [None, None])[-1] if isinstance(index, dict) else None
    if unet_class != "UNet3DConditionModel":
        raise InvalidInput("model", f"{path}: its unet is {unet_class!r}, not a text-to-video UNet3DConditionModel")
    return ModelSpec(name=str(path), source=str(path), variant=detect_variant(path),
                     description=f"local folder ({index.get('_class_name', 'unknown pipeline')})")


# -- availability and download -----------------------------------------------------------------

def _required_files(variant: str | None) -> list[tuple[str, ...]]:
    """What a text-to-video folder needs; each entry is a set of alternatives."""
    needed: list[tuple[str, ...]] = [("model_index.json",), ("scheduler/scheduler_config.json",),
                                      ("tokenizer/vocab.json", "tokenizer/tokenizer.json")]
    for component, stem in WEIGHTS.items():
        needed.append((f"{component}/config.json",))
        needed.append(tuple(f"{component}/{name}" for name in weight_files(stem, variant)))
    return needed


def _pull_hint(spec: ModelSpec) -> str:
    size = f" ({spec.size})" if spec.size else ""
    return (f"run `inkmotion models pull {spec.name}` to download it{size} into the Hugging Face cache, "
            f"or set {ALLOW_DOWNLOAD_ENV}=1 to let jobs download it")


def check_folder(spec: ModelSpec) -> Path:
    """A local model folder, checked file by file; ModelUnavailable says what is wrong."""
    folder = Path(spec.source)
    if not folder.is_dir():
        raise ModelUnavailable(f"model {spec.name!r}: folder {folder} does not exist")
    for alternatives in _required_files(spec.variant):
        if any((folder / name).is_file() for name in alternatives):
            continue
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
    if spec.kind != TEXT_TO_VIDEO:
        return False, f"{spec.kind} models are not loadable by this version"
    if needs_lora(spec, task):
        return False, missing_lora_message(spec)
    if spec.lora:
        from inkmotion import lora

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
    for alternatives in _required_files(spec.variant):
        hits = [try_to_load_from_cache(spec.source, name, cache_dir=cache_dir, revision=spec.revision)
                for name in alternatives]
        hits = [hit for hit in hits if isinstance(hit, str)]
        if not hits:
            return False, f"model {spec.name!r} ({spec.where}) is not downloaded ({alternatives[0]} missing): {_pull_hint(spec)}"
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
        from inkmotion import lora

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


def missing_lora_message(spec: ModelSpec) -> str:
    return (f"model {spec.name!r} needs its sketch LoRA: set lora = FOLDER or HUB_ID under [models.{spec.name}] "
            "in models.toml (the public FlipSketch checkpoint folder, or a LoRA trained with "
            "scripts/train_flipsketch_lora.py)")


def offload_requested() -> bool:
    return os.environ.get(OFFLOAD_ENV, "").strip().lower() in ("1", "true", "yes")


def downloads_allowed() -> bool:
    return os.environ.get(ALLOW_DOWNLOAD_ENV, "").strip().lower() in ("1", "true", "yes")


# -- loading -----------------------------------------------------------------------------------

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
    # The layout of the LoRA in the UNet (inkmotion.lora.layout): "adapter" (ours), "unet" (the
    # public FlipSketch checkpoint), "" for none. Pipelines match their inputs to what it saw.
    lora_layout: str = ""
    _offloader: Any = field(default=None, repr=False)

    def encode_prompt(self, prompts: list[str]) -> torch.Tensor:
        """CLIP text embeddings [len(prompts), 77, D] on `device` in `dtype`, without gradients."""
        import torch

        if isinstance(prompts, str):
            prompts = [prompts]
        tokens = self.tokenizer(list(prompts), padding="max_length", max_length=self.tokenizer.model_max_length,
                                truncation=True, return_tensors="pt")
        encoder_device = next(self.text_encoder.parameters()).device
        with torch.no_grad():
            hidden = self.text_encoder(tokens.input_ids.to(encoder_device))[0]
        return hidden.to(self.device, self.dtype)

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
        from inkmotion import lora

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
                                f"{_pull_hint(spec)} to fetch it again")
    return ModelUnavailable(f"model {spec.name!r}: cannot load {spec.where} (safetensors only): {detail}")


# -- the resident cache ------------------------------------------------------------------------

class ModelCache:
    """Loaded models, kept for the life of the process and shared between jobs.

    Keyed by (source, revision, variant, device, dtype, offload). Each key has its own lock, so two
    jobs asking for the same model wait for one load while a different model loads beside it.
    """

    def __init__(self):
        self._models: dict[tuple, TextToVideo] = {}
        self._locks: dict[tuple, threading.Lock] = {}
        self._lock = threading.Lock()
        self.loads = 0  # how many times a model was actually loaded

    @staticmethod
    def key(spec: ModelSpec, device: str | torch.device, dtype=None, offload: bool = False) -> tuple:
        import torch

        device = torch.device(device)
        if device.type == "cuda" and device.index is None and torch.cuda.is_available():
            device = torch.device("cuda", torch.cuda.current_device())
        offload = offload and device.type == "cuda"
        revision = None if spec.is_local else spec.revision
        return (spec.source, revision, spec.variant, str(device), choose_dtype(spec, device, dtype), offload,
                spec.lora, spec.lora_revision)

    def get(self, spec: ModelSpec, device: str | torch.device = "cpu", *, dtype=None, offload: bool = False) -> TextToVideo:
        key = self.key(spec, device, dtype, offload)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            model = self._models.get(key)
            if model is None:
                model = load_text_to_video(spec, device, dtype=key[4], offload=offload)
                with self._lock:
                    self._models[key] = model
                    self.loads += 1
            return model

    def __contains__(self, key: tuple) -> bool:
        return key in self._models

    def __len__(self) -> int:
        return len(self._models)

    def clear(self) -> None:
        """Drop every model (jobs still holding one keep it until they finish)."""
        with self._lock:
            self._models.clear()
            self._locks.clear()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


CACHE = ModelCache()  # the process-wide one: jobs on the same device share its models
