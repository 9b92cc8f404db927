"""Checks in their own processes (inkmotion.checking): the same verdicts as in-process, a child that
dies or hangs replaced, and the top level of a submission read without parsing it."""

from __future__ import annotations

import asyncio
import os
import random
import signal

import pytest

from harness import inbetween_request
from inkmotion import checking, tasks
from inkmotion.checking import CheckPool, read_envelope
from inkmotion.codec import Drawing, Stroke
from inkmotion.errors import InvalidInput
from inkmotion.limits import Limits
from inkmotion.v1 import animation_service_pb2 as service_pb2
from inkmotion.v1 import drawing_pb2, tasks_pb2


def _drawing(x: float) -> Drawing:
    return Drawing(64, 64, [Stroke.from_points([[x, 10.0], [x + 20, 30.0], [x + 10, 50.0]], radius=1.0)])


def _submission(frames: int = 5, **fields) -> service_pb2.SubmitJobRequest:
    return service_pb2.SubmitJobRequest(inbetween=inbetween_request(_drawing(5), _drawing(20), frames=frames), **fields)


def _pool_run(coroutine_of):
    """Run `coroutine_of(pool)` against a started pool of one child, then close it."""
    async def main():
        pool = CheckPool(1, Limits(), [], budget_seconds=5.0)
        pool.start()
        try:
            return await coroutine_of(pool)
        finally:
            pool.close()

    return asyncio.run(main())


def test_a_child_decodes_as_the_server_would_and_refuses_in_the_same_words():
    good, bad = _submission(), _submission(frames=500)

    async def both(pool):
        checked = await pool.check(good.SerializeToString())
        with pytest.raises(InvalidInput) as info:
            await pool.check(bad.SerializeToString())
        return checked, str(info.value)

    checked, refusal = _pool_run(both)
    here = tasks.check_submission(good, Limits())
    assert checked.spec is here.spec and checked.model == here.model and checked.request is None
    assert checked.inputs.request is None, "the request stays behind; the worker puts it back"
    for a, b in ((checked.inputs.start, here.inputs.start), (checked.inputs.end, here.inputs.end)):
        assert [s.points.tolist() for s in a.strokes] == [s.points.tolist() for s in b.strokes]
    assert checked.with_request(good.inbetween).inputs.request == here.inputs.request
    with pytest.raises(InvalidInput) as info:
        tasks.check_submission(bad, Limits())
    assert refusal == str(info.value)


def test_bytes_that_do_not_parse_are_refused_naming_the_request():
    data = _submission().SerializeToString()

    async def check(pool):
        with pytest.raises(InvalidInput, match="request: not a valid inkmotion.v1.SubmitJobRequest"):
            await pool.check(data[:-3])

    _pool_run(check)


def test_a_child_that_dies_is_replaced():
    data = _submission().SerializeToString()

    async def kill_one(pool):
        await pool.check(data)
        os.kill(pool._children[0].process.pid, signal.SIGKILL)
        with pytest.raises(checking.CheckerLost, match="died"):
            await pool.check(data)
        return await pool.check(data)  # a fresh child answers

    assert _pool_run(kill_one).model == "stroke-match"


def test_a_child_past_its_backstop_is_stopped_and_the_caller_told(monkeypatch):
    monkeypatch.setattr(checking, "BACKSTOP_SECONDS", 0.5)
    data = _submission().SerializeToString()

    async def hang_one(pool):
        pool.budget = 0.5
        await pool.check(data)
        stuck = pool._children[0].process
        os.kill(stuck.pid, signal.SIGSTOP)  # a check that never gives its thread back
        with pytest.raises(InvalidInput, match="took more than the 0.5 s allowed to check it"):
            await pool.check(data)
        assert not stuck.is_alive(), "the stuck child is gone"
        return await pool.check(data)

    assert _pool_run(hang_one).model == "stroke-match"


# -- the envelope ------------------------------------------------------------------------------

def _random_submission(rng: random.Random) -> service_pb2.SubmitJobRequest:
    submission = service_pb2.SubmitJobRequest(
        priority=rng.choice([0, 1, -1, 10, -10, 2**31 - 1, -(2**31), rng.randint(-50, 50)]),
        label=rng.choice(["", "a shot", "ünïcödé 🎞", "x" * rng.randint(0, 900)]),
        request_id=rng.choice(["", "id-1", "ид-" + "😀" * rng.randint(0, 200), "r" * rng.randint(0, 700)]),
    )
    which = rng.choice(["text_motion", "inbetween", "raster_text_motion", None])
    if which == "text_motion":
        submission.text_motion.prompt = "jumps"
        submission.text_motion.sketch_svg = "<svg/>" * rng.randint(0, 50)
    elif which == "inbetween":
        submission.inbetween.frames = rng.randint(0, 9)
    elif which == "raster_text_motion":
        submission.raster_text_motion.sketch.CopyFrom(drawing_pb2.Raster(png=b"\x89PNG" * 10))
    return submission


def test_the_envelope_reads_what_protobuf_reads():
    rng = random.Random(10)
    for _ in range(400):
        submission = _random_submission(rng)
        data = submission.SerializeToString()
        envelope = read_envelope(data)
        assert envelope.task == submission.WhichOneof("task")
        assert envelope.priority == submission.priority
        assert envelope.request_id_bytes == len(submission.request_id.encode())
        assert envelope.request_id == (submission.request_id if envelope.request_id_bytes <= checking.MAX_ID_BYTES else "")
        assert envelope.label_bytes == len(submission.label.encode())
        assert envelope.label == (submission.label if envelope.label_bytes <= checking.MAX_LABEL_BYTES else "")


def test_the_envelope_takes_the_last_task_and_skips_unknown_fields():
    text = service_pb2.SubmitJobRequest(text_motion=tasks_pb2.TextMotionRequest(prompt="p")).SerializeToString()
    inbetween = _submission(request_id="abc").SerializeToString()
    unknown = bytes([15 << 3 | 0, 5, 14 << 3 | 5, 0, 0, 0, 0, 13 << 3 | 1]) + bytes(8)  # fields this contract lacks
    data = text + unknown + inbetween
    assert service_pb2.SubmitJobRequest.FromString(data).WhichOneof("task") == "inbetween"
    envelope = read_envelope(data)
    assert (envelope.task, envelope.request_id) == ("inbetween", "abc")


@pytest.mark.parametrize("data", [b"\x0a\xff\xff\xff\xff\x0f", b"\x0a\x05abc", b"\x62\x02\xff\xfe", b"\x0b", b"\x80"],
                         ids=["length past the end", "short field", "id not UTF-8", "group", "cut varint"])
def test_a_broken_envelope_is_a_value_error(data):
    with pytest.raises(ValueError):
        read_envelope(data)
