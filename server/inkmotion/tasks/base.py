"""What every task module is made of: its spec, its parameters, its decoded inputs.

A task is one request message of the contract (`tasks.proto`). Its one name - in the CLI, in
capabilities, in job listings, in error messages - is the field of SubmitJobRequest's `task` oneof
that carries that message (`text_motion`, `inbetween`, ...), and its enum value is `TASK_` + the
same name: both are read from the contract, never typed twice.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from inkmotion.errors import InvalidInput
from inkmotion.limits import Limits, check_range, quoted
from inkmotion.pipelines.base import ProgressCallback
from inkmotion.v1 import animation_service_pb2 as service_pb2
from inkmotion.v1 import tasks_pb2

Request = object  # one of the *Request messages of tasks.proto
Inputs = object  # a task's request decoded by its check; `.request` is the message
Runner = Callable[[Inputs, str, ProgressCallback], object]  # (inputs, device, on_progress) -> Animation

_ONEOF = service_pb2.SubmitJobRequest.DESCRIPTOR.oneofs_by_name["task"]


def contract_name(request_class) -> str:
    """The SubmitJobRequest field that carries `request_class`: the task's one name."""
    for f in _ONEOF.fields:
        if f.message_type.full_name == request_class.DESCRIPTOR.full_name:
            return f.name
    raise ValueError(f"{request_class.DESCRIPTOR.full_name} is not a task of SubmitJobRequest")


@dataclass(frozen=True)
class Param:
    """One optional parameter of a task's request, as a host shows it and the check enforces it.

    `minimum`/`maximum` are numbers, the name of a `Limits` field (the server's own limit) or a
    function of the limits; `default` is what leaving it unset means (the method's reference default)."""

    name: str  # the request field
    label: str
    help: str
    default: float | int | bool
    minimum: float | str | Callable[[Limits], float] | None = None
    maximum: float | str | Callable[[Limits], float] | None = None

    def bounds(self, limits: Limits) -> tuple[float, float]:
        """(minimum, maximum) under these limits; unbounded sides are infinite."""

        def value(bound, fallback):
            if bound is None:
                return fallback
            if callable(bound):
                return bound(limits)
            return getattr(limits, bound) if isinstance(bound, str) else bound

        return value(self.minimum, float("-inf")), value(self.maximum, float("inf"))


def check_values(values: dict, params: tuple[Param, ...], limits: Limits, prefix: str) -> None:
    """Each given {parameter name: value} within its parameter's bounds (errors name the field).
    The CLI checks its options with this before a protobuf setter sees them."""
    for param in params:
        if (param.minimum is not None or param.maximum is not None) and param.name in values:
            check_range(f"{prefix}.{param.name}", values[param.name], *param.bounds(limits))


def check_params(request, params: tuple[Param, ...], limits: Limits, prefix: str) -> None:
    """Each numeric parameter that is set, within its bounds (errors name the field)."""
    check_values(set_params(request, params), params, limits, prefix)


def set_params(request, params: tuple[Param, ...]) -> dict:
    """{parameter name: value} of the parameters the request sets (unset ones keep their default)."""
    return {p.name: getattr(request, p.name) for p in params if request.HasField(p.name)}


@dataclass
class TaskSpec:
    """A task as the server offers it. Built by its module's `spec()` (inkmotion.tasks.registry)."""

    request_class: type  # its request message in tasks.proto
    description: str
    # Model name -> runner(inputs, device, on_progress) -> Animation. The first is the default.
    models: dict[str, Runner] = field(default_factory=dict)
    # check(request, limits, field prefix) -> inputs: everything said before the job is queued,
    # and the request decoded once (so the worker does not decode it again).
    check: Callable[[Request, Limits, str], Inputs] | None = None
    params: tuple[Param, ...] = ()
    unavailable_reason: str = ""
    # Builds a runner for a model folder given by path (in-process use; servers take names).
    path_runner: Callable[[str], Runner] | None = None

    @property
    def name(self) -> str:
        return contract_name(self.request_class)

    @property
    def task(self) -> int:
        return tasks_pb2.Task.Value("TASK_" + self.name.upper())

    @property
    def available(self) -> bool:
        return bool(self.models) and self.check is not None

    @property
    def default_model(self) -> str:
        return next(iter(self.models), "")

    def resolve_model(self, requested: str, field_name: str, allow_paths: bool = False) -> str:
        if not requested:
            return self.default_model
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
