"""Where jobs run. The service talks to a `Backend`, chosen by name (`inkmotion serve --backend`):
`local` runs jobs in this process, one worker per device; `ray` on the actors of a Ray cluster. Every backend runs a job's work through
the same `inkmotion.executor`, so the service cannot tell them apart."""

from __future__ import annotations

import importlib

from inkmotion.backends.base import Backend
from inkmotion.errors import InvalidInput

# Name -> "module:class"; imported only when chosen, so a backend's own dependencies stay optional.
BACKENDS = {
    "local": "inkmotion.backends.local:LocalBackend",
    "ray": "inkmotion.backends.ray:RayBackend",  # needs the `ray` extra
}


def backend_class(name: str) -> type[Backend]:
    """The backend class of this name (InvalidInput naming --backend for an unknown one)."""
    if name not in BACKENDS:
        raise InvalidInput("--backend", f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
    module, _, cls = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


__all__ = ["BACKENDS", "Backend", "backend_class"]
