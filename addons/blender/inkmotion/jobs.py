"""Talking to the server without blocking Blender: capabilities, and jobs watched from a thread.

The vendored client (`._client`) runs each job on a thread of its own (`JobRunner`: submit, watch
with reconnect, cancel, result); a `JobStatus` here folds what it reports into what the panel and
status bar show, drained with `poll()` by a modal operator (or a blocking loop in background mode).
No `bpy` here: only Blender's main thread may touch Blender data, so this module never does.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from ._client.client import Client, Event, EventKind, InkMotionError, JobRunner
from ._client.v1 import tasks_pb2

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

class JobStatus:
    """What the UI shows of one job run by the client's `JobRunner` (which submits, watches,
    reconnects, cancels and fetches on its thread): `poll()` takes in the runner's events on the
    main thread and says whether anything changed.

    After `done`: `result` (a client `Result`) on success, else `error` says why in the artist's
    words (`cancelled` true when it was cancelled).
    """

    def __init__(self, connection: Connection, request, label: str = "", retry_for: float = 60.0):
        self.connection = connection
        self.runner = JobRunner(connection.client, request, label=label, retry_for=retry_for)
        self.job_id = ""
        self.state = "submitting"
        self.fraction = 0.0
        self.message = "submitting"
        self.preview = None  # the latest preview keyframe, when the task sends them
        self.result = None
        self.error = ""
        self.cancelled = False
        self.done = False

    def start(self) -> "JobStatus":
        self.runner.start()
        return self

    def cancel(self) -> None:
        """Ask the server to cancel the job; `poll()` reports when it has."""
        if self.done or self.runner.cancel_requested:
            return
        self.runner.cancel()
        self.message = "cancelling"

    def poll(self) -> bool:
        """Take in what happened since the last call; true if anything did."""
        events = self.runner.poll()
        for event in events:
            self.job_id = event.job_id or self.job_id
            self.state = event.state or self.state
            if event.kind is EventKind.PREVIEW:
                self.preview = event.preview
                continue
            self.fraction, self.message = event.fraction, event.message
            if event.kind is EventKind.FINISHED:
                self.result, self.done = event.result, True
            elif event.kind is EventKind.CANCELLED:
                self.cancelled, self.state, self.error, self.done = True, "cancelled", "cancelled", True
            elif event.kind is EventKind.FAILED:
                self.state, self.error, self.done = event.state or "failed", _failure(event, self.connection), True
        return bool(events)

    def wait(self, timeout: float = 0.0, on_update=None, interval: float = 0.05) -> None:
        """Block until done (for background mode). Past `timeout` seconds (0: none) the server job is
        cancelled and this waits for the cancellation to land."""
        started = time.monotonic()
        while not self.done:
            if self.poll() and on_update is not None:
                on_update(self)
            if timeout and time.monotonic() - started > timeout:
                self.cancel()
            time.sleep(interval)
        if on_update is not None:
            on_update(self)


def _failure(event: Event, connection: Connection) -> str:
    if not event.code:  # the job itself failed on the server
        return f"job {event.job_id} {event.state}: {event.error}"
    if event.job_id and event.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
        return event.error  # the runner's words: the server went away while the job ran, and which job
    return _describe(InkMotionError(event.code, event.error), connection)
