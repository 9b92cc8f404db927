"""The server over real gRPC, in a subprocess: events, cancellation, limits, auth, TLS, drain."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from harness import ServerProcess, inbetween_request
from inkmotion.client import Client, InkMotionError, event_kind
from inkmotion.codec.proto import drawing_from_proto
from inkmotion.codec.svg import read_svg
from inkmotion.v1 import animation_service_pb2 as service_pb2
from inkmotion.v1 import drawing_pb2, jobs_pb2, tasks_pb2


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # An empty hub cache, so the built-in model is "not downloaded" on any machine.
    folder = tmp_path_factory.mktemp("server")
    env = {"HF_HUB_CACHE": str(folder / "hub"), "INKMOTION_MODELS": "", "XDG_CONFIG_HOME": str(folder / "config")}
    # A plugin lists a task it cannot run (what a server says of a method it lacks).
    with ServerProcess(folder / "data", "--plugin", "inkmotion_test_unavailable", env=env) as proc:
        yield proc


@pytest.fixture
def client(server):
    with Client(server.address) as c:
        yield c


def healthy(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def wait_state(client: Client, job_id: str, predicate, timeout: float = 30.0) -> jobs_pb2.Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.job(job_id)
        if predicate(job):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached the expected state; last: {job}")


def test_capabilities_describe_the_server(client):
    caps = client.capabilities()
    tasks = {t.name: t for t in caps.tasks}
    assert set(tasks) == {"text_motion", "video_motion", "raster_text_motion", "path_motion", "inbetween", "sculpt"}
    assert tasks["inbetween"].available and tasks["inbetween"].default_model == "stroke-match"
    assert tasks["text_motion"].available and tasks["text_motion"].default_model == "modelscope-1.7b"
    models = {m.name: m for m in caps.models}
    assert models["modelscope-1.7b"].source.startswith("damo-vilab/text-to-video-ms-1.7b")
    assert not models["modelscope-1.7b"].available, "the hub cache is empty"
    assert tasks["video_motion"].available and tasks["video_motion"].default_model == "motion-transfer"
    assert set(tasks["video_motion"].models) == {"motion-transfer", "sketch-animator"}
    assert not tasks["sculpt"].available and tasks["sculpt"].unavailable_reason == "the studio has not installed the sculpting weights yet"
    assert [d.name for d in caps.devices] == ["cpu"]
    assert caps.backend == "local" and [(w.name, w.node, w.device.name) for w in caps.workers] == [("cpu", "local", "cpu")]
    assert caps.limits.max_frames == 128 and caps.limits.max_message_bytes == 64 * 1024 * 1024
    assert not caps.auth_required


def test_inbetween_job_streams_events_and_keeps_the_keys(client, vector_sketches):
    start, end = vector_sketches[0], vector_sketches[1]
    job = client.submit(inbetween_request(start, end, frames=7, model="test-slow"), label="two sketches")
    assert job.state == jobs_pb2.JOB_STATE_QUEUED and job.label == "two sketches"
    events = list(client.watch(job.id))
    kinds = [event_kind(e) for e in events]
    assert kinds[-1] == "finished"
    [worker] = client.capabilities().workers  # the local backend's one device, free again, one more job done
    assert worker.state == service_pb2.WORKER_STATE_IDLE and worker.jobs_done >= 1 and not worker.job_id
    assert "progress" in kinds and kinds.index("progress") < len(kinds) - 1
    steps = [e.progress.step for e in events if event_kind(e) == "progress"]
    assert steps == sorted(steps) and steps[-1] == 7
    fractions = [e.progress.fraction for e in events if event_kind(e) == "progress"]
    assert all(0 < f <= 1 for f in fractions)

    result = client.result(job.id)
    assert result.info.keyframe_count == 7 == len(result.keyframes)
    assert [k.frame for k in result.keyframes] == list(range(1, 8))
    first, last = (drawing_from_proto(result.keyframes[i].drawing) for i in (0, -1))
    for got, path in ((first, start), (last, end)):
        want = read_svg(path)
        assert len(got.strokes) == len(want.strokes)
        for g, w in zip(got.strokes, want.strokes):
            np.testing.assert_array_equal(g.points, w.points)


def test_a_late_watcher_gets_the_current_state_first(client, vector_sketches):
    job = client.submit(inbetween_request(vector_sketches[2], vector_sketches[3], frames=12, model="test-slow"))
    wait_state(client, job.id, lambda j: j.state == jobs_pb2.JOB_STATE_RUNNING and j.step >= 3)
    first = next(iter(client.watch(job.id)))  # attach mid-run, then detach
    assert event_kind(first) == "progress" and first.progress.step >= 3
    assert first.job.state == jobs_pb2.JOB_STATE_RUNNING
    again = list(client.watch(job.id))  # re-attach: runs to the end
    assert event_kind(again[-1]) == "finished"
    after = list(client.watch(job.id))  # attach after the end: one event, the end
    assert [event_kind(e) for e in after] == ["finished"]


def test_cancel_stops_a_running_job_within_one_step(client, vector_sketches):
    job = client.submit(inbetween_request(vector_sketches[0], vector_sketches[4], frames=60, model="test-slow"))
    running = wait_state(client, job.id, lambda j: j.step >= 2)
    client.cancel(job.id)
    final = wait_state(client, job.id, lambda j: j.state == jobs_pb2.JOB_STATE_CANCELLED, timeout=5)
    assert final.step <= running.step + 3, "kept going after the cancel"
    with pytest.raises(InkMotionError) as info:
        client.result(job.id)
    assert info.value.code == "FAILED_PRECONDITION"


def test_queued_jobs_run_by_priority_and_cancel_at_once(client, vector_sketches):
    pair = vector_sketches[5], vector_sketches[6]
    blocker = client.submit(inbetween_request(*pair, frames=15, model="test-slow"))
    low = client.submit(inbetween_request(*pair, frames=3), priority=0)
    high = client.submit(inbetween_request(*pair, frames=3), priority=5)
    doomed = client.submit(inbetween_request(*pair, frames=3), priority=-1)
    assert client.job(high.id).queue_position < client.job(low.id).queue_position
    assert client.cancel(doomed.id).state == jobs_pb2.JOB_STATE_CANCELLED
    for job in (blocker, low, high):
        client.wait(job.id)
    low_job, high_job = client.job(low.id), client.job(high.id)
    assert high_job.started_at.ToNanoseconds() < low_job.started_at.ToNanoseconds()
    assert client.job(doomed.id).started_at.ToNanoseconds() == 0


def test_list_jobs_pages_through_everything(client, vector_sketches):
    for _ in range(3):
        client.submit(inbetween_request(vector_sketches[7], vector_sketches[8], frames=2))
    everything = list(client.jobs(page_size=2))
    ids = [j.id for j in everything]
    assert len(ids) == len(set(ids)) >= 3
    created = [j.created_at.ToNanoseconds() for j in everything]
    assert created == sorted(created, reverse=True)


def _raw_submit(address: str, payload: bytes):
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary("/inkmotion.v1.AnimationService/SubmitJob")
        return call(payload, timeout=10)


def _drawing(points, width=256, height=256, counts=None):
    pts = np.asarray(points, "<f4").reshape(-1, 2)
    return drawing_pb2.Drawing(width=width, height=height, point_counts=counts if counts is not None else [len(pts)],
                               positions=pts.tobytes())


def _submission(start, end=None, frames=5):
    end = end if end is not None else start
    return service_pb2.SubmitJobRequest(inbetween=tasks_pb2.InbetweenRequest(
        start=drawing_pb2.Keyframe(frame=1, drawing=start), end=drawing_pb2.Keyframe(frame=frames, drawing=end), frames=frames))


MILLION = 1_000_000
BAD_INPUTS = {
    "nan coordinates": (_submission(_drawing([[0, 0], [np.nan, 3]])).SerializeToString(), "inbetween.start.drawing.positions: contains NaN"),
    "empty stroke": (_submission(_drawing([[0, 0], [1, 1]], counts=[2, 0])).SerializeToString(), "inbetween.start.drawing.point_counts[1]: stroke has no points"),
    "a million points": (_submission(_drawing(np.zeros((MILLION, 2))) ).SerializeToString(), "inbetween.start.drawing.point_counts[0]: 1000000 points is over the limit of 20000 points"),
    "zero canvas": (_submission(_drawing([[0, 0], [1, 1]], width=0)).SerializeToString(), "inbetween.start.drawing.width: canvas 0x256 is empty"),
    "too many frames": (_submission(_drawing([[0, 0], [1, 1]]), frames=500).SerializeToString(), "inbetween.frames: 500 is over the limit of 128"),
    "truncated protobuf": (_submission(_drawing([[0, 0], [1, 1]])).SerializeToString()[:-7], "request: not a valid inkmotion.v1.SubmitJobRequest"),
    "unknown task": (b"\xba\x01\x02\x08\x01", "task: no task is set"),  # field 23: a task from a newer contract
    "no task": (b"", "task: no task is set"),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_is_refused_clearly_and_the_server_stays_up(server, name):
    payload, message = BAD_INPUTS[name]
    with pytest.raises(grpc.RpcError) as info:
        _raw_submit(server.address, payload)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith(message), info.value.details()
    assert healthy(server.address)


def test_unavailable_tasks_answer_unimplemented(client):
    with pytest.raises(InkMotionError) as info:
        client.submit(tasks_pb2.PluginTaskRequest(task="sculpt", drawing=_drawing([[0, 0], [1, 1]])))
    assert info.value.code == "UNIMPLEMENTED" and "sculpt" in info.value.message
    assert "the studio has not installed the sculpting weights yet" in info.value.message


def test_unknown_job_ids_are_not_found(client):
    for call in (client.job, client.cancel, lambda i: list(client.watch(i, reconnect=False))):
        with pytest.raises(InkMotionError) as info:
            call("no-such-job")
        assert info.value.code == "NOT_FOUND"


# -- a shared studio server: tokens, users, TLS ---------------------------------------------------

TOKENS = {"ann": "ann-token-0123456789abcdef", "bob": "bob-token-0123456789abcdef"}


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("studio")
    (folder / "tokens").write_text("# studio users\n" + "".join(f"{u} {t}\n" for u, t in TOKENS.items()))
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
        check=True, capture_output=True,
    )
    args = ["--token-file", str(folder / "tokens"), "--tls-cert", str(folder / "cert.pem"), "--tls-key", str(folder / "key.pem")]
    with ServerProcess(folder / "data", *args) as proc:
        proc.cert = (folder / "cert.pem").read_bytes()
        yield proc


def test_studio_users_see_only_their_own_jobs(studio, vector_sketches):
    address = f"localhost:{studio.port}"
    ann = Client(address, token=TOKENS["ann"], root_certificates=studio.cert)
    bob = Client(address, token=TOKENS["bob"], root_certificates=studio.cert)
    assert ann.capabilities().auth_required
    job = ann.submit(inbetween_request(vector_sketches[0], vector_sketches[1], frames=3))
    assert job.owner == "ann"
    assert ann.wait(job.id).state == jobs_pb2.JOB_STATE_SUCCEEDED
    assert [j.id for j in ann.jobs()] == [job.id]
    assert list(bob.jobs()) == []
    for call in (bob.job, bob.cancel, bob.result):
        with pytest.raises(InkMotionError) as info:
            call(job.id)
        assert info.value.code == "NOT_FOUND"


def test_studio_refuses_missing_or_wrong_tokens_but_health_stays_open(studio):
    address = f"localhost:{studio.port}"
    for token in (None, "wrong-token-0123456789abcdef"):
        with Client(address, token=token, root_certificates=studio.cert) as c, pytest.raises(InkMotionError) as info:
            c.capabilities()
        assert info.value.code == "UNAUTHENTICATED"
        with Client(address, token=token, root_certificates=studio.cert) as c, pytest.raises(InkMotionError) as info:
            list(c.watch("anything", reconnect=False))
        assert info.value.code == "UNAUTHENTICATED"
    with grpc.secure_channel(address, grpc.ssl_channel_credentials(studio.cert)) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_studio_speaks_only_tls(studio):
    with Client(f"127.0.0.1:{studio.port}", token=TOKENS["ann"], timeout=3) as plain, pytest.raises(InkMotionError) as info:
        plain.capabilities()
    assert info.value.code == "UNAVAILABLE"


def test_a_non_loopback_address_needs_tokens(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "inkmotion.cli", "serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without --token-file" in result.stderr


# -- shutdown ---------------------------------------------------------------------------------

def test_sigterm_drains_running_jobs_and_keeps_queued_ones(tmp_path, vector_sketches):
    pair = vector_sketches[9], vector_sketches[10]
    with ServerProcess(tmp_path, "--drain-timeout", "30") as proc:
        client = Client(proc.address)
        running = client.submit(inbetween_request(*pair, frames=20, model="test-slow"))
        queued = client.submit(inbetween_request(*pair, frames=3))
        wait_state(client, running.id, lambda j: j.step >= 1)
        code = proc.terminate()
        assert code == 0, proc.log
        assert "draining" in proc.log
    with ServerProcess(tmp_path) as proc:
        client = Client(proc.address)
        assert client.job(running.id).state == jobs_pb2.JOB_STATE_SUCCEEDED, "a running job finishes during the drain"
        assert client.wait(queued.id).state == jobs_pb2.JOB_STATE_SUCCEEDED, "a queued job runs after the restart"


def test_sigterm_past_the_drain_timeout_requeues_the_running_job(tmp_path, vector_sketches):
    pair = vector_sketches[11], vector_sketches[12]
    with ServerProcess(tmp_path, "--drain-timeout", "0.5") as proc:
        client = Client(proc.address)
        job = client.submit(inbetween_request(*pair, frames=100, model="test-slow"))
        wait_state(client, job.id, lambda j: j.step >= 1)
        events: list = []
        watcher = threading.Thread(target=lambda: events.extend(_watch_until_gone(client, job.id)), daemon=True)
        watcher.start()
        time.sleep(0.3)
        assert proc.terminate() == 0
        watcher.join(5)
    assert events and events[-1].job.state == jobs_pb2.JOB_STATE_QUEUED, "watchers hear the job went back"
    assert "re-queued: the server shut down during attempt 1" in events[-1].job.message
    with ServerProcess(tmp_path) as proc:
        got = Client(proc.address).wait(job.id)
        assert got.state == jobs_pb2.JOB_STATE_SUCCEEDED, got


def _watch_until_gone(client: Client, job_id: str) -> list:
    events = []
    try:
        for event in client.watch(job_id, reconnect=False):
            events.append(event)
    except InkMotionError:  # the server went away
        pass
    return events


def test_sigterm_does_not_wait_for_a_step_that_never_ends(tmp_path, vector_sketches):
    """A step with no progress callback for minutes: the process still exits soon after the drain
    timeout, and the job goes back in the queue for the next start."""
    pair = vector_sketches[13], vector_sketches[14]
    with ServerProcess(tmp_path, "--drain-timeout", "1") as proc:
        client = Client(proc.address)
        job = client.submit(inbetween_request(*pair, frames=5, model="test-stuck"))
        wait_state(client, job.id, lambda j: j.message == "stuck in one long step")
        proc.proc.send_signal(signal.SIGTERM)
        try:
            code = proc.proc.wait(30)  # the step lasts 300 s
        except subprocess.TimeoutExpired:
            raise AssertionError("the server waited on the stuck step:\n" + proc.log) from None
        assert code == 0, proc.log
        assert "left behind" in proc.log and "re-queued for the next start" in proc.log, proc.log
    with ServerProcess(tmp_path, "--drain-timeout", "0") as proc:
        got = Client(proc.address).job(job.id)  # queued again, or already on its second attempt
        assert got.state in (jobs_pb2.JOB_STATE_QUEUED, jobs_pb2.JOB_STATE_RUNNING), got


def test_a_watcher_rides_out_a_server_restart(tmp_path, vector_sketches):
    """The client re-attaches when the connection drops; the job, re-queued, runs to the end."""
    first = ServerProcess(tmp_path).start()
    port = first.port
    client = Client(first.address)
    job = client.submit(inbetween_request(vector_sketches[17], vector_sketches[18], frames=15, model="test-slow"))
    events: list = []
    watcher = threading.Thread(target=lambda: events.extend(client.watch(job.id, retry_for=60)), daemon=True)
    watcher.start()
    wait_state(client, job.id, lambda j: j.step >= 2)
    first.kill()
    second = ServerProcess(tmp_path, "--port", str(port))
    try:
        second.start()
        watcher.join(60)
        assert not watcher.is_alive()
        assert event_kind(events[-1]) == "finished"
        assert "re-queued" in second.log and "attempt 2" in second.log, second.log
        assert len(client.result(job.id).keyframes) == 15
    finally:
        second.stop()
