"""sketch-flow as a model of the inbetween task, through a real server and the CLI: painted keys
in, painted frames out with the keys unchanged; strokes in, painted, inbetweened and traced back
with the warning said on the job; the default for painted keys where its weights are; the seed.

The server's sketch-flow is a small random model (models.toml points the built-in name at it), so
these tests are about the wiring; what the shipped weights do is tests/pipelines/test_sketch_flow.py's."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from harness import ServerProcess, finished  # noqa: E402
from inkmotion.client import Client  # noqa: E402
from inkmotion.codec.drawing import Drawing, Raster, Stroke  # noqa: E402
from inkmotion.codec.preview import read_raster, write_png  # noqa: E402
from inkmotion.codec.proto import drawing_to_proto, raster_to_proto  # noqa: E402
from inkmotion.pipelines import sketch_flow as sf  # noqa: E402
from inkmotion.strokes.lineart import ink_darkness, paint_lineart  # noqa: E402
from inkmotion.v1 import drawing_pb2, tasks_pb2  # noqa: E402

CANVAS = 160


def _stroke(points) -> Stroke:
    points = np.asarray(points, np.float32)
    return Stroke(points=points, radii=np.full(len(points), 2.0, np.float32), opacities=np.ones(len(points), np.float32))


def key(dx: float) -> Drawing:
    """A little flag, `dx` px to the right."""
    return Drawing(CANVAS, CANVAS, [_stroke([(30 + dx, 120), (30 + dx, 40)]),
                                    _stroke([(30 + dx, 40), (70 + dx, 55), (30 + dx, 70)])], layer="Flag")


def tiny_model(folder, perturb: bool):
    """A random sketch-flow; `perturb` makes its flow head non-zero (a new one is the cross-dissolve,
    which no seed changes)."""
    torch.manual_seed(0)
    model = sf.SketchFlow(sf.SketchFlowConfig(size=64, channels=8))
    if perturb:
        with torch.no_grad():
            for p in model.parameters():
                if p.abs().sum() == 0:
                    p.normal_(0, 0.05)
    return sf.save(model, folder)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("sketch-flow-task")
    folder = tiny_model(base / "sketch-flow", perturb=True)
    config = base / "models.toml"
    config.write_text(f'[models.sketch-flow]\nsource = "{folder}"\n', encoding="utf-8")
    with ServerProcess(base / "data", env={"INKMOTION_MODELS": str(config)}) as process:
        yield process


@pytest.fixture(scope="module")
def client(server):
    with Client(server.address) as c:
        yield c


def raster_request(frames: int = 5, **fields) -> tuple[tasks_pb2.InbetweenRequest, Raster, Raster]:
    start, end = paint_lineart(key(0)), paint_lineart(key(40))
    request = tasks_pb2.InbetweenRequest(start=drawing_pb2.Keyframe(frame=10, raster=raster_to_proto(start)),
                                         end=drawing_pb2.Keyframe(frame=10 + frames - 1, raster=raster_to_proto(end)),
                                         frames=frames, **fields)
    return request, start, end


def test_painted_keys_default_to_sketch_flow_and_come_back_painted(client):
    request, start, end = raster_request()
    job = client.submit(request)
    animation = finished(client, job.id)
    assert client.job(job.id).model == "sketch-flow", "painted keys' default, its weights being here"
    assert not client.job(job.id).warnings
    assert [k.frame for k in animation.keyframes] == [10, 11, 12, 13, 14]
    rasters = [k.content for k in animation.keyframes]
    assert all(isinstance(r, Raster) and (r.width, r.height) == (CANVAS, CANVAS) for r in rasters)
    assert np.array_equal(rasters[0].rgba, start.rgba) and np.array_equal(rasters[-1].rgba, end.rgba)
    for between in rasters[1:-1]:
        assert ink_darkness(between).sum() > 0.3 * ink_darkness(start).sum(), "the frames between hold ink"
    assert not np.array_equal(rasters[1].rgba, rasters[3].rgba)


def test_the_seed_picks_the_motion(client):
    made = {}
    for seed in (0, 0, 7):
        request, _, _ = raster_request(frames=3, model="sketch-flow", seed=seed)
        middle = finished(client, client.submit(request).id).keyframes[1].content
        made.setdefault(seed, []).append(ink_darkness(middle))
    assert np.array_equal(made[0][0], made[0][1]), "the same seed gives the same frames"
    assert np.abs(made[0][0] - made[7][0]).max() > 1e-3, "another seed gives another"


def test_strokes_are_painted_and_traced_back_with_a_warning(client):
    request = tasks_pb2.InbetweenRequest(start=drawing_pb2.Keyframe(frame=1, drawing=drawing_to_proto(key(0))),
                                         end=drawing_pb2.Keyframe(frame=5, drawing=drawing_to_proto(key(40))),
                                         model="sketch-flow")
    job = client.submit(request)
    assert len(job.warnings) == 1 and "stroke-match keeps their strokes exactly" in job.warnings[0]
    animation = finished(client, job.id)
    assert list(client.job(job.id).warnings) == list(job.warnings), "stored with the job"
    frames = [k.content for k in animation.keyframes]
    assert len(frames) == 5 and all(isinstance(f, Drawing) and f.strokes for f in frames)
    for given, made in ((key(0), frames[0]), (key(40), frames[-1])):  # the keys exactly as sent
        assert [s.points.tolist() for s in made.strokes] == [s.points.tolist() for s in given.strokes]
    assert all(f.layer == "Flag" for f in frames[1:-1])


def test_strokes_default_to_stroke_match_without_a_warning(client):
    request = tasks_pb2.InbetweenRequest(start=drawing_pb2.Keyframe(frame=1, drawing=drawing_to_proto(key(0))),
                                         end=drawing_pb2.Keyframe(frame=5, drawing=drawing_to_proto(key(40))))
    job = client.submit(request)
    assert job.model == "stroke-match" and not job.warnings


def test_capabilities_offer_both_models_and_the_seed(client):
    info = next(t for t in client.capabilities().tasks if t.name == "inbetween")
    assert list(info.models)[:2] == ["stroke-match", "sketch-flow"] and info.default_model == "stroke-match"
    assert "seed" in [p.name for p in info.parameters]


def test_painted_keys_without_the_weights_go_to_stroke_match(tmp_path):
    """No sketch-flow weights (the registry points at an empty folder): painted keys still get a
    result, from the stroke engine."""
    from inkmotion.limits import Limits
    from inkmotion.tasks import check_submission
    from inkmotion.v1 import animation_service_pb2 as service_pb2

    config = tmp_path / "models.toml"
    (tmp_path / "empty").mkdir()
    config.write_text(f'[models.sketch-flow]\nsource = "{tmp_path / "empty"}"\n', encoding="utf-8")
    old = os.environ.get("INKMOTION_MODELS")
    os.environ["INKMOTION_MODELS"] = str(config)
    try:
        request, _, _ = raster_request()
        checked = check_submission(service_pb2.SubmitJobRequest(inbetween=request), Limits())
    finally:
        if old is None:
            del os.environ["INKMOTION_MODELS"]
        else:
            os.environ["INKMOTION_MODELS"] = old
    assert checked.model == "stroke-match"


def test_cli_inbetweens_pngs_with_sketch_flow_and_a_seed(server, tmp_path):
    write_png(paint_lineart(key(0)), tmp_path / "a.png")
    write_png(paint_lineart(key(40)), tmp_path / "b.png")
    run = subprocess.run([sys.executable, "-m", "inkmotion.cli", "animate", "inbetween", tmp_path / "a.png",
                          tmp_path / "b.png", "--frames", "4", "--model", "sketch-flow", "--seed", "3",
                          "--server", server.address, "-o", f"{tmp_path}/out/"],
                         capture_output=True, text=True, timeout=120, env=os.environ)
    assert run.returncode == 0, run.stderr
    frames = sorted((tmp_path / "out").glob("*.png"))
    assert len(frames) == 4
    assert np.array_equal(read_raster(frames[0]).rgba, read_raster(tmp_path / "a.png").rgba)


def test_cli_says_the_warning_for_svg_keys(server, tmp_path):
    from inkmotion.codec.svg import write_svg

    (tmp_path / "a.svg").write_text(write_svg(key(0)), encoding="utf-8")
    (tmp_path / "b.svg").write_text(write_svg(key(40)), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "inkmotion.cli", "animate", "inbetween", tmp_path / "a.svg",
                          tmp_path / "b.svg", "--frames", "3", "--model", "sketch-flow",
                          "--server", server.address, "-o", f"{tmp_path}/out/"],
                         capture_output=True, text=True, timeout=120, env=os.environ)
    assert run.returncode == 0, run.stderr
    assert "stroke-match keeps their strokes exactly" in run.stderr
    assert len(sorted((tmp_path / "out").glob("*.svg"))) == 3
