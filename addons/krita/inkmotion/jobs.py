"""A job on the server, run from a worker thread so that Krita's UI never waits on the network.

The docker starts a `JobRunner` and polls it from a QTimer: `poll()` returns what happened since the
last call (progress, the result, an error) as plain tuples. The blocking vendored client lives only
in the thread. Standard library + the vendored client; no Qt, so plain pytest drives it too.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable

# What poll() returns, one tuple per event:
#   ("submitted", job_id) ("progress", fraction, message) ("done", Result) ("error", message) ("cancelled", message)
Event = tuple


def vendored():
    """The vendored client module and the generated messages (needs grpcio + protobuf)."""
    from ._vendor import client
    from ._vendor.v1 import drawing_pb2, jobs_pb2, tasks_pb2

    class Messages:
        pass

    pb = Messages()
    pb.drawing_pb2, pb.jobs_pb2, pb.tasks_pb2 = drawing_pb2, jobs_pb2, tasks_pb2
    return client, pb


class JobRunner:
    def __init__(self, address: str, request, *, token: str = "", label: str = "", client_factory: Callable | None = None):
        self.address = address
        self.request = request
        self.label = label
        self.token = token
        self.job_id: str | None = None
        self._events: "queue.Queue[Event]" = queue.Queue()
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self._client_factory = client_factory
        self._thread = threading.Thread(target=self._run, name="inkmotion-job", daemon=True)

    def start(self) -> "JobRunner":
        self._thread.start()
        return self

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def poll(self) -> list[Event]:
        events = []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    def cancel(self) -> None:
        """Ask the server to cancel the job (from any thread; returns at once)."""
        self._cancel.set()
        if self.job_id is not None:
            threading.Thread(target=self._cancel_on_server, name="inkmotion-cancel", daemon=True).start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    # -- the worker thread ----------------------------------------------------------------------

    def _client(self):
        if self._client_factory is not None:
            return self._client_factory()
        client, _ = vendored()
        return client.Client(self.address, token=self.token or None)

    def _cancel_on_server(self) -> None:
        try:
            with self._client() as client:
                client.cancel(self.job_id)
        except Exception as exc:  # the watch reports the outcome either way
            self._events.put(("progress", 0.0, f"Cancel did not reach the server: {exc}"))

    def _run(self) -> None:
        try:
            client_module, pb = vendored()
            with self._client() as client:
                client.wait_ready(timeout=10.0)
                job = client.submit(self.request, label=self.label)
                self.job_id = job.id
                self._events.put(("submitted", job.id))
                if self._cancel.is_set():
                    client.cancel(job.id)
                final = None
                for event in client.watch(job.id):
                    final = event.job
                    kind = client_module.event_kind(event)
                    if kind == "queued":
                        self._events.put(("progress", 0.0, f"Queued ({event.queued.position} ahead)"))
                    elif kind == "started":
                        self._events.put(("progress", 0.0, f"Running on {event.started.device or 'the server'}"))
                    elif kind == "progress":
                        message = event.progress.message or f"step {event.progress.step} of {event.progress.total_steps}"
                        self._events.put(("progress", float(event.progress.fraction), message))
                state = final.state if final is not None else None
                if state == pb.jobs_pb2.JOB_STATE_SUCCEEDED:
                    self._events.put(("progress", 1.0, "Fetching the frames..."))
                    self._events.put(("done", client.result(job.id)))
                elif state == pb.jobs_pb2.JOB_STATE_CANCELLED:
                    self._events.put(("cancelled", "Cancelled"))
                else:
                    name = client_module.state_name(state) if state is not None else "lost"
                    self._events.put(("error", f"The job {name}: {final.error if final is not None else ''}".rstrip(": ")))
        except Exception as exc:  # everything ends up in the docker, never as a traceback dialog
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            self._events.put(("error", message))
        finally:
            self._finished.set()
