from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Color(_message.Message):
    __slots__ = ("r", "g", "b", "a")
    R_FIELD_NUMBER: _ClassVar[int]
    G_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    A_FIELD_NUMBER: _ClassVar[int]
    r: float
    g: float
    b: float
    a: float
    def __init__(self, r: _Optional[float] = ..., g: _Optional[float] = ..., b: _Optional[float] = ..., a: _Optional[float] = ...) -> None: ...

class Drawing(_message.Message):
    __slots__ = ("width", "height", "layer", "point_counts", "positions", "radii", "opacities", "point_colors", "stroke_colors", "fill_colors", "cyclic", "material_indices", "materials", "bezier_segment_counts", "bezier_points")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    POINT_COUNTS_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    RADII_FIELD_NUMBER: _ClassVar[int]
    OPACITIES_FIELD_NUMBER: _ClassVar[int]
    POINT_COLORS_FIELD_NUMBER: _ClassVar[int]
    STROKE_COLORS_FIELD_NUMBER: _ClassVar[int]
    FILL_COLORS_FIELD_NUMBER: _ClassVar[int]
    CYCLIC_FIELD_NUMBER: _ClassVar[int]
    MATERIAL_INDICES_FIELD_NUMBER: _ClassVar[int]
    MATERIALS_FIELD_NUMBER: _ClassVar[int]
    BEZIER_SEGMENT_COUNTS_FIELD_NUMBER: _ClassVar[int]
    BEZIER_POINTS_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    layer: str
    point_counts: _containers.RepeatedScalarFieldContainer[int]
    positions: bytes
    radii: bytes
    opacities: bytes
    point_colors: bytes
    stroke_colors: bytes
    fill_colors: bytes
    cyclic: _containers.RepeatedScalarFieldContainer[bool]
    material_indices: _containers.RepeatedScalarFieldContainer[int]
    materials: _containers.RepeatedScalarFieldContainer[str]
    bezier_segment_counts: _containers.RepeatedScalarFieldContainer[int]
    bezier_points: bytes
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., layer: _Optional[str] = ..., point_counts: _Optional[_Iterable[int]] = ..., positions: _Optional[bytes] = ..., radii: _Optional[bytes] = ..., opacities: _Optional[bytes] = ..., point_colors: _Optional[bytes] = ..., stroke_colors: _Optional[bytes] = ..., fill_colors: _Optional[bytes] = ..., cyclic: _Optional[_Iterable[bool]] = ..., material_indices: _Optional[_Iterable[int]] = ..., materials: _Optional[_Iterable[str]] = ..., bezier_segment_counts: _Optional[_Iterable[int]] = ..., bezier_points: _Optional[bytes] = ...) -> None: ...

class Raster(_message.Message):
    __slots__ = ("width", "height", "png", "rgba")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    PNG_FIELD_NUMBER: _ClassVar[int]
    RGBA_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    png: bytes
    rgba: bytes
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., png: _Optional[bytes] = ..., rgba: _Optional[bytes] = ...) -> None: ...

class Keyframe(_message.Message):
    __slots__ = ("frame", "drawing", "raster")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    DRAWING_FIELD_NUMBER: _ClassVar[int]
    RASTER_FIELD_NUMBER: _ClassVar[int]
    frame: int
    drawing: Drawing
    raster: Raster
    def __init__(self, frame: _Optional[int] = ..., drawing: _Optional[_Union[Drawing, _Mapping]] = ..., raster: _Optional[_Union[Raster, _Mapping]] = ...) -> None: ...

class AnimationInfo(_message.Message):
    __slots__ = ("width", "height", "fps", "keyframe_count", "layer")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    KEYFRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    fps: float
    keyframe_count: int
    layer: str
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., fps: _Optional[float] = ..., keyframe_count: _Optional[int] = ..., layer: _Optional[str] = ...) -> None: ...

class Animation(_message.Message):
    __slots__ = ("info", "keyframes")
    INFO_FIELD_NUMBER: _ClassVar[int]
    KEYFRAMES_FIELD_NUMBER: _ClassVar[int]
    info: AnimationInfo
    keyframes: _containers.RepeatedCompositeFieldContainer[Keyframe]
    def __init__(self, info: _Optional[_Union[AnimationInfo, _Mapping]] = ..., keyframes: _Optional[_Iterable[_Union[Keyframe, _Mapping]]] = ...) -> None: ...
