"""The layout's proof: a task a plugin adds in one file (tests/plugins/inkmotion_test_task.py) is a
task like the contract's own - in capabilities with its inputs and parameters, checked with the
field, the value and the limit, run, listed under its name, and offered by the CLI - with nothing
else in the server or the CLI naming it. (Both hosts' forms: tests/blender, tests/krita.)"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from harness import PLUGINS, ServerProcess
from inkmotion.client import Client, InkMotionError
from inkmotion.codec.proto import drawing_from_proto, drawing_to_proto
from inkmotion.codec.svg import read_svg
from inkmotion.v1 import animation_service_pb2 as service_pb2
from inkmotion.v1 import tasks_pb2

sys.path.insert(0, str(PLUGINS))
import inkmotion_test_task as wobble  # noqa: E402

pytestmark = pytest.mark.slow
KIND = service_pb2.TaskParameter


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plugin-task")
    with ServerProcess(folder / "data", "--plugin", "inkmotion_test_task") as proc:
        yield proc


@pytest.fixture
def client(server):
    with Client(server.address) as c:
        yield c


def _wobble(sketch, **parameters) -> tasks_pb2.PluginTaskRequest:
    return tasks_pb2.PluginTaskRequest(task="wobble", drawing=drawing_to_proto(read_svg(sketch)),
                                       parameters={k: str(v) for k, v in parameters.items()})


def test_capabilities_describe_the_plugin_task_well_enough_to_build_its_form(client):
    caps = client.capabilities()
    info = next(t for t in caps.tasks if t.name == "wobble")
    assert (info.task, info.label, info.available, list(info.models)) == (tasks_pb2.TASK_PLUGIN, "Wobble", True, ["wobble-cpu"])
    assert [(i.name, i.kind, i.required) for i in info.inputs] == [("drawing", service_pb2.TaskInput.KIND_DRAWING, True)]
    params = {p.name: p for p in info.parameters}
    assert list(params) == [p.name for p in wobble.PARAMS]
    frames, amplitude, loop, wave = (params[n] for n in ("frames", "amplitude", "loop", "wave"))
    assert (frames.kind, frames.default_value, frames.minimum, frames.maximum) == (KIND.KIND_INTEGER, "12", 2, caps.limits.max_frames)
    assert (amplitude.kind, amplitude.default_value, amplitude.minimum, amplitude.maximum) == (KIND.KIND_NUMBER, "4.0", 0, 50)
    assert (loop.kind, loop.default_value, loop.HasField("minimum")) == (KIND.KIND_BOOLEAN, "true", False)
    assert (wave.kind, wave.default_value, list(wave.choices)) == (KIND.KIND_CHOICE, "sine", ["sine", "square"])
    assert all(p.label and p.help for p in info.parameters)
    # The contract's own tasks are described the same way, from their modules.
    inbetween = next(t for t in caps.tasks if t.name == "inbetween")
    assert [i.name for i in inbetween.inputs] == ["start", "end"]
    easing = next(p for p in inbetween.parameters if p.name == "easing")
    assert (easing.kind, easing.default_value) == (KIND.KIND_CHOICE, "ease-in-out")
    assert "ease-in" in easing.choices and "unspecified" not in easing.choices


def test_the_plugin_task_runs_and_is_listed_under_its_own_name(client, vector_sketches):
    job = client.submit(_wobble(vector_sketches[0], frames=6, amplitude=3, wave="square"), label="wobbly")
    assert job.task_name == "wobble" and job.task == tasks_pb2.TASK_PLUGIN
    done = client.wait(job.id)
    assert done.error == "" and done.task_name == "wobble"
    result = client.result(job.id)
    assert result.info.keyframe_count == 6 and result.info.layer == "Wobble"
    sketch = read_svg(vector_sketches[0])
    first = drawing_from_proto(result.keyframes[0].drawing)
    second = drawing_from_proto(result.keyframes[1].drawing)
    np.testing.assert_allclose(first.strokes[0].points, sketch.strokes[0].points, atol=1e-4)  # it starts as drawn
    np.testing.assert_allclose(second.strokes[0].points[:, 1] - sketch.strokes[0].points[:, 1], 3.0, atol=1e-3)
    listed = next(j for j in client.jobs() if j.id == job.id)
    assert listed.task_name == "wobble"


@pytest.mark.parametrize("parameters, message", [
    ({"amplitude": "99"}, "plugin.parameters[amplitude]: 99.0 is over the limit of 50"),
    ({"frames": "1"}, "plugin.parameters[frames]: 1 is under the minimum of 2"),
    ({"frames": "many"}, "plugin.parameters[frames]: 'many' is not a whole number"),
    ({"wave": "saw"}, "plugin.parameters[wave]: 'saw' is not one of sine, square"),
    ({"loop": "maybe"}, "plugin.parameters[loop]: 'maybe' is not true or false"),
    ({"speed": "2"}, "plugin.parameters: task wobble has no parameter 'speed'; it has: frames, amplitude, loop, wave"),
])
def test_bad_parameters_are_refused_naming_the_field_the_value_and_the_limit(client, vector_sketches, parameters, message):
    request = _wobble(vector_sketches[0])
    request.parameters.update(parameters)
    with pytest.raises(InkMotionError) as refused:
        client.submit(request)
    assert (refused.value.code, refused.value.message) == ("INVALID_ARGUMENT", message)


def test_a_task_the_server_does_not_have_is_refused_by_name(client, vector_sketches):
    for name, says in [("sparkle", "plugin.task: unknown task 'sparkle'; this server's plugin tasks: wobble"),
                       ("inbetween", "plugin.task: 'inbetween' is a task of the contract: send it as SubmitJobRequest.inbetween")]:
        request = _wobble(vector_sketches[0])
        request.task = name
        with pytest.raises(InkMotionError) as refused:
            client.submit(request)
        assert (refused.value.code, refused.value.message) == ("INVALID_ARGUMENT", says)


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "INKMOTION_PLUGINS": "inkmotion_test_task", "COLUMNS": "400",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "inkmotion.cli", *args], capture_output=True, text=True, timeout=120, env=env)


def test_the_cli_offers_the_plugin_task_with_its_help_and_runs_it_here_and_on_the_server(server, vector_sketches, tmp_path):
    helped = _cli("animate", "wobble", "--help")
    assert helped.returncode == 0, helped.stderr
    text = " ".join(helped.stdout.split())
    assert "Wobble: A drawing -> it wobbles" in text and "The strokes that wobble (an SVG file)" in text
    assert "--amplitude N How far points swing, in pixels (default 4.0; 0..50)" in text
    assert "--loop, --no-loop" in text and "--wave {sine,square}" in text
    here = _cli("animate", "wobble", str(vector_sketches[0]), "--frames", "5", "-o", f"{tmp_path}/here/")
    assert here.returncode == 0, here.stderr
    assert len(list((tmp_path / "here").glob("*.svg"))) == 5
    there = _cli("animate", "wobble", str(vector_sketches[0]), "--wave", "square", "--no-loop", "--server", server.address,
                 "-o", f"{tmp_path}/there/")
    assert there.returncode == 0, there.stderr
    assert len(list((tmp_path / "there").glob("*.svg"))) == 12
    listed = _cli("jobs", "list", "--server", server.address)
    assert any(line.split()[2] == "wobble" for line in listed.stdout.splitlines()[1:]), listed.stdout
    refused = _cli("animate", "wobble", str(vector_sketches[0]), "--amplitude", "51", "-o", f"{tmp_path}/no/")
    assert (refused.returncode, refused.stderr.strip()) == (2, "inkmotion: error: plugin.parameters[amplitude]: 51.0 is over the limit of 50")
