"""Records <-> protobuf messages of inkmotion.v1 (see proto/inkmotion/v1/drawing.proto).

Point and stroke attributes travel as packed little-endian float32 columns, so encoding an
animation is a handful of `np.concatenate` calls per frame and decoding is zero-copy `frombuffer`.
Decoding checks the structure (lengths agree, numbers are finite) and raises `InvalidInput` naming
the field; size limits are checked separately, in `inkmotion.limits`.
"""

from __future__ import annotations

import io

import numpy as np

from inkmotion.codec.drawing import BLACK, Animation, Drawing, Keyframe, Raster, Stroke
from inkmotion.errors import InvalidInput
from inkmotion.limits import MAX_COORDINATE
from inkmotion.v1 import drawing_pb2

_F32 = np.dtype("<f4")
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk: length 0, type, CRC


def _column(arrays: list) -> bytes:
    """Arrays of the strokes back to back, as little-endian float32 bytes."""
    if not arrays:
        return b""
    return np.concatenate(arrays, axis=0, dtype=_F32).tobytes()


def drawing_to_proto(drawing: Drawing) -> drawing_pb2.Drawing:
    strokes = drawing.strokes
    msg = drawing_pb2.Drawing(
        width=drawing.width,
        height=drawing.height,
        layer=drawing.layer,
        point_counts=[len(s) for s in strokes],
        positions=_column([s.points for s in strokes]),
        radii=_column([s.radii for s in strokes]),
        opacities=_column([s.opacities for s in strokes]),
        stroke_colors=np.asarray([s.color for s in strokes], _F32).tobytes(),
        materials=drawing.materials,
    )
    if any(s.point_colors is not None for s in strokes):
        msg.point_colors = _column([s.colors() for s in strokes])
    if any(s.fill is not None for s in strokes):
        msg.fill_colors = np.asarray([np.zeros(4) if s.fill is None else s.fill for s in strokes], _F32).tobytes()
    if any(s.cyclic for s in strokes):
        msg.cyclic.extend(s.cyclic for s in strokes)
    if any(s.material for s in strokes):
        msg.material_indices.extend(s.material for s in strokes)
    if any(s.bezier is not None for s in strokes):
        if not all(s.bezier is not None for s in strokes):
            raise ValueError("either every stroke has a Bezier form or none has")
        msg.bezier_segment_counts.extend(_segments(s) for s in strokes)
        msg.bezier_points = _column([s.bezier for s in strokes])
    return msg


def _segments(stroke: Stroke) -> int:
    n = len(stroke.bezier)
    return n // 3 if stroke.cyclic else (n - 1) // 3


def _check_unit(arr: np.ndarray, field: str) -> None:
    """Opacities and colour channels lie in [0, 1]."""
    bad = np.flatnonzero((arr < 0) | (arr > 1))
    if len(bad):
        raise InvalidInput(field, f"value {float(arr.flat[bad[0]]):g} at index {int(bad[0])} is outside [0, 1]")


def _array(data: bytes, field: str, rows: int, width: int, default: float | None) -> np.ndarray:
    if not data:
        if default is None:
            raise InvalidInput(field, "is empty")
        return np.full((rows, width) if width > 1 else rows, default, np.float32)
    expected = rows * width * 4
    if len(data) != expected:
        raise InvalidInput(field, f"has {len(data)} bytes, expected {expected} ({rows} x {width} float32)")
    arr = np.frombuffer(data, _F32)
    if not np.isfinite(arr).all():
        raise InvalidInput(field, "contains NaN or infinite values")
    return arr.reshape(rows, width) if width > 1 else arr


def _per_stroke(values, field: str, count: int, default):
    if len(values) == 0:
        return [default] * count
    if len(values) != count:
        raise InvalidInput(field, f"has {len(values)} entries for {count} strokes")
    return list(values)


def drawing_from_proto(msg: drawing_pb2.Drawing, field: str = "drawing") -> Drawing:
    counts = np.asarray(msg.point_counts, np.int64)
    n_strokes, n_points = len(counts), int(counts.sum())
    if (counts == 0).any():
        raise InvalidInput(f"{field}.point_counts[{int(np.argmax(counts == 0))}]", "a stroke has no points")
    positions = _array(msg.positions, f"{field}.positions", n_points, 2, None if n_points else 0.0)
    radii = _array(msg.radii, f"{field}.radii", n_points, 1, 1.0)
    opacities = _array(msg.opacities, f"{field}.opacities", n_points, 1, 1.0)
    point_colors = _array(msg.point_colors, f"{field}.point_colors", n_points, 4, 0.0) if msg.point_colors else None
    stroke_colors = _array(msg.stroke_colors, f"{field}.stroke_colors", n_strokes, 4, None) if msg.stroke_colors else None
    fills = _array(msg.fill_colors, f"{field}.fill_colors", n_strokes, 4, None) if msg.fill_colors else None
    far = np.flatnonzero(np.abs(positions) > MAX_COORDINATE)
    if len(far):
        raise InvalidInput(f"{field}.positions", f"{float(positions.flat[far[0]]):g} at index {int(far[0])} is "
                                                 f"outside +-{MAX_COORDINATE:g} px")
    if (radii < 0).any() or (radii > MAX_COORDINATE).any():
        raise InvalidInput(f"{field}.radii", f"has values outside [0, {MAX_COORDINATE:g}] px")
    for column, values in ((".opacities", opacities), (".point_colors", point_colors),
                           (".stroke_colors", stroke_colors), (".fill_colors", fills)):
        if values is not None:
            _check_unit(values, field + column)
    cyclic = _per_stroke(msg.cyclic, f"{field}.cyclic", n_strokes, False)
    materials = _per_stroke(msg.material_indices, f"{field}.material_indices", n_strokes, 0)
    if msg.materials and max(materials, default=0) >= len(msg.materials):
        raise InvalidInput(f"{field}.material_indices", f"index {max(materials)} but only {len(msg.materials)} materials")

    beziers: list[np.ndarray | None] = [None] * n_strokes
    if msg.bezier_segment_counts:
        segs = _per_stroke(msg.bezier_segment_counts, f"{field}.bezier_segment_counts", n_strokes, 0)
        ctrl_counts = [3 * k + (0 if c else 1) for k, c in zip(segs, cyclic)]
        ctrl = _array(msg.bezier_points, f"{field}.bezier_points", sum(ctrl_counts), 2, None)
        if (np.abs(ctrl) > MAX_COORDINATE).any():
            raise InvalidInput(f"{field}.bezier_points", f"has values outside +-{MAX_COORDINATE:g} px")
        ends = np.cumsum(ctrl_counts).tolist()
        beziers = [ctrl[e - c:e] for c, e in zip(ctrl_counts, ends)]

    bounds = np.concatenate([[0], np.cumsum(counts)]).tolist()
    strokes = []
    for i in range(n_strokes):
        a, b = bounds[i], bounds[i + 1]
        strokes.append(Stroke(
            points=positions[a:b],
            radii=radii[a:b],
            opacities=opacities[a:b],
            color=stroke_colors[i] if stroke_colors is not None else BLACK.copy(),
            point_colors=point_colors[a:b] if point_colors is not None else None,
            fill=fills[i] if fills is not None and fills[i][3] > 0 else None,
            cyclic=bool(cyclic[i]),
            material=int(materials[i]),
            bezier=beziers[i],
        ))
    return Drawing(msg.width, msg.height, strokes, layer=msg.layer, materials=list(msg.materials))


def raster_to_proto(raster: Raster, png: bool = True) -> drawing_pb2.Raster:
    msg = drawing_pb2.Raster(width=raster.width, height=raster.height)
    if png:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(raster.rgba, "RGBA").save(buf, format="PNG", compress_level=1)
        msg.png = buf.getvalue()
    else:
        msg.rgba = np.ascontiguousarray(raster.rgba, np.uint8).tobytes()
    return msg


def raster_from_proto(msg: drawing_pb2.Raster, field: str = "raster", max_pixels: int | None = None) -> Raster:
    kind = msg.WhichOneof("pixels")
    if kind == "rgba":
        expected = msg.width * msg.height * 4
        if msg.width == 0 or msg.height == 0:
            raise InvalidInput(f"{field}.width", f"{msg.width}x{msg.height} is an empty image")
        if len(msg.rgba) != expected:
            raise InvalidInput(f"{field}.rgba", f"has {len(msg.rgba)} bytes, expected {expected} for {msg.width}x{msg.height} RGBA")
        return Raster(np.frombuffer(msg.rgba, np.uint8).reshape(msg.height, msg.width, 4))
    if kind == "png":
        from PIL import Image

        if not msg.png.endswith(_PNG_END):  # Pillow reads a cut file up to where its data ends
            raise InvalidInput(f"{field}.png", "is not a readable PNG (it is cut short: it does not end with an IEND chunk)")
        try:
            with Image.open(io.BytesIO(msg.png)) as image:
                if max_pixels is not None and image.width * image.height > max_pixels:
                    raise InvalidInput(f"{field}.png", f"{image.width}x{image.height} is over the limit of {max_pixels} pixels")
                return Raster(np.asarray(image.convert("RGBA")))
        except InvalidInput:
            raise
        except Exception as exc:  # Pillow raises many kinds for a broken file
            raise InvalidInput(f"{field}.png", f"is not a readable PNG ({exc})") from None
    raise InvalidInput(field, "has neither png nor rgba pixels")


def keyframe_to_proto(key: Keyframe) -> drawing_pb2.Keyframe:
    if isinstance(key.content, Drawing):
        return drawing_pb2.Keyframe(frame=key.frame, drawing=drawing_to_proto(key.content))
    return drawing_pb2.Keyframe(frame=key.frame, raster=raster_to_proto(key.content))


def keyframe_from_proto(msg: drawing_pb2.Keyframe, field: str = "keyframe", max_pixels: int | None = None) -> Keyframe:
    kind = msg.WhichOneof("content")
    if kind == "drawing":
        return Keyframe(msg.frame, drawing_from_proto(msg.drawing, f"{field}.drawing"))
    if kind == "raster":
        return Keyframe(msg.frame, raster_from_proto(msg.raster, f"{field}.raster", max_pixels))
    raise InvalidInput(field, "has neither a drawing nor a raster")


def animation_info(animation: Animation) -> drawing_pb2.AnimationInfo:
    return drawing_pb2.AnimationInfo(
        width=animation.width,
        height=animation.height,
        fps=animation.fps,
        keyframe_count=len(animation.keyframes),
        layer=animation.layer,
    )


def animation_to_proto(animation: Animation) -> drawing_pb2.Animation:
    return drawing_pb2.Animation(
        info=animation_info(animation), keyframes=[keyframe_to_proto(k) for k in animation.keyframes]
    )


def animation_from_parts(info: drawing_pb2.AnimationInfo, keyframes) -> Animation:
    keys = [k if isinstance(k, Keyframe) else keyframe_from_proto(k, f"keyframes[{i}]") for i, k in enumerate(keyframes)]
    return Animation(info.width, info.height, keys, fps=info.fps or 8.0, layer=info.layer)
