"""The embedded backend: one worker per device in this process, each running one job at a time.

The job store holds what is queued (it survives a restart); the fair queue (`inkmotion.scheduling`)
holds the order. Each job runs through the `Executor` (inkmotion.executor) on a daemon thread per
device; its progress callback is where cancellation takes effect, so a job stops within one step.
A step that never ends does not hold up a shutdown: the job goes back in the queue and the process
leaves the thread behind.

A job checked at submission is handed to its worker decoded (`tasks.Checked`); only jobs from
before a restart are decoded again.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import OrderedDict

from inkmotion import tasks
from inkmotion.backends.base import QueueBackend, loaded_models
from inkmotion.events import EventHub
from inkmotion.executor import Attempt
from inkmotion.jobs import FAILED, RUNNING, JobStore, StoreFailure
from inkmotion.limits import Limits
from inkmotion.v1 import animation_service_pb2 as service_pb2

log = logging.getLogger("inkmotion.worker")

HANDOFF_SIZE = 32  # decoded submissions kept for their workers; older ones are decoded again
STOP_GRACE = 3.0  # seconds a cancelled step gets to end at shutdown before it is left behind


class DeviceThread:
    """One daemon thread running calls in order; `run` awaits a call's result on the loop.

    Daemon, unlike a ThreadPoolExecutor's workers (which the interpreter joins at exit): a
    pipeline stuck inside one long step cannot keep the process alive after a shutdown."""

    def __init__(self, name: str):
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self.busy = False
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    async def run(self, fn, *args):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._calls.put((fn, args, future, loop))
        return await future

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            fn, args, future, loop = call
            self.busy = True
            try:
                outcome, value = "result", fn(*args)
            except BaseException as exc:  # handed to the awaiting coroutine
                outcome, value = "exception", exc
            self.busy = False
            loop.call_soon_threadsafe(_settle, future, outcome, value)

    def stop(self) -> None:
        self._calls.put(None)


def _settle(future: asyncio.Future, outcome: str, value) -> None:
    if not future.done():
        getattr(future, f"set_{outcome}")(value)


class LocalBackend(QueueBackend):
    name = "local"

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
        position_interval: float = 0.25,
    ):
        super().__init__(store, hub, limits, max_attempts=max_attempts, progress_save_interval=progress_save_interval,
                         progress_event_interval=progress_event_interval, position_interval=position_interval)
        self.device_names = devices
        self._wake = asyncio.Event()
        self._draining = False
        self._running: dict[str, Attempt] = {}
        self._handoff: OrderedDict[str, tasks.Checked] = OrderedDict()
        self._workers: list[asyncio.Task] = []
        self._threads = {d: DeviceThread(f"inkmotion-{d}") for d in devices}
        self._done: dict[str, int] = {}  # device -> jobs run to an end

    # -- Backend ------------------------------------------------------------------------------

    async def start(self) -> None:
        self.recover_queue()
        self._workers = [asyncio.create_task(self._worker(d), name=f"worker-{d}") for d in self.device_names]
        self._workers.append(asyncio.create_task(self.publish_positions(), name="queue-positions"))
        self._wake.set()

    def notify_queued(self, record, checked=None) -> None:
        self.queue.add(record.id, record.owner, record.priority, record.seq)
        if checked is not None:
            self._handoff[record.id] = checked
            while len(self._handoff) > HANDOFF_SIZE:
                self._handoff.popitem(last=False)
        self.positions_moved.set()
        self._wake.set()

    def cancel(self, job_id: str) -> None:
        running = self._running.get(job_id)
        if running is not None:
            running.cancel.set()
            log.info("job %s: cancel requested, stops after the current step", job_id)
            return
        if self.executor.cancel_queued(job_id):
            self.queue.remove(job_id)
            self._handoff.pop(job_id, None)
            self.positions_moved.set()

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
        grace = time.monotonic() + STOP_GRACE  # a step with a progress callback ends well within this
        while self._running and time.monotonic() < grace:
            await asyncio.sleep(0.05)
        for job_id, running in list(self._running.items()):  # a step that will not end: leave it
            self.executor.stopped_by_shutdown(job_id)
            log.warning("job %s: its step did not end within %.0f s of the shutdown; left behind", job_id, STOP_GRACE)
        for worker in self._workers:
            worker.cancel()
        for thread in self._threads.values():
            thread.stop()

    def workers(self) -> list[service_pb2.WorkerInfo]:
        from inkmotion.devices import describe

        running = {attempt.device: job_id for job_id, attempt in list(self._running.items())}
        return [service_pb2.WorkerInfo(
            name=device, node="local", device=describe(device), models=loaded_models(device),
            state=service_pb2.WORKER_STATE_BUSY if device in running else service_pb2.WORKER_STATE_IDLE,
            job_id=running.get(device, ""), jobs_done=self._done.get(device, 0)) for device in self.device_names]

    def stuck(self) -> bool:
        """Whether a device thread is still inside a job (after a drain: one that never ended)."""
        return any(thread.busy for thread in self._threads.values())

    def devices(self) -> list[service_pb2.DeviceInfo]:
        from inkmotion.devices import describe

        return [describe(d) for d in self.device_names]

    # -- the workers --------------------------------------------------------------------------

    async def _worker(self, device: str) -> None:
        while not self._draining:
            job = self._claim(device)
            if job is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            attempt = Attempt(job.id, device)
            self._running[job.id] = attempt
            log.info("job %s: started on %s (%s, attempt %d)", job.id, device, job.name, job.attempts)
            self.executor.publish_state(job.id)
            self.positions_moved.set()
            checked = self._handoff.pop(job.id, None)
            try:
                await self._threads[device].run(self.executor.run, attempt, checked)
            except asyncio.CancelledError:  # the drain gave up on this job's step
                raise
            except Exception:  # the executor records every failure of a job; this is a bug in it
                log.exception("job %s: worker error", job.id)
                try:
                    self.store.finish(job.id, FAILED, error="internal error in the worker", from_states=(RUNNING,))
                except StoreFailure:
                    pass
            finally:
                self._running.pop(job.id, None)
                self._done[device] = self._done.get(device, 0) + 1
            self.executor.publish_state(job.id)

    def _claim(self, device: str):
        for job_id in list(self.queue.order()):
            if self.store.mark_running(job_id, device):
                self.queue.started(job_id)
                return self.store.get(job_id)
            self.queue.remove(job_id)  # cancelled or gone meanwhile: no turn used
            self._handoff.pop(job_id, None)
        return None
