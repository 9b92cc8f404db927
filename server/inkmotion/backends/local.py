"""The embedded backend: one worker per device in this process, each running one job at a time.

The queue is the job store itself (queued jobs ordered by priority, then arrival), so what is
queued survives a restart without a second copy to keep in step. Pipelines run on a thread per
device; their progress callback is where cancellation takes effect, so a job stops within one step.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from inkmotion import tasks
from inkmotion.codec.proto import animation_info, keyframe_to_proto
from inkmotion.errors import Cancelled, InvalidInput, ModelUnavailable
from inkmotion.events import EventHub, make_event, snapshot_event
from inkmotion.jobs import CANCELLED, FAILED, INTERRUPTED, QUEUED, RUNNING, JobStore
from inkmotion.limits import Limits
from inkmotion.pipelines.base import Progress
from inkmotion.backends.base import Backend
from inkmotion.v1 import animation_service_pb2 as service_pb2
from inkmotion.v1 import jobs_pb2

log = logging.getLogger("inkmotion.worker")


class _Running:
    def __init__(self, job_id: str, device: str):
        self.job_id = job_id
        self.device = device
        self.cancel = threading.Event()
        self.shutdown = False  # cancelled by a drain, not by a user: the job ends INTERRUPTED
        self.last_saved = 0.0
        self.last_event = 0.0
        self.job: jobs_pb2.Job | None = None  # as it was when it started; progress events update a copy


class LocalBackend(Backend):
    def __init__(
        self,
        store: JobStore,
        hub: EventHub,
        devices: list[str],
        limits: Limits,
        *,
        max_attempts: int = 2,
        progress_save_interval: float = 0.5,
        progress_event_interval: float = 0.05,
    ):
        self.store = store
        self.hub = hub
        self.device_names = devices
        self.limits = limits
        self.max_attempts = max_attempts
        self.progress_save_interval = progress_save_interval
        self.progress_event_interval = progress_event_interval
        self._wake = asyncio.Event()
        self._draining = False
        self._running: dict[str, _Running] = {}
        self._workers: list[asyncio.Task] = []
        self._executors = {d: ThreadPoolExecutor(1, thread_name_prefix=f"inkmotion-{d}") for d in devices}

    # -- Backend ------------------------------------------------------------------------------

    async def start(self) -> None:
        requeued, interrupted = self.store.recover(self.max_attempts)
        for job_id in requeued:
            log.warning("job %s: re-queued after the server stopped while it ran", job_id)
        for job_id in interrupted:
            log.warning("job %s: interrupted (the server stopped during its last allowed attempt)", job_id)
        queued = len(self.store.queued())
        if queued:
            log.info("%d queued job(s) from before the restart", queued)
        self._workers = [asyncio.create_task(self._worker(d), name=f"worker-{d}") for d in self.device_names]
        self._wake.set()

    def notify_queued(self, job_id: str) -> None:
        self._wake.set()

    def cancel(self, job_id: str) -> None:
        running = self._running.get(job_id)
        if running is not None:
            running.cancel.set()
            log.info("job %s: cancel requested, stops after the current step", job_id)
            return
        if self.store.finish(job_id, CANCELLED, from_states=(QUEUED,)):
            log.info("job %s: cancelled while queued", job_id)
            self._publish_state(job_id)
            self._publish_positions()

    async def drain(self, timeout: float) -> None:
        self._draining = True
        self._wake.set()
        if self._running:
            log.info("draining: waiting up to %.0f s for %d running job(s)", timeout, len(self._running))
        deadline = time.monotonic() + timeout
        while self._running and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for running in list(self._running.values()):
            running.shutdown = True
            running.cancel.set()
        grace = time.monotonic() + 5.0  # one step should end well within this
        while self._running and time.monotonic() < grace:
            await asyncio.sleep(0.05)
        for job_id in list(self._running):  # a step that will not end: record it and move on
            self.store.finish(job_id, INTERRUPTED, error="the server shut down while the job ran", from_states=(RUNNING,))
            log.warning("job %s: marked interrupted at shutdown", job_id)
        for worker in self._workers:
            worker.cancel()
        for executor in self._executors.values():
            executor.shutdown(wait=False, cancel_futures=True)

    def devices(self) -> list[service_pb2.DeviceInfo]:
        from inkmotion.devices import describe

        return [describe(d) for d in self.device_names]

    # -- the workers --------------------------------------------------------------------------

    async def _worker(self, device: str) -> None:
        loop = asyncio.get_running_loop()
        while not self._draining:
            job = self._claim(device)
            if job is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            running = _Running(job.id, device)
            self._running[job.id] = running
            log.info("job %s: started on %s (%s, attempt %d)", job.id, device, tasks.TASKS[job.task].name, job.attempts)
            self._publish_state(job.id)
            self._publish_positions()
            try:
                await loop.run_in_executor(self._executors[device], self._run, running)
            except Exception:  # _run records its own failures; this is a bug in the worker itself
                log.exception("job %s: worker error", job.id)
                self.store.finish(job.id, FAILED, error="internal error in the worker", from_states=(RUNNING,))
            finally:
                del self._running[job.id]
            self._publish_state(job.id)

    def _claim(self, device: str):
        for job in self.store.queued():
            if self.store.mark_running(job.id, device):
                return self.store.get(job.id)
        return None

    def _run(self, running: _Running) -> None:
        """On the device's thread: check, run, store. Every outcome lands in the store."""
        job_id = running.job_id
        started = time.perf_counter()
        try:
            request = service_pb2.SubmitJobRequest.FromString(self.store.request(job_id))
            checked = tasks.check_submission(request, self.limits)
            running.job = self.store.get(job_id).to_proto()
            piped = time.perf_counter()
            animation = tasks.run_submission(checked, running.device, lambda p: self._on_progress(running, p))
            piped = time.perf_counter() - piped
            if running.cancel.is_set():
                raise Cancelled()
            info = animation_info(animation)
            keyframes = [keyframe_to_proto(k).SerializeToString() for k in animation.keyframes]
            if self.store.save_result(job_id, info, keyframes):
                log.info("job %s: finished, %d keyframes in %.3f s (pipeline %.3f s)",
                         job_id, len(keyframes), time.perf_counter() - started, piped)
        except Cancelled:
            if running.shutdown:
                self.store.finish(job_id, INTERRUPTED, error="the server shut down while the job ran", from_states=(RUNNING,))
                log.warning("job %s: interrupted by shutdown", job_id)
            else:
                self.store.finish(job_id, CANCELLED, from_states=(RUNNING,))
                log.info("job %s: cancelled", job_id)
        except (InvalidInput, ModelUnavailable) as exc:
            self.store.finish(job_id, FAILED, error=str(exc), from_states=(RUNNING,))
            log.warning("job %s: failed: %s", job_id, exc)
        except Exception as exc:
            self.store.finish(job_id, FAILED, error=f"{type(exc).__name__}: {exc}", from_states=(RUNNING,))
            log.exception("job %s: failed", job_id)

    def _on_progress(self, running: _Running, progress: Progress) -> None:
        if running.cancel.is_set():
            raise Cancelled()
        fraction = progress.step / progress.total if progress.total else 0.0
        now = time.monotonic()
        if now - running.last_saved >= self.progress_save_interval or progress.step == progress.total:
            self.store.set_progress(running.job_id, fraction, progress.step, progress.total, progress.message)
            running.last_saved = now
        # Watchers hear at most ~20 progress events a second (and always the last step and any
        # preview): a fast job would otherwise spend its time telling people about itself.
        last = progress.step == progress.total
        if self.hub.watcher_count(running.job_id) == 0 or (
            now - running.last_event < self.progress_event_interval and not last and progress.preview is None
        ):
            return
        running.last_event = now
        job = jobs_pb2.Job()
        job.CopyFrom(running.job)
        job.progress, job.step, job.total_steps, job.message = fraction, progress.step, progress.total, progress.message
        event = jobs_pb2.JobProgress(fraction=fraction, step=progress.step, total_steps=progress.total, message=progress.message)
        if progress.preview is not None:
            event.preview.CopyFrom(keyframe_to_proto(progress.preview))
        self.hub.publish_threadsafe(running.job_id, make_event(job, progress=event))

    # -- events -------------------------------------------------------------------------------

    def _publish_state(self, job_id: str) -> None:
        if self.hub.watcher_count(job_id):
            self.hub.publish(job_id, snapshot_event(self.store, self.store.get(job_id)))

    def _publish_positions(self) -> None:
        """Queue positions moved: tell the watchers of queued jobs."""
        for job_id in self.hub.watched():
            record = self.store.get(job_id)
            if record is not None and record.state == QUEUED:
                self.hub.publish(job_id, snapshot_event(self.store, record))
