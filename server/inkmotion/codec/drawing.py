"""In-memory records for drawings, rasters and animations.

Coordinates are canvas pixels (origin top-left, y down), colours sRGB RGBA in [0, 1], radii in
pixels (half the stroke width). Arrays are numpy float32 so they cross to torch and to the wire
without conversion.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

BLACK = np.array([0.0, 0.0, 0.0, 1.0], dtype=np.float32)


def _f32(a, shape_tail: tuple[int, ...] = ()) -> np.ndarray:
    arr = np.ascontiguousarray(a, dtype=np.float32)
    if shape_tail and arr.shape[1:] != shape_tail:
        raise ValueError(f"expected shape [n, {', '.join(map(str, shape_tail))}], got {list(arr.shape)}")
    return arr


@dataclass
class Stroke:
    """A polyline with per-point attributes, as Grease Pencil stores a stroke."""

    points: np.ndarray  # float32 [N, 2]
    radii: np.ndarray  # float32 [N]
    opacities: np.ndarray  # float32 [N]
    color: np.ndarray = field(default_factory=lambda: BLACK.copy())  # float32 [4]
    point_colors: np.ndarray | None = None  # float32 [N, 4]; None: `color` everywhere
    fill: np.ndarray | None = None  # float32 [4]; None: not filled
    cyclic: bool = False
    material: int = 0  # index into Drawing.materials
    bezier: np.ndarray | None = None  # float32 [3K+1, 2] (3K when cyclic): the authored curve

    @classmethod
    def from_points(
        cls,
        points,
        radius: float = 1.0,
        opacity: float = 1.0,
        color=BLACK,
        **kwargs,
    ) -> "Stroke":
        pts = _f32(points, (2,))
        n = len(pts)
        return cls(
            points=pts,
            radii=np.full(n, radius, np.float32),
            opacities=np.full(n, opacity, np.float32),
            color=_f32(color).copy(),
            **kwargs,
        )

    def __len__(self) -> int:
        return len(self.points)

    def colors(self) -> np.ndarray:
        """Per-point RGBA [N, 4], whether stored per point or per stroke."""
        if self.point_colors is not None:
            return self.point_colors
        return np.broadcast_to(self.color, (len(self.points), 4))

    def copy(self, **changes) -> "Stroke":
        dup = replace(self, **changes)
        for name in ("points", "radii", "opacities", "color", "point_colors", "fill", "bezier"):
            value = getattr(dup, name)
            if value is not None and name not in changes:
                setattr(dup, name, value.copy())
        return dup

    def length(self) -> float:
        """Arc length in pixels (closing segment included when cyclic)."""
        pts = self.points
        if self.cyclic and len(pts) > 1:
            pts = np.concatenate([pts, pts[:1]])
        return float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())


@dataclass
class Drawing:
    """One layer of one frame: a canvas and its strokes, in drawing order."""

    width: int
    height: int
    strokes: list[Stroke] = field(default_factory=list)
    layer: str = ""
    materials: list[str] = field(default_factory=list)

    @property
    def point_count(self) -> int:
        return sum(len(s) for s in self.strokes)

    def copy(self, **changes) -> "Drawing":
        strokes = changes.pop("strokes", None)
        if strokes is None:
            strokes = [s.copy() for s in self.strokes]
        return replace(self, strokes=strokes, materials=list(self.materials), **changes)


@dataclass
class Raster:
    """An 8-bit RGBA image, straight alpha, [H, W, 4]."""

    rgba: np.ndarray

    @property
    def width(self) -> int:
        return int(self.rgba.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgba.shape[0])


@dataclass
class Keyframe:
    frame: int
    content: Drawing | Raster


@dataclass
class Animation:
    """Keyframes in frame order, with the canvas they share and the rate they play at."""

    width: int
    height: int
    keyframes: list[Keyframe]
    fps: float = 8.0
    layer: str = ""
