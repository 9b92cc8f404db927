"""The client's JobRunner (what both add-ons run their jobs with) against the FakeServer: a real
gRPC server in this process whose jobs follow a script, so order, reconnects, cancels and failures
are exact and quick."""

from __future__ import annotations

import socket
import threading
import time

import grpc
import pytest

from fakeserver import (DropWatches, Fail, FakeServer, Finish, GoDown, Hold, Interrupt, Progress, Queued, Started,
                        raster_keyframe)
from inkmotion.client import Client, Event, EventKind, JobRunner
from inkmotion.v1 import jobs_pb2, tasks_pb2

REQUEST = tasks_pb2.InbetweenRequest(frames=3)
ENDINGS = (EventKind.FINISHED, EventKind.FAILED, EventKind.CANCELLED)


@pytest.fixture
def fake():
    with FakeServer() as server:
        yield server


def runner_for(fake: FakeServer, **options) -> JobRunner:
    return JobRunner(lambda: Client(fake.address, timeout=5.0), REQUEST, label="test", **options)


def drain(runner: JobRunner, seconds: float = 20.0, events: list | None = None) -> list[Event]:
    """Poll as a UI timer does until the run has ended; every event, in order."""
    events = [] if events is None else events
    deadline = time.monotonic() + seconds
    while not (events and events[-1].kind in ENDINGS):
        assert time.monotonic() < deadline, f"timed out after {seconds:g} s waiting for the run to end: {events}"
        events += runner.poll()
        time.sleep(0.01)
    assert runner.join(5), "the runner's thread ended"
    return events + runner.poll()


def poll_until(runner: JobRunner, condition, what: str, seconds: float = 10.0) -> list[Event]:
    events: list[Event] = []
    deadline = time.monotonic() + seconds
    while not any(condition(e) for e in events):
        assert time.monotonic() < deadline, f"timed out after {seconds:g} s waiting for {what}: {events}"
        events += runner.poll()
        time.sleep(0.01)
    return events


def wait_for_watches(fake: FakeServer, count: int) -> None:
    fake.wait_for(lambda: any(n >= count for n in fake.watches.values()), f"{count} watch(es) of the job")


def kinds(events: list[Event]) -> list[str]:
    return [e.kind.value for e in events]


# -- a run from start to end ----------------------------------------------------------------------

def test_events_come_in_order_and_the_result_is_fetched(fake):
    gate = threading.Event()
    preview = raster_keyframe(7)
    keyframes = [raster_keyframe(n) for n in (1, 2, 3)]
    fake.script(Hold(gate), Queued(2), Queued(1), Started("cuda:0"), Progress(0.0, "loading model tiny"),
                Progress(0.5, "denoising", 1, 2, preview=preview), Progress(1.0, "denoising", 2, 2), Finish(keyframes))
    runner = runner_for(fake).start()
    wait_for_watches(fake, 1)  # every event after this one is heard live, none from a snapshot
    gate.set()
    events = drain(runner)

    [job_id] = fake.jobs
    assert [(e.kind.value, e.fraction, e.message) for e in events] == [
        ("queued", 0.0, "queued"),
        ("queued", 0.0, "queued, 2 ahead"),
        ("queued", 0.0, "queued, 1 ahead"),
        ("progress", 0.0, "started on cuda:0"),
        ("progress", 0.0, "loading model tiny"),
        ("progress", 0.5, "step 1/2 denoising"),
        ("preview", 0.5, "step 1/2 denoising"),
        ("progress", 1.0, "step 2/2 denoising"),
        ("progress", 1.0, "fetching the result"),
        ("finished", 1.0, "done"),
    ]
    assert [e.position for e in events[:3]] == [0, 2, 1]
    assert all(e.job_id == job_id for e in events), "every event names the job"
    assert [e.state for e in events] == ["queued"] * 3 + ["running"] * 5 + ["succeeded"] * 2
    assert events[6].preview == preview
    result = events[-1].result
    assert result.job.id == job_id and result.job.state == jobs_pb2.JOB_STATE_SUCCEEDED
    assert list(result.keyframes) == keyframes and result.info.keyframe_count == 3
    assert runner.done and runner.job_id == job_id and runner.poll() == []
    assert fake.jobs[job_id].request.label == "test" and fake.jobs[job_id].request.inbetween == REQUEST


def test_poll_never_waits(fake):
    fake.script(Started(), Hold(threading.Event()))  # a job that never ends
    runner = runner_for(fake).start()
    poll_until(runner, lambda e: e.message.startswith("started"), "the job to start")
    started = time.monotonic()
    for _ in range(100):
        assert runner.poll() == []
    assert time.monotonic() - started < 0.1
    runner.cancel()
    assert drain(runner)[-1].kind is EventKind.CANCELLED


# -- reconnecting ---------------------------------------------------------------------------------

def test_dropped_streams_are_watched_again_without_a_second_job(fake):
    gates = [threading.Event() for _ in range(3)]
    fake.script(Hold(gates[0]), Started(), Progress(0.3, "a"), DropWatches(), Hold(gates[1]), Progress(0.6, "b"),
                DropWatches(cleanly=True), Hold(gates[2]), Progress(0.9, "c"), Finish())
    runner = runner_for(fake).start()
    for count, gate in enumerate(gates, 1):
        wait_for_watches(fake, count)  # cut with UNAVAILABLE, then ended early: attached again each time
        gate.set()
    events = drain(runner)

    [job_id] = fake.jobs
    assert fake.called("SubmitJob") == [runner.request_id], "submitted once"
    assert fake.called("WatchJob") == [job_id] * 3, "the same job, watched again"
    assert events[-1].kind is EventKind.FINISHED and len(events[-1].result.keyframes) == 2
    fractions = [round(e.fraction, 3) for e in events if e.kind is EventKind.PROGRESS]  # float32 on the wire
    assert fractions == sorted(fractions) and {0.3, 0.6, 0.9, 1.0} <= set(fractions)
    assert sum(e.message.startswith("connection lost, reconnecting to ") for e in events) == 2, kinds(events)
    assert all(a != b for a, b in zip(events, events[1:])), "no event said twice in a row"


def test_the_server_going_away_midway_is_waited_for(fake):
    gates = [threading.Event(), threading.Event()]
    fake.script(Hold(gates[0]), Started(), Progress(0.4, "before"), GoDown(1.0), Hold(gates[1]), Progress(0.8, "after"),
                Finish())
    runner = runner_for(fake).start()
    wait_for_watches(fake, 1)
    gates[0].set()
    wait_for_watches(fake, 2)  # the port closed for a second; the runner came back to the same job
    gates[1].set()
    events = drain(runner)
    assert len(fake.jobs) == 1 and fake.called("WatchJob") == [runner.job_id] * 2
    assert events[-1].kind is EventKind.FINISHED
    assert any(e.message.startswith("connection lost") for e in events)
    messages = [e.message for e in events if e.kind is EventKind.PROGRESS]
    assert messages.index("before") < messages.index("after"), messages


def test_a_lost_submission_answer_is_sent_again_and_makes_no_second_job(fake):
    fake.script(lose_answers=2)  # the server makes the job, the answer never arrives, twice
    runner = runner_for(fake).start()
    events = drain(runner)
    assert len(fake.jobs) == 1
    assert fake.called("SubmitJob") == [runner.request_id] * 3, "three attempts, one request id"
    assert events[0].kind is EventKind.QUEUED and events[0].job_id == next(iter(fake.jobs))
    assert events[-1].kind is EventKind.FINISHED


def test_a_server_unavailable_for_a_while_gets_the_job_once_it_is_back(fake):
    fake.unavailable_for(1.2)
    runner = runner_for(fake).start()
    events = drain(runner)
    attempts = fake.called("SubmitJob")
    assert len(attempts) >= 2 and set(attempts) == {runner.request_id}
    assert len(fake.jobs) == 1 and events[-1].kind is EventKind.FINISHED


# -- cancelling -----------------------------------------------------------------------------------

def test_cancel_once_the_job_runs(fake):
    fake.script(Started(), Progress(0.2, "working", 1, 5), Hold(threading.Event()), Finish())
    runner = runner_for(fake).start()
    seen = poll_until(runner, lambda e: e.message == "step 1/5 working", "the job to make progress")
    runner.cancel()
    runner.cancel()  # a second press changes nothing
    events = drain(runner, events=seen)
    job_id = runner.job_id
    assert events[-1].kind is EventKind.CANCELLED and events[-1].job_id == job_id
    assert fake.jobs[job_id].state == jobs_pb2.JOB_STATE_CANCELLED
    assert fake.called("CancelJob") == [job_id]
    assert EventKind.FINISHED not in [e.kind for e in events] and not fake.called("GetJob")


def test_cancel_before_the_server_has_named_the_job_lands_once_it_has(fake):
    submitted = threading.Event()
    fake.script(Started(), Hold(threading.Event()), Finish(), submit_gate=submitted)
    runner = runner_for(fake).start()
    fake.wait_for(lambda: fake.called("SubmitJob"), "the submission to arrive")
    assert runner.job_id == ""
    runner.cancel()  # the submission is on its way: no id yet
    submitted.set()
    events = drain(runner)
    [job_id] = fake.jobs
    assert fake.called("CancelJob") == [job_id]
    assert fake.jobs[job_id].state == jobs_pb2.JOB_STATE_CANCELLED
    assert events[0].kind is EventKind.QUEUED and events[0].job_id == job_id
    assert events[-1].kind is EventKind.CANCELLED


def test_cancel_before_anything_was_sent_sends_nothing(fake):
    runner = runner_for(fake)
    runner.cancel()
    events = drain(runner.start())
    assert kinds(events) == ["cancelled"] and events[0].job_id == ""
    assert fake.calls == [] and fake.jobs == {}


def test_cancel_after_the_end_changes_nothing(fake):
    runner = runner_for(fake).start()
    events = drain(runner)
    runner.cancel()
    time.sleep(0.1)
    assert events[-1].kind is EventKind.FINISHED and runner.poll() == [] and not fake.called("CancelJob")


# -- failing, and saying why ----------------------------------------------------------------------

@pytest.mark.parametrize("step, state", [(Fail("model 'tiny' has no weights here: inkmotion models pull tiny"), "failed"),
                                         (Interrupt("the server stopped while the job ran"), "interrupted")])
def test_a_job_that_fails_on_the_server_says_its_reason(fake, step, state):
    fake.script(Started(), Progress(0.5, "x"), step)
    events = drain(runner_for(fake).start())
    failed = events[-1]
    assert (failed.kind, failed.state, failed.error, failed.code) == (EventKind.FAILED, state, step.reason, "")
    assert failed.job_id == next(iter(fake.jobs)) and not fake.called("GetJob")


def test_a_refused_submission_is_not_sent_again(fake):
    fake.script(refuse=(grpc.StatusCode.INVALID_ARGUMENT, "inbetween.frames: 500 is over the limit of 128"))
    events = drain(runner_for(fake).start())
    assert kinds(events) == ["failed"]
    assert (events[0].code, events[0].error) == ("INVALID_ARGUMENT", "inbetween.frames: 500 is over the limit of 128")
    assert len(fake.called("SubmitJob")) == 1 and fake.jobs == {}


def test_a_wrong_token_is_said():
    with FakeServer(token="0123456789abcdef") as fake:
        events = drain(JobRunner(lambda: Client(fake.address, token="wrong-token-here"), REQUEST).start())
        assert (events[-1].kind, events[-1].code, events[-1].error) == (EventKind.FAILED, "UNAUTHENTICATED", "unknown token")
        events = drain(JobRunner(lambda: Client(fake.address, token="0123456789abcdef"), REQUEST).start())
        assert events[-1].kind is EventKind.FINISHED


def test_no_server_at_the_address():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    started = time.monotonic()
    events = drain(JobRunner(lambda: Client(address), REQUEST, submit_for=1.0).start())
    assert kinds(events) == ["failed"]
    assert (events[0].code, events[0].error) == ("UNAVAILABLE", f"no InkMotion server answers at {address}")
    assert time.monotonic() - started < 10


def test_a_lost_result_is_said(fake):
    fake.script(result_error=(grpc.StatusCode.DATA_LOSS, "job job1: its result is lost (file missing)"))
    events = drain(runner_for(fake).start())
    assert (events[-1].kind, events[-1].code) == (EventKind.FAILED, "DATA_LOSS")
    assert "result is lost" in events[-1].error and events[-1].job_id == "job1"


def test_a_server_gone_for_longer_than_the_retry_window_is_said(fake):
    gate = threading.Event()
    fake.script(Hold(gate), Started(), GoDown(4.0), Finish())
    runner = runner_for(fake, retry_for=1.0).start()
    wait_for_watches(fake, 1)
    gate.set()
    events = drain(runner)
    assert (events[-1].kind, events[-1].code) == (EventKind.FAILED, "UNAVAILABLE")
    assert events[-1].error.startswith(f"lost the connection to {fake.address} while job {runner.job_id} ran")


def test_a_broken_connect_is_said():
    def connect():
        raise FileNotFoundError("server.pem")

    events = drain(JobRunner(connect, REQUEST).start())
    assert kinds(events) == ["failed"] and "server.pem" in events[0].error and events[0].code == "UNKNOWN"
