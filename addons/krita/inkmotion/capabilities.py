"""What the server offers, as the docker shows it: the task choice and each task's form, built from
GetCapabilities (TaskInfo: name, label, availability, inputs, parameters), and the form's values
filled into the task's request by the vendored `forms` module.

No Qt here (the docker turns `Field`s into widgets), so plain pytest drives it against a server.
The vendored client and messages are imported lazily: they need grpcio + protobuf, which the
first-run installer may not have put in place yet.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

# The contract's tasks the docker has its own input code for (docker.Controller._submit), and the
# words it shows for them before the server has said anything.
HOST_TASKS = {
    "inbetween": "Inbetween",
    "text_motion": "Animate from text",
    "raster_text_motion": "Animate painted sketch",
    "path_motion": "Follow path",
    "video_motion": "Animate from video",
}
# TaskInput.Kind -> (words, the PluginTaskRequest field the docker fills from Krita): strokes of the
# active vector layer, pixels of the active paint layer, the prompt field.
INPUT_KINDS = {1: ("a drawing", "drawing"), 2: ("a raster", "raster"), 3: ("a text", "prompt"),
               4: ("keyframes", ""), 5: ("a path", ""), 6: ("a video", "")}
INT_LIMIT = 2**31 - 1  # QSpinBox holds a C int
NUMBER_LIMIT = 1e9


@dataclass
class TaskChoice:
    """One entry of the docker's task choice."""

    name: str
    label: str
    enabled: bool
    reason: str = ""  # why it is disabled (tooltip and status line)
    info: object = None  # the TaskInfo, when the server described the task


@dataclass
class Field:
    """One parameter of a task's form, as the docker makes its widget: kind is integer (QSpinBox),
    number (QDoubleSpinBox), boolean (QCheckBox) or choice (QComboBox)."""

    name: str
    label: str
    help: str
    kind: str
    default: object
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple = field(default_factory=tuple)


def _kinds():
    from ._vendor import forms

    return {forms.KIND.KIND_INTEGER: "integer", forms.KIND.KIND_NUMBER: "number",
            forms.KIND.KIND_BOOLEAN: "boolean", forms.KIND.KIND_CHOICE: "choice"}


def is_plugin(info) -> bool:
    """Whether a server plugin adds the task (TaskInfo.task is TASK_PLUGIN): it travels as a
    PluginTaskRequest, its inputs filled by kind."""
    from ._vendor.v1 import tasks_pb2

    return info.task == tasks_pb2.TASK_PLUGIN


def unsupported_input(info) -> str:
    """Why Krita cannot give a task what it asks for ("" when it can): a contract task the docker
    has no input code for, or a required input of a kind it cannot give."""
    if info.name in HOST_TASKS:
        return ""
    label = info.label or info.name
    for task_input in info.inputs:
        words, given = INPUT_KINDS.get(task_input.kind, ("an unknown input", ""))
        if task_input.required and not given:
            return f"{label} needs {words} ({task_input.label or task_input.name}), which Krita cannot give"
    return "" if is_plugin(info) else f"the Krita plugin cannot run {label} yet"


def task_model(response=None, error: str = "") -> list[TaskChoice]:
    """The task choice: every task the server lists (its label; disabled with the server's reason
    when unavailable, or with Krita's when it needs an input Krita cannot give), then the tasks the
    docker knows that the server does not list (disabled). No response: the docker's own tasks,
    disabled with `error` (the server could not be asked)."""
    if response is None:
        reason = error or "not connected: press Refresh to ask the server what it offers"
        return [TaskChoice(name, label, False, reason) for name, label in HOST_TASKS.items()]
    choices = []
    for info in response.tasks:
        label = info.label or HOST_TASKS.get(info.name, info.name)
        if not info.available:
            reason = info.unavailable_reason or f"the server cannot run {label} now"
        else:
            reason = unsupported_input(info)
        choices.append(TaskChoice(info.name, label, not reason, reason, info))
    listed = {c.name for c in choices}
    for name, label in HOST_TASKS.items():
        if name not in listed:
            choices.append(TaskChoice(name, label, False, f"this server does not offer {label}"))
    return choices


@dataclass
class ModelChoice:
    """One entry of the docker's model choice: '' is the server's own choice for the layer."""

    name: str
    label: str
    enabled: bool
    tip: str = ""


def model_choices(response, info) -> list[ModelChoice]:
    """The task's models as the server lists them (TaskInfo.models), after the server's own choice
    (its default, which may depend on the layer: Inbetween takes sketch-flow for painted keys when
    it has the weights). A model whose weights the server lacks is disabled, saying so."""
    if info is None:
        return [ModelChoice("", "Server's choice", True, "the task's default model")]
    known = {m.name: m for m in getattr(response, "models", ()) if m.task_name == info.name}
    first = ModelChoice("", "Server's choice", True,
                        f"the server picks the model for the layer (its default: {info.default_model or 'none'})")
    choices = [first]
    for name in info.models:
        model = known.get(name)
        present = model is None or model.available
        tip = (model.description if model is not None else "") or name
        if not present:
            tip = f"the server does not have its weights: {tip}"
        choices.append(ModelChoice(name, name if present else f"{name} (no weights)", present, tip))
    return choices


def form_fields(info) -> list[Field]:
    """The form of a task: one Field per described parameter, its default parsed from
    default_value, its range from minimum/maximum (clamped to what a Qt spin box holds)."""
    from ._vendor import forms

    kinds = _kinds()
    fields = []
    for p in info.parameters:
        kind = kinds.get(p.kind)
        if kind is None:
            continue
        limit = INT_LIMIT if kind == "integer" else NUMBER_LIMIT
        low = max(p.minimum, -limit) if p.HasField("minimum") else (-limit if kind in ("integer", "number") else None)
        high = min(p.maximum, limit) if p.HasField("maximum") else (limit if kind in ("integer", "number") else None)
        if kind == "integer" and low is not None:
            low, high = int(low), int(high)
        try:
            default = forms.default_of(p)
        except ValueError:
            default = {"integer": 0, "number": 0.0, "boolean": False}.get(kind, p.choices[0] if p.choices else "")
        fields.append(Field(p.name, p.label or p.name, p.help, kind, default, low, high, tuple(p.choices)))
    return fields


def form_values(fields: list[Field], saved: dict) -> dict:
    """Every field's value: the saved one where the form still takes it (of the field's kind, in
    its range, among its choices; a number is brought into range), else the field's default."""
    values = {}
    for f in fields:
        value = saved.get(f.name, f.default)
        if f.kind == "choice":
            ok = value in f.choices
        elif f.kind == "boolean":
            ok = isinstance(value, bool)
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if ok and f.kind == "integer":
                ok = float(value).is_integer()
                value = int(value) if ok else value
            if ok:
                value = min(max(value, f.minimum), f.maximum)
                value = float(value) if f.kind == "number" else value
        values[f.name] = value if ok else f.default
    return values


def fill(request, info, values: dict, model: str = ""):
    """The form's {name: value} onto a task's request (forms.set_parameters: each as its described
    kind; a plugin task's as text) and the model, when one is named."""
    from ._vendor import forms

    forms.set_parameters(request, info.parameters, values)
    if model.strip():
        request.model = model.strip()
    return request


def plugin_request(info, values: dict, *, drawing=None, raster=None, prompt: str = "", model: str = ""):
    """A plugin task's PluginTaskRequest: its inputs from what Krita gives (by kind), its
    parameters from the form. A required input Krita has not got raises ValueError naming it."""
    from ._vendor import forms

    request = forms.new_request(info.name)
    given = {"drawing": drawing, "raster": raster, "prompt": prompt.strip() or None}
    for task_input in info.inputs:
        _, target = INPUT_KINDS.get(task_input.kind, ("", ""))
        value = given.get(target)
        if value is None:
            if task_input.required:
                where = {"drawing": "select a vector layer with shapes", "raster": "select a paint layer",
                         "prompt": "fill in the prompt"}.get(target, "Krita cannot give it")
                raise ValueError(f"{info.label or info.name} needs {task_input.label or task_input.name}: {where}")
            continue
        if target == "prompt":
            request.prompt = value
        else:
            getattr(request, target).CopyFrom(value)
    return fill(request, info, values, model)


def fetch(address: str, token: str = "", timeout: float = 10.0):
    """(GetCapabilitiesResponse, "") from the server at `address`, or (None, why not) in the
    client's words ("no InkMotion server answers at ...")."""
    from .jobs import vendored

    client, _ = vendored()
    try:
        with client.Client(address, token=token or None, timeout=timeout) as connection:
            return connection.capabilities(), ""
    except client.InkMotionError as error:
        if error.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):  # as the job runner says it
            return None, f"no InkMotion server answers at {address}"
        return None, error.message
    except Exception as error:  # a malformed address, a missing dependency
        return None, str(error) or type(error).__name__


class Loader:
    """Capabilities fetched in a thread (the UI never waits on the network): `done` once the
    answer is in, then `response` (None when it failed) and `error`."""

    def __init__(self, address: str, token: str = ""):
        self.address, self.token = address, token
        self.response, self.error = None, ""
        self._done = threading.Event()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def start(self) -> "Loader":
        def work():
            try:
                self.response, self.error = fetch(self.address, self.token)
            finally:
                self._done.set()

        threading.Thread(target=work, name="inkmotion-capabilities", daemon=True).start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)
