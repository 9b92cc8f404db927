"""What every task module is made of: its spec, its parameters, its decoded inputs.

A task is one request message of the contract (`tasks.proto`). Its one name - in the CLI, in
capabilities, in job listings, in error messages - is the field of SubmitJobRequest's `task` oneof
that carries that message (`text_motion`, `inbetween`, ...), and its enum value is `TASK_` + the
same name: both are read from the contract, never typed twice. A task a server plugin adds has no
message of its own: it travels as a PluginTaskRequest under its own name (`plugin_name`).

Its `inputs` and `params` describe it well enough for a host to build its form and for the CLI to
build `animate TASK --help` (capabilities carry them as TaskInfo.inputs and .parameters).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from inkmotion import forms
from inkmotion.errors import InvalidInput
from inkmotion.limits import Limits, check_range, quoted
from inkmotion.pipelines.base import ProgressCallback
from inkmotion.v1 import animation_service_pb2 as service_pb2
from inkmotion.v1 import tasks_pb2

Request = object  # one of the *Request messages of tasks.proto
Inputs = object  # a task's request decoded by its check; `.request` is the message
Runner = Callable[[Inputs, str, ProgressCallback], object]  # (inputs, device, on_progress) -> Animation

PLUGIN = forms.PLUGIN  # the SubmitJobRequest field of PluginTaskRequest: not a task's name


def contract_name(request_class) -> str:
    """The SubmitJobRequest field that carries `request_class`: the task's one name."""
    try:
        return forms.submission_field(request_class())
    except TypeError:
        raise ValueError(f"{request_class.DESCRIPTOR.full_name} is not a task of SubmitJobRequest") from None


@dataclass(frozen=True)
class Param:
    """One optional parameter of a task's request, as a host shows it and the check enforces it.

    `minimum`/`maximum` are numbers, the name of a `Limits` field (the server's own limit) or a
    function of the limits; `default` is what leaving it unset means (the method's reference
    default), and its type is the parameter's kind (int, float, bool; str for one of `choices`)."""

    name: str  # the request field
    label: str
    help: str
    default: float | int | bool | str
    minimum: float | str | Callable[[Limits], float] | None = None
    maximum: float | str | Callable[[Limits], float] | None = None
    choices: tuple[str, ...] = ()

    @property
    def kind(self) -> int:
        if self.choices:
            return forms.KIND.KIND_CHOICE
        if isinstance(self.default, bool):
            return forms.KIND.KIND_BOOLEAN
        return forms.KIND.KIND_INTEGER if isinstance(self.default, int) else forms.KIND.KIND_NUMBER

    def bounds(self, limits: Limits) -> tuple[float, float]:
        """(minimum, maximum) under these limits; unbounded sides are infinite."""

        def value(bound, fallback):
            if bound is None:
                return fallback
            if callable(bound):
                return bound(limits)
            return getattr(limits, bound) if isinstance(bound, str) else bound

        return value(self.minimum, float("-inf")), value(self.maximum, float("inf"))


    def text(self, value) -> str:
        """A value as capabilities and PluginTaskRequest.parameters write it."""
        return forms.value_text(value)

    def parse(self, text: str, field_name: str):
        """A value written as text, of this parameter's kind (InvalidInput naming the field)."""
        try:
            return forms.parse_value(self.kind, text, self.choices)
        except ValueError as exc:
            raise InvalidInput(field_name, str(exc)) from None

    def describe(self, limits: Limits) -> service_pb2.TaskParameter:
        described = service_pb2.TaskParameter(name=self.name, label=self.label, help=self.help, kind=self.kind,
                                              default_value=self.text(self.default), choices=self.choices)
        low, high = self.bounds(limits)
        if low != float("-inf"):
            described.minimum = low
        if high != float("inf"):
            described.maximum = high
        return described


@dataclass(frozen=True)
class Input:
    """One input of a task: what the artist gives besides the parameters (a request field)."""

    name: str  # the request field (of a oneof: the form a host sends, e.g. `sketch`)
    label: str
    help: str
    kind: int  # TaskInput.Kind
    required: bool = True

    def describe(self) -> service_pb2.TaskInput:
        return service_pb2.TaskInput(name=self.name, label=self.label, help=self.help, kind=self.kind, required=self.required)


DRAWING, RASTER, TEXT, KEYFRAME, PATH, VIDEO = (service_pb2.TaskInput.KIND_DRAWING, service_pb2.TaskInput.KIND_RASTER,
                                               service_pb2.TaskInput.KIND_TEXT, service_pb2.TaskInput.KIND_KEYFRAME,
                                               service_pb2.TaskInput.KIND_PATH, service_pb2.TaskInput.KIND_VIDEO)


def enum_choices(request_class, field_name: str) -> tuple[str, ...]:
    """The words for an enum field's values, read from the contract: EASING_EASE_IN -> "ease-in"
    (UNSPECIFIED, the default, left out)."""
    return forms.enum_words(request_class.DESCRIPTOR.fields_by_name[field_name].enum_type)


def param_values(request, params: tuple[Param, ...], prefix: str = "") -> dict:
    """Every parameter's value for this request: as set, else its default."""
    return {p.name: p.default for p in params} | set_params(request, params, prefix)


def check_values(values: dict, params: tuple[Param, ...], limits: Limits, prefix: str, plugin: bool = False) -> None:
    """Each given {parameter name: value} within its parameter's bounds (errors name the field as
    the request has it: `text_motion.steps`, a plugin task's `plugin.parameters[steps]`). The CLI
    checks its options with this before a protobuf setter sees them."""
    for param in params:
        if (param.minimum is not None or param.maximum is not None) and param.name in values:
            where = f"{prefix}.parameters[{param.name}]" if plugin else f"{prefix}.{param.name}"
            check_range(where, values[param.name], *param.bounds(limits))


def check_params(request, params: tuple[Param, ...], limits: Limits, prefix: str) -> None:
    """Each numeric parameter that is set, within its bounds (errors name the field)."""
    plugin = isinstance(request, tasks_pb2.PluginTaskRequest)
    check_values(set_params(request, params, prefix), params, limits, prefix, plugin)


def set_params(request, params: tuple[Param, ...], prefix: str = "") -> dict:
    """{parameter name: value} of the parameters the request sets (unset ones keep their default):
    fields of a task's own message (a choice as its word), or a plugin task's written values."""
    if isinstance(request, tasks_pb2.PluginTaskRequest):
        by_name = {p.name: p for p in params}
        for name in request.parameters:
            if name not in by_name:
                raise InvalidInput(f"{prefix or PLUGIN}.parameters", f"task {request.task} has no parameter {quoted(name)}; "
                                   f"it has: {', '.join(by_name) or 'none'}")
        return {name: by_name[name].parse(text, f"{prefix or PLUGIN}.parameters[{name}]")
                for name, text in request.parameters.items()}
    values = {}
    for p in params:
        if p.choices:  # an enum: 0 (UNSPECIFIED) is unset
            number = getattr(request, p.name)
            if number:
                enum = request.DESCRIPTOR.fields_by_name[p.name].enum_type
                if number not in enum.values_by_number:
                    raise InvalidInput(f"{prefix}.{p.name}" if prefix else p.name, f"unknown value {number}")
                values[p.name] = forms.enum_word(enum, number)
        elif request.HasField(p.name):
            values[p.name] = getattr(request, p.name)
    return values


def put_params(request, values: dict, params: tuple[Param, ...]) -> None:
    """Set {parameter name: value} on a request (a choice by its word), as forms.set_parameters."""
    kinds = {p.name: p.kind for p in params}
    for name, value in values.items():
        forms.set_parameter(request, name, value, kinds[name])


@dataclass
class TaskSpec:
    """A task as the server offers it. Built by its module's `spec()` (inkmotion.tasks.registry)."""

    request_class: type  # its request message in tasks.proto (a plugin task's: PluginTaskRequest)
    description: str
    label: str = ""  # a title for a button or a menu ("Animate from text")
    inputs: tuple[Input, ...] = ()
    # Model name -> runner(inputs, device, on_progress) -> Animation. The first is the default.
    models: dict[str, Runner] = field(default_factory=dict)
    # check(request, limits, field prefix) -> inputs: everything said before the job is queued,
    # and the request decoded once (so the worker does not decode it again).
    check: Callable[[Request, Limits, str], Inputs] | None = None
    params: tuple[Param, ...] = ()
    unavailable_reason: str = ""
    # Builds a runner for a model folder given by path (in-process use; servers take names).
    path_runner: Callable[[str], Runner] | None = None
    plugin_name: str = ""  # a plugin task's own name ('' for the contract's tasks)
    # Models that are code (classical engines: no weights, always there) where others are
    # registry models; a task without a path_runner has only engines.
    engines: tuple[str, ...] = ()
    # The default model for one request where it depends on the request (path_motion: a raster
    # subject's is the learned model, a drawing's the vector engine); None: `default_model`.
    default_for: Callable[[Request], str] | None = None
    aliases: tuple[str, ...] = ()  # shorter names for `inkmotion animate` ("path" for path_motion)
    # What to tell the artist about how a checked request will run on a model (`Job.warnings`):
    # warnings(request, model, inputs) -> the sentences.
    warnings: Callable[[Request, str, Inputs], list[str]] | None = None

    @property
    def name(self) -> str:
        return self.plugin_name or contract_name(self.request_class)

    @property
    def task(self) -> int:
        return tasks_pb2.TASK_PLUGIN if self.plugin_name else tasks_pb2.Task.Value("TASK_" + self.name.upper())

    @property
    def field(self) -> str:
        """The SubmitJobRequest field its requests travel in."""
        return PLUGIN if self.plugin_name else self.name

    @property
    def available(self) -> bool:
        return bool(self.models) and self.check is not None

    def describe(self, limits: Limits) -> service_pb2.TaskInfo:
        """The task as capabilities say it: enough for a host to build its form."""
        return service_pb2.TaskInfo(
            task=self.task,
            name=self.name,
            label=self.label,
            description=self.description,
            available=self.available,
            unavailable_reason="" if self.available else self.unavailable_reason,
            models=list(self.models),
            default_model=self.default_model,
            inputs=[i.describe() for i in self.inputs],
            parameters=[p.describe(limits) for p in self.params],
        )

    @property
    def default_model(self) -> str:
        return next(iter(self.models), "")

    def resolve_model(self, requested: str, field_name: str, allow_paths: bool = False, request: Request | None = None) -> str:
        if not requested:
            return self.default_for(request) if self.default_for is not None and request is not None else self.default_model
        if allow_paths and self.path_runner is not None and requested not in self.models and Path(requested).is_dir():
            return requested
        if requested not in self.models:
            known = ", ".join(self.models) or "none"
            raise InvalidInput(field_name, f"unknown model {quoted(requested)} for task {self.name}; available: {known}")
        return requested


class TaskUnavailable(Exception):
    """The server knows the task but cannot run it (answered as UNIMPLEMENTED)."""


@dataclass
class Checked:
    """A submission as checked: its task, model and decoded inputs (what the runner gets)."""

    spec: TaskSpec
    request: Request | None  # None while it travels apart from its inputs (see inkmotion.checking)
    model: str
    inputs: object = None
    warnings: tuple[str, ...] = ()  # said with the job (Job.warnings)

    def with_request(self, request: Request | None) -> "Checked":
        """This, with `request` as its task request (in the inputs too)."""
        inputs = self.inputs
        if dataclasses.is_dataclass(inputs) and hasattr(inputs, "request"):
            inputs = dataclasses.replace(inputs, request=request)
        return dataclasses.replace(self, request=request, inputs=inputs)


# -- shared by several tasks ---------------------------------------------------------------------

RESULT_FORM = {  # "": as the input
    tasks_pb2.RESULT_FORM_UNSPECIFIED: "",
    tasks_pb2.RESULT_FORM_DRAWING: "drawing",
    tasks_pb2.RESULT_FORM_RASTER: "raster",
}


def enum_value(table: dict, value: int, field_name: str) -> str:
    if value not in table:
        raise InvalidInput(field_name, f"unknown value {value}")
    return table[value]


def registered_models(task: str, runner: Callable[[str], Runner]) -> dict[str, Runner]:
    """A runner for every registered model that lists `task`, the task's default first."""
    import logging

    from inkmotion import models

    try:
        names = [n for n, spec in models.registry().items() if task in spec.tasks]
    except InvalidInput as exc:  # a broken models.toml: say so, keep the built-in models
        logging.getLogger("inkmotion.tasks").error("models config: %s", exc)
        names = [n for n, spec in models.BUILTIN.items() if task in spec.tasks]
    default = models.DEFAULT_FOR_TASK[task]
    names.sort(key=lambda n: n != default)
    return {name: runner(name) for name in names}


def in_given_form(given, drawings: list, *, layer: str, fps: float = 24.0):
    """An engine's drawings (one per frame from frame 0) as the result, in the form the subject
    came in: strokes as they are; for a raster subject (traced for the engine), frame 0 is the
    raster as sent and the others are painted line art on its canvas."""
    from inkmotion.codec.drawing import Animation, Keyframe, Raster

    keys = [Keyframe(i, d) for i, d in enumerate(drawings)]
    if isinstance(given, Raster):
        from inkmotion.strokes.lineart import paint_lineart

        for i, key in enumerate(keys):
            key.content = given if i == 0 else paint_lineart(key.content, given.width, given.height)
    return Animation(given.width, given.height, keys, fps=fps, layer=layer)


def strokes_or_line_art(request, oneof: str, limits: Limits, prefix: str, unset: tuple[str, str]):
    """The drawing a request's `oneof` carries, as sent and as strokes: a Drawing as it is, a Raster
    of line art traced (refused when blank), each checked against the limits. `unset`: (the field,
    the problem) to say when neither is set. Errors name `PREFIX.FIELD`."""
    from inkmotion.budget import check_budget
    from inkmotion.codec.proto import drawing_from_proto, raster_from_proto
    from inkmotion.limits import check_drawing, check_drawing_record, check_raster

    form = request.WhichOneof(oneof)
    if form is None:
        raise InvalidInput(f"{prefix}.{unset[0]}", unset[1])
    field_name = f"{prefix}.{form}"
    if request.DESCRIPTOR.fields_by_name[form].message_type.name == "Drawing":
        check_drawing(field_name, getattr(request, form), limits)
        drawing = drawing_from_proto(getattr(request, form), field_name)
        return drawing, drawing
    from inkmotion.strokes.lineart import trace_lineart

    check_raster(field_name, getattr(request, form), limits)
    raster = raster_from_proto(getattr(request, form), field_name, limits.max_raster_pixels)
    check_budget()
    drawing = trace_lineart(raster)
    if not drawing.strokes:
        raise InvalidInput(field_name, "has no line art to trace: the raster is blank")
    check_drawing_record(field_name, drawing, limits)
    return raster, drawing
