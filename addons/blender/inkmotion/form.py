"""Each task's parameters as the server describes them (TaskInfo.parameters), held as a form in the scene.

Blender's properties are static, so a form is a CollectionProperty of `InkMotionParameter`, one
item per described parameter of every task the server lists, each with a value slot per kind (int,
float, bool, and a choice whose enum items are the described choices). `sync` fills it from the
cached capabilities (new parameters get their described default; values already set are kept while
the parameter keeps its name and kind); `values` checks them against the described range and turns
them into {name: value} for the vendored `forms.set_parameters`.
"""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from ._client import forms

KIND = forms.KIND
KIND_TEXT = forms.service_pb2.TaskInput.KIND_TEXT
_CHOICE_ITEMS: dict[tuple, list] = {}  # Blender needs the strings of dynamic enum items kept alive


def choices_of(item) -> list[str]:
    return [c for c in item.choices.split("\n") if c]


def _choice_items(item, context):
    key = (item.choices, item.help)
    if key not in _CHOICE_ITEMS:
        _CHOICE_ITEMS[key] = [(c, c, item.help) for c in choices_of(item)] or [("", "", "")]
    return _CHOICE_ITEMS[key]


class InkMotionParameter(bpy.types.PropertyGroup):
    task: StringProperty()  # the task's name (TaskInfo.name)
    name: StringProperty()  # the parameter's (TaskParameter.name)
    label: StringProperty()
    help: StringProperty()
    kind: IntProperty()  # TaskParameter.Kind
    default_value: StringProperty()
    choices: StringProperty()  # one a line
    has_minimum: BoolProperty()
    minimum: FloatProperty()
    has_maximum: BoolProperty()
    maximum: FloatProperty()
    int_value: IntProperty(name="Value")
    float_value: FloatProperty(name="Value", precision=3)
    bool_value: BoolProperty(name="Value")
    choice_value: EnumProperty(name="Value", items=_choice_items)

    @property
    def slot(self) -> str:
        return {KIND.KIND_INTEGER: "int_value", KIND.KIND_NUMBER: "float_value",
                KIND.KIND_BOOLEAN: "bool_value", KIND.KIND_CHOICE: "choice_value"}[self.kind]

    @property
    def value(self):
        value = getattr(self, self.slot)
        return float(f"{value:.6g}") if self.kind == KIND.KIND_NUMBER else value  # the float32 slot's noise off

    @value.setter
    def value(self, value) -> None:
        setattr(self, self.slot, value)

    @property
    def low(self) -> float | None:
        """The described minimum (None: unbounded), its float32 slot's noise off as for `value`."""
        return float(f"{self.minimum:.6g}") if self.has_minimum else None

    @property
    def high(self) -> float | None:
        # An int slot holds 32 bits: a bound past it (a seed's 2**64) bounds nothing here.
        if not self.has_maximum or (self.kind == KIND.KIND_INTEGER and self.maximum >= 2 ** 31):
            return None
        return float(f"{self.maximum:.6g}")

    @property
    def range_text(self) -> str:
        """The described range as the CLI says it ("0..50"), in words when one-sided."""
        low, high = self.low, self.high
        if low is not None and high is not None:
            return f"{low:g}..{high:g}"
        if low is not None:
            return f"at least {low:g}"
        return "" if high is None else f"at most {high:g}"


def _int_slot(number: float) -> int:
    return int(max(-2 ** 31, min(2 ** 31 - 1, number)))


def sync(settings, response) -> None:
    """Make `settings.form` hold every listed task's described parameters (in the server's order)."""
    if response is None:
        return
    form = settings.form
    old = {(p.task, p.name): (p.kind, p.value) for p in form}
    wanted = [(info.name, p) for info in response.tasks for p in info.parameters]
    same = [(p.task, p.name, p.kind) for p in form] == [(t, p.name, p.kind) for t, p in wanted]
    if not same:
        form.clear()
    for i, (task, parameter) in enumerate(wanted):
        item = form[i] if same else form.add()
        item.task, item.name, item.kind = task, parameter.name, parameter.kind
        item.label, item.help = parameter.label or parameter.name, parameter.help
        item.default_value, item.choices = parameter.default_value, "\n".join(parameter.choices)
        item.has_minimum, item.has_maximum = parameter.HasField("minimum"), parameter.HasField("maximum")
        item.minimum = parameter.minimum if item.has_minimum else 0.0
        item.maximum = parameter.maximum if item.has_maximum else 0.0
        if same:
            continue
        kind, value = old.get((task, parameter.name), (None, None))
        if kind != parameter.kind or (kind == KIND.KIND_CHOICE and value not in parameter.choices):
            value = forms.default_of(parameter)
        if parameter.kind == KIND.KIND_INTEGER:
            value = _int_slot(value)
        item.value = value


def parameters(settings, task: str) -> list:
    return [p for p in settings.form if p.task == task]


def find(settings, task: str, name: str):
    """The form's item of one parameter of a task (KeyError naming what the form holds)."""
    for item in parameters(settings, task):
        if item.name == name:
            return item
    raise KeyError(f"{task} has no parameter {name!r}; its form holds: "
                   f"{', '.join(p.name for p in parameters(settings, task)) or 'nothing'}")


def values(settings, task: str, title: str) -> dict:
    """{name: value} of the task's parameters that differ from their described default (unset: the
    server's default), after checking each against its described range; ValueError in the artist's
    words naming the parameter and its range."""
    out = {}
    for item in parameters(settings, task):
        value = item.value
        named = item.label if item.label.lower() == item.name.replace("_", " ") else f"{item.label} ({item.name})"
        if item.kind in (KIND.KIND_INTEGER, KIND.KIND_NUMBER):
            if (item.low is not None and value < item.low) or (item.high is not None and value > item.high):
                within = f"within {item.range_text}" if ".." in item.range_text else item.range_text
                raise ValueError(f"{title}: {named} must be {within}; it is {value:g}")
        if item.kind == KIND.KIND_CHOICE and value not in choices_of(item):
            raise ValueError(f"{title}: {named} must be one of {', '.join(choices_of(item))}")
        default = forms.parse_value(item.kind, item.default_value, choices_of(item))
        if value != default:
            out[item.name] = value
    return out


def fill(request, info, settings, title: str) -> None:
    """Set the form's values of the task `info` describes on its request."""
    forms.set_parameters(request, info.parameters, values(settings, info.name, title))


def draw(layout, settings, task: str, leave_out: tuple[str, ...] = ()) -> None:
    """The task's parameters as fields of their kinds, with the described words and range."""
    for item in parameters(settings, task):
        if item.name in leave_out:
            continue
        row = layout.row(align=True)
        text = f"{item.label} ({item.range_text})" if item.range_text else item.label
        row.prop(item, item.slot, text=text)
        if item.help:  # the value slots are shared, so the parameter's help is this button's tooltip
            row.operator(INKMOTION_OT_parameter_help.bl_idname, text="", icon="QUESTION", emboss=False).help = item.help


class INKMOTION_OT_parameter_help(bpy.types.Operator):
    """What a task's parameter does (the server's words)"""

    bl_idname = "inkmotion.parameter_help"
    bl_label = "Parameter Help"
    bl_options = {"INTERNAL"}

    help: StringProperty(options={"HIDDEN", "SKIP_SAVE"})

    @classmethod
    def description(cls, context, properties):
        return properties.help

    def execute(self, context):
        self.report({"INFO"}, self.help)
        return {"FINISHED"}


classes = (InkMotionParameter, INKMOTION_OT_parameter_help)
