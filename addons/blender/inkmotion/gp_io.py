"""Grease Pencil v3 drawings <-> `packing.Strokes` columns: reading a layer's keyframes, writing a new layer.

Grease Pencil v3 (Blender 4.3+) keeps its strokes as curves with attribute columns (`position`,
`radius`, `opacity`, `vertex_color` on points; `material_index`, `cyclic` on strokes), which map
one to one onto the wire's columns; reads and writes are bulk `foreach_get` / `foreach_set`.
The ID collection is `bpy.data.grease_pencils_v3` on 4.3-4.5 and `bpy.data.grease_pencils` from 5.0;
the legacy Grease Pencil of 4.2 and older is refused with `unsupported_reason`.

Colours: Grease Pencil mixes a point's `vertex_color` over its material's colour by the vertex
colour's alpha. The wire carries the colour an artist sees (sRGB); on the way back a point whose
colour equals its material's gets no vertex colour, any other gets it at full mix.
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np

from .packing import Canvas, Strokes, linear_to_srgb, srgb_to_linear

# Grease Pencil v3's defaults for attributes a drawing does not store yet.
DEFAULT_RADIUS = 0.01
DEFAULT_OPACITY = 1.0
MIN_VERSION = (4, 3, 0)


def unsupported_reason(context) -> str | None:
    """Why the add-on cannot work on the active object now, or None."""
    if bpy.app.version < MIN_VERSION:
        return (f"InkMotion needs Grease Pencil v3 (Blender 4.3 or newer); Blender "
                f"{bpy.app.version_string} has only the legacy Grease Pencil")
    obj = context.active_object
    if obj is None:
        return "Select a Grease Pencil object"
    if obj.type != "GREASEPENCIL":
        return f"'{obj.name}' is not a Grease Pencil object"
    if obj.data.layers.active is None:
        return f"'{obj.name}' has no active layer"
    return None


def grease_pencil_collection():
    """The ID collection of Grease Pencil v3 data in this Blender."""
    return getattr(bpy.data, "grease_pencils_v3", None) or bpy.data.grease_pencils


# -- reading ---------------------------------------------------------------------------------

@dataclass
class LayerStrokes:
    """One drawing as Blender stores it: layer space, scene-linear colours."""

    point_counts: np.ndarray  # int [S]
    positions: np.ndarray  # float32 [P, 3]
    radii: np.ndarray  # float32 [P]
    opacities: np.ndarray  # float32 [P]
    vertex_colors: np.ndarray  # float32 [P, 4], alpha = mix over the material colour
    material_indices: np.ndarray  # int [S]
    cyclic: np.ndarray  # bool [S]
    selected: np.ndarray  # bool [S]: any point of the stroke selected

    @property
    def stroke_count(self) -> int:
        return len(self.point_counts)

    def subset(self, keep: np.ndarray) -> "LayerStrokes":
        """Only the strokes where `keep` is true."""
        point_keep = np.repeat(keep, self.point_counts)
        return LayerStrokes(self.point_counts[keep], self.positions[point_keep], self.radii[point_keep],
                            self.opacities[point_keep], self.vertex_colors[point_keep],
                            self.material_indices[keep], self.cyclic[keep], self.selected[keep])


def _get(attributes, name: str, count: int, width: int, dtype, default) -> np.ndarray:
    shape = (count, width) if width > 1 else (count,)
    attribute = attributes.get(name)
    if attribute is None or count == 0:
        return np.full(shape, default, dtype)
    key = {"FLOAT_VECTOR": "vector", "FLOAT_COLOR": "color", "BYTE_COLOR": "color"}.get(attribute.data_type, "value")
    buf = np.empty(count * width, dtype)
    attribute.data.foreach_get(key, buf)
    return buf.reshape(shape)


def read_drawing(drawing) -> LayerStrokes:
    attrs = drawing.attributes
    if len(drawing.strokes) == 0:  # an empty drawing lists one offset but reads none
        offsets = np.zeros(1, np.int32)
    else:
        offsets = np.empty(len(drawing.curve_offsets), np.int32)
        drawing.curve_offsets.foreach_get("value", offsets)
    counts = np.diff(offsets).astype(np.int64)
    n_strokes, n_points = len(counts), int(offsets[-1]) if len(offsets) else 0
    selection = attrs.get(".selection")
    if selection is not None and selection.domain == "POINT":
        point_selected = _get(attrs, ".selection", n_points, 1, bool, False)
        selected = np.add.reduceat(point_selected, offsets[:-1]) > 0 if n_strokes else np.zeros(0, bool)
    else:
        selected = _get(attrs, ".selection", n_strokes, 1, bool, False)
    return LayerStrokes(
        point_counts=counts,
        positions=_get(attrs, "position", n_points, 3, np.float32, 0.0),
        radii=_get(attrs, "radius", n_points, 1, np.float32, DEFAULT_RADIUS),
        opacities=_get(attrs, "opacity", n_points, 1, np.float32, DEFAULT_OPACITY),
        vertex_colors=_get(attrs, "vertex_color", n_points, 4, np.float32, 0.0),
        material_indices=_get(attrs, "material_index", n_strokes, 1, np.int32, 0).astype(np.int64),
        cyclic=_get(attrs, "cyclic", n_strokes, 1, bool, False),
        selected=np.asarray(selected, bool),
    )


def frame_at(layer, frame_number: int):
    """The keyframe showing at `frame_number` (the last one at or before it), or None."""
    if hasattr(layer, "get_frame_at"):
        return layer.get_frame_at(frame_number)
    keys = [f for f in layer.frames if f.frame_number <= frame_number]
    return max(keys, key=lambda f: f.frame_number) if keys else None


def keys_around(layer, frame_number: int):
    """The two keyframes to inbetween: the two selected ones, else the one showing at `frame_number`
    and the next. Raises ValueError naming what is missing."""
    frames = sorted(layer.frames, key=lambda f: f.frame_number)
    selected = [f for f in frames if f.select]
    if len(selected) == 2:
        return selected[0], selected[1]
    before = [f for f in frames if f.frame_number <= frame_number]
    after = [f for f in frames if f.frame_number > frame_number]
    if not before or not after:
        numbers = ", ".join(str(f.frame_number) for f in frames) or "none"
        raise ValueError(f"Inbetween needs a keyframe at or before frame {frame_number} and one after it on "
                         f"layer '{layer.name}' (or two selected keyframes); its keyframes: {numbers}")
    return before[-1], after[0]


def material_names(obj) -> list[str]:
    return [slot.material.name if slot.material else "" for slot in obj.material_slots]


def _material_colors(obj) -> tuple[np.ndarray, np.ndarray]:
    """Stroke and fill RGBA (scene-linear) of each material slot; fill alpha 0 where not shown."""
    strokes, fills = [], []
    for slot in obj.material_slots:
        style = slot.material.grease_pencil if slot.material and slot.material.is_grease_pencil else None
        strokes.append(tuple(style.color) if style else (0.0, 0.0, 0.0, 1.0))
        fills.append(tuple(style.fill_color) if style and style.show_fill else (0.0, 0.0, 0.0, 0.0))
    if not strokes:
        strokes, fills = [(0.0, 0.0, 0.0, 1.0)], [(0.0, 0.0, 0.0, 0.0)]
    return np.asarray(strokes, np.float32), np.asarray(fills, np.float32)


def _srgba(linear: np.ndarray) -> np.ndarray:
    out = np.array(linear, np.float32, copy=True).reshape(-1, 4)
    out[:, :3] = linear_to_srgb(out[:, :3])
    return out


def to_canvas(obj, layer_strokes: LayerStrokes, canvas: Canvas) -> Strokes:
    """Layer-space strokes -> canvas-pixel columns, with the colours an artist sees."""
    stroke_mat, fill_mat = _material_colors(obj)
    mat = np.clip(layer_strokes.material_indices, 0, len(stroke_mat) - 1)
    stroke_colors = stroke_mat[mat]
    per_point = np.repeat(stroke_colors, layer_strokes.point_counts, axis=0)
    mix = layer_strokes.vertex_colors[:, 3:4]
    seen = per_point.copy()
    seen[:, :3] = per_point[:, :3] * (1.0 - mix) + layer_strokes.vertex_colors[:, :3] * mix
    fills = fill_mat[mat]
    return Strokes(
        point_counts=layer_strokes.point_counts,
        positions=canvas.to_pixels(layer_strokes.positions),
        radii=(layer_strokes.radii * canvas.scale).astype(np.float32),
        opacities=layer_strokes.opacities.astype(np.float32),
        point_colors=_srgba(seen),
        stroke_colors=_srgba(stroke_colors),
        cyclic=layer_strokes.cyclic,
        material_indices=layer_strokes.material_indices,
        materials=material_names(obj),
        fill_colors=_srgba(fills) if np.any(fills[:, 3] > 0) else None,
    )


# -- writing ---------------------------------------------------------------------------------

def _set(attributes, name: str, data_type: str, domain: str, values: np.ndarray) -> None:
    attribute = attributes.get(name)
    if attribute is None:
        attribute = attributes.new(name, data_type, domain)
    key = {"FLOAT_VECTOR": "vector", "FLOAT_COLOR": "color"}.get(data_type, "value")
    attribute.data.foreach_set(key, np.ascontiguousarray(values).ravel())


def from_canvas(obj, strokes: Strokes, canvas: Canvas) -> LayerStrokes:
    """Canvas-pixel columns from the server -> layer-space strokes on `obj`'s material slots."""
    names = material_names(obj)
    slot_of = {name: i for i, name in enumerate(names) if name}
    materials = np.zeros(strokes.stroke_count, np.int64)
    for i, index in enumerate(strokes.material_indices):
        index = int(index)
        name = strokes.materials[index] if index < len(strokes.materials) else None
        materials[i] = slot_of.get(name, index if index < len(names) else 0)
    stroke_mat, _ = _material_colors(obj)
    material_rgb = np.repeat(stroke_mat[np.clip(materials, 0, len(stroke_mat) - 1), :3], strokes.point_counts, axis=0)
    rgb = srgb_to_linear(strokes.point_colors[:, :3])
    differs = np.any(np.abs(rgb - material_rgb) > 1e-4, axis=1)
    vertex_colors = np.zeros((strokes.point_count, 4), np.float32)
    vertex_colors[differs, :3] = rgb[differs]
    vertex_colors[differs, 3] = 1.0
    return LayerStrokes(
        point_counts=np.asarray(strokes.point_counts, np.int64),
        positions=canvas.from_pixels(strokes.positions),
        radii=(strokes.radii / canvas.scale).astype(np.float32),
        opacities=np.clip(strokes.opacities, 0.0, 1.0).astype(np.float32),
        vertex_colors=vertex_colors,
        material_indices=materials,
        cyclic=np.asarray(strokes.cyclic, bool),
        selected=np.zeros(strokes.stroke_count, bool),
    )


def write_drawing(drawing, layer_strokes: LayerStrokes) -> None:
    """Append the strokes to an (empty) drawing, every attribute set explicitly."""
    if layer_strokes.stroke_count == 0:
        return
    drawing.add_strokes([int(c) for c in layer_strokes.point_counts])
    attrs = drawing.attributes
    _set(attrs, "position", "FLOAT_VECTOR", "POINT", layer_strokes.positions.astype(np.float32))
    _set(attrs, "radius", "FLOAT", "POINT", layer_strokes.radii.astype(np.float32))
    _set(attrs, "opacity", "FLOAT", "POINT", layer_strokes.opacities.astype(np.float32))
    _set(attrs, "vertex_color", "FLOAT_COLOR", "POINT", layer_strokes.vertex_colors.astype(np.float32))
    _set(attrs, "material_index", "INT", "CURVE", layer_strokes.material_indices.astype(np.int32))
    _set(attrs, "cyclic", "BOOLEAN", "CURVE", layer_strokes.cyclic.astype(bool))
    drawing.tag_positions_changed()


def unique_layer_name(grease_pencil, name: str) -> str:
    taken = {layer.name for layer in grease_pencil.layers}
    if name not in taken:
        return name
    n = 1
    while f"{name}.{n:03d}" in taken:
        n += 1
    return f"{name}.{n:03d}"


def new_layer_with_keyframes(obj, source_layer, name: str, frames: list[tuple[int, LayerStrokes]]):
    """A new layer above `source_layer` (same transform) holding one keyframe per (frame, strokes)."""
    grease_pencil = obj.data
    layer = grease_pencil.layers.new(unique_layer_name(grease_pencil, name), set_active=False)
    for attr in ("translation", "rotation", "scale"):
        if hasattr(source_layer, attr):
            setattr(layer, attr, getattr(source_layer, attr))
    for number, layer_strokes in frames:
        write_drawing(layer.frames.new(number).drawing, layer_strokes)
    return layer
