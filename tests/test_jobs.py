"""The SQLite job store: queue order, state changes that refuse the wrong state, restart recovery."""

from __future__ import annotations

from inkmotion.jobs import CANCELLED, FAILED, INTERRUPTED, QUEUED, RUNNING, SUCCEEDED, JobStore
from inkmotion.scheduling import FairQueue
from inkmotion.v1 import drawing_pb2, tasks_pb2

INBETWEEN = tasks_pb2.TASK_INBETWEEN


def test_queue_runs_higher_priority_first_then_in_order(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    a = store.create("ann", INBETWEEN, b"a")
    b = store.create("bob", INBETWEEN, b"b", priority=5)
    c = store.create("ann", INBETWEEN, b"c")
    assert [j.id for j in store.queued()] == [a.id, b.id, c.id], "the store lists them as they came"
    queue = FairQueue.load(store)  # the order they run in is the fair queue's
    assert queue.order() == [b.id, a.id, c.id]
    assert [queue.position(j.id) for j in (b, a, c)] == [0, 1, 2]
    assert store.request(c.id) == b"c"


def test_state_changes_only_from_the_right_state(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    job = store.create("ann", INBETWEEN, b"r")
    assert store.mark_running(job.id, "cpu")
    assert not store.mark_running(job.id, "cuda:0"), "a job is claimed once"
    assert store.get(job.id).attempts == 1
    store.set_progress(job.id, 0.5, 3, 6, "halfway")
    got = store.get(job.id)
    assert (got.state, got.progress, got.step, got.total_steps, got.message) == (RUNNING, 0.5, 3, 6, "halfway")
    assert store.finish(job.id, CANCELLED)
    assert not store.finish(job.id, FAILED, error="late"), "an ended job stays ended"
    assert store.get(job.id).state == CANCELLED


def test_result_is_stored_with_the_success(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    job = store.create("ann", INBETWEEN, b"r")
    store.mark_running(job.id, "cpu")
    info = drawing_pb2.AnimationInfo(width=5, height=6, fps=24, keyframe_count=2)
    assert store.save_result(job.id, info, [b"one", b"two"])
    assert list(store.keyframes(job.id)) == [b"one", b"two"]
    proto = store.get(job.id).to_proto()
    assert proto.state == SUCCEEDED and proto.result.keyframe_count == 2 and proto.progress == 1.0
    queued = store.create("ann", INBETWEEN, b"r")
    assert not store.save_result(queued.id, info, [b"x"]), "only a running job can succeed"
    assert not store.result_path(queued.id).exists()


def test_recovery_requeues_once_then_interrupts(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    store = JobStore(path)
    job = store.create("ann", INBETWEEN, b"r")
    store.mark_running(job.id, "cpu")
    store.close()

    store = JobStore(path)  # "after a crash"
    assert store.recover(max_attempts=2) == ([job.id], [])
    assert store.get(job.id).state == QUEUED
    store.mark_running(job.id, "cpu")
    store.close()

    store = JobStore(path)
    assert store.recover(max_attempts=2) == ([], [job.id])
    got = store.get(job.id)
    assert got.state == INTERRUPTED and "2 attempts" in got.error


def test_list_filters_by_owner_and_state_and_pages(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    ids = [store.create("ann" if i % 2 else "bob", INBETWEEN, b"r").id for i in range(7)]
    store.finish(ids[1], CANCELLED)
    anns = store.list("ann")
    assert [j.id for j in anns] == [ids[5], ids[3], ids[1]]
    assert [j.id for j in store.list("ann", [CANCELLED])] == [ids[1]]
    first = store.list(None, limit=4)
    rest = store.list(None, limit=4, before_seq=first[-1].seq)
    assert [j.id for j in first + rest] == ids[::-1]
