"""Strokes as numpy columns <-> `inkmotion.v1.Drawing` messages (see proto/inkmotion/v1/drawing.proto).

Pure Python and numpy, no `bpy`: Grease Pencil v3 already stores its strokes column by column, so a
drawing crosses the wire as a few `tobytes()` / `frombuffer()` calls. Kept free of Blender so the
Krita add-on and the tests can share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_F32 = np.dtype("<f4")


@dataclass
class Strokes:
    """One drawing's strokes, column by column, in canvas pixels (origin top-left, y down).

    Point columns have one row per point of all strokes back to back; stroke columns one row per
    stroke. Colours are sRGB RGBA in [0, 1] with straight alpha.
    """

    point_counts: np.ndarray  # int [S]
    positions: np.ndarray  # float32 [P, 2]
    radii: np.ndarray  # float32 [P], pixels
    opacities: np.ndarray  # float32 [P]
    point_colors: np.ndarray  # float32 [P, 4]
    stroke_colors: np.ndarray  # float32 [S, 4]
    cyclic: np.ndarray  # bool [S]
    material_indices: np.ndarray  # int [S]
    materials: list[str] = field(default_factory=list)
    fill_colors: np.ndarray | None = None  # float32 [S, 4]; None: no fills

    @property
    def stroke_count(self) -> int:
        return len(self.point_counts)

    @property
    def point_count(self) -> int:
        return int(np.sum(self.point_counts))


def _bytes(array, width: int) -> bytes:
    arr = np.ascontiguousarray(array, dtype=_F32)
    return arr.reshape(-1, width).tobytes() if width > 1 else arr.reshape(-1).tobytes()


def to_proto(drawing_pb2, strokes: Strokes, width: int, height: int, layer: str = ""):
    """An `inkmotion.v1.Drawing`; `drawing_pb2` is the generated module (vendored or not)."""
    msg = drawing_pb2.Drawing(
        width=int(width),
        height=int(height),
        layer=layer,
        point_counts=[int(c) for c in strokes.point_counts],
        positions=_bytes(strokes.positions, 2),
        radii=_bytes(strokes.radii, 1),
        opacities=_bytes(strokes.opacities, 1),
        point_colors=_bytes(strokes.point_colors, 4),
        stroke_colors=_bytes(strokes.stroke_colors, 4),
        materials=list(strokes.materials),
    )
    if strokes.fill_colors is not None and len(strokes.fill_colors):
        msg.fill_colors = _bytes(strokes.fill_colors, 4)
    if np.any(strokes.cyclic):
        msg.cyclic.extend(bool(c) for c in strokes.cyclic)
    if np.any(strokes.material_indices):
        msg.material_indices.extend(int(m) for m in strokes.material_indices)
    return msg


def _column(data: bytes, rows: int, width: int, default, name: str) -> np.ndarray:
    shape = (rows, width) if width > 1 else (rows,)
    if not data:
        return np.broadcast_to(np.asarray(default, _F32), shape).copy()
    arr = np.frombuffer(data, _F32)
    if arr.size != rows * width:
        raise ValueError(f"drawing.{name}: has {arr.size} values, expected {rows * width} ({rows} x {width})")
    return arr.reshape(shape).copy()


def from_proto(msg) -> Strokes:
    """Columns of an `inkmotion.v1.Drawing`, each optional attribute filled with its documented default."""
    counts = np.asarray(msg.point_counts, np.int64)
    n_strokes, n_points = len(counts), int(counts.sum())
    stroke_colors = _column(msg.stroke_colors, n_strokes, 4, (0.0, 0.0, 0.0, 1.0), "stroke_colors")
    if msg.point_colors:
        point_colors = _column(msg.point_colors, n_points, 4, 0.0, "point_colors")
    else:  # empty: each stroke's colour on all its points
        point_colors = np.repeat(stroke_colors, counts, axis=0) if n_strokes else np.zeros((0, 4), _F32)
    cyclic = np.asarray(msg.cyclic, bool) if len(msg.cyclic) else np.zeros(n_strokes, bool)
    materials = np.asarray(msg.material_indices, np.int64) if len(msg.material_indices) else np.zeros(n_strokes, np.int64)
    for name, values in (("cyclic", cyclic), ("material_indices", materials)):
        if len(values) != n_strokes:
            raise ValueError(f"drawing.{name}: has {len(values)} entries for {n_strokes} strokes")
    return Strokes(
        point_counts=counts,
        positions=_column(msg.positions, n_points, 2, 0.0, "positions"),
        radii=_column(msg.radii, n_points, 1, 1.0, "radii"),
        opacities=_column(msg.opacities, n_points, 1, 1.0, "opacities"),
        point_colors=point_colors,
        stroke_colors=stroke_colors,
        cyclic=cyclic,
        material_indices=materials,
        materials=list(msg.materials),
        fill_colors=_column(msg.fill_colors, n_strokes, 4, 0.0, "fill_colors") if msg.fill_colors else None,
    )


# -- colour: Blender stores scene-linear RGB, the wire carries sRGB ---------------------------

def linear_to_srgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.clip(rgb, 0.0, None)
    return np.where(rgb <= 0.0031308, rgb * 12.92, 1.055 * np.power(rgb, 1 / 2.4) - 0.055).astype(np.float32)


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    rgb = np.clip(rgb, 0.0, None)
    return np.where(rgb <= 0.04045, rgb / 12.92, np.power((rgb + 0.055) / 1.055, 2.4)).astype(np.float32)


# -- the drawing plane: 3D layer space <-> 2D canvas pixels -----------------------------------

AXES = {"X": 0, "Y": 1, "Z": 2}
# For each plane normal, the (right, up) axes an artist sees looking along it (Blender's views:
# front looks along +Y at X-Z, top along -Z at X-Y, side along -X at Y-Z).
_PLANE_AXES = {1: (0, 2), 2: (0, 1), 0: (1, 2)}


@dataclass
class Canvas:
    """A square canvas of `size` pixels laid over the drawing plane.

    `normal` is the axis the plane faces (0 x, 1 y, 2 z); points keep their own depth on the way out
    and new points take `depth`, the mean depth of what was sent.
    """

    normal: int
    center: tuple[float, float]
    scale: float  # pixels per Blender unit
    size: int
    depth: float

    @property
    def axes(self) -> tuple[int, int]:
        return _PLANE_AXES[self.normal]

    @classmethod
    def fit(cls, positions: np.ndarray, size: int = 512, margin: float = 0.1, normal: int | None = None) -> "Canvas":
        """The canvas that holds `positions` (float [P, 3]) with `margin` of its size free on each side.
        The plane faces the axis along which the points spread least, unless `normal` says."""
        pts = np.asarray(positions, np.float64).reshape(-1, 3)
        if len(pts) == 0:
            return cls(1 if normal is None else normal, (0.0, 0.0), size / 2.0, size, 0.0)
        low, high = pts.min(axis=0), pts.max(axis=0)
        if normal is None:
            normal = int(np.argmin(high - low))
        u, v = _PLANE_AXES[normal]
        extent = max(high[u] - low[u], high[v] - low[v], 1e-6)
        center = ((low[u] + high[u]) / 2.0, (low[v] + high[v]) / 2.0)
        scale = size * (1.0 - 2.0 * margin) / extent
        return cls(normal, center, float(scale), size, float(pts[:, normal].mean()))

    def to_pixels(self, positions: np.ndarray) -> np.ndarray:
        pts = np.asarray(positions, np.float64).reshape(-1, 3)
        u, v = self.axes
        out = np.empty((len(pts), 2), np.float64)
        out[:, 0] = (pts[:, u] - self.center[0]) * self.scale + self.size / 2.0
        out[:, 1] = self.size / 2.0 - (pts[:, v] - self.center[1]) * self.scale
        return out.astype(np.float32)

    def from_pixels(self, pixels: np.ndarray) -> np.ndarray:
        px = np.asarray(pixels, np.float64).reshape(-1, 2)
        u, v = self.axes
        out = np.full((len(px), 3), self.depth, np.float64)
        out[:, u] = (px[:, 0] - self.size / 2.0) / self.scale + self.center[0]
        out[:, v] = (self.size / 2.0 - px[:, 1]) / self.scale + self.center[1]
        return out.astype(np.float32)
