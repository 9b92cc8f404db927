"""A task's form, as capabilities describe it (TaskInfo), and the request message it fills.

One place turns a form's values into a task's request: the server's tasks (their parameters'
kinds and words), the CLI and both add-ons (which vendor this module: it needs only protobuf and
the contract). A choice is written as a word made from the contract's enum value
(EASING_EASE_IN -> "ease-in"); a plugin task's values travel as text in PluginTaskRequest.parameters.
"""

from __future__ import annotations

from typing import Iterable

from inkmotion.v1 import animation_service_pb2 as service_pb2
from inkmotion.v1 import tasks_pb2

KIND = service_pb2.TaskParameter
PLUGIN = "plugin"  # the SubmitJobRequest field of a plugin task's request
_TASKS = service_pb2.SubmitJobRequest.DESCRIPTOR.oneofs_by_name["task"]


# -- choices: the contract's enum values as words --------------------------------------------------

def _prefix(enum) -> str:
    return enum.values_by_number[0].name.removesuffix("UNSPECIFIED")


def enum_words(enum) -> tuple[str, ...]:
    """The words for an enum's values, UNSPECIFIED (the default) left out."""
    return tuple(enum_word(enum, v.number) for v in enum.values if v.number != 0)


def enum_word(enum, number: int) -> str:
    return enum.values_by_number[number].name.removeprefix(_prefix(enum)).lower().replace("_", "-")


def enum_number(enum, word: str) -> int:
    return enum.values_by_name[_prefix(enum) + word.upper().replace("-", "_")].number


# -- values as text --------------------------------------------------------------------------------

def value_text(value) -> str:
    """A value as TaskParameter.default_value and PluginTaskRequest.parameters write it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def parse_value(kind: int, text: str, choices: Iterable[str] = ()):
    """A value written as text, of a parameter's kind; ValueError saying what is wrong with it."""
    if kind == KIND.KIND_CHOICE:
        choices = tuple(choices)
        if text not in choices:
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
        return text
    if kind == KIND.KIND_BOOLEAN:
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"{text!r} is not true or false")
        return text.lower() in ("true", "1")
    try:
        return int(text) if kind == KIND.KIND_INTEGER else float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not {'a whole number' if kind == KIND.KIND_INTEGER else 'a number'}") from None


def default_of(parameter: service_pb2.TaskParameter):
    """A described parameter's default, as a value of its kind."""
    return parse_value(parameter.kind, parameter.default_value, parameter.choices)


# -- the request a form fills ----------------------------------------------------------------------

def new_request(task_name: str):
    """An empty request for the task of this name (TaskInfo.name): its own message for a task of
    the contract, a PluginTaskRequest naming it for any other."""
    field = next((f for f in _TASKS.fields if f.name == task_name and f.name != PLUGIN), None)
    if field is None:
        return tasks_pb2.PluginTaskRequest(task=task_name)
    return getattr(tasks_pb2, field.message_type.name)()


def submission_field(request) -> str:
    """The SubmitJobRequest field that carries this task request."""
    for field in _TASKS.fields:
        if field.message_type.full_name == request.DESCRIPTOR.full_name:
            return field.name
    raise TypeError(f"{request.DESCRIPTOR.full_name} is not a task request")


def set_parameter(request, name: str, value, kind: int) -> None:
    """Set one parameter on a task's request: a field of its own message (a choice by its word),
    or a plugin task's written value."""
    if isinstance(request, tasks_pb2.PluginTaskRequest):
        request.parameters[name] = value_text(value)
    elif kind == KIND.KIND_CHOICE:
        setattr(request, name, enum_number(request.DESCRIPTOR.fields_by_name[name].enum_type, value))
    else:
        setattr(request, name, value)


def set_parameters(request, parameters: Iterable[service_pb2.TaskParameter], values: dict) -> None:
    """Set {name: value} on a request, each as its described parameter's kind; names the task does
    not describe are refused (KeyError), not dropped."""
    kinds = {p.name: p.kind for p in parameters}
    for name, value in values.items():
        set_parameter(request, name, value, kinds[name])
