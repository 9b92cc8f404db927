"""A shared server is fair to every user (issue 10, point 6), over real gRPC.

One user's long queue does not delay another's job; priority and queued jobs are capped per user
(the token file can grant more); a submission retried with its request id is the same job.
"""

from __future__ import annotations

import threading
import time

import pytest

from harness import ServerProcess, inbetween_request
from inkmotion.client import Client, InkMotionError
from inkmotion.codec import Drawing, Stroke
from inkmotion.v1 import jobs_pb2

TOKENS = {
    "ann": ("ann-token-0123456789abcdef", ""),
    "bob": ("bob-token-0123456789abcdef", "max-queued=3"),
    "farm": ("farm-token-0123456789abcdef", "max-priority=10"),
}
ANN_JOBS = 60
S = jobs_pb2


def _drawing(x: float) -> Drawing:
    return Drawing(64, 64, [Stroke.from_points([[x, 10.0], [x + 20, 30.0], [x + 10, 50.0]], radius=1.0)])


def _request(n: int = 0, model: str = "test-slow", frames: int = 3):
    return inbetween_request(_drawing(5 + n % 20), _drawing(20 + n % 20), frames=frames, model=model)


def _hold_the_device(client: Client) -> None:
    """Start a job that holds the device for seconds (what comes after stays queued) yet cancels
    within a step; return once it runs (a job left by the test before may still be ending)."""
    job = client.submit(_request(model="test-slow", frames=120))
    deadline = time.monotonic() + 30
    while client.job(job.id).state != S.JOB_STATE_RUNNING:
        assert time.monotonic() < deadline, "the device-holding job did not start within 30 s"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fair")
    tokens = folder / "tokens"
    tokens.write_text("".join(f"{user} {token} {options}\n" for user, (token, options) in TOKENS.items()))
    tokens.chmod(0o600)
    with ServerProcess(folder / "data", "--token-file", str(tokens), "--max-queued-per-user", "200",
                       env={"INKMOTION_TEST_STEP_SECONDS": "0.05"}) as server:
        yield server


def _client(studio, user: str) -> Client:
    return Client(studio.address, token=TOKENS[user][0])


@pytest.fixture(autouse=True)
def _leave_the_queue_empty(studio):
    """Each test starts with an empty queue: whatever one leaves queued or running is cancelled."""
    yield
    for user in TOKENS:
        with _client(studio, user) as client:
            for job in client.jobs(states=[S.JOB_STATE_QUEUED, S.JOB_STATE_RUNNING]):
                client.cancel(job.id)


def test_one_users_long_queue_does_not_delay_another(studio):
    with _client(studio, "ann") as ann, _client(studio, "bob") as bob:
        ann_ids = [ann.submit(_request(i)).id for i in range(ANN_JOBS)]
        mine = bob.submit(_request(99))
        assert mine.queue_position <= 2, "Bob's job is queued behind at most Ann's next one"
        deadline = time.monotonic() + 60
        while (job := bob.job(mine.id)).state == S.JOB_STATE_QUEUED:
            assert time.monotonic() < deadline, "Bob's job did not start within 60 s"
            time.sleep(0.05)
        started = job.started_at.ToNanoseconds()
        anns = [ann.job(i) for i in ann_ids]
        before_bob = [j for j in anns if j.started_at.ToNanoseconds()
                      and mine.created_at.ToNanoseconds() < j.started_at.ToNanoseconds() < started]
        assert len(before_bob) <= 1, f"{len(before_bob)} of Ann's jobs started while Bob's waited"
        assert sum(j.state == S.JOB_STATE_QUEUED for j in anns) > ANN_JOBS // 2, "Ann's queue was still long"


def test_a_plain_user_cannot_jump_the_queue_but_a_granted_one_can(studio):
    with _client(studio, "ann") as ann, _client(studio, "farm") as farm:
        with pytest.raises(InkMotionError) as info:
            ann.submit(_request(), priority=10)
        assert info.value.code == "INVALID_ARGUMENT"
        assert "priority: 10 is over the limit of 0 for user 'ann'" in info.value.message
        waiting = [ann.submit(_request(i)) for i in range(4)]
        urgent = farm.submit(_request(), priority=10)
        assert urgent.priority == 10 and urgent.queue_position < max(j.queue_position for j in waiting)


def test_queued_jobs_are_capped_per_user_by_name(studio):
    with _client(studio, "bob") as bob, _client(studio, "ann") as ann:
        _hold_the_device(ann)
        held = [bob.submit(_request(i)) for i in range(3)]
        with pytest.raises(InkMotionError) as info:
            bob.submit(_request(3))
        assert info.value.code == "RESOURCE_EXHAUSTED"
        assert "user 'bob' has 3 jobs queued, the limit of 3" in info.value.message
        assert ann.submit(_request(4)).state == S.JOB_STATE_QUEUED, "the limit is Bob's, not the server's"
        bob.cancel(held[0].id)
        assert bob.submit(_request(5)).state == S.JOB_STATE_QUEUED, "a freed place can be used again"


def test_submissions_sent_together_do_not_overrun_the_limit(studio):
    with _client(studio, "bob") as bob, _client(studio, "ann") as ann:
        _hold_the_device(ann)
        outcomes: list[str] = []

        def submit(n: int) -> None:
            try:
                bob.submit(_request(n))
                outcomes.append("queued")
            except InkMotionError as exc:
                outcomes.append(exc.code)

        threads = [threading.Thread(target=submit, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(outcomes) == ["RESOURCE_EXHAUSTED"] * 5 + ["queued"] * 3


def test_a_retried_submission_is_the_same_job(studio):
    with _client(studio, "ann") as ann, _client(studio, "bob") as bob:
        request = _request(model="")
        first = ann.submit(request, request_id="ann-retry-1")
        again = ann.submit(request, request_id="ann-retry-1")
        assert again.id == first.id
        assert ann.wait(first.id).state == S.JOB_STATE_SUCCEEDED
        assert ann.submit(request, request_id="ann-retry-1").id == first.id, "after it finished, too"
        assert [j.id for j in ann.jobs() if j.id == first.id] == [first.id], "listed once"
        with pytest.raises(InkMotionError) as info:
            ann.submit(_request(7, model=""), request_id="ann-retry-1")
        assert info.value.code == "INVALID_ARGUMENT"
        assert f"request_id: 'ann-retry-1' was used for job {first.id} with a different request" in info.value.message
        theirs = bob.submit(request, request_id="ann-retry-1")
        assert theirs.id != first.id, "request ids are each user's own"
        bob.wait(theirs.id)
