"""LoRAs a job trains for itself on the shared UNet, and the cache that keeps them between jobs.

Some methods (SketchAnimator) learn their LoRAs per job: one from the artist's sketch, one from a
reference clip. Two rooms for that, both about LoRAs on a UNet that other jobs share:

- `AdapterSession`: named peft adapters attached to the shared UNet for one job and removed at its
  end, leaving the UNet exactly as it was (its modules, weights, active adapters, trainability and
  `peft_config`), even when the job fails or is cancelled. Which adapters act, and how strongly, is
  set per job step (`activate`), so several adapters can live side by side on the same layers.
- `LoraCache`: finished adapters kept by the content hash of everything that made them (`content_key`:
  the model, the inputs, the hyper-parameters), so the same clip with another sketch trains no second
  motion LoRA. An entry is a peft adapter folder (`adapter_config.json` + `adapter_model.safetensors`,
  as `inkmotion.models.lora` reads them), written into a temporary folder beside it and renamed into
  place, so a reader never sees half an entry.

Where the cache lives: `INKMOTION_LORA_CACHE` if set, else `$XDG_CACHE_HOME/inkmotion/loras`, else
`~/.cache/inkmotion/loras` (`default_cache_dir`). Entries are small (a few MB at rank 32 on
ModelScope); `clear_cache` removes them all.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from inkmotion.errors import ModelUnavailable
from inkmotion.models.lora import ADAPTER_CONFIG, ADAPTER_WEIGHTS

CACHE_ENV = "INKMOTION_LORA_CACHE"
FORMAT = 1  # part of every key: bump it when what a stage trains changes meaning


def default_cache_dir() -> Path:
    """Where cached LoRAs live: $INKMOTION_LORA_CACHE, else $XDG_CACHE_HOME/inkmotion/loras, else
    ~/.cache/inkmotion/loras."""
    chosen = os.environ.get(CACHE_ENV, "").strip()
    if chosen:
        return Path(chosen).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base).expanduser() if base else Path.home() / ".cache") / "inkmotion" / "loras"


def clear_cache(folder: str | Path | None = None) -> int:
    """Remove every cached LoRA (and any unfinished temporary entry) under `folder` (default:
    `default_cache_dir()`); returns how many entries went."""
    root = Path(folder).expanduser() if folder else default_cache_dir()
    if not root.is_dir():
        return 0
    removed = 0
    for entry in root.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
            removed += not entry.name.startswith(".")
    return removed


# -----------------------------------------------------------------------------------------------
# Content keys


def _canonical(value: Any) -> Any:
    """A JSON-able stand-in for `value`: arrays and tensors become the sha256 of their bytes (with
    their dtype and shape), so a key never holds pixels, only what identifies them."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, bytes):
        return {"sha256": hashlib.sha256(value).hexdigest()}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().contiguous().numpy()
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        return {"dtype": str(array.dtype), "shape": list(array.shape), "sha256": hashlib.sha256(array.tobytes()).hexdigest()}
    raise TypeError(f"content_key: cannot hash a {type(value).__name__}")


def content_key(parts: dict[str, Any]) -> str:
    """sha256 (hex) of `parts`: strings, numbers, nested dicts/lists, bytes, numpy arrays, tensors."""
    text = json.dumps({"format": FORMAT, **_canonical(parts)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def unet_fingerprint(unet, *, samples: int = 3) -> str:
    """What a model's weights are, cheaply: its config and the bytes of a few of its tensors (the
    first, the last and some between). Two folders with the same name but other weights differ."""
    import torch

    named = [(n, p) for n, p in unet.named_parameters()]
    picks = sorted({round(i * (len(named) - 1) / max(samples - 1, 1)) for i in range(samples)}) if named else []
    config = dict(getattr(unet, "config", {}) or {})
    parts: dict[str, Any] = {"class": type(unet).__name__, "config": json.loads(json.dumps(config, default=str))}
    with torch.no_grad():
        for i in picks:
            name, tensor = named[i]
            parts[name] = tensor.detach().float().cpu()
    return content_key(parts)


# -----------------------------------------------------------------------------------------------
# The cache


class LoraCache:
    """Adapter folders by (stage, key) under `folder`: `<folder>/<stage>-<key>/`."""

    def __init__(self, folder: str | Path | None = None):
        self.folder = Path(folder).expanduser() if folder else default_cache_dir()

    def path(self, stage: str, key: str) -> Path:
        return self.folder / f"{stage}-{key}"

    def get(self, stage: str, key: str) -> Path | None:
        """The entry's folder when it is complete, else None."""
        entry = self.path(stage, key)
        if (entry / ADAPTER_CONFIG).is_file() and (entry / ADAPTER_WEIGHTS).is_file():
            return entry
        return None

    def discard(self, stage: str, key: str) -> None:
        shutil.rmtree(self.path(stage, key), ignore_errors=True)

    def put(self, stage: str, key: str, write: Callable[[Path], Any]) -> Path:
        """`write(folder)` fills a temporary folder, which is then renamed into place in one step.
        If another job finished the same entry first, its entry is kept (they are equivalent)."""
        entry = self.path(stage, key)
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=self.folder))
        try:
            write(temporary)
            os.chmod(temporary, 0o755)  # mkdtemp's 0700 would hide the entry from the folder's other readers
            if entry.exists() and self.get(stage, key) is None:
                shutil.rmtree(entry, ignore_errors=True)  # a broken entry (files removed by hand)
            try:
                os.rename(temporary, entry)
            except OSError:
                if self.get(stage, key) is None:
                    raise
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
        return entry

    def entries(self) -> list[Path]:
        return sorted(p for p in self.folder.glob("*-*") if p.is_dir() and not p.name.startswith(".")) if self.folder.is_dir() else []


# -----------------------------------------------------------------------------------------------
# Named adapters on a shared UNet, for one job


def _tuner_layers(module) -> dict[str, Any]:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return {name: m for name, m in module.named_modules() if isinstance(m, BaseTunerLayer)}


class AdapterSession:
    """Adapters attached to `unet` for one job; `close()` (or leaving the `with`) removes them all.

    A layer that had no adapter before goes back to being its original module (the same object,
    weights untouched); a layer that already had adapters (a LoRA the model was loaded with) loses
    only ours and gets its active adapters back. Parameter trainability and `unet.peft_config` are
    restored too. The session's adapters start frozen and inactive: `activate` and `train` say what
    acts and what learns.
    """

    def __init__(self, unet):
        self.unet = unet
        layers = _tuner_layers(unet)
        self._active_before = {name: list(layer.active_adapters) for name, layer in layers.items()}
        self._grad_before = {name: p.requires_grad for name, p in unet.named_parameters()}
        self._had_config = hasattr(unet, "peft_config")
        self._config_before = dict(getattr(unet, "peft_config", {}) or {})
        self.names: list[str] = []

    def __enter__(self) -> "AdapterSession":
        return self

    def __exit__(self, *_) -> None:
        self.close()

    # -- adding, saving, loading ----------------------------------------------------------------

    def add(self, name: str, config) -> list:
        """Inject a fresh adapter `name` (a peft `LoraConfig`) on the layers its target_modules
        match. Its weights are float32 (the optimiser's precision, whatever the UNet's dtype); it
        starts frozen and inactive."""
        from peft import inject_adapter_in_model

        if name in self.names or name in self._config_before:
            raise ValueError(f"adapter {name!r} is already on this UNet")
        active = {n: list(layer.active_adapters) for n, layer in _tuner_layers(self.unet).items()}
        with warnings.catch_warnings():
            # peft warns when a second adapter joins the first one: here that is the point.
            warnings.filterwarnings("ignore", message=".*Already found a `peft_config` attribute.*")
            inject_adapter_in_model(config, self.unet, adapter_name=name)
        self.names.append(name)
        if not self.layers(name):
            self.remove(name)
            raise ValueError(f"adapter {name!r}: its target_modules match no layer of this UNet")
        for layer_name, layer in _tuner_layers(self.unet).items():
            # peft makes the newest adapter the only active one everywhere: undo that.
            layer.set_adapter(active.get(layer_name, self._active_before.get(layer_name, [])), inference_mode=True)
        for p in self.parameters(name):
            p.data = p.data.float()
        # New modules start in training mode: the LoRA dropout would act at inference. Only `train`
        # turns it on.
        for layer in self.layers(name).values():
            layer.train(self.unet.training)
            for table in (layer.lora_A, layer.lora_B, layer.lora_dropout):
                table[name].train(False)
        self._restore_grad()
        return self.parameters(name)

    def save(self, name: str, folder: Path, metadata: dict[str, Any] | None = None) -> Path:
        """Write adapter `name` as a peft adapter folder (config + float32 safetensors)."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.unet.peft_config[name].save_pretrained(str(folder))
        state = {k: v.float().cpu().contiguous() for k, v in self.state(name).items()}
        info = {"format": "pt", **{k: json.dumps(v) for k, v in (metadata or {}).items()}}
        save_file(state, str(folder / ADAPTER_WEIGHTS), metadata=info)
        return folder

    def load(self, name: str, folder: Path) -> list:
        """Inject adapter `name` from a peft adapter folder (frozen, inactive)."""
        from peft import LoraConfig, set_peft_model_state_dict
        from safetensors.torch import load_file

        folder = Path(folder)
        config = LoraConfig.from_pretrained(str(folder))
        config.inference_mode = False
        self.add(name, config)
        try:
            state = load_file(str(folder / ADAPTER_WEIGHTS))
            result = set_peft_model_state_dict(self.unet, state, adapter_name=name)
            unexpected = list(getattr(result, "unexpected_keys", None) or [])
            missing = [k for k in (getattr(result, "missing_keys", None) or []) if f".{name}." in k]
            if unexpected or missing:
                raise ModelUnavailable(f"LoRA {folder} does not fit this UNet: {len(unexpected)} unexpected and "
                                       f"{len(missing)} missing weights (first: {(unexpected or missing)[0]})")
        except Exception:
            self.remove(name)
            raise
        self._restore_grad()
        return self.parameters(name)

    # -- what acts, what learns ------------------------------------------------------------------

    def layers(self, name: str) -> dict[str, Any]:
        """The layers holding adapter `name`, by module name."""
        return {n: layer for n, layer in _tuner_layers(self.unet).items() if name in getattr(layer, "lora_A", {})}

    def parameters(self, name: str) -> list:
        return [p for layer in self.layers(name).values() for table in (layer.lora_A, layer.lora_B)
                for p in table[name].parameters()]

    def state(self, name: str) -> dict[str, Any]:
        """Adapter `name`'s weights as peft saves them (keys without the adapter name), detached."""
        from peft import get_peft_model_state_dict

        return {k: v.detach() for k, v in get_peft_model_state_dict(self.unet, adapter_name=name).items()}

    def activate(self, scales: dict[str, float]) -> None:
        """Exactly these of our adapters act, each at `scale` times its full strength (peft scaling
        `scale * alpha / r`: the layer computes (W0 + sum_a scale_a dW_a) x), beside whatever the UNet
        had active before the session. Everything is frozen afterwards: `train` says what learns."""
        unknown = [n for n in scales if n not in self.names]
        if unknown:
            raise ValueError(f"adapter {unknown[0]!r} is not in this session ({', '.join(self.names) or 'none'})")
        for layer_name, layer in _tuner_layers(self.unet).items():
            present = [n for n in scales if n in layer.lora_A]
            layer.set_adapter(self._active_before.get(layer_name, []) + present, inference_mode=True)
            for n in present:
                layer.set_scale(n, scales[n])
        self._restore_grad()

    def train(self, name: str, on: bool = True) -> list:
        """Adapter `name` learns (gradients, LoRA dropout) or not; returns its parameters."""
        for layer in self.layers(name).values():
            if name in layer.lora_dropout:
                layer.lora_dropout[name].train(on)
        parameters = self.parameters(name)
        for p in parameters:
            p.requires_grad_(on)
        return parameters

    def delta_weights(self) -> dict[str, Any]:
        """For every layer where adapters of ours act: what they add to its weight,
        sum_a scale_a * dW_a (dW_a = B_a A_a alpha / r)."""
        out = {}
        for layer_name, layer in _tuner_layers(self.unet).items():
            ours = [n for n in layer.active_adapters if n in self.names and n in layer.lora_A]
            if ours:
                out[layer_name] = sum(layer.get_delta_weight(n) for n in ours)
        return out

    # -- taking them off -------------------------------------------------------------------------

    def remove(self, name: str) -> None:
        """Take adapter `name` off every layer; a layer left with no adapter that was there before
        the session becomes its original module again."""
        for layer in self.layers(name).values():
            layer.set_adapter([n for n in layer.active_adapters if n != name], inference_mode=True)
            layer.delete_adapter(name)
        getattr(self.unet, "peft_config", {}).pop(name, None)
        if name in self.names:
            self.names.remove(name)
        for layer_name, layer in _tuner_layers(self.unet).items():
            if layer_name not in self._active_before and not layer.lora_A:
                parent_name, _, child = layer_name.rpartition(".")
                parent = self.unet.get_submodule(parent_name) if parent_name else self.unet
                setattr(parent, child, layer.get_base_layer())
        self._restore_grad()

    def close(self) -> None:
        """Remove every adapter of this session and put back what the UNet had before."""
        for name in list(self.names):
            self.remove(name)
        for layer_name, layer in _tuner_layers(self.unet).items():
            layer.set_adapter(self._active_before.get(layer_name, []), inference_mode=True)
        self._restore_grad()
        if self._had_config:
            self.unet.peft_config = self._config_before
        elif hasattr(self.unet, "peft_config"):
            delattr(self.unet, "peft_config")

    def _restore_grad(self) -> None:
        """Every parameter that was there before as it was; ours frozen."""
        for name, p in self.unet.named_parameters():
            p.requires_grad_(self._grad_before.get(name, False))


def names_matching(unet, pattern: str) -> list[str]:
    """Module names of `unet` that peft's `target_modules=pattern` (a regex, full match) adapts."""
    import re

    return [name for name, _ in unet.named_modules() if name and re.fullmatch(pattern, name)]
