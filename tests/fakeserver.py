"""A real gRPC AnimationService in this process, whose jobs do what a test scripts: for host code
and the client's JobRunner, without the real server, its models or its timing.

    with FakeServer() as fake:
        fake.script(Queued(2), Started(), Progress(0.5, "half"), DropWatches(), Finish())
        runner = JobRunner(lambda: Client(fake.address), request).start()

Each submitted job takes the next script (FIFO; without one, `DEFAULT_STEPS`) and plays its steps
on a thread of its own, a step every `Script.step_seconds`. A watcher first hears the job as it
stands, then every event after, as the real server does. What the fake can do besides:
- `DropWatches()`: every open watch of the job is cut (UNAVAILABLE, or a clean early end);
- `Hold(gate)`: the job waits there until the test sets the gate (or it is cancelled);
- `GoDown(seconds)`: the whole server goes away (connections drop, the port is closed) and comes
  back on the same port with the same jobs, as a restarted server does with its store;
- `unavailable_for(seconds)`: every call is answered UNAVAILABLE for a while;
- per script: hold the submission at a gate, lose its answer (the job is made, the caller hears
  UNAVAILABLE), refuse it, or fail the result fetch.
It keeps submissions idempotent by request_id and logs every call in `calls`.
"""

from __future__ import annotations

import threading
import time
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from inkmotion.v1 import animation_service_pb2 as service_pb2
from inkmotion.v1 import animation_service_pb2_grpc as service_grpc
from inkmotion.v1 import drawing_pb2, jobs_pb2, tasks_pb2

TERMINAL = frozenset({jobs_pb2.JOB_STATE_SUCCEEDED, jobs_pb2.JOB_STATE_FAILED, jobs_pb2.JOB_STATE_CANCELLED,
                      jobs_pb2.JOB_STATE_INTERRUPTED})


# -- what a job does, step by step ---------------------------------------------------------------

@dataclass
class Queued:
    position: int = 0


@dataclass
class Started:
    device: str = "fake:0"


@dataclass
class Progress:
    fraction: float
    message: str = ""
    step: int = 0
    total_steps: int = 0
    preview: drawing_pb2.Keyframe | None = None


def raster_keyframe(frame: int, size: int = 2) -> drawing_pb2.Keyframe:
    """A tiny RGBA keyframe whose pixels say its frame number."""
    return drawing_pb2.Keyframe(frame=frame, raster=drawing_pb2.Raster(width=size, height=size,
                                                                        rgba=bytes([frame % 256]) * (4 * size * size)))


@dataclass
class Finish:
    keyframes: list = field(default_factory=lambda: [raster_keyframe(1), raster_keyframe(2)])


@dataclass
class Fail:
    reason: str


@dataclass
class Interrupt:
    reason: str


@dataclass
class DropWatches:
    """Cut every open watch of the job: with UNAVAILABLE, or (`cleanly`) by ending the stream early."""

    cleanly: bool = False


@dataclass
class Hold:
    gate: threading.Event


@dataclass
class GoDown:
    seconds: float


DEFAULT_STEPS = (Queued(0), Started(), Progress(0.5, "half way", 1, 2), Finish())


@dataclass
class Script:
    steps: tuple = DEFAULT_STEPS
    step_seconds: float = 0.02
    submit_gate: threading.Event | None = None  # SubmitJob waits here before it makes the job
    lose_answers: int = 0  # answers to SubmitJob lost after the job was made (the caller hears UNAVAILABLE)
    refuse: tuple[grpc.StatusCode, str] | None = None  # SubmitJob is refused so
    result_error: tuple[grpc.StatusCode, str] | None = None  # fetching the result fails so


# -- the jobs --------------------------------------------------------------------------------------

class FakeJob:
    def __init__(self, job_id: str, request: service_pb2.SubmitJobRequest, script: Script):
        self.id = job_id
        self.request = request
        self.script = script
        self.state = jobs_pb2.JOB_STATE_QUEUED
        self.position = 0
        self.progress = 0.0
        self.step = 0
        self.total_steps = 0
        self.message = ""
        self.error = ""
        self.device = ""
        self.keyframes: list = []
        self.events: list[jobs_pb2.JobEvent] = []
        self.drops: list[bool] = []  # one per DropWatches: cleanly or not

    def proto(self) -> jobs_pb2.Job:
        job = jobs_pb2.Job(id=self.id, owner="local", state=self.state, progress=self.progress, step=self.step,
                           total_steps=self.total_steps, message=self.message, error=self.error,
                           queue_position=self.position, device=self.device, label=self.request.label,
                           priority=self.request.priority, task=tasks_pb2.TASK_INBETWEEN)
        if self.state == jobs_pb2.JOB_STATE_SUCCEEDED:
            job.result.CopyFrom(self.info())
        return job

    def info(self) -> drawing_pb2.AnimationInfo:
        first = self.keyframes[0].raster if self.keyframes and self.keyframes[0].HasField("raster") else None
        return drawing_pb2.AnimationInfo(width=first.width if first else 0, height=first.height if first else 0,
                                         fps=12, keyframe_count=len(self.keyframes), layer="fake")

    def event(self, **kind) -> jobs_pb2.JobEvent:
        stamp = Timestamp()
        stamp.GetCurrentTime()
        return jobs_pb2.JobEvent(job=self.proto(), time=stamp, **kind)

    def snapshot(self) -> jobs_pb2.JobEvent:
        """The job as it stands: what a watcher hears first."""
        if self.state == jobs_pb2.JOB_STATE_QUEUED:
            return self.event(queued=jobs_pb2.JobQueued(position=self.position))
        if self.state == jobs_pb2.JOB_STATE_RUNNING:
            if self.step == 0 and self.progress == 0:
                return self.event(started=jobs_pb2.JobStarted(device=self.device))
            return self.event(progress=jobs_pb2.JobProgress(fraction=self.progress, step=self.step,
                                                            total_steps=self.total_steps, message=self.message))
        if self.state == jobs_pb2.JOB_STATE_SUCCEEDED:
            return self.event(finished=jobs_pb2.JobFinished(result=self.info()))
        if self.state == jobs_pb2.JOB_STATE_FAILED:
            return self.event(failed=jobs_pb2.JobFailed(reason=self.error))
        if self.state == jobs_pb2.JOB_STATE_CANCELLED:
            return self.event(cancelled=jobs_pb2.JobCancelled())
        return self.event(interrupted=jobs_pb2.JobInterrupted(reason=self.error))


# -- the server ------------------------------------------------------------------------------------

def default_capabilities() -> service_pb2.GetCapabilitiesResponse:
    """What a real server on this checkout says of its tasks (their own descriptions), every
    task available: what host code builds its forms from."""
    from inkmotion import tasks
    from inkmotion.limits import Limits

    described = [spec.describe(Limits()) for spec in tasks.registry().values()]
    for info in described:
        info.available, info.unavailable_reason = True, ""
    return service_pb2.GetCapabilitiesResponse(server_version="fake", tasks=described, limits=Limits().to_proto())


class FakeServer(service_grpc.AnimationServiceServicer):
    def __init__(self, *, token: str | None = None, capabilities: service_pb2.GetCapabilitiesResponse | None = None):
        self.token = token
        self.capabilities = capabilities or default_capabilities()
        self.jobs: dict[str, FakeJob] = {}
        self.calls: list[tuple[str, str]] = []  # (method, job id or request id), in order
        self.watches: dict[str, int] = {}  # job id -> watches that have heard the job's state so far
        self._scripts: list[Script] = []
        self._by_request_id: dict[str, FakeJob] = {}
        self._changed = threading.Condition()
        self._unavailable_until = 0.0
        self._closed = False  # stopped for good
        self._port = 0
        self._server: grpc.Server | None = None
        self._threads: list[threading.Thread] = []

    # -- the test's side ---------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._port}"

    def start(self) -> "FakeServer":
        self._server = self._serve(self._port)
        return self

    def stop(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._server is not None:
            self._server.stop(0).wait(5)
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> "FakeServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def script(self, *steps, **options) -> Script:
        """The next submitted job does `steps` (default: DEFAULT_STEPS); `options` as `Script`'s."""
        script = Script(steps=tuple(steps) if steps else DEFAULT_STEPS, **options)
        self._scripts.append(script)
        return script

    def unavailable_for(self, seconds: float) -> None:
        """Every call is answered UNAVAILABLE for `seconds` from now."""
        self._unavailable_until = time.monotonic() + seconds

    def go_down(self, seconds: float) -> None:
        """The server goes away (its connections drop, its port closes) and comes back on the same
        port after `seconds`, with the same jobs. Blocks until it is back."""
        self._server.stop(0).wait(5)
        time.sleep(seconds)
        self._server = self._serve(self._port)

    def called(self, method: str) -> list[str]:
        """The job (or request) ids `method` was called with, in order."""
        return [key for name, key in list(self.calls) if name == method]

    def wait_for(self, condition, what: str, seconds: float = 10.0) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")
            time.sleep(0.01)

    # -- plumbing ----------------------------------------------------------------------------------

    def _serve(self, port: int) -> grpc.Server:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        service_grpc.add_AnimationServiceServicer_to_server(self, server)
        bound = server.add_insecure_port(f"127.0.0.1:{port}")
        if not bound:
            raise RuntimeError(f"the fake server could not bind 127.0.0.1:{port}")
        self._port = bound
        server.start()
        return server

    def _enter(self, method: str, key: str, context) -> None:
        self.calls.append((method, key))
        if time.monotonic() < self._unavailable_until:
            context.abort(grpc.StatusCode.UNAVAILABLE, "the fake server is unavailable for a while")
        if self.token is not None:
            metadata = dict(context.invocation_metadata())
            if metadata.get("authorization") != f"Bearer {self.token}":
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "unknown token")

    def _job(self, job_id: str, context) -> FakeJob:
        job = self.jobs.get(job_id)
        if job is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"job_id: no job {job_id!r}")
        return job

    def _publish(self, job: FakeJob, **changes) -> None:
        with self._changed:
            kind = changes.pop("kind")
            for name, value in changes.items():
                setattr(job, name, value)
            job.events.append(job.event(**kind))
            self._changed.notify_all()

    def _play(self, job: FakeJob) -> None:
        RUNNING = jobs_pb2.JOB_STATE_RUNNING
        for step in job.script.steps:
            time.sleep(job.script.step_seconds)
            if job.state in TERMINAL or self._closed:
                return
            if isinstance(step, Queued):
                self._publish(job, state=jobs_pb2.JOB_STATE_QUEUED, position=step.position, progress=0.0, step=0,
                              message="", kind={"queued": jobs_pb2.JobQueued(position=step.position)})
            elif isinstance(step, Started):
                self._publish(job, state=RUNNING, position=0, device=step.device, message="started",
                              kind={"started": jobs_pb2.JobStarted(device=step.device)})
            elif isinstance(step, Progress):
                progress = jobs_pb2.JobProgress(fraction=step.fraction, step=step.step, total_steps=step.total_steps,
                                                message=step.message, preview=step.preview)
                self._publish(job, state=RUNNING, progress=step.fraction, step=step.step, total_steps=step.total_steps,
                              message=step.message, kind={"progress": progress})
            elif isinstance(step, Finish):
                job.keyframes = list(step.keyframes)
                self._publish(job, state=jobs_pb2.JOB_STATE_SUCCEEDED, progress=1.0, message="done",
                              kind={"finished": jobs_pb2.JobFinished(result=job.info())})
            elif isinstance(step, Fail):
                self._publish(job, state=jobs_pb2.JOB_STATE_FAILED, error=step.reason,
                              kind={"failed": jobs_pb2.JobFailed(reason=step.reason)})
            elif isinstance(step, Interrupt):
                self._publish(job, state=jobs_pb2.JOB_STATE_INTERRUPTED, error=step.reason,
                              kind={"interrupted": jobs_pb2.JobInterrupted(reason=step.reason)})
            elif isinstance(step, DropWatches):
                with self._changed:
                    job.drops.append(step.cleanly)
                    self._changed.notify_all()
            elif isinstance(step, Hold):
                while not step.gate.wait(0.02):
                    if job.state in TERMINAL or self._closed:
                        return
            elif isinstance(step, GoDown):
                self.go_down(step.seconds)
            else:
                raise TypeError(f"not a step: {step!r}")

    # -- the service -------------------------------------------------------------------------------

    def GetCapabilities(self, request, context):
        self._enter("GetCapabilities", "", context)
        return self.capabilities

    def SubmitJob(self, request, context):
        self._enter("SubmitJob", request.request_id, context)
        with self._changed:
            earlier = self._by_request_id.get(request.request_id) if request.request_id else None
            script = earlier.script if earlier is not None else self._scripts[0] if self._scripts else Script()
        if earlier is not None:  # a submission sent again: the job the first one made
            self._answer_or_lose(script, context)
            return service_pb2.SubmitJobResponse(job=earlier.proto())
        if script.refuse is not None:
            if self._scripts:
                self._scripts.pop(0)
            context.abort(*script.refuse)
        if script.submit_gate is not None:
            script.submit_gate.wait(30)
        with self._changed:
            if self._scripts and self._scripts[0] is script:
                self._scripts.pop(0)
            job = FakeJob(f"job{len(self.jobs) + 1}", request, script)
            self.jobs[job.id] = job
            if request.request_id:
                self._by_request_id[request.request_id] = job
        player = threading.Thread(target=self._play, args=(job,), name=f"fake-{job.id}", daemon=True)
        self._threads.append(player)
        player.start()
        self._answer_or_lose(script, context)
        return service_pb2.SubmitJobResponse(job=job.proto())

    def _answer_or_lose(self, script: Script, context) -> None:
        with self._changed:
            lose = script.lose_answers > 0
            script.lose_answers -= lose
        if lose:
            context.abort(grpc.StatusCode.UNAVAILABLE, "the fake lost the answer to this submission")

    def WatchJob(self, request, context):
        self._enter("WatchJob", request.job_id, context)
        job = self._job(request.job_id, context)
        with self._changed:
            seen, drops = len(job.events), len(job.drops)
            first = job.snapshot()
            self.watches[job.id] = self.watches.get(job.id, 0) + 1
        yield service_pb2.WatchJobResponse(event=first)
        if first.job.state in TERMINAL:
            return
        while True:
            with self._changed:
                while (len(job.events) == seen and len(job.drops) == drops and context.is_active()
                       and not self._closed):
                    self._changed.wait(0.05)
                if not context.is_active() or self._closed:
                    return
                new, seen = job.events[seen:], len(job.events)
                drop = job.drops[drops] if len(job.drops) > drops else None
            for event in new:  # what happened before the cut still goes out
                yield service_pb2.WatchJobResponse(event=event)
                if event.job.state in TERMINAL:
                    return
            if drop is True:
                return
            if drop is False:
                context.abort(grpc.StatusCode.UNAVAILABLE, "the fake dropped the stream")

    def CancelJob(self, request, context):
        self._enter("CancelJob", request.job_id, context)
        job = self._job(request.job_id, context)
        if job.state not in TERMINAL:
            self._publish(job, state=jobs_pb2.JOB_STATE_CANCELLED, message="cancelled",
                          kind={"cancelled": jobs_pb2.JobCancelled()})
        return service_pb2.CancelJobResponse(job=job.proto())

    def GetJob(self, request, context):
        self._enter("GetJob", request.job_id, context)
        job = self._job(request.job_id, context)
        yield service_pb2.GetJobResponse(job=job.proto())
        if request.include_result and job.state == jobs_pb2.JOB_STATE_SUCCEEDED:
            if job.script.result_error is not None:
                context.abort(*job.script.result_error)
            for keyframe in job.keyframes:
                yield service_pb2.GetJobResponse(keyframe=keyframe)

    def ListJobs(self, request, context):
        self._enter("ListJobs", "", context)
        jobs = [j.proto() for j in reversed(list(self.jobs.values())) if not request.states or j.state in request.states]
        return service_pb2.ListJobsResponse(jobs=jobs)
