"""The resident model cache: loaded models kept for the life of the process, shared by the jobs
that run on the same device."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from inkmotion.models.loading import TextToVideo, choose_dtype, load_text_to_video, load_trained
from inkmotion.models.specs import TRAINED_KINDS, ModelSpec

if TYPE_CHECKING:
    import torch

class ModelCache:
    """Loaded models, kept for the life of the process and shared between jobs.

    Keyed by (source, revision, variant, device, dtype, offload). Each key has its own lock, so two
    jobs asking for the same model wait for one load while a different model loads beside it.
    """

    def __init__(self):
        self._models: dict[tuple, TextToVideo] = {}
        self._names: dict[tuple, list[str]] = {}  # key -> the registry names (or folders) it was asked for as
        self._used: dict[tuple, float] = {}  # key -> when a job last asked for it
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

    def get(self, spec: ModelSpec, device: str | torch.device = "cpu", *, dtype=None, offload: bool = False):
        """The loaded model of `spec` on `device`: a TextToVideo, or one of the models we train."""
        key = self.key(spec, device, dtype, offload)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            model = self._models.get(key)
            if model is None:
                if spec.kind in TRAINED_KINDS:  # small: no offload
                    model = load_trained(spec, device, dtype=key[4])
                else:
                    model = load_text_to_video(spec, device, dtype=key[4], offload=offload)
                with self._lock:
                    self._models[key] = model
                    self.loads += 1
            with self._lock:  # two names for the same weights share one loaded model
                names = self._names.setdefault(key, [])
                names[:] = [spec.name] + [n for n in names if n != spec.name]
                self._used[key] = time.monotonic()
            return model

    def loaded(self, device: str | None = None) -> list[str]:
        """The names of the models loaded (on `device`, else anywhere), most recently used first."""
        with self._lock:
            keys = [k for k in self._models if device is None or k[3] == device or k[3].split(":")[0] == device]
            ordered = sorted(keys, key=lambda k: -self._used.get(k, 0.0))
            return list(dict.fromkeys(name for k in ordered for name in self._names.get(k, [])))

    def __contains__(self, key: tuple) -> bool:
        return key in self._models

    def __len__(self) -> int:
        return len(self._models)

    def clear(self) -> None:
        """Drop every model (jobs still holding one keep it until they finish)."""
        with self._lock:
            self._models.clear()
            self._names.clear()
            self._used.clear()
            self._locks.clear()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


CACHE = ModelCache()  # the process-wide one: jobs on the same device share its models
