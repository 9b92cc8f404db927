"""The video_motion task (motion-transfer, and SketchAnimator on the tiny model) through a real
server and the CLI: bad clips and parameters refused at submission naming the field, the sketch
moving as a movie made here moves (strokes and line art, frame count and range), and capabilities
that offer it."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from harness import SQUARE, ServerProcess, finished, models_config, square_clip
from inkmotion.client import Client, InkMotionError
from inkmotion.codec.drawing import Drawing, Raster, Stroke
from inkmotion.codec.preview import read_raster, write_png
from inkmotion.codec.proto import drawing_to_proto, raster_to_proto
from inkmotion.codec.svg import read_svg, write_svg
from inkmotion.codec.video import read_clip
from inkmotion.strokes.lineart import paint_lineart
from inkmotion.v1 import tasks_pb2

CANVAS = 256  # room for the square to travel 1.5 widths
SIDE = 48  # the sketch's square, twice the clip's: the clip's 36 px of travel is 72 px here


def sketch() -> Drawing:
    points = np.array([(2 * x, 2 * y) for x, y in SQUARE], np.float32)
    return Drawing(CANVAS, CANVAS, [Stroke(points=points, radii=np.linspace(1, 3, len(points)).astype(np.float32),
                                           opacities=np.full(len(points), 0.8, np.float32))], layer="Square")


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    return square_clip(tmp_path_factory.mktemp("clip") / "square.mp4")


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_dir):
    folder = tmp_path_factory.mktemp("video-motion")
    config = models_config(folder / "models.toml", tiny_dir, {"tiny-animator": "video_motion"})
    env = {"INKMOTION_MODELS": str(config), "INKMOTION_LORA_CACHE": str(folder / "loras")}
    with ServerProcess(folder / "data", env=env) as process:
        yield process


@pytest.fixture(scope="module")
def client(server):
    with Client(server.address) as c:
        yield c


def request(clip_file, frames: int = 6, **fields) -> tasks_pb2.VideoMotionRequest:
    clip = read_clip(clip_file, frames)
    message = tasks_pb2.VideoMotionRequest(reference_frames=[raster_to_proto(f) for f in clip.frames],
                                           fps=clip.sampled_fps, **fields)
    if "sketch_raster" not in fields:
        message.sketch.CopyFrom(drawing_to_proto(sketch()))
    return message



def centres(points: list[np.ndarray]) -> np.ndarray:
    return np.array([p.mean(axis=0) for p in points], np.float64)


# -- refused at submission -------------------------------------------------------------------------

def _frames(*sizes) -> list:
    return [raster_to_proto(Raster(np.full((h, w, 4), 255, np.uint8))) for w, h in sizes]


@pytest.mark.parametrize(("change", "field", "words"), [
    (lambda r: r.ClearField("reference_frames"), "video_motion.reference_frames", "has 0 frames, under the minimum of 2"),
    (lambda r: (r.ClearField("reference_frames"), r.reference_frames.extend(_frames((96, 96)))),
     "video_motion.reference_frames", "has 1 frame, under the minimum of 2"),
    (lambda r: r.reference_frames.extend(_frames((64, 96))), "video_motion.reference_frames[6]",
     "is 64 x 96 px, not the first frame's 96 x 96 px"),
    (lambda r: (r.ClearField("reference_frames"), r.reference_frames.extend(_frames((600, 300), (600, 300)))),
     "video_motion.reference_frames[0]", "600 x 300 px is over the limit of 512 px a side"),
    (lambda r: r.reference_frames.extend(_frames(*[(96, 96)] * 251)), "video_motion.reference_frames",
     "257 frames is over the limit of 256 frames"),
    (lambda r: setattr(r, "frames", 1), "video_motion.frames", "1 is under the minimum of 2"),
    (lambda r: setattr(r, "frames", 500), "video_motion.frames", "500 is over the limit of 128"),
    (lambda r: setattr(r, "stiffness", -1.0), "video_motion.stiffness", "-1.0 is under the minimum of 0"),
    (lambda r: setattr(r, "fps", 0.0), "video_motion.fps", "0 is not a frame rate"),
    (lambda r: r.subject_mask.CopyFrom(raster_to_proto(Raster(np.zeros((96, 96, 4), np.uint8)))),
     "video_motion.subject_mask", "is empty: paint the subject white on black"),
    (lambda r: r.subject_mask.CopyFrom(raster_to_proto(Raster(np.full((10, 10, 4), 255, np.uint8)))),
     "video_motion.subject_mask", "is 10 x 10 px, not the clip's 96 x 96 px"),
    (lambda r: r.ClearField("sketch"), "video_motion.sketch", "is not set"),
    (lambda r: r.sketch_raster.CopyFrom(raster_to_proto(Raster(np.zeros((64, 64, 4), np.uint8)))),
     "video_motion.sketch_raster", "has no line art to trace: the raster is blank"),
], ids=["no frames", "one frame", "another size", "too large", "too many", "frames 1", "frames over", "stiffness",
        "fps", "empty mask", "mask size", "no sketch", "blank raster"])
def test_a_bad_request_is_refused_at_submission_naming_the_field(client, clip_file, change, field, words):
    message = request(clip_file)
    change(message)
    with pytest.raises(InkMotionError) as info:
        client.submit(message)
    assert info.value.code == "INVALID_ARGUMENT"
    assert info.value.message.startswith(f"{field}: ") and words in info.value.message, info.value.message


# -- the motion ------------------------------------------------------------------------------------

@pytest.mark.parametrize("frames", [None, 4])
def test_the_sketch_slides_as_the_clips_square_does(client, clip_file, frames):
    message = request(clip_file, model="motion-transfer")
    if frames is not None:  # the clip resampled by the server, its ends kept
        message.frames = frames
    animation = finished(client, client.submit(message).id)
    count = frames or 6
    assert [k.frame for k in animation.keyframes] == list(range(count))
    assert (animation.width, animation.height, animation.layer) == (CANVAS, CANVAS, "Square")
    assert animation.fps == pytest.approx(5 / 0.75, rel=1e-4), "it plays at the clip's own speed"
    drawings = [k.content for k in animation.keyframes]
    given = sketch()
    assert np.array_equal(drawings[0].strokes[0].points, given.strokes[0].points), "frame 0 is the sketch"
    for drawing in drawings:  # per-point attributes kept
        assert np.array_equal(drawing.strokes[0].radii, given.strokes[0].radii)
        assert np.array_equal(drawing.strokes[0].opacities, given.strokes[0].opacities)
    shift = centres([d.strokes[0].points for d in drawings]) - given.strokes[0].points.mean(axis=0)
    assert (np.diff(shift[:, 0]) > 0).all() and np.abs(shift[:, 1]).max() < 0.5, shift
    assert shift[-1, 0] == pytest.approx(1.5 * SIDE, abs=1.0), "the same share of its width as the clip's square"


def test_a_mask_chooses_the_subject(client, clip_file, tmp_path):
    """With a second square that stays still in the clip, a mask on it says the subject does not move."""
    from inkmotion.codec.video import write_video

    images = []
    for i in range(6):
        image = np.full((96, 96, 3), 255, np.uint8)
        image[36:60, 8 + 6 * i:32 + 6 * i] = 0  # the mover
        image[70:88, 70:88] = 0  # the one that stays
        images.append(image)
    clip = read_clip(write_video(images, [1] * 6, 12.0, tmp_path / "two.mp4"), 6)
    mask = np.zeros((96, 96, 4), np.uint8)
    mask[66:92, 66:92] = 255
    message = tasks_pb2.VideoMotionRequest(sketch=drawing_to_proto(sketch()), model="motion-transfer",
                                           reference_frames=[raster_to_proto(f) for f in clip.frames])
    moving = finished(client, client.submit(message).id)
    message.subject_mask.CopyFrom(raster_to_proto(Raster(mask)))
    still = finished(client, client.submit(message).id)
    travel = [np.abs(k.content.strokes[0].points - sketch().strokes[0].points).max() for k in moving.keyframes]
    stays = [np.abs(k.content.strokes[0].points - sketch().strokes[0].points).max() for k in still.keyframes]
    assert travel[-1] > SIDE and max(stays) < 1.0, (travel, stays)


def test_line_art_comes_back_as_line_art_with_the_first_frame_as_sent(client, clip_file):
    painted = paint_lineart(sketch())
    message = request(clip_file, model="motion-transfer", sketch_raster=raster_to_proto(painted))
    animation = finished(client, client.submit(message).id)
    rasters = [k.content for k in animation.keyframes]
    assert all(isinstance(r, Raster) for r in rasters) and np.array_equal(rasters[0].rgba, painted.rgba)
    ink_x = [np.nonzero(r.rgba[..., 3] > 128)[1].mean() for r in rasters]
    # The clip's frames 0, 2, 4, 5, 7, 9 (6 of 10, evenly): its square at +0, 8, 16, 20, 28, 36 px,
    # twice that here. Frames 1 on are traced and painted alike; frame 0 is the raster as sent.
    steps = 2 * np.array([0, 8, 16, 20, 28, 36])
    np.testing.assert_allclose(np.array(ink_x[1:]) - ink_x[1], steps[1:] - steps[1], atol=1.5)
    assert ink_x[1] - ink_x[0] == pytest.approx(steps[1], abs=4.0), ink_x


def test_sketch_animator_runs_on_the_tiny_model_and_reuses_the_motion_lora(client, clip_file, server):
    """Its three stages as one job (a few steps each): the motion LoRA learned once, from the cache
    when the same clip comes with another sketch."""
    message = request(clip_file, frames=4, model="tiny-animator", prompt="square", steps=2, lora_steps=2)
    job = client.submit(message)
    messages = [e.progress.message for e in client.watch(job.id) if e.HasField("progress")]
    animation = finished(client, job.id)
    assert len(animation.keyframes) == 4 and all(np.isfinite(k.content.strokes[0].points).all()
                                                  for k in animation.keyframes)
    assert {"appearance learning", "motion learning", "score distillation"} <= set(messages), messages
    other = sketch()
    other.strokes[0].points = other.strokes[0].points + np.float32(10)
    again = request(clip_file, frames=4, model="tiny-animator", prompt="square", steps=2, lora_steps=2)
    again.sketch.CopyFrom(drawing_to_proto(other))
    job = client.submit(again)
    messages = [e.progress.message for e in client.watch(job.id) if e.HasField("progress")]
    finished(client, job.id)
    assert "motion LoRA from the cache" in messages and "motion learning" not in messages, messages
    assert "appearance learning" in messages, "a new sketch learns its appearance"


def test_capabilities_offer_video_motion(client):
    [info] = [t for t in client.capabilities().tasks if t.name == "video_motion"]
    assert info.available and info.label == "Animate from video"
    assert list(info.models)[:1] == ["motion-transfer"] and "tiny-animator" in info.models
    assert [p.name for p in info.parameters] == ["frames", "stiffness", "steps", "lora_steps", "seed", "preview_every"]
    assert [i.name for i in info.inputs] == ["sketch", "reference_frames", "prompt", "subject_mask"]


# -- the CLI ---------------------------------------------------------------------------------------

def inkmotion(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inkmotion.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=os.environ)


def test_cli_animates_a_sketch_from_a_movie_against_the_server(server, clip_file, tmp_path):
    (tmp_path / "square.svg").write_text(write_svg(sketch()), encoding="utf-8")
    run = inkmotion("animate", "video", tmp_path / "square.svg", clip_file, "--frames", "5", "--start", "0.25",
                    "--server", server.address, "-o", f"{tmp_path}/frames/")
    assert run.returncode == 0, run.stderr
    frames = sorted((tmp_path / "frames").glob("*.svg"))
    assert len(frames) == 5
    first, last = read_svg(frames[0]), read_svg(frames[-1])
    # From 0.25 s (3 frames in: 12 px) to the end (36 px): 24 px of the clip's travel, 48 here.
    assert last.strokes[0].points[:, 0].mean() - first.strokes[0].points[:, 0].mean() == pytest.approx(48, abs=1.5)


def test_cli_takes_a_png_sketch_and_a_folder_of_frames(clip_file, tmp_path):
    write_png(paint_lineart(sketch()), tmp_path / "square.png")
    folder = tmp_path / "frames-in"
    folder.mkdir()
    for i, frame in enumerate(read_clip(clip_file, 10).frames):
        write_png(frame, folder / f"frame{i + 1}.png")  # natural order: frame10 after frame9
    run = inkmotion("animate", "video", tmp_path / "square.png", folder, "--frames", "4", "-o", f"{tmp_path}/out/")
    assert run.returncode == 0, run.stderr
    frames = sorted((tmp_path / "out").glob("*.png"))
    assert len(frames) == 4
    assert np.array_equal(read_raster(frames[0]).rgba, read_raster(tmp_path / "square.png").rgba)


def test_cli_says_a_bad_clip_in_one_line(clip_file, tmp_path):
    (tmp_path / "square.svg").write_text(write_svg(sketch()), encoding="utf-8")
    (tmp_path / "notes.mp4").write_text("not a video")
    for args, words in (([tmp_path / "notes.mp4"], "reference_frames: notes.mp4: not a video that can be read"),
                        ([clip_file, "--start", "5"], "--start: 5 s is past the end of the clip"),
                        ([clip_file, "--frames", "500"], "video_motion.frames: 500 is over the limit of 128")):
        run = inkmotion("animate", "video", tmp_path / "square.svg", *args, "-o", f"{tmp_path}/out/")
        assert run.returncode == 2 and words in run.stderr and run.stderr.count("\n") == 1, run.stderr


def test_cli_runs_sketch_animator_from_a_folder_and_manages_its_lora_cache(clip_file, tiny_dir, tmp_path):
    """In-process with --model DIR; `models loras` lists what it learned and `--clear` removes it."""
    (tmp_path / "square.svg").write_text(write_svg(sketch()), encoding="utf-8")
    env = {**os.environ, "INKMOTION_LORA_CACHE": str(tmp_path / "loras")}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "inkmotion.cli", *map(str, args)], capture_output=True,
                              text=True, timeout=300, env=env)

    made = run("animate", "video", tmp_path / "square.svg", clip_file, "--model", tiny_dir, "--frames", "3",
               "--steps", "1", "--lora-steps", "1", "--prompt", "square", "-o", f"{tmp_path}/out/")
    assert made.returncode == 0, made.stderr
    assert len(list((tmp_path / "out").glob("*.svg"))) == 3
    listed = run("models", "loras")
    assert listed.returncode == 0 and f"{tmp_path / 'loras'}: 2 cached LoRA(s)" in listed.stdout, listed.stdout
    assert "appearance-" in listed.stdout and "motion-" in listed.stdout
    cleared = run("models", "loras", "--clear")
    assert cleared.returncode == 0 and "removed 2 cached LoRA(s)" in cleared.stdout, cleared.stdout
    assert "0 cached LoRA(s)" in run("models", "loras").stdout
