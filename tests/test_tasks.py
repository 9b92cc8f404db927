"""The task registry: one module per task, one name per task read from the contract, parameters
whose defaults are the pipelines' own, a registry built on first use."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from google.protobuf.descriptor import FieldDescriptor

from inkmotion import tasks
from inkmotion.limits import Limits
from inkmotion.v1 import animation_service_pb2 as service_pb2
from inkmotion.v1 import tasks_pb2

from conftest import REPO


def test_every_task_of_the_contract_has_its_module_and_one_name():
    oneof = service_pb2.SubmitJobRequest.DESCRIPTOR.oneofs_by_name["task"]
    specs = list(tasks.registry().values())
    assert [s.name for s in specs] == [f.name for f in oneof.fields if f.name != tasks.PLUGIN] == list(tasks.NAMES)
    for spec in specs:
        assert tasks_pb2.Task.Name(spec.task) == "TASK_" + spec.name.upper()
        assert service_pb2.SubmitJobRequest.DESCRIPTOR.fields_by_name[spec.name].message_type.full_name == spec.request_class.DESCRIPTOR.full_name
        assert tasks.get(spec.name) is spec
        module = sys.modules[f"inkmotion.tasks.{spec.name}"]
        assert module.spec().name == spec.name


def test_the_registry_is_built_on_first_use_and_listing_never_imports_torch():
    code = ("import sys; import inkmotion.tasks as t; assert t._registry is None, 'built at import'; "
            "t.registry(); assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            env={"PYTHONPATH": str(REPO / "server"), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name, config_class", [
    ("text_motion", "inkmotion.pipelines.live_sketch:LiveSketchConfig"),
    ("raster_text_motion", "inkmotion.pipelines.flipsketch:FlipSketchConfig"),
])
def test_parameter_defaults_are_the_pipelines_and_every_parameter_reaches_its_config(name, config_class):
    import importlib

    module_name, class_name = config_class.split(":")
    defaults = getattr(importlib.import_module(module_name), class_name)()
    task = importlib.import_module(f"inkmotion.tasks.{name}")
    request_class = tasks.get(name).request_class
    fields = request_class.DESCRIPTOR.fields_by_name
    for param in task.PARAMS:
        assert param.name in fields and fields[param.name].has_presence, f"{param.name}: not an optional field"
        config_name = getattr(task, "_CONFIG_NAMES", {}).get(param.name, param.name)
        assert getattr(defaults, config_name) == param.default, f"{name}.{param.name}: default differs"
        # a value set on the request arrives in the config
        low, high = param.bounds(Limits())
        value = (not param.default) if isinstance(param.default, bool) else type(param.default)(min(high, low + 3))
        request = request_class(**{param.name: value})
        assert getattr(task.config_from_request(request), config_name) == pytest.approx(value), param.name
    optional = {f.name for f in request_class.DESCRIPTOR.fields  # proto3 `optional`: a synthetic oneof of its own
                if f.containing_oneof is not None and f.containing_oneof.name == "_" + f.name}
    assert optional == {p.name for p in task.PARAMS}, "every optional parameter is described"


def test_parameter_bounds_are_enforced_in_the_tasks_own_words():
    from inkmotion.errors import InvalidInput
    from inkmotion.tasks.base import check_params
    from inkmotion.tasks.raster_text_motion import PARAMS

    limits = dataclasses.replace(Limits(), max_steps=400)
    check_params(tasks_pb2.RasterTextMotionRequest(steps=400), PARAMS, limits, "raster_text_motion")
    with pytest.raises(InvalidInput, match=r"raster_text_motion.steps: 401 is over the limit of 400"):
        check_params(tasks_pb2.RasterTextMotionRequest(steps=401), PARAMS, limits, "raster_text_motion")
    with pytest.raises(InvalidInput, match=r"raster_text_motion.steps: 1001 is over the limit of 1000"):
        check_params(tasks_pb2.RasterTextMotionRequest(steps=1001), PARAMS, Limits(max_steps=5000), "raster_text_motion")


_KINDS = {FieldDescriptor.TYPE_BOOL: "KIND_BOOLEAN", FieldDescriptor.TYPE_ENUM: "KIND_CHOICE",
          FieldDescriptor.TYPE_FLOAT: "KIND_NUMBER", FieldDescriptor.TYPE_DOUBLE: "KIND_NUMBER",
          FieldDescriptor.TYPE_UINT32: "KIND_INTEGER", FieldDescriptor.TYPE_UINT64: "KIND_INTEGER",
          FieldDescriptor.TYPE_INT32: "KIND_INTEGER"}


@pytest.mark.parametrize("name", list(tasks.NAMES))
def test_every_described_parameter_and_input_is_a_field_of_the_tasks_request(name):
    """What capabilities say a task takes is what its request message has, of the kind it says."""
    spec = tasks.get(name)
    fields = spec.request_class.DESCRIPTOR.fields_by_name
    for param in spec.params:
        assert service_pb2.TaskParameter.Kind.Name(param.kind) == _KINDS[fields[param.name].type], param.name
        if param.choices:
            assert param.default in param.choices
    for item in spec.inputs:
        assert item.name in fields, item.name
    described = spec.describe(Limits())
    assert [p.name for p in described.parameters] == [p.name for p in spec.params]
    assert described.label and described.name == name


def test_a_form_fills_the_request_that_the_check_reads_back():
    from inkmotion import forms
    from inkmotion.tasks.base import set_params

    spec = tasks.get("inbetween")
    request = forms.new_request("inbetween")
    assert isinstance(request, tasks_pb2.InbetweenRequest)
    forms.set_parameters(request, spec.describe(Limits()).parameters, {"easing": "ease-in", "unmatched": "draw-on", "frames": 5})
    assert (request.easing, request.unmatched, request.frames) == (tasks_pb2.EASING_EASE_IN, tasks_pb2.UNMATCHED_STROKES_DRAW_ON, 5)
    assert set_params(request, spec.params) == {"easing": "ease-in", "unmatched": "draw-on", "frames": 5}
    with pytest.raises(KeyError):
        forms.set_parameters(request, spec.describe(Limits()).parameters, {"steps": 3})
    plugin = forms.new_request("sparkle")
    assert isinstance(plugin, tasks_pb2.PluginTaskRequest) and plugin.task == "sparkle"
    assert forms.submission_field(plugin) == "plugin" and forms.submission_field(request) == "inbetween"
