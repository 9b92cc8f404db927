"""The text-motion task wired through: a two-step Live-Sketch job on a real server with a tiny
model registered the way a studio registers one, and the CLI with `--model DIR`."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from harness import ServerProcess, models_config
from inkmotion.client import Client, InkMotionError, event_kind
from inkmotion.codec.preview import read_raster
from inkmotion.codec.proto import drawing_from_proto, drawing_to_proto, raster_from_proto, raster_to_proto
from inkmotion.codec.svg import read_svg
from inkmotion.v1 import jobs_pb2, tasks_pb2

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tiny_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("text-server")
    config = models_config(folder / "models.toml", tiny_dir, {"tiny": "text_motion"})
    with ServerProcess(folder / "data", env={"INKMOTION_MODELS": str(config)}) as proc:
        yield proc


def test_a_two_step_text_job_runs_end_to_end(server, vector_sketches):
    sketch = read_svg(vector_sketches[5])
    with Client(server.address) as client:
        caps = client.capabilities()
        tiny = [m for m in caps.models if m.name == "tiny"]
        assert tiny and tiny[0].available
        job = client.submit(tasks_pb2.TextMotionRequest(
            sketch=drawing_to_proto(sketch), prompt="the dolphin jumps", model="tiny", frames=3, steps=2, preview_every=1))
        events = list(client.watch(job.id))
        assert event_kind(events[-1]) == "finished", events[-1]
        assert any(e.progress.HasField("preview") for e in events if event_kind(e) == "progress")
        result = client.result(job.id)
    assert len(result.keyframes) == 3
    for key in result.keyframes:
        frame = drawing_from_proto(key.drawing)
        assert len(frame.strokes) == len(sketch.strokes)
        for got, want in zip(frame.strokes, sketch.strokes):
            assert len(got.points) == len(want.points)
            np.testing.assert_array_equal(got.radii, want.radii)


def test_a_missing_model_fails_the_job_with_how_to_get_it(server, vector_sketches):
    with Client(server.address) as client:
        job = client.submit(tasks_pb2.TextMotionRequest(
            sketch=drawing_to_proto(read_svg(vector_sketches[0])), prompt="a horse", steps=1, frames=2))
        final = client.wait(job.id)
    assert final.state == jobs_pb2.JOB_STATE_FAILED
    assert "inkmotion models pull modelscope-1.7b" in final.error


def test_cli_text_in_process_with_a_model_folder(tiny_dir, vector_sketches, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "inkmotion.cli", "animate", "text_motion", str(vector_sketches[7]), "--prompt", "it flies",
         "--model", str(tiny_dir), "--steps", "2", "--frames", "3", "-o", f"{tmp_path}/out/"],
        capture_output=True, text=True, timeout=300, env=os.environ,
    )
    assert run.returncode == 0, run.stderr
    frames = sorted((tmp_path / "out").glob("*.svg"))
    assert [p.stem for p in frames] == ["0001", "0002", "0003"]
    assert len(read_svg(frames[1]).strokes) == len(read_svg(vector_sketches[7]).strokes)


def test_an_svg_sketch_with_raster_results_for_a_paint_layer(server, vector_sketches):
    # What Krita sends for a vector layer: its shapes as SVG; it wants frames for a paint layer.
    svg = vector_sketches[2].read_text()
    with Client(server.address) as client:
        job = client.submit(tasks_pb2.TextMotionRequest(
            sketch_svg=svg, prompt="it flutters", model="tiny", frames=2, steps=1,
            result_form=tasks_pb2.RESULT_FORM_RASTER))
        final = client.wait(job.id)
        assert final.state == jobs_pb2.JOB_STATE_SUCCEEDED, final.error
        result = client.result(job.id)
    assert [k.WhichOneof("content") for k in result.keyframes] == ["raster", "raster"]
    frame = raster_from_proto(result.keyframes[0].raster)
    assert frame.rgba[..., 3].max() == 255 and frame.rgba[..., 3].min() == 0, "ink on transparency"


def test_a_raster_sketch_is_traced_and_comes_back_as_rasters(server, raster_sketches):
    sketch = read_raster(raster_sketches[3])
    with Client(server.address) as client:
        job = client.submit(tasks_pb2.TextMotionRequest(
            sketch_raster=raster_to_proto(sketch), prompt="it moves", model="tiny", frames=2, steps=1))
        final = client.wait(job.id)
        assert final.state == jobs_pb2.JOB_STATE_SUCCEEDED, final.error
        result = client.result(job.id)
    frame = raster_from_proto(result.keyframes[1].raster)
    assert (frame.width, frame.height) == (sketch.width, sketch.height)


def test_broken_svg_is_refused_naming_the_field(server):
    with Client(server.address) as client, pytest.raises(InkMotionError) as info:
        client.submit(tasks_pb2.TextMotionRequest(sketch_svg="<svg><path d='M 0 0 L", prompt="x", model="tiny"))
    assert info.value.code == "INVALID_ARGUMENT" and info.value.message.startswith("text_motion.sketch_svg:")
