"""Running one job, whichever backend runs it: decode, check, run, encode, store, states, events.

A backend owns where and when a job runs (its queue, its devices, its threads or actors). What
happens to a job once it has a device is the same everywhere, and lives here:

- `execute` is the worker's half: the checked request (decoded again if it was queued before a
  restart) through its task's runner to keyframes in their wire form. It needs no job store, so
  it can run in another process (a Ray actor) and hand back plain bytes.
- `Executor` is the server's half: it records a job's progress in the store and tells watchers
  (throttled), stores its result, and maps every way a run can end to the job's state.

The in-process backend calls both on a device thread; a remote backend runs `execute` where the
GPU is and feeds what comes back (progress, then the result or the exception) to the `Executor`.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from inkmotion import tasks
from inkmotion.codec.proto import animation_info, keyframe_to_proto
from inkmotion.errors import Cancelled, InvalidInput, ModelUnavailable
from inkmotion.events import EventHub, make_event, snapshot_event
from inkmotion.jobs import CANCELLED, FAILED, INTERRUPTED, QUEUED, RUNNING, JobStore, StoreFailure
from inkmotion.limits import Limits
from inkmotion.pipelines.base import Progress, ProgressCallback
from inkmotion.v1 import animation_service_pb2 as service_pb2
from inkmotion.v1 import drawing_pb2, jobs_pb2

log = logging.getLogger("inkmotion.worker")


@dataclass
class Result:
    """A finished run in its wire form: what the job store keeps."""

    info: drawing_pb2.AnimationInfo
    keyframes: list[bytes]  # serialized inkmotion.v1.Keyframe messages, in order
    pipeline_seconds: float


def execute(checked: tasks.Checked, device: str, on_progress: ProgressCallback) -> Result:
    """Run a checked job on `device` and encode what it makes. `on_progress` hears every step
    and may raise Cancelled to stop the run there."""
    started = time.perf_counter()
    animation = tasks.run_submission(checked, device, on_progress)
    seconds = time.perf_counter() - started
    keyframes = [keyframe_to_proto(k).SerializeToString() for k in animation.keyframes]
    return Result(animation_info(animation), keyframes, seconds)


@dataclass
class Attempt:
    """One attempt of one job on one device, as the server follows it."""

    job_id: str
    device: str
    cancel: threading.Event = field(default_factory=threading.Event)
    shutdown: bool = False  # cancelled by a drain, not by a user: the job goes back in the queue
    lost: str = ""  # why its worker went away under it (a remote backend's): the job goes back in the queue
    job: jobs_pb2.Job | None = None  # as it was when it started; progress events update a copy
    last_saved: float = 0.0
    last_event: float = 0.0
    started: float = field(default_factory=time.perf_counter)


class Executor:
    """The server's half of running a job: the store and the watchers hear of it, once, in one way
    whichever backend ran it. Safe to call from any thread."""

    def __init__(
        self,
        store: JobStore,
        hub: EventHub,
        limits: Limits,
        queue_position: Callable[[str], int],
        *,
        max_attempts: int = 2,
        progress_save_interval: float = 0.5,
        progress_event_interval: float = 0.05,
    ):
        self.store = store
        self.hub = hub
        self.limits = limits
        self.queue_position = queue_position
        self.max_attempts = max_attempts
        self.progress_save_interval = progress_save_interval
        self.progress_event_interval = progress_event_interval

    # -- the whole run, for a backend whose worker shares this process -------------------------

    def run(self, attempt: Attempt, checked: tasks.Checked | None) -> None:
        """Decode (if need be), execute, store. Every outcome lands in the store."""
        try:
            checked = self.prepare(attempt, checked)
            result = execute(checked, attempt.device, lambda p: self.progress(attempt, p))
            if attempt.cancel.is_set():
                raise Cancelled()
            self.finished(attempt, result)
        except Exception as exc:  # every ending is a state
            self.ended(attempt, exc)

    # -- the parts, for a backend that runs `execute` elsewhere --------------------------------

    def prepare(self, attempt: Attempt, checked: tasks.Checked | None) -> tasks.Checked:
        """The job as its worker needs it: as checked at submission when handed over, else
        decoded from the store again (a job queued before a restart)."""
        job_id = attempt.job_id
        if checked is None:
            request = service_pb2.SubmitJobRequest.FromString(self.store.request(job_id))
            checked = tasks.check_submission(request, self.limits)
        elif checked.request is None:  # decoded in a check process; its request was left there
            request = service_pb2.SubmitJobRequest.FromString(self.store.request(job_id))
            checked = checked.with_request(getattr(request, checked.spec.field))
        attempt.job = self.store.get(job_id).to_proto()
        return checked

    def progress(self, attempt: Attempt, progress: Progress) -> None:
        """One step: saved now and then, told to watchers at most ~20 times a second (always a
        phase, the last step and a preview). Raises Cancelled once the job is cancelled."""
        if attempt.cancel.is_set():
            raise Cancelled()
        fraction = progress.step / progress.total if progress.total else 0.0
        now = time.monotonic()
        phase = progress.total == 0  # "loading model...": always said
        last = progress.step == progress.total
        if phase or last or now - attempt.last_saved >= self.progress_save_interval:
            self.store.set_progress(attempt.job_id, fraction, progress.step, progress.total, progress.message)
            attempt.last_saved = now
        # A fast job would otherwise spend its time telling people about itself.
        if self.hub.watcher_count(attempt.job_id) == 0 or (
            now - attempt.last_event < self.progress_event_interval and not (last or phase) and progress.preview is None
        ):
            return
        attempt.last_event = now
        job = jobs_pb2.Job()
        job.CopyFrom(attempt.job)
        job.progress, job.step, job.total_steps, job.message = fraction, progress.step, progress.total, progress.message
        event = jobs_pb2.JobProgress(fraction=fraction, step=progress.step, total_steps=progress.total, message=progress.message)
        if progress.preview is not None:
            event.preview.CopyFrom(keyframe_to_proto(progress.preview))
        self.hub.publish_threadsafe(attempt.job_id, make_event(job, progress=event))

    def finished(self, attempt: Attempt, result: Result) -> None:
        if self.store.save_result(attempt.job_id, result.info, result.keyframes):
            log.info("job %s: finished, %d keyframes in %.3f s (pipeline %.3f s)", attempt.job_id,
                     len(result.keyframes), time.perf_counter() - attempt.started, result.pipeline_seconds)

    def ended(self, attempt: Attempt, exc: Exception) -> None:
        """A run that raised: its job's state says how it ended."""
        job_id = attempt.job_id
        if isinstance(exc, Cancelled):
            if attempt.shutdown:
                self.stopped_by_shutdown(job_id)
            else:
                self._finish(job_id, CANCELLED)
                log.info("job %s: cancelled", job_id)
        elif isinstance(exc, StoreFailure):
            log.error("job %s: the job store failed: %s", job_id, exc)  # health already says NOT_SERVING
        elif isinstance(exc, (InvalidInput, ModelUnavailable)):
            self._finish(job_id, FAILED, error=str(exc))
            log.warning("job %s: failed: %s", job_id, exc)
        else:
            self._finish(job_id, FAILED, error=f"{type(exc).__name__}: {exc}")
            log.error("job %s: failed", job_id, exc_info=exc)

    def stopped_by_shutdown(self, job_id: str, why: str = "the server shut down") -> None:
        """A running job stopped by a shutdown (or a lost worker: `why`): back in the queue while it
        has attempts left, else interrupted."""
        job = self.store.get(job_id)
        if job is None or job.state != RUNNING:
            return
        if job.attempts < self.max_attempts:
            self.store.requeue(job_id, f"re-queued: {why} during attempt {job.attempts}")
            log.warning("job %s: stopped (%s); re-queued for the next start", job_id, why)
        else:
            self.store.finish(job_id, INTERRUPTED, from_states=(RUNNING,),
                              error=f"{why} while the job ran ({job.attempts} attempts)")
            log.warning("job %s: interrupted (%s, its last allowed attempt)", job_id, why)
        self.publish_state(job_id)

    def failed(self, attempt: Attempt, error: str) -> None:
        """A run that failed elsewhere (a remote worker), said in its own words."""
        self._finish(attempt.job_id, FAILED, error=error)
        log.error("job %s: failed: %s", attempt.job_id, error)

    def cancel_queued(self, job_id: str) -> bool:
        """Cancel a job that has not started; False if it had (or is gone)."""
        if not self.store.finish(job_id, CANCELLED, from_states=(QUEUED,)):
            return False
        log.info("job %s: cancelled while queued", job_id)
        self.publish_state(job_id)
        return True

    def publish_state(self, job_id: str) -> None:
        """Tell the job's watchers its state now (from the loop or any thread)."""
        if not self.hub.watcher_count(job_id):
            return
        try:
            record = self.store.get(job_id)
        except StoreFailure:
            return
        if record is None:
            return
        # Published (and the queue position read) on the loop.
        self.hub.call_soon(lambda: self.hub.publish(job_id, snapshot_event(record, self.queue_position(job_id))))

    def _finish(self, job_id: str, state: int, error: str = "") -> None:
        try:
            self.store.finish(job_id, state, error=error, from_states=(RUNNING,))
        except StoreFailure:
            pass  # already reported: health says NOT_SERVING
