"""The executor: one way a job runs, whichever backend holds the device. Its worker half needs
no job store (a remote worker hands back bytes); its server half maps every ending to a state."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from inkmotion import tasks
from inkmotion.codec.drawing import Drawing, Stroke
from inkmotion.codec.proto import drawing_to_proto
from inkmotion.errors import Cancelled, InvalidInput
from inkmotion.events import EventHub
from inkmotion.executor import Attempt, Executor, execute
from inkmotion.jobs import CANCELLED, FAILED, INTERRUPTED, QUEUED, RUNNING, SUCCEEDED, open_data_dir
from inkmotion.limits import Limits
from inkmotion.pipelines.base import Progress
from inkmotion.v1 import animation_service_pb2 as service_pb2
from inkmotion.v1 import drawing_pb2, tasks_pb2


def _key(frame: int, x: float) -> drawing_pb2.Keyframe:
    points = np.array([[x, 10.0], [x + 20.0, 30.0], [x + 40.0, 10.0]], np.float32)
    return drawing_pb2.Keyframe(frame=frame, drawing=drawing_to_proto(Drawing(100, 60, [Stroke(points, np.full(3, 2, np.float32), np.ones(3, np.float32))])))


def _submission() -> service_pb2.SubmitJobRequest:
    return service_pb2.SubmitJobRequest(inbetween=tasks_pb2.InbetweenRequest(start=_key(1, 10.0), end=_key(5, 40.0)))


def test_the_worker_half_runs_a_checked_job_to_wire_keyframes_without_a_store():
    checked = tasks.check_submission(_submission(), Limits())
    heard: list[Progress] = []
    result = execute(checked, "cpu", heard.append)
    assert result.info.keyframe_count == len(result.keyframes) == 5
    frames = [drawing_pb2.Keyframe.FromString(k).frame for k in result.keyframes]
    assert frames == [1, 2, 3, 4, 5]
    assert heard and heard[-1].step == heard[-1].total


@pytest.fixture()
def executor(tmp_path):
    loop = asyncio.new_event_loop()
    store = open_data_dir(tmp_path / "data")
    yield Executor(store, EventHub(loop), Limits(), lambda job_id: 0, max_attempts=2)
    store.close()
    loop.close()


def _running_job(executor: Executor) -> Attempt:
    submission = _submission()
    record = executor.store.create("ann", tasks_pb2.TASK_INBETWEEN, submission.SerializeToString(), model="stroke-match")
    assert executor.store.mark_running(record.id, "cpu")
    return Attempt(record.id, "cpu")


def test_a_job_queued_before_a_restart_is_decoded_again_and_runs_to_its_result(executor):
    attempt = _running_job(executor)
    executor.run(attempt, None)  # nothing handed over: decoded from the stored request
    record = executor.store.get(attempt.job_id)
    assert record.state == SUCCEEDED
    assert len(list(executor.store.keyframes(attempt.job_id))) == 5


@pytest.mark.parametrize("raised, state, error", [
    (Cancelled(), CANCELLED, ""),
    (InvalidInput("inbetween.start", "no strokes"), FAILED, "inbetween.start: no strokes"),
    (RuntimeError("CUDA out of memory"), FAILED, "RuntimeError: CUDA out of memory"),
])
def test_every_way_a_run_ends_is_a_state_with_its_reason(executor, raised, state, error):
    attempt = _running_job(executor)
    executor.ended(attempt, raised)
    record = executor.store.get(attempt.job_id)
    assert (record.state, record.error) == (state, error)


def test_a_run_stopped_by_a_shutdown_goes_back_in_the_queue_until_out_of_attempts(executor):
    attempt = _running_job(executor)
    attempt.shutdown = True
    executor.ended(attempt, Cancelled())
    assert executor.store.get(attempt.job_id).state == QUEUED
    assert executor.store.mark_running(attempt.job_id, "cpu")  # attempt 2 of 2
    executor.ended(attempt, Cancelled())
    record = executor.store.get(attempt.job_id)
    assert record.state == INTERRUPTED and "2 attempts" in record.error


def test_a_cancelled_job_stops_at_its_next_step(executor):
    attempt = _running_job(executor)
    executor.prepare(attempt, None)
    executor.progress(attempt, Progress(1, 4, "step"))
    assert executor.store.get(attempt.job_id).state == RUNNING
    attempt.cancel.set()
    with pytest.raises(Cancelled):
        executor.progress(attempt, Progress(2, 4, "step"))
