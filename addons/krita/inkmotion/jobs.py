"""Jobs for the docker: the vendored client's `JobRunner` (a thread that submits, watches with
reconnect, cancels and fetches the result), started with the docker's settings, and its events in
the words the docker shows.

The docker polls the runner from a QTimer; `describe` turns each event into the status line and
progress bar. Standard library + the vendored client; no Qt, so plain pytest drives it too.
"""

from __future__ import annotations


def vendored():
    """The vendored client module and the generated messages (needs grpcio + protobuf)."""
    from ._vendor import client
    from ._vendor.v1 import drawing_pb2, jobs_pb2, tasks_pb2

    class Messages:
        pass

    pb = Messages()
    pb.drawing_pb2, pb.jobs_pb2, pb.tasks_pb2 = drawing_pb2, jobs_pb2, tasks_pb2
    return client, pb


def start(address: str, request, *, token: str = "", label: str = ""):
    """A started `JobRunner` for `request` on the server at `address`."""
    client, _ = vendored()
    return client.JobRunner(lambda: client.Client(address, token=token or None), request, label=label).start()


def describe(event) -> tuple[str, float]:
    """The status line and progress (0..1) for one runner event."""
    kind = event.kind.value
    if kind == "queued":
        return (f"Queued ({event.position} ahead)" if event.position else "Queued, next in line"), 0.0
    if kind == "finished":
        return "Done", 1.0
    if kind == "cancelled":
        return "Cancelled", 0.0
    if kind == "failed":
        if event.code:  # a call failed: the client's or the server's words
            return event.error, 0.0
        return f"The job {event.state}: {event.error}".rstrip(": "), 0.0
    message = event.message or "Working"
    if message.startswith("fetching"):
        message = "Fetching the frames"
    return message[:1].upper() + message[1:], event.fraction
