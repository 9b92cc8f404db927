"""Talking to the server without blocking Blender: capabilities, and jobs watched from a thread.

The vendored client (`._client`) is synchronous; a `RemoteJob` runs submit -> watch -> result on a
worker thread and hands what happens to the main thread through a queue, which a modal operator
(or a blocking loop in background mode) drains with `poll()`. No `bpy` here: only Blender's main
thread may touch Blender data, so this module never does.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

from ._client.client import TERMINAL_STATES, Client, InkMotionError, event_kind, state_name
from ._client.v1 import jobs_pb2, tasks_pb2

# The four actions of the add-on and the task each needs from the server.
TASK_NAMES = {
    tasks_pb2.TASK_TEXT_MOTION: "Text motion",
    tasks_pb2.TASK_INBETWEEN: "Inbetween",
    tasks_pb2.TASK_PATH_MOTION: "Path motion",
    tasks_pb2.TASK_VIDEO_MOTION: "Video motion",
}


@dataclass(frozen=True)
class Connection:
    """Where the server is and how to reach it (from the add-on preferences)."""

    address: str
    token: str = ""
    tls_cert: str = ""  # a PEM file of the server's CA; set: connect with TLS

    def client(self, timeout: float = 30.0) -> Client:
        return Client(self.address, token=self.token or None, tls=bool(self.tls_cert),
                      root_certificates=self.tls_cert or None, timeout=timeout)


# -- capabilities, cached per connection --------------------------------------------------------

class Capabilities:
    """The last `GetCapabilities` answer (or error), fetched on a thread so drawing never waits."""

    def __init__(self):
        self.connection: Connection | None = None
        self.response = None
        self.error: str = ""
        self.fetched_at = 0.0
        self._thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def refresh(self, connection: Connection, wait: bool = False, timeout: float = 5.0) -> None:
        if self.busy:
            if wait:
                self._thread.join(timeout + 1)
            return

        def fetch():
            try:
                with connection.client(timeout=timeout) as client:
                    response, error = client.capabilities(), ""
            except InkMotionError as exc:
                response, error = None, _describe(exc, connection)
            except Exception as exc:  # a bad certificate path, a malformed address
                response, error = None, f"cannot connect to {connection.address}: {exc}"
            self.connection, self.response, self.error, self.fetched_at = connection, response, error, time.monotonic()

        self._thread = threading.Thread(target=fetch, name="inkmotion-capabilities", daemon=True)
        self._thread.start()
        if wait:
            self._thread.join(timeout + 1)

    def known_for(self, connection: Connection) -> bool:
        return self.connection == connection and self.fetched_at > 0

    def task_reason(self, task: int, connection: Connection) -> str | None:
        """Why `task` cannot run on this server, or None when it can (or nothing is known yet)."""
        if not self.known_for(connection):
            return None
        if self.response is None:
            return self.error
        return task_reason(self.response, task)


def task_reason(response, task: int) -> str | None:
    name = TASK_NAMES.get(task, str(task))
    for info in response.tasks:
        if info.task == task:
            if info.available:
                return None
            return f"{name}: {info.unavailable_reason or 'not available on this server'}"
    return f"{name}: the server (version {response.server_version or '?'}) does not offer this task"


CAPABILITIES = Capabilities()


def _describe(error: InkMotionError, connection: Connection) -> str:
    if error.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
        return f"no InkMotion server answers at {connection.address}"
    if error.code == "UNAUTHENTICATED":
        return f"the server at {connection.address} refused the token: {error.message}"
    return error.message


# -- jobs ----------------------------------------------------------------------------------------

class RemoteJob:
    """One server job: submitted, watched (reconnecting when the connection drops) and, when it
    succeeds, its result fetched, all on a worker thread. The main thread calls `poll()`.

    After `done`: `result` (a client `Result`) on success, else `error` says why (`cancelled` true
    when it was cancelled).
    """

    def __init__(self, connection: Connection, request, label: str = "", retry_for: float = 60.0):
        self.connection = connection
        self.request = request
        self.label = label
        self.retry_for = retry_for
        self.job_id = ""
        self.state = "submitting"
        self.fraction = 0.0
        self.message = "submitting"
        self.result = None
        self.error = ""
        self.cancelled = False
        self.done = False
        self._events: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._client: Client | None = None
        self._thread = threading.Thread(target=self._run, name="inkmotion-job", daemon=True)

    def start(self) -> "RemoteJob":
        self._thread.start()
        return self

    # -- worker thread --

    def _run(self) -> None:
        try:
            self._client = client = self.connection.client()
            job = client.submit(self.request, label=self.label)
            self._events.put(("submitted", job))
            if self._cancel.is_set():
                client.cancel(job.id)
            final = job
            for event in client.watch(job.id, retry_for=self.retry_for):
                final = event.job
                self._events.put(("event", event))
            if final.state == jobs_pb2.JOB_STATE_SUCCEEDED:
                self._events.put(("result", client.result(job.id)))
            else:
                self._events.put(("ended", final))
        except InkMotionError as exc:
            self._events.put(("error", _describe(exc, self.connection)))
        except Exception as exc:  # keep the main thread informed whatever happens here
            self._events.put(("error", f"{type(exc).__name__}: {exc}"))
        finally:
            if self._client is not None:
                self._client.close()

    # -- main thread --

    def cancel(self) -> None:
        """Ask the server to cancel the job; `poll()` reports when it has."""
        if self._cancel.is_set() or self.done:
            return
        self._cancel.set()
        self.message = "cancelling"
        if self.job_id:
            job_id = self.job_id

            def cancel():
                try:
                    with self.connection.client(timeout=10.0) as client:
                        client.cancel(job_id)
                except InkMotionError:
                    pass  # already ended, or the server is gone: the watch says which

            threading.Thread(target=cancel, name="inkmotion-cancel", daemon=True).start()

    def poll(self) -> bool:
        """Take in what happened since the last call; true if anything did."""
        changed = False
        while True:
            try:
                kind, payload = self._events.get_nowait()
            except queue.Empty:
                return changed
            changed = True
            if kind == "submitted":
                self.job_id, self.state, self.message = payload.id, state_name(payload.state), "queued"
            elif kind == "event":
                self._take_event(payload)
            elif kind == "result":
                self.result, self.fraction, self.state, self.message, self.done = payload, 1.0, "succeeded", "done", True
            elif kind == "ended":
                self.state = state_name(payload.state)
                self.cancelled = payload.state == jobs_pb2.JOB_STATE_CANCELLED
                self.error = "cancelled" if self.cancelled else f"job {payload.id} {self.state}: {payload.error or payload.message}"
                self.done = True
            elif kind == "error":
                self.error, self.state, self.done = payload, "failed", True

    def _take_event(self, event) -> None:
        job, kind = event.job, event_kind(event)
        self.state = state_name(job.state)
        if kind == "queued":
            self.message = f"queued, {event.queued.position} ahead" if event.queued.position else "queued"
        elif kind == "started":
            self.message = f"started on {event.started.device}"
        elif kind == "progress":
            p = event.progress
            self.fraction = float(p.fraction)
            self.message = (f"step {p.step}/{p.total_steps} {p.message}" if p.total_steps else p.message).strip()
        elif job.state in TERMINAL_STATES:
            self.message = self.state

    def wait(self, timeout: float = 0.0, on_update=None, interval: float = 0.05) -> None:
        """Block until done (for background mode). Past `timeout` seconds (0: none) the server job is
        cancelled and this waits for the cancellation to land."""
        started = time.monotonic()
        while not self.done:
            if self.poll() and on_update is not None:
                on_update(self)
            if timeout and time.monotonic() - started > timeout and not self._cancel.is_set():
                self.cancel()
            time.sleep(interval)
        if on_update is not None:
            on_update(self)
