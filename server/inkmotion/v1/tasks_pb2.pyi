from inkmotion.v1 import drawing_pb2 as _drawing_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Task(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_UNSPECIFIED: _ClassVar[Task]
    TASK_TEXT_MOTION: _ClassVar[Task]
    TASK_VIDEO_MOTION: _ClassVar[Task]
    TASK_RASTER_TEXT_MOTION: _ClassVar[Task]
    TASK_PATH_MOTION: _ClassVar[Task]
    TASK_INBETWEEN: _ClassVar[Task]
    TASK_PLUGIN: _ClassVar[Task]

class PathTiming(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PATH_TIMING_UNSPECIFIED: _ClassVar[PathTiming]
    PATH_TIMING_EVEN: _ClassVar[PathTiming]
    PATH_TIMING_AS_DRAWN: _ClassVar[PathTiming]

class Easing(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EASING_UNSPECIFIED: _ClassVar[Easing]
    EASING_LINEAR: _ClassVar[Easing]
    EASING_EASE_IN_OUT: _ClassVar[Easing]
    EASING_EASE_IN: _ClassVar[Easing]
    EASING_EASE_OUT: _ClassVar[Easing]

class MotionPath(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MOTION_PATH_UNSPECIFIED: _ClassVar[MotionPath]
    MOTION_PATH_LINEAR: _ClassVar[MotionPath]
    MOTION_PATH_ARC: _ClassVar[MotionPath]

class UnmatchedStrokes(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UNMATCHED_STROKES_UNSPECIFIED: _ClassVar[UnmatchedStrokes]
    UNMATCHED_STROKES_FADE: _ClassVar[UnmatchedStrokes]
    UNMATCHED_STROKES_DRAW_ON: _ClassVar[UnmatchedStrokes]

class ResultForm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESULT_FORM_UNSPECIFIED: _ClassVar[ResultForm]
    RESULT_FORM_DRAWING: _ClassVar[ResultForm]
    RESULT_FORM_RASTER: _ClassVar[ResultForm]
TASK_UNSPECIFIED: Task
TASK_TEXT_MOTION: Task
TASK_VIDEO_MOTION: Task
TASK_RASTER_TEXT_MOTION: Task
TASK_PATH_MOTION: Task
TASK_INBETWEEN: Task
TASK_PLUGIN: Task
PATH_TIMING_UNSPECIFIED: PathTiming
PATH_TIMING_EVEN: PathTiming
PATH_TIMING_AS_DRAWN: PathTiming
EASING_UNSPECIFIED: Easing
EASING_LINEAR: Easing
EASING_EASE_IN_OUT: Easing
EASING_EASE_IN: Easing
EASING_EASE_OUT: Easing
MOTION_PATH_UNSPECIFIED: MotionPath
MOTION_PATH_LINEAR: MotionPath
MOTION_PATH_ARC: MotionPath
UNMATCHED_STROKES_UNSPECIFIED: UnmatchedStrokes
UNMATCHED_STROKES_FADE: UnmatchedStrokes
UNMATCHED_STROKES_DRAW_ON: UnmatchedStrokes
RESULT_FORM_UNSPECIFIED: ResultForm
RESULT_FORM_DRAWING: ResultForm
RESULT_FORM_RASTER: ResultForm

class TextMotionRequest(_message.Message):
    __slots__ = ("sketch", "sketch_svg", "sketch_raster", "prompt", "model", "frames", "steps", "seed", "guidance_local", "guidance_global", "local_motion", "global_motion", "motion_strength", "preview_every", "result_form")
    SKETCH_FIELD_NUMBER: _ClassVar[int]
    SKETCH_SVG_FIELD_NUMBER: _ClassVar[int]
    SKETCH_RASTER_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_LOCAL_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_GLOBAL_FIELD_NUMBER: _ClassVar[int]
    LOCAL_MOTION_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_MOTION_FIELD_NUMBER: _ClassVar[int]
    MOTION_STRENGTH_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_EVERY_FIELD_NUMBER: _ClassVar[int]
    RESULT_FORM_FIELD_NUMBER: _ClassVar[int]
    sketch: _drawing_pb2.Drawing
    sketch_svg: str
    sketch_raster: _drawing_pb2.Raster
    prompt: str
    model: str
    frames: int
    steps: int
    seed: int
    guidance_local: float
    guidance_global: float
    local_motion: bool
    global_motion: bool
    motion_strength: float
    preview_every: int
    result_form: ResultForm
    def __init__(self, sketch: _Optional[_Union[_drawing_pb2.Drawing, _Mapping]] = ..., sketch_svg: _Optional[str] = ..., sketch_raster: _Optional[_Union[_drawing_pb2.Raster, _Mapping]] = ..., prompt: _Optional[str] = ..., model: _Optional[str] = ..., frames: _Optional[int] = ..., steps: _Optional[int] = ..., seed: _Optional[int] = ..., guidance_local: _Optional[float] = ..., guidance_global: _Optional[float] = ..., local_motion: _Optional[bool] = ..., global_motion: _Optional[bool] = ..., motion_strength: _Optional[float] = ..., preview_every: _Optional[int] = ..., result_form: _Optional[_Union[ResultForm, str]] = ...) -> None: ...

class VideoMotionRequest(_message.Message):
    __slots__ = ("sketch", "sketch_raster", "reference_frames", "prompt", "model", "frames", "steps", "seed", "preview_every", "stiffness", "subject_mask", "lora_steps", "fps")
    SKETCH_FIELD_NUMBER: _ClassVar[int]
    SKETCH_RASTER_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FRAMES_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_EVERY_FIELD_NUMBER: _ClassVar[int]
    STIFFNESS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_MASK_FIELD_NUMBER: _ClassVar[int]
    LORA_STEPS_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    sketch: _drawing_pb2.Drawing
    sketch_raster: _drawing_pb2.Raster
    reference_frames: _containers.RepeatedCompositeFieldContainer[_drawing_pb2.Raster]
    prompt: str
    model: str
    frames: int
    steps: int
    seed: int
    preview_every: int
    stiffness: float
    subject_mask: _drawing_pb2.Raster
    lora_steps: int
    fps: float
    def __init__(self, sketch: _Optional[_Union[_drawing_pb2.Drawing, _Mapping]] = ..., sketch_raster: _Optional[_Union[_drawing_pb2.Raster, _Mapping]] = ..., reference_frames: _Optional[_Iterable[_Union[_drawing_pb2.Raster, _Mapping]]] = ..., prompt: _Optional[str] = ..., model: _Optional[str] = ..., frames: _Optional[int] = ..., steps: _Optional[int] = ..., seed: _Optional[int] = ..., preview_every: _Optional[int] = ..., stiffness: _Optional[float] = ..., subject_mask: _Optional[_Union[_drawing_pb2.Raster, _Mapping]] = ..., lora_steps: _Optional[int] = ..., fps: _Optional[float] = ...) -> None: ...

class RasterTextMotionRequest(_message.Message):
    __slots__ = ("sketch", "sketch_drawing", "prompt", "model", "frames", "steps", "inversion_steps", "guidance", "composition_weight", "samples", "seed", "binarize", "preview_every", "result_form")
    SKETCH_FIELD_NUMBER: _ClassVar[int]
    SKETCH_DRAWING_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    INVERSION_STEPS_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_FIELD_NUMBER: _ClassVar[int]
    COMPOSITION_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    BINARIZE_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_EVERY_FIELD_NUMBER: _ClassVar[int]
    RESULT_FORM_FIELD_NUMBER: _ClassVar[int]
    sketch: _drawing_pb2.Raster
    sketch_drawing: _drawing_pb2.Drawing
    prompt: str
    model: str
    frames: int
    steps: int
    inversion_steps: int
    guidance: float
    composition_weight: float
    samples: int
    seed: int
    binarize: bool
    preview_every: int
    result_form: ResultForm
    def __init__(self, sketch: _Optional[_Union[_drawing_pb2.Raster, _Mapping]] = ..., sketch_drawing: _Optional[_Union[_drawing_pb2.Drawing, _Mapping]] = ..., prompt: _Optional[str] = ..., model: _Optional[str] = ..., frames: _Optional[int] = ..., steps: _Optional[int] = ..., inversion_steps: _Optional[int] = ..., guidance: _Optional[float] = ..., composition_weight: _Optional[float] = ..., samples: _Optional[int] = ..., seed: _Optional[int] = ..., binarize: _Optional[bool] = ..., preview_every: _Optional[int] = ..., result_form: _Optional[_Union[ResultForm, str]] = ...) -> None: ...

class PathMotionRequest(_message.Message):
    __slots__ = ("drawing", "raster", "path", "model", "frames", "seed", "easing", "timing", "keep_upright", "squash_stretch", "follow_through")
    DRAWING_FIELD_NUMBER: _ClassVar[int]
    RASTER_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    EASING_FIELD_NUMBER: _ClassVar[int]
    TIMING_FIELD_NUMBER: _ClassVar[int]
    KEEP_UPRIGHT_FIELD_NUMBER: _ClassVar[int]
    SQUASH_STRETCH_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_THROUGH_FIELD_NUMBER: _ClassVar[int]
    drawing: _drawing_pb2.Drawing
    raster: _drawing_pb2.Raster
    path: bytes
    model: str
    frames: int
    seed: int
    easing: Easing
    timing: PathTiming
    keep_upright: bool
    squash_stretch: float
    follow_through: float
    def __init__(self, drawing: _Optional[_Union[_drawing_pb2.Drawing, _Mapping]] = ..., raster: _Optional[_Union[_drawing_pb2.Raster, _Mapping]] = ..., path: _Optional[bytes] = ..., model: _Optional[str] = ..., frames: _Optional[int] = ..., seed: _Optional[int] = ..., easing: _Optional[_Union[Easing, str]] = ..., timing: _Optional[_Union[PathTiming, str]] = ..., keep_upright: _Optional[bool] = ..., squash_stretch: _Optional[float] = ..., follow_through: _Optional[float] = ...) -> None: ...

class InbetweenRequest(_message.Message):
    __slots__ = ("start", "end", "model", "frames", "easing", "motion_path", "unmatched", "result_form", "seed")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    EASING_FIELD_NUMBER: _ClassVar[int]
    MOTION_PATH_FIELD_NUMBER: _ClassVar[int]
    UNMATCHED_FIELD_NUMBER: _ClassVar[int]
    RESULT_FORM_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    start: _drawing_pb2.Keyframe
    end: _drawing_pb2.Keyframe
    model: str
    frames: int
    easing: Easing
    motion_path: MotionPath
    unmatched: UnmatchedStrokes
    result_form: ResultForm
    seed: int
    def __init__(self, start: _Optional[_Union[_drawing_pb2.Keyframe, _Mapping]] = ..., end: _Optional[_Union[_drawing_pb2.Keyframe, _Mapping]] = ..., model: _Optional[str] = ..., frames: _Optional[int] = ..., easing: _Optional[_Union[Easing, str]] = ..., motion_path: _Optional[_Union[MotionPath, str]] = ..., unmatched: _Optional[_Union[UnmatchedStrokes, str]] = ..., result_form: _Optional[_Union[ResultForm, str]] = ..., seed: _Optional[int] = ...) -> None: ...

class PluginTaskRequest(_message.Message):
    __slots__ = ("task", "model", "drawing", "raster", "prompt", "parameters")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TASK_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DRAWING_FIELD_NUMBER: _ClassVar[int]
    RASTER_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    task: str
    model: str
    drawing: _drawing_pb2.Drawing
    raster: _drawing_pb2.Raster
    prompt: str
    parameters: _containers.ScalarMap[str, str]
    def __init__(self, task: _Optional[str] = ..., model: _Optional[str] = ..., drawing: _Optional[_Union[_drawing_pb2.Drawing, _Mapping]] = ..., raster: _Optional[_Union[_drawing_pb2.Raster, _Mapping]] = ..., prompt: _Optional[str] = ..., parameters: _Optional[_Mapping[str, str]] = ...) -> None: ...
