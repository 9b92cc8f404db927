"""The path_motion task (path-follow, and the shipped motion-strokes model) through a real server
and the CLI: bad paths and parameters refused at submission naming the field, the subject
travelling the path end to end (drawings and rasters, each engine), and capabilities that offer it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import ServerProcess, finished
from inkmotion.client import Client, InkMotionError
from inkmotion.codec.drawing import Drawing, Raster, Stroke
from inkmotion.codec.preview import read_raster, write_png
from inkmotion.codec.proto import drawing_to_proto, raster_to_proto
from inkmotion.codec.svg import read_svg, write_svg
from inkmotion.tasks.path_motion import MAX_PATH_POINTS
from inkmotion.v1 import animation_service_pb2 as service_pb2
from inkmotion.v1 import tasks_pb2

CANVAS = 256
START = (40.0, 60.0)  # the path starts on the subject: this is the subject's anchor
PATH = np.array([START, (90.0, 40.0), (140.0, 90.0), (180.0, 170.0), (220.0, 200.0)], np.float32)


def _stroke(points) -> Stroke:
    points = np.asarray(points, np.float32)
    return Stroke(points=points, radii=np.full(len(points), 1.5, np.float32), opacities=np.ones(len(points), np.float32))


def subject() -> Drawing:
    """A little house whose first stroke's first point is the path's start (its anchor)."""
    return Drawing(CANVAS, CANVAS, [
        _stroke([START, (60, 60), (60, 40), (40, 40), START]),
        _stroke([(40, 40), (50, 28), (60, 40)]),
    ], layer="House")


def packed(points) -> bytes:
    return np.asarray(points, "<f4").tobytes()


def request(path=PATH, **fields) -> tasks_pb2.PathMotionRequest:
    message = tasks_pb2.PathMotionRequest(path=path if isinstance(path, bytes) else packed(path), **fields)
    if "raster" not in fields:
        message.drawing.CopyFrom(drawing_to_proto(subject()))
    return message


def distance_to_path(point, path) -> float:
    """The distance from a point to the polyline `path`."""
    a, b = np.asarray(path[:-1], np.float64), np.asarray(path[1:], np.float64)
    ab = b - a
    w = np.clip(((point - a) * ab).sum(axis=1) / (ab * ab).sum(axis=1), 0.0, 1.0)
    return float(np.linalg.norm(point - (a + w[:, None] * ab), axis=1).min())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerProcess(tmp_path_factory.mktemp("path-motion")) as process:
        yield process


@pytest.fixture(scope="module")
def client(server):
    with Client(server.address) as c:
        yield c



# -- refused at submission -------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "field", "words"), [
    (packed([START]), "path_motion.path", "has 1 point, under the minimum of 2"),
    (b"", "path_motion.path", "has 0 points, under the minimum of 2"),
    (packed([START, START, START]), "path_motion.path", "has zero length: its 3 points are all at (40, 60)"),
    (packed([START, (90, np.nan), (140, 90)]), "path_motion.path[1]", "(90, nan) is not finite"),
    (packed([START, (90, 40), (np.inf, 90)]), "path_motion.path[2]", "(inf, 90) is not finite"),
    (packed([START, (1e30, 40)]), "path_motion.path[1]", "is outside +-32768 px"),
    (packed([(300, 300), (400, 500), (600, 260)]), "path_motion.path",
     "lies entirely off the canvas [0, 256] x [0, 256]: x from 300 to 600, y from 260 to 500"),
    (packed([(-50, -10), (-5, -90)]), "path_motion.path", "lies entirely off the canvas"),
    (packed(PATH)[:-3], "path_motion.path", "has 37 bytes, not a whole number of points"),
    (np.linspace((0, 0), (200, 200), MAX_PATH_POINTS + 1).astype("<f4").tobytes(), "path_motion.path",
     f"{MAX_PATH_POINTS + 1} points is over the limit of {MAX_PATH_POINTS} points"),
], ids=["one point", "no points", "zero length", "nan", "inf", "far", "off canvas", "off canvas, negative",
        "odd byte count", "too many points"])
def test_a_bad_path_is_refused_at_submission_naming_the_field(client, path, field, words):
    with pytest.raises(InkMotionError) as info:
        client.submit(request(path))
    assert info.value.code == "INVALID_ARGUMENT"
    assert info.value.message.startswith(f"{field}: ") and words in info.value.message, info.value.message


def test_a_path_crossing_the_canvas_with_every_point_outside_is_taken(client):
    job = client.submit(request([(-20, 128), (300, 128)], frames=3))
    assert len(finished(client, job.id).keyframes) == 3


@pytest.mark.parametrize(("fields", "message"), [
    ({"frames": 1}, "path_motion.frames: 1 is under the minimum of 2"),
    ({"frames": 0}, "path_motion.frames: 0 is under the minimum of 2"),
    ({"frames": 129}, "path_motion.frames: 129 is over the limit of 128"),
    ({"squash_stretch": 2.5}, "path_motion.squash_stretch: 2.5 is over the limit of 2"),
    ({"squash_stretch": -0.5}, "path_motion.squash_stretch: -0.5 is under the minimum of 0"),
    ({"follow_through": 1.5}, "path_motion.follow_through: 1.5 is over the limit of 1"),
    ({"follow_through": float("nan")}, "path_motion.follow_through: nan is not a finite number (the range is 0 to 1)"),
    ({"timing": 7}, "path_motion.timing: unknown value 7"),
    ({"easing": 9}, "path_motion.easing: unknown value 9"),
    ({"model": "nope"}, "path_motion.model: unknown model 'nope' for task path_motion; available: path-follow, motion-strokes"),
])
def test_a_bad_parameter_is_refused_at_submission_naming_the_field(client, fields, message):
    with pytest.raises(InkMotionError) as info:
        client.submit(request(**fields))
    assert info.value.code == "INVALID_ARGUMENT"
    assert info.value.message.startswith(message), info.value.message


def test_a_missing_or_blank_subject_is_refused(client):
    with pytest.raises(InkMotionError) as info:
        client.submit(tasks_pb2.PathMotionRequest(path=packed(PATH)))
    assert info.value.code == "INVALID_ARGUMENT" and info.value.message.startswith("path_motion.subject: is not set")
    blank = raster_to_proto(Raster(np.zeros((64, 64, 4), np.uint8)))
    with pytest.raises(InkMotionError) as info:
        client.submit(request(raster=blank))
    assert info.value.message.startswith("path_motion.raster: has no line art to trace: the raster is blank")


# -- end to end -----------------------------------------------------------------------------------

@pytest.mark.parametrize("options", [
    {},
    {"keep_upright": True},
    {"squash_stretch": 1.0, "follow_through": 0.5, "easing": tasks_pb2.EASING_LINEAR},
    {"timing": tasks_pb2.PATH_TIMING_AS_DRAWN},
], ids=["defaults", "upright", "squash and follow-through", "as drawn"])
def test_the_subject_travels_the_path(client, options):
    job = client.submit(request(frames=9, **options))
    animation = finished(client, job.id)
    assert [k.frame for k in animation.keyframes] == list(range(9))
    assert (animation.width, animation.height, animation.layer) == (CANVAS, CANVAS, "House")
    frames = [k.content for k in animation.keyframes]
    given = subject()
    # The first frame is the subject as sent.
    assert [len(s) for s in frames[0].strokes] == [len(s) for s in given.strokes]
    for out, stroke in zip(frames[0].strokes, given.strokes):
        assert np.array_equal(out.points, stroke.points) and np.array_equal(out.radii, stroke.radii)
    # The anchor (the path's start, on the subject) is on the path in every frame, at its end last.
    anchors = np.array([f.strokes[0].points[0] for f in frames], np.float64)
    assert max(distance_to_path(a, PATH) for a in anchors) < 0.05
    assert np.allclose(anchors[-1], PATH[-1], atol=1e-3)
    along = [np.linalg.norm(a - PATH[0]) for a in anchors]
    assert along[4] > along[1] > 0, "it moves on along the path"


def test_as_drawn_timing_puts_frame_k_at_the_kth_point(client):
    """Linear easing, 5 frames, 5 unevenly spaced points: the spacing of the points is the speed."""
    path = np.array([START, (42, 61), (46, 64), (120, 120), (230, 230)], np.float32)
    job = client.submit(request(path, frames=5, easing=tasks_pb2.EASING_LINEAR, timing=tasks_pb2.PATH_TIMING_AS_DRAWN))
    anchors = [k.content.strokes[0].points[0] for k in finished(client, job.id).keyframes]
    assert np.allclose(anchors, path, atol=1e-3)
    job = client.submit(request(path, frames=5, easing=tasks_pb2.EASING_LINEAR))  # even: equal steps of length
    steps = np.linalg.norm(np.diff([k.content.strokes[0].points[0] for k in finished(client, job.id).keyframes], axis=0), axis=1)
    assert np.allclose(steps, steps[0], rtol=0.02)


def house_on_paper() -> Raster:
    """The house painted as line art on white paper (a scan's look)."""
    from inkmotion.strokes.lineart import paint_lineart

    painted = paint_lineart(subject())
    paper = np.full_like(painted.rgba, 255)
    alpha = painted.rgba[..., 3:4].astype(np.float32) / 255.0
    paper[..., :3] = (255 * (1 - alpha) + painted.rgba[..., :3] * alpha).astype(np.uint8)  # ink on white
    return Raster(paper)


def ink_centre(raster: Raster) -> np.ndarray:
    """(x, y) of the ink, on paper or on transparency alike."""
    from inkmotion.strokes.lineart import ink_darkness

    ink = ink_darkness(raster)
    return np.argwhere(ink > 0.5).mean(axis=0)[::-1]


@pytest.mark.parametrize("model", ["", "path-follow", "motion-strokes"])
def test_a_raster_subject_comes_back_as_rasters_with_the_first_unchanged(client, model):
    given = house_on_paper()
    job = client.submit(request(raster=raster_to_proto(given), frames=6, model=model))
    animation = finished(client, job.id)
    assert client.job(job.id).model == (model or "motion-strokes"), "a raster's default is the learned model"
    rasters = [k.content for k in animation.keyframes]
    assert len(rasters) == 6 and all(isinstance(r, Raster) and (r.width, r.height) == (CANVAS, CANVAS) for r in rasters)
    assert np.array_equal(rasters[0].rgba, given.rgba)
    ink = [ink_centre(r) for r in rasters[1:]]
    assert np.linalg.norm(ink[-1] - (PATH[-1] + (10, -20))) < 25, "the house ends near the path's end"
    assert min(np.linalg.norm(np.diff(ink, axis=0), axis=1)) > 1.0, "it moves in every frame"


def test_a_drawing_through_the_learned_model_comes_back_as_strokes(client):
    job = client.submit(request(frames=5, model="motion-strokes"))
    animation = finished(client, job.id)
    frames = [k.content for k in animation.keyframes]
    assert all(isinstance(f, Drawing) and f.strokes for f in frames)
    assert [len(s) for s in frames[0].strokes] == [len(s) for s in subject().strokes], "frame 0 as sent"
    ends = np.concatenate([s.points for s in frames[-1].strokes])
    assert np.linalg.norm(ends.mean(axis=0) - (PATH[-1] + (10, -10))) < 25, "traced back where the path ends"


def test_capabilities_offer_path_motion_with_its_parameters(client):
    info = next(t for t in client.capabilities().tasks if t.name == "path_motion")
    assert info.available and not info.unavailable_reason
    assert list(info.models) == ["path-follow", "motion-strokes"] and info.default_model == "path-follow"
    assert [i.name for i in info.inputs] == ["drawing", "path"]
    params = {p.name: p for p in info.parameters}
    assert list(params) == ["frames", "easing", "timing", "keep_upright", "squash_stretch", "follow_through", "seed"]
    kind = service_pb2.TaskParameter
    assert (params["frames"].default_value, params["frames"].minimum, params["frames"].maximum) == ("16", 2, 128)
    assert params["timing"].kind == kind.KIND_CHOICE and list(params["timing"].choices) == ["even", "as-drawn"]
    assert params["timing"].default_value == "even"
    assert params["easing"].default_value == "ease-in-out" and "linear" in params["easing"].choices
    assert params["keep_upright"].kind == kind.KIND_BOOLEAN and params["keep_upright"].default_value == "false"
    assert (params["squash_stretch"].minimum, params["squash_stretch"].maximum) == (0, 2)
    assert (params["follow_through"].minimum, params["follow_through"].maximum) == (0, 1)


# -- the CLI --------------------------------------------------------------------------------------

def inkmotion(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inkmotion.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=120, env=os.environ)


@pytest.fixture
def files(tmp_path) -> tuple[Path, Path]:
    (tmp_path / "house.svg").write_text(write_svg(subject()), encoding="utf-8")
    (tmp_path / "path.svg").write_text(write_svg(Drawing(CANVAS, CANVAS, [_stroke(PATH)])), encoding="utf-8")
    return tmp_path / "house.svg", tmp_path / "path.svg"


def test_cli_animates_along_a_path_against_the_server(server, files, tmp_path):
    house, path = files
    run = inkmotion("animate", "path_motion", house, path, "--frames", "7", "--timing", "as-drawn",
                    "--model", "path-follow", "--server", server.address, "-o", f"{tmp_path}/frames/")
    assert run.returncode == 0, run.stderr
    frames = sorted((tmp_path / "frames").glob("*.svg"))
    assert len(frames) == 7
    first, last = read_svg(frames[0]), read_svg(frames[-1])
    assert len(first.strokes) == len(last.strokes) == 2
    assert np.allclose(first.strokes[0].points[0], START, atol=0.5)
    assert np.allclose(last.strokes[0].points[0], PATH[-1], atol=0.5)


def test_cli_takes_a_png_subject_into_the_raster_field(files, tmp_path):
    from inkmotion.strokes.lineart import paint_lineart

    _, path = files
    write_png(paint_lineart(subject()), tmp_path / "house.png")
    run = inkmotion("animate", "path_motion", tmp_path / "house.png", path, "--frames", "4", "-o", f"{tmp_path}/out/")
    assert run.returncode == 0, run.stderr
    frames = sorted((tmp_path / "out").glob("*.png"))
    assert len(frames) == 4
    assert np.array_equal(read_raster(frames[0]).rgba, read_raster(tmp_path / "house.png").rgba)


def test_cli_path_runs_a_model_folder_in_process(files, tmp_path):
    """`animate path` (the task's short name) with --model DIR: a motion-strokes folder, in-process."""
    torch = pytest.importorskip("torch")
    from inkmotion.pipelines import motion_strokes as ms

    torch.manual_seed(0)
    folder = ms.save(ms.build(ms.MotionStrokesConfig(channels=4, state_channels=8, motion_channels=4, dense_blocks=1,
                                                     dense_layers=2, growth=4)), tmp_path / "tiny-ms")
    _, path = files
    write_png(house_on_paper(), tmp_path / "house.png")
    run = inkmotion("animate", "path", tmp_path / "house.png", path, "--frames", "4", "--model", folder,
                    "-o", f"{tmp_path}/out/")
    assert run.returncode == 0, run.stderr
    frames = sorted((tmp_path / "out").glob("*.png"))
    assert len(frames) == 4
    assert np.array_equal(read_raster(frames[0]).rgba, read_raster(tmp_path / "house.png").rgba)
    assert not np.array_equal(read_raster(frames[1]).rgba, read_raster(frames[0]).rgba)


def test_cli_says_a_bad_path_in_one_line(files, tmp_path):
    house, _ = files
    far = tmp_path / "far.svg"
    far.write_text(write_svg(Drawing(1000, 1000, [_stroke([(600, 600), (900, 700)])])), encoding="utf-8")
    run = inkmotion("animate", "path_motion", house, far, "-o", f"{tmp_path}/out/")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "inkmotion: error: path_motion.path: lies entirely off the canvas [0, 256] x [0, 256]: "
        "x from 600 to 900, y from 600 to 700"]
    run = inkmotion("animate", "path_motion", house, house, "--squash-stretch", "3", "-o", f"{tmp_path}/out/")
    assert run.returncode == 2 and "path_motion.squash_stretch: 3.0 is over the limit of 2" in run.stderr
