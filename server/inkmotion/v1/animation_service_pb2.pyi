from inkmotion.v1 import drawing_pb2 as _drawing_pb2
from inkmotion.v1 import jobs_pb2 as _jobs_pb2
from inkmotion.v1 import tasks_pb2 as _tasks_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WorkerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WORKER_STATE_UNSPECIFIED: _ClassVar[WorkerState]
    WORKER_STATE_STARTING: _ClassVar[WorkerState]
    WORKER_STATE_IDLE: _ClassVar[WorkerState]
    WORKER_STATE_BUSY: _ClassVar[WorkerState]
    WORKER_STATE_LOST: _ClassVar[WorkerState]
WORKER_STATE_UNSPECIFIED: WorkerState
WORKER_STATE_STARTING: WorkerState
WORKER_STATE_IDLE: WorkerState
WORKER_STATE_BUSY: WorkerState
WORKER_STATE_LOST: WorkerState

class GetCapabilitiesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TaskParameter(_message.Message):
    __slots__ = ("name", "label", "help", "kind", "default_value", "minimum", "maximum", "choices")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[TaskParameter.Kind]
        KIND_INTEGER: _ClassVar[TaskParameter.Kind]
        KIND_NUMBER: _ClassVar[TaskParameter.Kind]
        KIND_BOOLEAN: _ClassVar[TaskParameter.Kind]
        KIND_CHOICE: _ClassVar[TaskParameter.Kind]
    KIND_UNSPECIFIED: TaskParameter.Kind
    KIND_INTEGER: TaskParameter.Kind
    KIND_NUMBER: TaskParameter.Kind
    KIND_BOOLEAN: TaskParameter.Kind
    KIND_CHOICE: TaskParameter.Kind
    NAME_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    HELP_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VALUE_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_FIELD_NUMBER: _ClassVar[int]
    MAXIMUM_FIELD_NUMBER: _ClassVar[int]
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    name: str
    label: str
    help: str
    kind: TaskParameter.Kind
    default_value: str
    minimum: float
    maximum: float
    choices: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., label: _Optional[str] = ..., help: _Optional[str] = ..., kind: _Optional[_Union[TaskParameter.Kind, str]] = ..., default_value: _Optional[str] = ..., minimum: _Optional[float] = ..., maximum: _Optional[float] = ..., choices: _Optional[_Iterable[str]] = ...) -> None: ...

class TaskInput(_message.Message):
    __slots__ = ("name", "label", "help", "kind", "required")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[TaskInput.Kind]
        KIND_DRAWING: _ClassVar[TaskInput.Kind]
        KIND_RASTER: _ClassVar[TaskInput.Kind]
        KIND_TEXT: _ClassVar[TaskInput.Kind]
        KIND_KEYFRAME: _ClassVar[TaskInput.Kind]
        KIND_PATH: _ClassVar[TaskInput.Kind]
        KIND_VIDEO: _ClassVar[TaskInput.Kind]
    KIND_UNSPECIFIED: TaskInput.Kind
    KIND_DRAWING: TaskInput.Kind
    KIND_RASTER: TaskInput.Kind
    KIND_TEXT: TaskInput.Kind
    KIND_KEYFRAME: TaskInput.Kind
    KIND_PATH: TaskInput.Kind
    KIND_VIDEO: TaskInput.Kind
    NAME_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    HELP_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    name: str
    label: str
    help: str
    kind: TaskInput.Kind
    required: bool
    def __init__(self, name: _Optional[str] = ..., label: _Optional[str] = ..., help: _Optional[str] = ..., kind: _Optional[_Union[TaskInput.Kind, str]] = ..., required: _Optional[bool] = ...) -> None: ...

class TaskInfo(_message.Message):
    __slots__ = ("task", "name", "description", "available", "unavailable_reason", "models", "default_model", "label", "inputs", "parameters")
    TASK_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    UNAVAILABLE_REASON_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_MODEL_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    task: _tasks_pb2.Task
    name: str
    description: str
    available: bool
    unavailable_reason: str
    models: _containers.RepeatedScalarFieldContainer[str]
    default_model: str
    label: str
    inputs: _containers.RepeatedCompositeFieldContainer[TaskInput]
    parameters: _containers.RepeatedCompositeFieldContainer[TaskParameter]
    def __init__(self, task: _Optional[_Union[_tasks_pb2.Task, str]] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., available: _Optional[bool] = ..., unavailable_reason: _Optional[str] = ..., models: _Optional[_Iterable[str]] = ..., default_model: _Optional[str] = ..., label: _Optional[str] = ..., inputs: _Optional[_Iterable[_Union[TaskInput, _Mapping]]] = ..., parameters: _Optional[_Iterable[_Union[TaskParameter, _Mapping]]] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "task", "description", "source", "available", "task_name")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    TASK_NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    task: _tasks_pb2.Task
    description: str
    source: str
    available: bool
    task_name: str
    def __init__(self, name: _Optional[str] = ..., task: _Optional[_Union[_tasks_pb2.Task, str]] = ..., description: _Optional[str] = ..., source: _Optional[str] = ..., available: _Optional[bool] = ..., task_name: _Optional[str] = ...) -> None: ...

class DeviceInfo(_message.Message):
    __slots__ = ("name", "description", "memory_bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    memory_bytes: int
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., memory_bytes: _Optional[int] = ...) -> None: ...

class WorkerInfo(_message.Message):
    __slots__ = ("name", "node", "device", "state", "models", "job_id", "jobs_done", "detail")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    JOBS_DONE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    node: str
    device: DeviceInfo
    state: WorkerState
    models: _containers.RepeatedScalarFieldContainer[str]
    job_id: str
    jobs_done: int
    detail: str
    def __init__(self, name: _Optional[str] = ..., node: _Optional[str] = ..., device: _Optional[_Union[DeviceInfo, _Mapping]] = ..., state: _Optional[_Union[WorkerState, str]] = ..., models: _Optional[_Iterable[str]] = ..., job_id: _Optional[str] = ..., jobs_done: _Optional[int] = ..., detail: _Optional[str] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_frames", "max_strokes", "max_points_per_stroke", "max_points", "max_canvas_size", "max_raster_pixels", "max_prompt_chars", "max_steps", "max_message_bytes", "max_reference_frames", "max_result_points", "max_result_pixels")
    MAX_FRAMES_FIELD_NUMBER: _ClassVar[int]
    MAX_STROKES_FIELD_NUMBER: _ClassVar[int]
    MAX_POINTS_PER_STROKE_FIELD_NUMBER: _ClassVar[int]
    MAX_POINTS_FIELD_NUMBER: _ClassVar[int]
    MAX_CANVAS_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_RASTER_PIXELS_FIELD_NUMBER: _ClassVar[int]
    MAX_PROMPT_CHARS_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_REFERENCE_FRAMES_FIELD_NUMBER: _ClassVar[int]
    MAX_RESULT_POINTS_FIELD_NUMBER: _ClassVar[int]
    MAX_RESULT_PIXELS_FIELD_NUMBER: _ClassVar[int]
    max_frames: int
    max_strokes: int
    max_points_per_stroke: int
    max_points: int
    max_canvas_size: int
    max_raster_pixels: int
    max_prompt_chars: int
    max_steps: int
    max_message_bytes: int
    max_reference_frames: int
    max_result_points: int
    max_result_pixels: int
    def __init__(self, max_frames: _Optional[int] = ..., max_strokes: _Optional[int] = ..., max_points_per_stroke: _Optional[int] = ..., max_points: _Optional[int] = ..., max_canvas_size: _Optional[int] = ..., max_raster_pixels: _Optional[int] = ..., max_prompt_chars: _Optional[int] = ..., max_steps: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., max_reference_frames: _Optional[int] = ..., max_result_points: _Optional[int] = ..., max_result_pixels: _Optional[int] = ...) -> None: ...

class GetCapabilitiesResponse(_message.Message):
    __slots__ = ("server_version", "tasks", "models", "devices", "limits", "auth_required", "backend", "workers")
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    AUTH_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    server_version: str
    tasks: _containers.RepeatedCompositeFieldContainer[TaskInfo]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    devices: _containers.RepeatedCompositeFieldContainer[DeviceInfo]
    limits: Limits
    auth_required: bool
    backend: str
    workers: _containers.RepeatedCompositeFieldContainer[WorkerInfo]
    def __init__(self, server_version: _Optional[str] = ..., tasks: _Optional[_Iterable[_Union[TaskInfo, _Mapping]]] = ..., models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ..., devices: _Optional[_Iterable[_Union[DeviceInfo, _Mapping]]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., auth_required: _Optional[bool] = ..., backend: _Optional[str] = ..., workers: _Optional[_Iterable[_Union[WorkerInfo, _Mapping]]] = ...) -> None: ...

class SubmitJobRequest(_message.Message):
    __slots__ = ("text_motion", "video_motion", "raster_text_motion", "path_motion", "inbetween", "plugin", "priority", "label", "request_id")
    TEXT_MOTION_FIELD_NUMBER: _ClassVar[int]
    VIDEO_MOTION_FIELD_NUMBER: _ClassVar[int]
    RASTER_TEXT_MOTION_FIELD_NUMBER: _ClassVar[int]
    PATH_MOTION_FIELD_NUMBER: _ClassVar[int]
    INBETWEEN_FIELD_NUMBER: _ClassVar[int]
    PLUGIN_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    text_motion: _tasks_pb2.TextMotionRequest
    video_motion: _tasks_pb2.VideoMotionRequest
    raster_text_motion: _tasks_pb2.RasterTextMotionRequest
    path_motion: _tasks_pb2.PathMotionRequest
    inbetween: _tasks_pb2.InbetweenRequest
    plugin: _tasks_pb2.PluginTaskRequest
    priority: int
    label: str
    request_id: str
    def __init__(self, text_motion: _Optional[_Union[_tasks_pb2.TextMotionRequest, _Mapping]] = ..., video_motion: _Optional[_Union[_tasks_pb2.VideoMotionRequest, _Mapping]] = ..., raster_text_motion: _Optional[_Union[_tasks_pb2.RasterTextMotionRequest, _Mapping]] = ..., path_motion: _Optional[_Union[_tasks_pb2.PathMotionRequest, _Mapping]] = ..., inbetween: _Optional[_Union[_tasks_pb2.InbetweenRequest, _Mapping]] = ..., plugin: _Optional[_Union[_tasks_pb2.PluginTaskRequest, _Mapping]] = ..., priority: _Optional[int] = ..., label: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class SubmitJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: _jobs_pb2.Job
    def __init__(self, job: _Optional[_Union[_jobs_pb2.Job, _Mapping]] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class WatchJobResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _jobs_pb2.JobEvent
    def __init__(self, event: _Optional[_Union[_jobs_pb2.JobEvent, _Mapping]] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class CancelJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: _jobs_pb2.Job
    def __init__(self, job: _Optional[_Union[_jobs_pb2.Job, _Mapping]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id", "include_result")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_RESULT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    include_result: bool
    def __init__(self, job_id: _Optional[str] = ..., include_result: _Optional[bool] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job", "keyframe")
    JOB_FIELD_NUMBER: _ClassVar[int]
    KEYFRAME_FIELD_NUMBER: _ClassVar[int]
    job: _jobs_pb2.Job
    keyframe: _drawing_pb2.Keyframe
    def __init__(self, job: _Optional[_Union[_jobs_pb2.Job, _Mapping]] = ..., keyframe: _Optional[_Union[_drawing_pb2.Keyframe, _Mapping]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "states")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    states: _containers.RepeatedScalarFieldContainer[_jobs_pb2.JobState]
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., states: _Optional[_Iterable[_Union[_jobs_pb2.JobState, str]]] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[_jobs_pb2.Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[_jobs_pb2.Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
