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
from ._client.v1 import animation_service_pb2

# The tasks with an action of their own in the add-on, by their one name (TaskInfo.name); any other
# task the server lists (a plugin's) runs through the generic action. Their words come from capabilities.
TEXT_MOTION, RASTER_TEXT_MOTION, INBETWEEN, PATH_MOTION, VIDEO_MOTION = (
    "text_motion", "raster_text_motion", "inbetween", "path_motion", "video_motion")
BUILT_IN = (TEXT_MOTION, INBETWEEN, PATH_MOTION, VIDEO_MOTION)  # raster_text_motion: Animate's raster method


def fallback_label(name: str) -> str:
    """What to call a task before the server has said (its name in words)."""
    return name.replace("_", " ").capitalize()


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

    def fetch_now(self, connection: Connection, timeout: float = 15.0) -> None:
        """Fetch on this thread (scripts and background mode), waiting for a fetch already running."""
        if self.busy:
            self._thread.join(timeout + 1)
        self._thread = None
        self.refresh(connection, wait=True, timeout=timeout)

    def known_for(self, connection: Connection) -> bool:
        return self.connection == connection and self.fetched_at > 0

    def tasks(self, connection: Connection) -> list:
        """The TaskInfo of every task the server lists (none until it answered)."""
        if not self.known_for(connection) or self.response is None:
            return []
        return list(self.response.tasks)

    def info(self, name: str, connection: Connection):
        return next((t for t in self.tasks(connection) if t.name == name), None)

    def label(self, name: str, connection: Connection) -> str:
        info = self.info(name, connection)
        return info.label if info is not None and info.label else fallback_label(name)

    def task_reason(self, name: str, connection: Connection) -> str | None:
        """Why the task of this name cannot run on this server, or None when it can (or nothing is known yet)."""
        if not self.known_for(connection):
            return None
        if self.response is None:
            return self.error
        return task_reason(self.response, name)


def task_info(response, name: str):
    return next((t for t in response.tasks if t.name == name), None)


def task_reason(response, name: str) -> str | None:
    info = task_info(response, name)
    if info is None:
        return f"{fallback_label(name)}: the server (version {response.server_version or '?'}) does not offer this task"
    if info.available:
        return None
    return f"{info.label or fallback_label(name)}: {info.unavailable_reason or 'not available on this server'}"


INPUT = animation_service_pb2.TaskInput
GENERIC_INPUTS = (INPUT.KIND_DRAWING, INPUT.KIND_TEXT)  # what the generic action can give a task from Grease Pencil


def generic_reason(info) -> str | None:
    """Why the generic action cannot give this task its inputs (a raster, a video, ...), or None."""
    other = [i for i in info.inputs if i.required and i.kind not in GENERIC_INPUTS]
    if not other:
        return None
    kinds = ", ".join(f"{i.label or i.name} ({INPUT.Kind.Name(i.kind).removeprefix('KIND_').lower()})" for i in other)
    return f"{info.label or info.name}: Grease Pencil cannot give it {kinds}"


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
