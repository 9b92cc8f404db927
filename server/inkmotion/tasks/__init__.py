"""The tasks a server offers, one module per task: the seam between the contract and the pipelines.

Each module (`inbetween`, `text_motion`, `raster_text_motion`, `path_motion`, `video_motion`) holds
its task's check, the mapping from its request message to its pipeline's plain config, its runner,
its default model, and the labels and descriptions of its parameters; its `spec()` builds its
`TaskSpec`. A task's one name is its SubmitJobRequest field (tasks.base.contract_name).

`check` takes a request apart before anything is queued: limits, structure, and the decoding
itself (SVG read, PNG decoded, line art traced), so what is accepted can run; it returns the
decoded inputs, which the runner takes to the pipeline (nothing is decoded twice). Neither knows
about gRPC, jobs or threads.

The registry is built on first use, not at import (building it reads the models config), and is
where plugins register their models and their own tasks too (`load_plugins`): a plugin task is a
TaskSpec with a `plugin_name`, whose requests travel as PluginTaskRequest.
"""

from __future__ import annotations

import importlib
import threading

from inkmotion.errors import InvalidInput
from inkmotion.limits import Limits, check_range, over
from inkmotion.limits import quoted
from inkmotion.tasks.base import (PLUGIN, Checked, Input, Inputs, Param, Request, Runner, TaskSpec, TaskUnavailable,
                                  contract_name)
from inkmotion.v1 import animation_service_pb2 as service_pb2

__all__ = [
    "Checked", "Input", "Inputs", "Param", "Request", "Runner", "TaskSpec", "TaskUnavailable", "contract_name",
    "MAX_LABEL", "MAX_REQUEST_ID", "NAMES", "PLUGIN", "registry", "get", "check_submission", "check_with_budget",
    "run_submission", "model_info", "load_plugins",
]

# Every task of the contract, in its order; each has the module of its name.
NAMES = tuple(f.name for f in service_pb2.SubmitJobRequest.DESCRIPTOR.oneofs_by_name["task"].fields if f.name != PLUGIN)
MAX_REQUEST_ID = 128  # characters
MAX_LABEL = 200

_registry: dict[str, TaskSpec] | None = None
_lock = threading.Lock()


def registry() -> dict[str, TaskSpec]:
    """Task name -> TaskSpec: every task of the contract in its order, then plugins' tasks (built
    on first use)."""
    global _registry
    with _lock:
        if _registry is None:
            specs = [importlib.import_module(f"inkmotion.tasks.{name}").spec() for name in NAMES]
            _registry = {spec.name: spec for spec in specs}
        return _registry


def get(name: str) -> TaskSpec:
    """The task of this name (KeyError for an unknown one)."""
    return registry()[name]


def model_info(spec: TaskSpec, name: str) -> tuple[str, str, bool]:
    """(description, source, weights present) of one of a task's models, without loading it."""
    if spec.path_runner is None or name in spec.engines:  # classical engines are code, always there
        return spec.description, "builtin", True
    from inkmotion import models

    try:
        model = models.resolve(name)
    except InvalidInput:
        return spec.description, "unknown", False
    available, _ = models.availability(model, task=spec.name)
    return model.description or spec.description, model.where, available


def check_submission(submission: service_pb2.SubmitJobRequest, limits: Limits, *, allow_model_paths: bool = False) -> Checked:
    """Everything that can be said about a submission before it is queued. Model folders given by
    path are accepted only in-process (`allow_model_paths`): a server runs the models it lists."""
    which = submission.WhichOneof("task")
    if which is None:
        raise InvalidInput("task", "no task is set (or the client speaks a newer contract): set one of " + ", ".join(NAMES))
    request = getattr(submission, which)
    spec = get(which) if which != PLUGIN else _plugin_task(request.task)
    check_range("priority", submission.priority, -10, 10)
    if len(submission.request_id) > MAX_REQUEST_ID:
        raise over("request_id", f"{len(submission.request_id)} characters", f"{MAX_REQUEST_ID} characters")
    if len(submission.label) > MAX_LABEL:
        raise over("label", f"{len(submission.label)} characters", f"{MAX_LABEL} characters")
    if not spec.available:
        raise TaskUnavailable(f"task {spec.name!r} is not available on this server: {spec.unavailable_reason}")
    model = spec.resolve_model(request.model, f"{which}.model", allow_model_paths, request)
    inputs = spec.check(request, limits, which)
    warnings = tuple(spec.warnings(request, model, inputs)) if spec.warnings is not None else ()
    return Checked(spec, request, model, inputs, warnings)


def _plugin_task(name: str) -> TaskSpec:
    spec = registry().get(name)
    if spec is None or not spec.plugin_name:
        plugins = [s.name for s in registry().values() if s.plugin_name]
        if spec is not None:
            raise InvalidInput(f"{PLUGIN}.task", f"{quoted(name)} is a task of the contract: send it as SubmitJobRequest.{name}")
        raise InvalidInput(f"{PLUGIN}.task", f"unknown task {quoted(name)}; this server's plugin tasks: {', '.join(plugins) or 'none'}")
    return spec


def check_with_budget(submission: service_pb2.SubmitJobRequest, limits: Limits, seconds: float) -> Checked:
    """check_submission, giving up with InvalidInput once `seconds` are spent (off the loop)."""
    from inkmotion.budget import time_budget

    with time_budget(seconds, "request"):
        return check_submission(submission, limits)


def run_submission(checked: Checked, device: str, on_progress) -> object:
    runner = checked.spec.models.get(checked.model) or checked.spec.path_runner(checked.model)
    return runner(checked.inputs, device, on_progress)


def load_plugins(modules: list[str]) -> None:
    """Import each module and call its `register(tasks)` with the registry (task name -> TaskSpec):
    how a studio adds its own models to a task (`tasks["inbetween"].models[name] = runner`) or a
    task of its own (`tasks[name] = TaskSpec(PluginTaskRequest, ..., plugin_name=name)`)."""
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise InvalidInput("--plugin", f"cannot import {name!r}: {exc}") from None
        if not hasattr(module, "register"):
            raise InvalidInput("--plugin", f"module {name!r} has no register(tasks) function")
        module.register(registry())
    for name, spec in registry().items():  # a plugin task under another name would be two names for one task
        if spec.name != name:
            raise InvalidInput("--plugin", f"task {name!r} is registered under another name than its own ({spec.name!r})")
