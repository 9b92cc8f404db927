"""Raster keys for the stroke-match engine of the inbetween task: traced as line art, frames painted
back when asked (painted keys' default is sketch-flow: tests/test_sketch_flow_task.py)."""

from __future__ import annotations

import numpy as np
import pytest

from harness import ServerProcess, inbetween_request
from inkmotion.client import Client
from inkmotion.codec.drawing import Drawing, Raster
from inkmotion.codec.preview import read_raster
from inkmotion.codec.proto import keyframe_from_proto, raster_to_proto
from inkmotion.codec.svg import read_svg
from inkmotion.errors import InvalidInput
from inkmotion.limits import Limits
from inkmotion.tasks import check_submission, run_submission
from inkmotion.v1 import animation_service_pb2 as service_pb2
from inkmotion.v1 import drawing_pb2, jobs_pb2, tasks_pb2


def _raster_request(raster_sketches, frames: int = 9, result_form: int = tasks_pb2.RESULT_FORM_UNSPECIFIED, png=True):
    by_name = {p.name: p for p in raster_sketches}
    start, end = read_raster(by_name["walker-1.png"]), read_raster(by_name["walker-2.png"])  # both 256 x 256
    return (
        tasks_pb2.InbetweenRequest(
            start=drawing_pb2.Keyframe(frame=0, raster=raster_to_proto(start, png=png)),
            end=drawing_pb2.Keyframe(frame=frames - 1, raster=raster_to_proto(end, png=png)),
            frames=frames,
            result_form=result_form,
            model="stroke-match",
        ),
        start,
        end,
    )


def _run(request):
    checked = check_submission(service_pb2.SubmitJobRequest(inbetween=request), Limits())
    return run_submission(checked, "cpu", lambda progress: None)


@pytest.mark.parametrize("png", [True, False], ids=["png", "rgba"])
def test_raster_keys_give_raster_frames_with_the_keys_unchanged(raster_sketches, png):
    request, start, end = _raster_request(raster_sketches, png=png)
    animation = _run(request)
    assert [k.frame for k in animation.keyframes] == list(range(9))
    assert (animation.width, animation.height) == (256, 256)
    rasters = [k.content for k in animation.keyframes]
    assert all(isinstance(r, Raster) and (r.width, r.height) == (256, 256) for r in rasters)
    assert np.array_equal(rasters[0].rgba, start.rgba) and np.array_equal(rasters[-1].rgba, end.rgba)
    for between in rasters[1:-1]:
        alpha = between.rgba[..., 3]
        assert alpha[0, 0] == 0  # painted on transparency, for a paint layer
        assert (alpha > 128).sum() > 500  # and it holds ink
    # The frames between differ from each other: things move.
    assert not np.array_equal(rasters[3].rgba, rasters[5].rgba)


def test_raster_keys_can_ask_for_drawings(raster_sketches):
    request, _, _ = _raster_request(raster_sketches, frames=5, result_form=tasks_pb2.RESULT_FORM_DRAWING)
    animation = _run(request)
    assert all(isinstance(k.content, Drawing) and k.content.strokes for k in animation.keyframes)


def test_drawing_keys_stay_drawings_unless_rasters_are_asked_for(vector_sketches):
    request = inbetween_request(vector_sketches[0], vector_sketches[1], frames=4)
    assert all(isinstance(k.content, Drawing) for k in _run(request).keyframes)
    request.result_form = tasks_pb2.RESULT_FORM_RASTER
    keys = _run(request).keyframes
    assert all(isinstance(k.content, Raster) and k.content.rgba[..., 3].max() == 255 for k in keys)


def test_a_drawing_and_a_raster_key_mix(raster_sketches, vector_sketches):
    drawing = read_svg(vector_sketches[0])
    request, _, end = _raster_request(raster_sketches, frames=4)
    request.start.ClearField("raster")
    request.start.drawing.CopyFrom(inbetween_request(drawing, drawing).start.drawing)
    keys = _run(request).keyframes
    assert isinstance(keys[0].content, Drawing)  # the start key's form
    request.result_form = tasks_pb2.RESULT_FORM_RASTER
    keys = _run(request).keyframes
    assert np.array_equal(keys[-1].content.rgba, end.rgba)


def test_a_broken_raster_key_is_refused_before_it_is_queued(raster_sketches):
    request, _, _ = _raster_request(raster_sketches)
    request.end.raster.png = b"not a png"
    with pytest.raises(InvalidInput, match=r"inbetween\.end\.raster\.png"):
        check_submission(service_pb2.SubmitJobRequest(inbetween=request), Limits())
    request, _, _ = _raster_request(raster_sketches)
    request.result_form = 7
    with pytest.raises(InvalidInput, match=r"inbetween\.result_form"):
        check_submission(service_pb2.SubmitJobRequest(inbetween=request), Limits())


def test_raster_inbetween_over_grpc(tmp_path, raster_sketches):
    request, start, _ = _raster_request(raster_sketches)
    with ServerProcess(tmp_path / "data") as server, Client(server.address) as client:
        job = client.submit(request, label="raster keys")
        final = client.wait(job.id)
        assert final.state == jobs_pb2.JOB_STATE_SUCCEEDED, final.error
        result = client.result(job.id)
    assert [k.frame for k in result.keyframes] == list(range(9))
    assert all(k.WhichOneof("content") == "raster" for k in result.keyframes)
    first = keyframe_from_proto(result.keyframes[0]).content
    assert np.array_equal(first.rgba, start.rgba)
