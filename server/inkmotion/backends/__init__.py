"""Where jobs run. The service talks to a `Backend`; `LocalBackend` runs jobs in this process, one
worker per device. A Ray backend can take its place without the service noticing."""

from inkmotion.backends.base import Backend
from inkmotion.backends.local import LocalBackend

__all__ = ["Backend", "LocalBackend"]
