"""What every pipeline shares: the per-step progress report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from inkmotion.codec.drawing import Keyframe


@dataclass
class Progress:
    """One finished step. The callback may raise `inkmotion.errors.Cancelled` to stop the run."""

    step: int
    total: int
    message: str = ""
    preview: Keyframe | None = None


ProgressCallback = Callable[[Progress], None]


def no_progress(_: Progress) -> None:
    pass
