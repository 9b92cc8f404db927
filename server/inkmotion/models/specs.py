"""The model registry: named models, where their weights are and how to load them.

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
`scripts/make_tiny_models.py` writes), loaded through the same code path (`resolve`).

Standard library only: reading the registry never touches the weights.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from inkmotion.errors import InvalidInput

TEXT_TO_VIDEO = "text-to-video"
MOTION_STROKES = "motion-strokes"  # inkmotion.pipelines.motion_strokes
SKETCH_FLOW = "sketch-flow"  # inkmotion.pipelines.sketch_flow
# The small models we train ourselves: a folder of these two files, the config's model_type being
# the kind (the pipeline of that name reads it); the tasks each kind serves.
MOTION_STROKES_CONFIG, MOTION_STROKES_WEIGHTS = "config.json", "model.safetensors"
TRAINED_KINDS = {MOTION_STROKES: ("path_motion",), SKETCH_FLOW: ("inbetween",)}
LORA = "lora"  # reserved for stand-alone adapters; a LoRA rides on its base model (ModelSpec.lora)
KINDS = (TEXT_TO_VIDEO, *TRAINED_KINDS, LORA)
# Weights that ship in the package (small models we train ourselves).
PACKAGE_WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
DTYPES = ("float16", "bfloat16", "float32")

CONFIG_ENV = "INKMOTION_MODELS"


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
    # (inkmotion.models.lora). Required for the raster task.
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
BUILTIN[MOTION_STROKES] = ModelSpec(
    name=MOTION_STROKES,
    source=str(PACKAGE_WEIGHTS / MOTION_STROKES),
    kind=MOTION_STROKES,
    description="Motion strokes (Hu et al.): a recurrent model that moves line art along a path one step at a "
                "time, 64x64, trained here on procedural glyphs and figures (see its README)",
    tasks=("path_motion",),
    size="in the package",
)
SKETCH_ANIMATOR = "sketch-animator"
BUILTIN[SKETCH_ANIMATOR] = ModelSpec(
    name=SKETCH_ANIMATOR,
    source="damo-vilab/text-to-video-ms-1.7b",
    variant="fp16",
    description="SketchAnimator: ModelScope 1.7B with appearance and motion LoRAs learned per job from the sketch "
                "and the reference clip (cached by content), then score distillation on the strokes",
    tasks=("video_motion",),
    size="about 3.7 GB (the LoRAs are learned here)",
)
BUILTIN[SKETCH_FLOW] = ModelSpec(
    name=SKETCH_FLOW,
    source=str(PACKAGE_WEIGHTS / SKETCH_FLOW),
    kind=SKETCH_FLOW,
    description="Sketch-flow (the two-sketch paper's Stage II for line art): learned bidirectional flows and a "
                "visibility mask between two painted keys, trained here on procedural line-art clips (see its README)",
    tasks=("inbetween",),
    size="in the package",
)
DEFAULT_FOR_TASK = {"text_motion": MODELSCOPE_1_7B, "raster_text_motion": FLIPSKETCH, "path_motion": MOTION_STROKES,
                    "inbetween": SKETCH_FLOW,
                    "video_motion": SKETCH_ANIMATOR}
MODEL_TASKS = tuple(DEFAULT_FOR_TASK)  # the tasks (inkmotion.tasks names) that run registry models


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
    """The spec for a model folder given directly (`--model DIR`): a diffusers text-to-video
    folder (model_index.json) or a motion-strokes one (config.json of that model_type)."""
    path = path.expanduser().resolve()
    index_file = path / "model_index.json"
    kind = None if index_file.is_file() else _model_type(path / MOTION_STROKES_CONFIG)
    if kind in TRAINED_KINDS:
        return ModelSpec(name=str(path), source=str(path), kind=kind, tasks=TRAINED_KINDS[kind],
                         description=f"local folder ({kind})")
    if not index_file.is_file():
        raise InvalidInput("model", f"{path} has no model_index.json: not a diffusers model folder "
                                    "(scripts/make_tiny_models.py DIR writes one) nor a motion-strokes one")
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput("model", f"{index_file}: cannot read it: {exc}") from None
    unet_class = (index.get("unet") or [None, None])[-1] if isinstance(index, dict) else None
    if unet_class != "UNet3DConditionModel":
        raise InvalidInput("model", f"{path}: its unet is {unet_class!r}, not a text-to-video UNet3DConditionModel")
    return ModelSpec(name=str(path), source=str(path), variant=detect_variant(path),
                     description=f"local folder ({index.get('_class_name', 'unknown pipeline')})")


def _model_type(config_file: Path) -> str | None:
    """The model_type of a config.json, or None where there is none to read."""
    try:
        data = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data.get("model_type") if isinstance(data, dict) else None
