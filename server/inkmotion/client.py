"""The small client both add-ons vendor: connect, capabilities, submit, watch, cancel, result,
and the host-side `JobRunner` that does all of that on a thread for a UI.

Pure Python on grpcio and protobuf (plus the generated `inkmotion.v1` modules); it never imports
numpy or the rest of this package, so a host can ship it as it is. `Client` is synchronous and
returns protobuf messages: hosts map their documents to `inkmotion.v1` messages and back.

    with Client("127.0.0.1:50051") as client:
        job = client.submit(inbetween_pb2_request, label="walk cycle")
        for event in client.watch(job.id):
            print(event_kind(event), event.job.progress)
        result = client.result(job.id)

A host's UI never waits on the network: it starts a `JobRunner` and drains `poll()` from its UI
timer (Blender's modal operator, Krita's QTimer), getting `Event`s of six kinds.

    runner = JobRunner(lambda: Client(address), inbetween_pb2_request, label="walk cycle").start()
    ...  # on every timer tick:
    for event in runner.poll():
        if event.kind is EventKind.FINISHED:
            write_layer(event.result.keyframes)
"""

from __future__ import annotations

import enum
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import grpc

from inkmotion.v1 import animation_service_pb2 as service_pb2
from inkmotion.v1 import animation_service_pb2_grpc as service_grpc
from inkmotion.v1 import drawing_pb2, jobs_pb2

DEFAULT_ADDRESS = "127.0.0.1:50051"
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
TERMINAL_STATES = frozenset({
    jobs_pb2.JOB_STATE_SUCCEEDED,
    jobs_pb2.JOB_STATE_FAILED,
    jobs_pb2.JOB_STATE_CANCELLED,
    jobs_pb2.JOB_STATE_INTERRUPTED,
})
_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE})
_RETRY_CODES = ("UNAVAILABLE", "DEADLINE_EXCEEDED")  # a submission or a result asked again

# SubmitJobRequest's `task` oneof, keyed by the request message's name.
_TASK_FIELDS = {
    f.message_type.name: f.name for f in service_pb2.SubmitJobRequest.DESCRIPTOR.oneofs_by_name["task"].fields
}


class InkMotionError(Exception):
    """A call failed. `code` is the gRPC status name ("INVALID_ARGUMENT", "UNAVAILABLE", ...)."""

    def __init__(self, code: str, message: str):
        self.code = code
        self.message = message
        super().__init__(f"{message} [{code}]")

    @classmethod
    def from_rpc(cls, error: grpc.RpcError) -> "InkMotionError":
        code = error.code() if hasattr(error, "code") else None
        details = error.details() if hasattr(error, "details") else str(error)
        return cls(code.name if code else "UNKNOWN", details or "no details")


def event_kind(event: jobs_pb2.JobEvent) -> str:
    """'queued', 'started', 'progress', 'finished', 'failed', 'cancelled' or 'interrupted'."""
    return event.WhichOneof("kind") or "unknown"


def state_name(state: int) -> str:
    return jobs_pb2.JobState.Name(state).removeprefix("JOB_STATE_").lower()


@dataclass
class Result:
    job: jobs_pb2.Job
    info: drawing_pb2.AnimationInfo
    keyframes: list[drawing_pb2.Keyframe] = field(default_factory=list)


class Client:
    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        token: str | None = None,
        tls: bool = False,
        root_certificates: bytes | str | Path | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        timeout: float = 30.0,
    ):
        self.address = address
        self.timeout = timeout
        options = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            # A restarted local server should be found again within a second, not after gRPC's
            # default back-off has grown to minutes.
            ("grpc.initial_reconnect_backoff_ms", 250),
            ("grpc.min_reconnect_backoff_ms", 250),
            ("grpc.max_reconnect_backoff_ms", 2000),
        ]
        self._metadata: tuple = ()
        if tls or root_certificates is not None:
            if isinstance(root_certificates, (str, Path)):
                root_certificates = Path(root_certificates).read_bytes()
            credentials = grpc.ssl_channel_credentials(root_certificates)
            if token:
                credentials = grpc.composite_channel_credentials(credentials, grpc.access_token_call_credentials(token))
            self._channel = grpc.secure_channel(address, credentials, options=options)
        else:
            # Plain channels cannot carry call credentials; the token travels as metadata instead
            # (fine on loopback; use TLS across a network).
            if token:
                self._metadata = (("authorization", f"Bearer {token}"),)
            self._channel = grpc.insecure_channel(address, options=options)
        self._stub = service_grpc.AnimationServiceStub(self._channel)

    # -- plumbing -----------------------------------------------------------------------------

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method, request, timeout: float | None = None):
        try:
            return method(request, timeout=timeout or self.timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            raise InkMotionError.from_rpc(error) from None

    def wait_ready(self, timeout: float = 10.0) -> None:
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise InkMotionError("UNAVAILABLE", f"no InkMotion server answers at {self.address}") from None

    # -- the interface ------------------------------------------------------------------------

    def capabilities(self) -> service_pb2.GetCapabilitiesResponse:
        return self._call(self._stub.GetCapabilities, service_pb2.GetCapabilitiesRequest())

    def submit(self, task_request, *, priority: int = 0, label: str = "", request_id: str | None = None,
               retry_for: float = 10.0) -> jobs_pb2.Job:
        """Queue a task: `task_request` is one of the *Request messages of tasks.proto.

        The submission carries a request id (a fresh one unless given), so when the connection
        drops before the answer comes it is sent again for up to `retry_for` seconds and the
        server answers with the job the first attempt made: never a duplicate."""
        name = type(task_request).DESCRIPTOR.name
        if name not in _TASK_FIELDS:
            raise TypeError(f"{name} is not a task request; expected one of {', '.join(_TASK_FIELDS)}")
        request = service_pb2.SubmitJobRequest(priority=priority, label=label, request_id=request_id or uuid.uuid4().hex,
                                               **{_TASK_FIELDS[name]: task_request})
        deadline = time.monotonic() + retry_for
        while True:
            try:
                return self._call(self._stub.SubmitJob, request).job
            except InkMotionError as error:
                if error.code not in _RETRY_CODES or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def watch(self, job_id: str, *, reconnect: bool = True, retry_for: float = 60.0,
              on_retry: Callable[[InkMotionError], None] | None = None) -> Iterator[jobs_pb2.JobEvent]:
        """Events of a job, from its current state to its end. If the connection drops, attach again
        (for up to `retry_for` seconds); the first event after that is the job's state then.
        `on_retry` hears why before each new attempt (a UI says "reconnecting")."""
        deadline = None
        while True:
            call = self._stub.WatchJob(service_pb2.WatchJobRequest(job_id=job_id), metadata=self._metadata)
            try:
                for response in call:
                    deadline = None
                    yield response.event
                    if response.event.job.state in TERMINAL_STATES:
                        return
                raise InkMotionError("UNAVAILABLE", "the server closed the watch before the job ended")
            except (grpc.RpcError, InkMotionError) as caught:
                # A dropped stream (UNAVAILABLE) or a watch the server closed early: attach again.
                closed = isinstance(caught, InkMotionError)
                error = caught if closed else InkMotionError.from_rpc(caught)
                if not reconnect or not (closed or caught.code() in _RETRYABLE):
                    raise error from None
                deadline = deadline or time.monotonic() + retry_for
                if time.monotonic() > deadline:
                    raise error from None
                if on_retry is not None:
                    on_retry(error)
                time.sleep(0.5)
            finally:
                call.cancel()

    def wait(self, job_id: str, on_event: Callable[[jobs_pb2.JobEvent], None] | None = None) -> jobs_pb2.Job:
        """Block until the job ends; returns its final state."""
        job = None
        for event in self.watch(job_id):
            job = event.job
            if on_event is not None:
                on_event(event)
        return job

    def cancel(self, job_id: str) -> jobs_pb2.Job:
        return self._call(self._stub.CancelJob, service_pb2.CancelJobRequest(job_id=job_id)).job

    def job(self, job_id: str) -> jobs_pb2.Job:
        responses = self._stream(service_pb2.GetJobRequest(job_id=job_id))
        return next(responses).job

    def result(self, job_id: str) -> Result:
        """The job and its keyframes. Raises InkMotionError('FAILED_PRECONDITION') unless it succeeded."""
        responses = list(self._stream(service_pb2.GetJobRequest(job_id=job_id, include_result=True)))
        job = responses[0].job
        if job.state != jobs_pb2.JOB_STATE_SUCCEEDED:
            reason = f": {job.error}" if job.error else ""
            raise InkMotionError("FAILED_PRECONDITION", f"job {job_id} has no result, it is {state_name(job.state)}{reason}")
        return Result(job, job.result, [r.keyframe for r in responses[1:]])

    def jobs(self, states=(), page_size: int = 100) -> Iterator[jobs_pb2.Job]:
        """The caller's jobs, newest first, fetched page by page."""
        token = ""
        while True:
            page = self._call(self._stub.ListJobs, service_pb2.ListJobsRequest(page_size=page_size, page_token=token, states=states))
            yield from page.jobs
            token = page.next_page_token
            if not token:
                return

    def _stream(self, request) -> Iterator[service_pb2.GetJobResponse]:
        try:
            yield from self._stub.GetJob(request, timeout=self.timeout * 10, metadata=self._metadata)
        except grpc.RpcError as error:
            raise InkMotionError.from_rpc(error) from None


# -- the host-side job runner -----------------------------------------------------------------

class EventKind(enum.Enum):
    """What a `JobRunner` reports. A run ends with exactly one FINISHED, FAILED or CANCELLED."""

    QUEUED = "queued"  # the server has the job (`job_id`), or its place in the queue moved (`position`)
    PROGRESS = "progress"  # `fraction` done and a `message` (a phase, a step, "reconnecting")
    PREVIEW = "preview"  # a small look at the work so far: `preview`, an inkmotion.v1.Keyframe
    FINISHED = "finished"  # it succeeded: `result` holds its keyframes
    FAILED = "failed"  # `error` says why; `code` is the gRPC status of the call that failed, "" when the job did
    CANCELLED = "cancelled"


ENDINGS = frozenset({EventKind.FINISHED, EventKind.FAILED, EventKind.CANCELLED})


@dataclass(frozen=True)
class Event:
    kind: EventKind
    job_id: str = ""
    state: str = ""  # the job's state then ("queued", "running", "succeeded", ...); "" before the server had it
    fraction: float = 0.0
    message: str = ""
    position: int = 0  # QUEUED: jobs ahead of this one
    preview: drawing_pb2.Keyframe | None = None
    result: Result | None = None
    error: str = ""
    code: str = ""
    model: str = ""  # the first QUEUED: the model the server runs it on
    warnings: tuple[str, ...] = ()  # the first QUEUED: what the server said about how it runs (Job.warnings)

    @property
    def ended(self) -> bool:
        return self.kind in ENDINGS


def queued_message(position: int) -> str:
    return f"queued, {position} ahead" if position else "queued"


class JobRunner:
    """One job, run for a UI on a thread of its own: submit, watch, cancel on request, fetch the
    result. What happens comes out of `poll()` as `Event`s, which never blocks.

    - The submission carries one request id for all its attempts: one that is lost on the way
      (UNAVAILABLE, a deadline) is sent again for up to `submit_for` seconds, and the server answers
      with the job the first attempt made, never a second job.
    - The watch attaches again to the same job when the stream drops or the server is away, for up
      to `retry_for` seconds without news; meanwhile a PROGRESS event says it is reconnecting.
    - `cancel()` returns at once and cancels on the server from another thread; asked before the
      server has named the job, it is sent as soon as it has; asked before anything was sent,
      nothing is and the run ends CANCELLED.

    `connect` makes a `Client`; the runner calls it on its own threads and closes what it gets.
    """

    def __init__(self, connect: Callable[[], Client], request, *, label: str = "", priority: int = 0,
                 request_id: str | None = None, submit_for: float = 10.0, retry_for: float = 60.0):
        self.request = request
        self.label = label
        self.priority = priority
        self.request_id = request_id or uuid.uuid4().hex
        self.submit_for = submit_for
        self.retry_for = retry_for
        self._connect = connect
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()  # guards the fields below and the order of what is put
        self._job_id = ""
        self._cancel = False
        self._done = False
        self._said: tuple | None = None  # the last QUEUED/PROGRESS, so that a reconnect's repeat is dropped
        self._state = ""
        self._fraction = 0.0
        self._address = ""
        self._thread = threading.Thread(target=self._run, name="inkmotion-job", daemon=True)

    # -- the host's side (any thread) -----------------------------------------------------------

    def start(self) -> "JobRunner":
        self._thread.start()
        return self

    @property
    def job_id(self) -> str:
        """The server's id for the job; "" until it has answered the submission."""
        with self._lock:
            return self._job_id

    @property
    def done(self) -> bool:
        """True once the last event is queued (it may not have been polled yet)."""
        with self._lock:
            return self._done

    @property
    def cancel_requested(self) -> bool:
        with self._lock:
            return self._cancel

    def poll(self) -> list[Event]:
        """What happened since the last call, oldest first; never blocks."""
        events = []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    def cancel(self) -> None:
        """Cancel the job on the server; returns at once. `poll()` says when it has ended."""
        with self._lock:
            if self._cancel or self._done:
                return
            self._cancel = True
            job_id = self._job_id
        if job_id:
            self._cancel_in_background(job_id)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the runner's thread; true when it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- the runner's thread --------------------------------------------------------------------

    def _run(self) -> None:
        client = None
        try:
            client = self._connect()
            self._address = client.address
            job = self._submit(client)
            if job is None:
                return
            with self._lock:
                self._job_id = job.id
                cancel_now = self._cancel
            if cancel_now:  # asked while the submission was on its way
                self._cancel_in_background(job.id)
            position = job.queue_position
            with self._lock:  # as _say keeps it, so a watch's repeat of this is dropped
                self._said = (EventKind.QUEUED, state_name(job.state), float(job.progress), queued_message(position),
                              position)
            self._put(Event(EventKind.QUEUED, job.id, state_name(job.state), float(job.progress), queued_message(position),
                            position=position, model=job.model, warnings=tuple(job.warnings)))
            final = job
            for event in client.watch(job.id, retry_for=self.retry_for, on_retry=self._reconnecting):
                final = event.job
                self._take(event)
            self._end(client, final)
        except InkMotionError as error:
            self._fail(self._described(error), error.code)
        except Exception as error:  # the host hears of everything, never through a traceback on a thread
            where = f"cannot connect to {self._address or 'the server'}: " if client is None else ""
            self._fail(f"{where}{type(error).__name__}: {error}", "UNKNOWN")
        finally:
            if client is not None:
                client.close()
            if not self.done:
                self._fail("the job runner stopped without an outcome", "UNKNOWN")

    def _submit(self, client: Client) -> jobs_pb2.Job | None:
        if self.cancel_requested:
            self._put(Event(EventKind.CANCELLED, message="cancelled before it was sent"))
            return None
        try:  # the client asks again with the same request id for up to submit_for seconds
            return client.submit(self.request, priority=self.priority, label=self.label,
                                 request_id=self.request_id, retry_for=self.submit_for)
        except InkMotionError as error:
            if error.code in _RETRY_CODES and self.cancel_requested:  # nothing more can be known, nor is wanted
                self._put(Event(EventKind.CANCELLED, message="cancelled; the server never took the job"))
                return None
            raise

    def _take(self, event: jobs_pb2.JobEvent) -> None:
        job, kind = event.job, event_kind(event)
        state = state_name(job.state)
        if kind == "queued":
            position = event.queued.position
            self._say(EventKind.QUEUED, state, float(job.progress), queued_message(position), position=position)
        elif kind == "started":
            self._say(EventKind.PROGRESS, state, float(job.progress), f"started on {event.started.device or 'the server'}")
        elif kind == "progress":
            p = event.progress
            message = (f"step {p.step}/{p.total_steps} {p.message}" if p.total_steps else p.message).strip()
            self._say(EventKind.PROGRESS, state, float(p.fraction), message)
            if p.HasField("preview"):
                self._put(Event(EventKind.PREVIEW, job.id, state, float(p.fraction), message, preview=p.preview))
        # The endings come from the job's final state, in _end.

    def _end(self, client: Client, job: jobs_pb2.Job) -> None:
        state = state_name(job.state)
        if job.state == jobs_pb2.JOB_STATE_SUCCEEDED:
            self._say(EventKind.PROGRESS, state, 1.0, "fetching the result")
            result = self._result(client, job.id)
            self._put(Event(EventKind.FINISHED, job.id, state, 1.0, "done", result=result))
        elif job.state == jobs_pb2.JOB_STATE_CANCELLED:
            self._put(Event(EventKind.CANCELLED, job.id, state, self._fraction, "cancelled"))
        else:  # failed or interrupted (the watch ends only on an ending)
            reason = job.error or job.message or state
            self._put(Event(EventKind.FAILED, job.id, state, self._fraction, state, error=reason))

    def _result(self, client: Client, job_id: str) -> Result:
        deadline = time.monotonic() + self.retry_for
        while True:
            try:
                return client.result(job_id)
            except InkMotionError as error:
                if error.code not in _RETRY_CODES or time.monotonic() > deadline:
                    raise
                self._reconnecting(error)
                time.sleep(0.5)

    def _reconnecting(self, error: InkMotionError) -> None:
        self._say(EventKind.PROGRESS, self._state, self._fraction, f"connection lost, reconnecting to {self._address}")

    def _cancel_in_background(self, job_id: str) -> None:
        threading.Thread(target=self._cancel_on_server, args=(job_id,), name="inkmotion-cancel", daemon=True).start()

    def _cancel_on_server(self, job_id: str) -> None:
        deadline = time.monotonic() + self.retry_for
        try:
            with self._connect() as client:
                while True:
                    try:
                        client.cancel(job_id)
                        return
                    except InkMotionError as error:
                        if error.code not in _RETRY_CODES or time.monotonic() > deadline or self.done:
                            raise
                        time.sleep(0.5)
        except Exception as error:  # the watch says how the job ends either way
            message = error.message if isinstance(error, InkMotionError) else str(error)
            self._say(EventKind.PROGRESS, self._state, self._fraction, f"the cancel did not reach the server: {message}")

    def _described(self, error: InkMotionError) -> str:
        if error.code in _RETRY_CODES and not self.job_id:
            return f"no InkMotion server answers at {self._address}"
        if error.code in _RETRY_CODES:
            return f"lost the connection to {self._address} while job {self.job_id} ran: {error.message}"
        return error.message

    def _fail(self, error: str, code: str) -> None:
        self._put(Event(EventKind.FAILED, self.job_id, self._state, self._fraction, "failed", error=error, code=code))

    def _say(self, kind: EventKind, state: str, fraction: float, message: str, position: int = 0) -> None:
        """A QUEUED or PROGRESS event, unless it repeats the last one (a watch attached again
        starts by describing the job as it stands, which the host has heard already)."""
        with self._lock:
            said = (kind, state, fraction, message, position)
            if said == self._said:
                return
            self._said = said
        self._put(Event(kind, self.job_id, state, fraction, message, position=position))

    def _put(self, event: Event) -> None:
        with self._lock:
            if self._done:  # nothing after the ending (a late word from the cancel thread)
                return
            self._done = event.ended
            if event.state:
                self._state = event.state
            if event.kind in (EventKind.QUEUED, EventKind.PROGRESS):
                self._fraction = event.fraction
            self._events.put(event)
