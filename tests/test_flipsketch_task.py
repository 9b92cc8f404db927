"""The raster-text-motion task (FlipSketch) wired through: a real server with a tiny model
registered for it, the CLI's `animate flip`, and the errors an artist can run into."""

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
from inkmotion.v1 import drawing_pb2, jobs_pb2, tasks_pb2

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tiny_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("flip-server")
    config = models_config(folder / "models.toml", tiny_dir, {"tiny-flip": "raster_text_motion"})
    env = {"INKMOTION_MODELS": str(config), "HF_HUB_CACHE": str(folder / "hub")}
    with ServerProcess(folder / "data", env=env) as proc:
        yield proc


def _request(sketch, **fields):
    return tasks_pb2.RasterTextMotionRequest(sketch=raster_to_proto(sketch), prompt="a cat walks", **fields)


def test_a_flipsketch_job_runs_end_to_end(server, raster_sketches):
    sketch = read_raster(raster_sketches[4])
    with Client(server.address) as client:
        caps = client.capabilities()
        raster = next(t for t in caps.tasks if t.name == "raster_text_motion")
        assert raster.available
        assert {m.name: m.available for m in caps.models if m.task == raster.task}["tiny-flip"]
        job = client.submit(_request(sketch, model="tiny-flip", frames=3, steps=2, inversion_steps=2, preview_every=1,
                                     composition_weight=0.8))
        events = list(client.watch(job.id))
        assert event_kind(events[-1]) == "finished", events[-1]
        previews = [e.progress.preview for e in events if event_kind(e) == "progress" and e.progress.HasField("preview")]
        assert previews and previews[0].WhichOneof("content") == "raster"
        result = client.result(job.id)
    assert [k.frame for k in result.keyframes] == [1, 2, 3]
    for key in result.keyframes:
        assert key.WhichOneof("content") == "raster"
        frame = raster_from_proto(key.raster)
        assert (frame.width, frame.height) == (sketch.width, sketch.height)


def test_flipsketch_without_its_lora_fails_saying_how_to_set_it(server, raster_sketches):
    with Client(server.address) as client:
        job = client.submit(_request(read_raster(raster_sketches[0]), model="flipsketch", frames=2, steps=1))
        final = client.wait(job.id)
    assert final.state == jobs_pb2.JOB_STATE_FAILED
    assert "lora = FOLDER or HUB_ID" in final.error


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(composition_weight=1.5), "raster_text_motion.composition_weight: 1.5 is over the limit of 1"),
        (dict(samples=100), "raster_text_motion.samples: 100 is over the limit of 16"),
        (dict(frames=1), "raster_text_motion.frames: 1 is under the minimum of 2"),
    ],
)
def test_bad_parameters_are_invalid_arguments(server, raster_sketches, fields, message):
    with Client(server.address) as client, pytest.raises(InkMotionError) as info:
        client.submit(_request(read_raster(raster_sketches[0]), model="tiny-flip", **fields))
    assert info.value.code == "INVALID_ARGUMENT" and message in info.value.message


def test_a_missing_sketch_is_named(server):
    with Client(server.address) as client, pytest.raises(InkMotionError) as info:
        client.submit(tasks_pb2.RasterTextMotionRequest(prompt="a cat", sketch=drawing_pb2.Raster()))
    assert info.value.code == "INVALID_ARGUMENT" and "raster_text_motion.sketch" in info.value.message


def test_cli_flip_in_process_writes_pngs_on_the_sketch_canvas(tiny_dir, raster_sketches, tmp_path):
    path = next(p for p in raster_sketches if read_raster(p).width <= 1024)
    run = subprocess.run(
        [sys.executable, "-m", "inkmotion.cli", "animate", "raster_text_motion", str(path), "--prompt", "it waves",
         "--model", str(tiny_dir), "--frames", "3", "--steps", "2", "--lambda", "0.3", "-o", f"{tmp_path}/out/"],
        capture_output=True, text=True, timeout=300, env=os.environ, check=False,
    )
    assert run.returncode == 0, run.stderr
    frames = sorted((tmp_path / "out").glob("*.png"))
    assert [p.stem for p in frames] == ["0001", "0002", "0003"]
    sketch = read_raster(path)
    for png in frames:
        frame = read_raster(png)
        assert (frame.width, frame.height) == (sketch.width, sketch.height)
        assert set(np.unique(frame.rgba[..., 3])) <= {0, 255}


def test_strokes_in_strokes_out_for_grease_pencil(server, vector_sketches):
    # What Blender sends: a drawing; FlipSketch paints it, animates it and traces the frames back.
    sketch = read_svg(vector_sketches[4])
    with Client(server.address) as client:
        job = client.submit(tasks_pb2.RasterTextMotionRequest(
            sketch_drawing=drawing_to_proto(sketch), prompt="a cat", model="tiny-flip", frames=2, steps=1,
            inversion_steps=1))
        final = client.wait(job.id)
        assert final.state == jobs_pb2.JOB_STATE_SUCCEEDED, final.error
        result = client.result(job.id)
    assert [k.WhichOneof("content") for k in result.keyframes] == ["drawing", "drawing"]
    frame = drawing_from_proto(result.keyframes[0].drawing)
    assert (frame.width, frame.height) == (sketch.width, sketch.height)
