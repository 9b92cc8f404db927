"""The Blender add-on's jobs module (no bpy in it) on its vendored client, against the FakeServer:
what the panel, the status bar and the operators' reports get from the shared JobRunner, and the
words they say of the server's tasks (labels, why one cannot run). No Blender needed; the modal
operator and background mode poll exactly this."""

from __future__ import annotations

import importlib
import shutil
import sys
import threading
import time
import types

import grpc
import pytest

from conftest import REPO
from fakeserver import DropWatches, Fail, FakeServer, Finish, Hold, Progress, Queued, Started, raster_keyframe, default_capabilities
from harness import PLUGINS

ADDON = REPO / "addons" / "blender" / "inkmotion"
PACKAGE = "inkmotion_blender_jobs"  # the add-on's folder as a package, without its bpy-bound __init__


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import build_addons
    finally:
        sys.path.pop(0)
    folder = tmp_path_factory.mktemp("blender") / PACKAGE
    folder.mkdir()
    shutil.copy2(ADDON / "jobs.py", folder / "jobs.py")
    build_addons.vendor_client(folder / "_client")
    package = types.ModuleType(PACKAGE)
    package.__path__ = [str(folder)]
    sys.modules[PACKAGE] = package
    yield importlib.import_module(f"{PACKAGE}.jobs")
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        del sys.modules[name]


@pytest.fixture
def fake():
    with FakeServer() as server:
        yield server


def request(jobs):
    return sys.modules[f"{PACKAGE}._client.v1.tasks_pb2"].InbetweenRequest(frames=3)


def poll_to_the_end(job, seconds: float = 20.0) -> list[tuple]:
    """(state, fraction, message) after every poll that changed something, as the panel redraws."""
    seen = []
    deadline = time.monotonic() + seconds
    while not job.done:
        assert time.monotonic() < deadline, f"timed out after {seconds:g} s waiting for the job to end: {seen}"
        if job.poll():
            seen.append((job.state, round(job.fraction, 3), job.message))
        time.sleep(0.01)
    return seen


def test_progress_previews_and_the_result(jobs, fake):
    gate = threading.Event()
    preview = raster_keyframe(9)
    fake.script(Queued(2), Hold(gate), Started("cuda:0"), Progress(0.5, "denoising", 5, 10, preview=preview),
                DropWatches(), Progress(0.8, "denoising", 8, 10), Finish([raster_keyframe(n) for n in range(1, 4)]))
    job = jobs.JobStatus(jobs.Connection(fake.address), request(jobs), label="Inbetween: GP/Sketch").start()
    assert (job.state, job.message, job.done) == ("submitting", "submitting", False)
    fake.wait_for(lambda: fake.watches, "the watch")
    gate.set()
    seen = poll_to_the_end(job)
    assert job.result is not None and [k.frame for k in job.result.keyframes] == [1, 2, 3]
    assert (job.state, job.fraction, job.message, job.error, job.cancelled) == ("succeeded", 1.0, "done", "", False)
    assert job.job_id == next(iter(fake.jobs)) and fake.jobs[job.job_id].request.label == "Inbetween: GP/Sketch"
    assert job.preview is not None and job.preview.raster.rgba == preview.raster.rgba
    messages = [m for _, _, m in seen]
    fractions = [f for _, f, _ in seen]
    assert fractions == sorted(fractions), "the bar never goes back"
    assert any(m in ("queued", "queued, 2 ahead") for m in messages)
    assert "step 5/10 denoising" in messages and len(fake.jobs) == 1
    assert any(m.startswith(f"connection lost, reconnecting to {fake.address}") for m in messages), "said, and watched again"


def test_esc_cancels_the_server_job(jobs, fake):
    fake.script(Started(), Progress(0.25, "working", 1, 4), Hold(threading.Event()))
    job = jobs.JobStatus(jobs.Connection(fake.address), request(jobs)).start()
    deadline = time.monotonic() + 10
    while job.fraction < 0.25:
        assert time.monotonic() < deadline, "timed out waiting for progress"
        job.poll()
        time.sleep(0.01)
    job.cancel()
    assert job.message == "cancelling"
    poll_to_the_end(job)
    assert (job.done, job.cancelled, job.state, job.error, job.result) == (True, True, "cancelled", "cancelled", None)
    assert fake.called("CancelJob") == [job.job_id] and job.fraction == 0.25, "cancelled midway"


def test_background_wait_cancels_past_its_timeout(jobs, fake):
    fake.script(Started(), Hold(threading.Event()))
    job = jobs.JobStatus(jobs.Connection(fake.address), request(jobs)).start()
    updates = []
    started = time.monotonic()
    job.wait(timeout=0.5, on_update=lambda j: updates.append(j.message))
    assert 0.5 <= time.monotonic() - started < 10
    assert job.cancelled and fake.called("CancelJob") == [job.job_id]
    assert updates[-1] == "cancelled"


def test_errors_in_the_artists_words(jobs, fake):
    conn = jobs.Connection(fake.address)
    fake.script(Started(), Fail("model 'tiny' has no weights here"))
    job = jobs.JobStatus(conn, request(jobs)).start()
    job.wait()
    assert job.error == f"job {job.job_id} failed: model 'tiny' has no weights here" and job.state == "failed"

    fake.script(refuse=(grpc.StatusCode.INVALID_ARGUMENT, "inbetween.frames: 500 is over the limit of 128"))
    job = jobs.JobStatus(conn, request(jobs)).start()
    job.wait()
    assert job.error == "inbetween.frames: 500 is over the limit of 128" and job.result is None

    with FakeServer(token="0123456789abcdef") as guarded:
        job = jobs.JobStatus(jobs.Connection(guarded.address, token="wrong-token-0000"), request(jobs)).start()
        job.wait()
        assert job.error == f"the server at {guarded.address} refused the token: unknown token"

    dead = jobs.Connection("127.0.0.1:9")
    job = jobs.JobStatus(dead, request(jobs)).start()
    job.wait()
    assert job.error == "no InkMotion server answers at 127.0.0.1:9"

    job = jobs.JobStatus(jobs.Connection(fake.address, tls_cert="/no/such/ca.pem"), request(jobs)).start()
    job.wait()
    assert job.error.startswith("cannot connect to the server: FileNotFoundError") and "/no/such/ca.pem" in job.error


def _plugin_tasks():
    """The test plugin's wobble as a server describes it, and a task whose input Grease Pencil has not."""
    from inkmotion.limits import Limits
    from inkmotion.v1 import animation_service_pb2 as service_pb2
    from inkmotion.v1 import tasks_pb2

    sys.path.insert(0, str(PLUGINS))
    try:
        import inkmotion_test_task
    finally:
        sys.path.remove(str(PLUGINS))
    specs: dict = {}
    inkmotion_test_task.register(specs)
    wobble = specs["wobble"].describe(Limits())
    inputs = service_pb2.TaskInput
    trace = service_pb2.TaskInfo(task=tasks_pb2.TASK_PLUGIN, name="trace", label="Trace", available=True, inputs=[
        inputs(name="raster", label="Line art", kind=inputs.KIND_RASTER, required=True),
        inputs(name="prompt", label="Prompt", kind=inputs.KIND_TEXT, required=False)])
    return wobble, trace


def test_the_words_for_the_servers_tasks_come_from_its_capabilities(jobs):
    wobble, trace = _plugin_tasks()
    caps = default_capabilities()
    video = next(t for t in caps.tasks if t.name == "video_motion")
    video.available, video.unavailable_reason = False, "no SketchAnimator weights on this server"
    caps.tasks.extend([wobble, trace])
    with FakeServer(capabilities=caps) as fake:
        conn = jobs.Connection(fake.address)
        known = jobs.Capabilities()
        assert (known.tasks(conn), known.task_reason("video_motion", conn)) == ([], None), "nothing said before it answered"
        known.refresh(conn, wait=True)
    assert [t.name for t in known.tasks(conn)] == [t.name for t in caps.tasks]
    text_motion = next(t for t in caps.tasks if t.name == "text_motion")
    assert known.label("text_motion", conn) == text_motion.label and text_motion.label != "text_motion"
    assert (known.label("wobble", conn), known.label("sparkle", conn)) == ("Wobble", "Sparkle")
    assert known.task_reason("wobble", conn) is None and known.task_reason("inbetween", conn) is None
    assert known.task_reason("video_motion", conn) == f"{video.label}: no SketchAnimator weights on this server"
    assert known.task_reason("sparkle", conn) == "Sparkle: the server (version fake) does not offer this task"
    # The generic action gives a drawing and a prompt; a required raster it cannot.
    assert jobs.generic_reason(known.info("wobble", conn)) is None
    assert jobs.generic_reason(known.info("trace", conn)) == "Trace: Grease Pencil cannot give it Line art (raster)"

    dead = jobs.Connection("127.0.0.1:9")
    known.refresh(dead, wait=True)
    assert known.tasks(dead) == [] and known.task_reason("wobble", dead) == "no InkMotion server answers at 127.0.0.1:9"
    assert known.label("wobble", dead) == "Wobble", "by its name while the server is away"
