"""One file per animation method. A pipeline takes codec records and components, reports each step
through one callback, and knows nothing of gRPC or jobs."""

from inkmotion.pipelines.base import Progress, ProgressCallback

__all__ = ["Progress", "ProgressCallback"]
