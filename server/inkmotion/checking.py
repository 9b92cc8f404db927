"""Submission checks in worker processes, so that no check can hold the server's event loop.

Checking a submission means parsing and decoding what it carries: an SVG read, a PNG decoded, line
art traced. Much of that is C code that holds the interpreter lock for as long as it runs (reading
one 57 MB string field of a message alone takes 0.2 s), so in a thread of the server it would
stall every RPC for that long. Each check runs instead in one of a few child processes, started
once with the server's plugins loaded, under the time budget of `inkmotion.budget` inside and a
backstop outside: a child past the backstop is killed and replaced. What comes back are the
decoded inputs (`tasks.Checked`), which the worker runs on as they are.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection

from inkmotion import tasks
from inkmotion.errors import InvalidInput
from inkmotion.jobs import decode_varint
from inkmotion.limits import Limits
from inkmotion.v1 import animation_service_pb2 as service_pb2

log = logging.getLogger("inkmotion.checking")

BACKSTOP_SECONDS = 5.0  # past the budget, before a child is killed
START_SECONDS = 120.0  # for a child to import and load the plugins
CHECK_NICENESS = 10


class CheckPool:
    """`size` child processes that check submissions, one at a time each."""

    def __init__(self, size: int, limits: Limits, plugins: list[str], budget_seconds: float):
        self.size = size
        self.limits = limits
        self.plugins = list(plugins)
        self.budget = budget_seconds
        self._context = multiprocessing.get_context("spawn")  # no copy of the server's threads and sockets
        self._idle: asyncio.Queue[_Child] | None = None
        self._children: list[_Child] = []
        self._starting: list[asyncio.Future] = []
        self._closed = False
        self.failure: str | None = None  # why a check process could not start

    def start(self) -> None:
        """Start the children in the background (on the loop's threads); the first checks wait
        for them. A child that cannot start is logged, and checks fail saying so."""
        self._idle = asyncio.Queue()
        self._starting = [asyncio.ensure_future(self._add()) for _ in range(self.size)]

    async def _add(self) -> None:
        try:
            self._idle.put_nowait(await asyncio.to_thread(self._spawn))
        except Exception as exc:  # noqa: BLE001 - said in the log and to every submitter
            self.failure = str(exc)
            log.error("%s", exc)

    def _spawn(self) -> "_Child":
        child = _Child(self._context, self.limits, self.plugins)
        self._children.append(child)
        return child

    async def check(self, data: bytes) -> tasks.Checked:
        """The serialized submission `data`, checked in a child. Raises InvalidInput or
        tasks.TaskUnavailable as the check in-process would. The task request stays in the child
        (`Checked.request` is None; `Checked.with_request` puts it back where it runs)."""
        child = await self._free_child()
        try:
            outcome = await asyncio.to_thread(child.call, data, self.budget, self.budget + BACKSTOP_SECONDS)
        except _ChildLost as exc:
            await self._replace(child, str(exc))
            if exc.timed_out:
                raise InvalidInput("request", f"took more than the {self.budget:g} s allowed to check it; "
                                              "send a simpler or smaller input") from None
            raise CheckerLost(f"the process checking it {exc}; submit it again") from None
        except asyncio.CancelledError:  # the caller left; the thread still reads the answer, and
            self._idle.put_nowait(child)  # the child's lock makes the next call wait for that
            raise
        self._idle.put_nowait(child)
        kind, *rest = outcome
        if kind == "ok":
            field, model, inputs, warnings = rest
            return tasks.Checked(tasks.get(field), None, model, inputs, warnings)
        if kind == "invalid":
            raise InvalidInput(*rest)
        if kind == "unavailable":
            raise tasks.TaskUnavailable(*rest)
        raise RuntimeError(f"checking the submission failed in the check process:\n{rest[0]}")

    async def _free_child(self) -> "_Child":
        while True:
            if self.failure is not None:
                raise CheckerLost(self.failure)
            try:
                return await asyncio.wait_for(self._idle.get(), 1.0)
            except asyncio.TimeoutError:
                continue

    async def _replace(self, child: "_Child", why: str) -> None:
        """A child that is dead, stuck or mid-answer goes; a fresh one takes its place."""
        self._children.remove(child)
        await asyncio.to_thread(child.kill)
        if self._closed:
            return
        log.warning("a check process %s; starting another", why)
        await self._add()

    def close(self) -> None:
        self._closed = True
        for task in self._starting:
            task.cancel()
        for child in self._children:
            child.kill()
        self._children.clear()


class CheckerLost(Exception):
    """No check process could answer (one died, or none could start): the server's fault, not
    the submission's (answered UNAVAILABLE)."""


class _ChildLost(Exception):
    def __init__(self, what: str, timed_out: bool = False):
        super().__init__(what)
        self.timed_out = timed_out


class _Child:
    """One check process and its end of a pipe; `call` runs one check (from one thread at a time)."""

    def __init__(self, context, limits: Limits, plugins: list[str]):
        self.conn, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs, limits, plugins), name="inkmotion-check",
                                       daemon=True)
        self.process.start()
        # Niced from the start (its imports too): on a busy machine the server's own threads come first.
        os.setpriority(os.PRIO_PROCESS, self.process.pid, CHECK_NICENESS)
        theirs.close()
        self._lock = threading.Lock()
        if not self.conn.poll(START_SECONDS):
            self.kill()
            raise RuntimeError(f"a check process did not start within {START_SECONDS:g} s")
        ready = self.conn.recv()
        if ready != "ready":
            self.kill()
            raise RuntimeError(f"a check process could not start: {ready}")

    def call(self, data: bytes, budget: float, backstop: float):
        with self._lock:
            try:
                self.conn.send((data, budget))
                if not self.conn.poll(backstop):
                    self.process.kill()  # its late answer must never be read as the next call's
                    raise _ChildLost(f"took over {backstop:g} s (its budget is {budget:g} s) and was stopped",
                                     timed_out=True)
                return self.conn.recv()
            except (EOFError, OSError) as exc:
                raise _ChildLost(f"died ({type(exc).__name__}: exit code {self.process.exitcode})") from None

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


def _serve(conn: Connection, limits: Limits, plugins: list[str]) -> None:
    """A check process: load what the server loaded, then check submissions until the pipe closes."""
    import traceback

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        tasks.load_plugins(plugins)
    except Exception as exc:  # noqa: BLE001 - said to the server, which refuses to start
        conn.send(f"{type(exc).__name__}: {exc}")
        return
    conn.send("ready")
    while True:
        try:
            data, budget = conn.recv()
        except EOFError:
            return
        try:
            try:
                submission = service_pb2.SubmitJobRequest.FromString(data)
            except Exception as exc:  # noqa: BLE001 - DecodeError and friends: the caller's bytes
                raise InvalidInput("request", f"not a valid {service_pb2.SubmitJobRequest.DESCRIPTOR.full_name} "
                                              f"({type(exc).__name__}: {exc or 'truncated or corrupt'})") from None
            checked = tasks.check_with_budget(submission, limits, budget)
            # The task request is left behind: the server has its bytes, and one parse of a 64 MB
            # message would hold its interpreter lock longer than a health check may wait.
            reply = ("ok", checked.spec.name, checked.model, checked.with_request(None).inputs, checked.warnings)
        except InvalidInput as exc:
            reply = ("invalid", exc.field, exc.problem)
        except tasks.TaskUnavailable as exc:
            reply = ("unavailable", str(exc))
        except Exception:  # noqa: BLE001 - a bug in a check: the server logs it, the caller is told
            reply = ("error", traceback.format_exc())
        conn.send(reply)


# -- what the server reads of a submission itself --------------------------------------------

@dataclass(frozen=True)
class Envelope:
    """The top-level fields of a serialized SubmitJobRequest, read without parsing its task (a
    parse, or one read of a long string field, holds the interpreter lock for as long as the
    message is large). A string over its limit is not decoded: only its size in bytes is kept."""

    task: str | None  # the oneof field set last, as protobuf reads it; None if none
    priority: int
    request_id: str
    request_id_bytes: int
    label: str
    label_bytes: int


_TASK_FIELDS = {f.number: f.name for f in service_pb2.SubmitJobRequest.DESCRIPTOR.oneofs_by_name["task"].fields}
_NUMBERS = {f.name: f.number for f in service_pb2.SubmitJobRequest.DESCRIPTOR.fields}
MAX_ID_BYTES = 4 * tasks.MAX_REQUEST_ID  # UTF-8 is at most 4 bytes a character
MAX_LABEL_BYTES = 4 * tasks.MAX_LABEL


def read_envelope(data: bytes) -> Envelope:
    """Envelope of `data`; ValueError if the top level is not protobuf wire format, or a string
    read is not UTF-8. Costs a step per top-level field, whatever the size of the task."""
    task, priority, request_id, id_bytes, label, label_bytes = None, 0, "", 0, "", 0
    pos, end = 0, len(data)
    while pos < end:
        key, pos = decode_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = decode_varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            size, pos = decode_varint(data, pos)
            start, pos = pos, pos + size
        else:
            raise ValueError(f"field {number} has wire type {wire}, which SubmitJobRequest does not use")
        if pos > end or number == 0:
            raise ValueError("truncated or corrupt")
        if number in _TASK_FIELDS and wire == 2:
            task = _TASK_FIELDS[number]
        elif number == _NUMBERS["priority"] and wire == 0:
            value &= 0xFFFFFFFF  # int32 on the wire: the low 32 bits, sign-extended
            priority = value - (1 << 32) if value >= 1 << 31 else value
        elif number == _NUMBERS["request_id"] and wire == 2:
            id_bytes = size
            request_id = data[start:pos].decode("utf-8") if size <= MAX_ID_BYTES else ""
        elif number == _NUMBERS["label"] and wire == 2:
            label_bytes = size
            label = data[start:pos].decode("utf-8") if size <= MAX_LABEL_BYTES else ""
    return Envelope(task, priority, request_id, id_bytes, label, label_bytes)

