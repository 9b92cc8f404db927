"""The small client both add-ons vendor: connect, capabilities, submit, watch, cancel, result.

Pure Python on grpcio and protobuf (plus the generated `inkmotion.v1` modules); it never imports
numpy or the rest of this package, so a host can ship it as it is. Everything is synchronous and
returns protobuf messages: hosts map their documents to `inkmotion.v1` messages and back.

    with Client("127.0.0.1:50051") as client:
        job = client.submit(inbetween_pb2_request, label="walk cycle")
        for event in client.watch(job.id):
            print(event_kind(event), event.job.progress)
        result = client.result(job.id)
"""

from __future__ import annotations

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
                if error.code not in ("UNAVAILABLE", "DEADLINE_EXCEEDED") or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def watch(self, job_id: str, *, reconnect: bool = True, retry_for: float = 60.0) -> Iterator[jobs_pb2.JobEvent]:
        """Events of a job, from its current state to its end. If the connection drops, attach again
        (for up to `retry_for` seconds); the first event after that is the job's state then."""
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
            except grpc.RpcError as error:
                if not reconnect or error.code() not in _RETRYABLE:
                    raise InkMotionError.from_rpc(error) from None
                deadline = deadline or time.monotonic() + retry_for
                if time.monotonic() > deadline:
                    raise InkMotionError.from_rpc(error) from None
                time.sleep(0.5)
            except InkMotionError:
                if not reconnect:
                    raise
                deadline = deadline or time.monotonic() + retry_for
                if time.monotonic() > deadline:
                    raise
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
