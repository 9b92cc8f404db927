"""The small interface between the service and whatever runs jobs."""

from __future__ import annotations

import abc

from inkmotion.v1 import animation_service_pb2 as service_pb2


class Backend(abc.ABC):
    """Runs jobs that are already in the job store as QUEUED, and reports through the event hub.
    The backend owns the queue's order (fair share across users)."""

    name = ""  # as `inkmotion serve --backend` names it
    # Set by the server: the backend tells it when it cannot run jobs (a cluster gone) and when it
    # can again, health(serving, why); health then says NOT_SERVING, and jobs wait.
    on_health = staticmethod(lambda serving, why: None)

    @abc.abstractmethod
    async def start(self) -> None:
        """Recover jobs left over from a previous run and start taking work."""

    @abc.abstractmethod
    def notify_queued(self, record, checked=None) -> None:
        """A new job was stored as QUEUED (`record`, a JobRecord). `checked` is its request as
        checked and decoded at submission (tasks.Checked), so it need not be decoded again."""

    @abc.abstractmethod
    def queue_position(self, job_id: str) -> int:
        """Jobs that start before this queued one (0: next)."""

    @abc.abstractmethod
    def queued_count(self, owner: str) -> int:
        """How many of this user's jobs are waiting."""

    @abc.abstractmethod
    def cancel(self, job_id: str) -> None:
        """Cancel a queued job now, or a running one within one step."""

    @abc.abstractmethod
    async def drain(self, timeout: float) -> None:
        """Take no more jobs; let running ones finish for up to `timeout` seconds, then stop them
        and put them back in the queue (or mark them interrupted once out of attempts). Returns
        within `timeout` plus a few seconds even if a step never ends."""

    @abc.abstractmethod
    def devices(self) -> list[service_pb2.DeviceInfo]:
        """The devices jobs run on."""

    def workers(self) -> list[service_pb2.WorkerInfo]:
        """Where jobs run now: each worker's device, state, loaded models, job and jobs done."""
        return []


def loaded_models(device: str | None = None) -> list[str]:
    """The models this process holds loaded (on `device`), most recently used first; none when no
    model was ever loaded (the cache, and torch, not imported yet)."""
    import sys

    cache = sys.modules.get("inkmotion.models.cache")
    return cache and sys.modules["inkmotion.models"].CACHE.loaded(device) or []


class QueueBackend(Backend):
    """What the backends share: the fair queue (inkmotion.scheduling), recovered from the job store
    at start, and the queue positions its watchers hear. A subclass sets `store`, `hub`,
    `max_attempts` and `position_interval`, calls `recover_queue()` in `start`, runs
    `publish_positions()` as a task, and sets `positions_moved` (an asyncio.Event it makes) when
    the queue changes."""

    def __init__(self, store, hub, limits, *, max_attempts: int = 2, progress_save_interval: float = 0.5,
                 progress_event_interval: float = 0.05, position_interval: float = 0.25):
        import asyncio

        from inkmotion.executor import Executor
        from inkmotion.scheduling import FairQueue

        self.store, self.hub, self.limits = store, hub, limits
        self.max_attempts = max_attempts
        self.position_interval = position_interval
        self.executor = Executor(store, hub, limits, self.queue_position, max_attempts=max_attempts,
                                 progress_save_interval=progress_save_interval,
                                 progress_event_interval=progress_event_interval)
        self.queue = FairQueue()
        self.positions_moved = asyncio.Event()
        self._sent_positions: dict[str, int] = {}

    def recover_queue(self) -> None:
        import logging

        from inkmotion.scheduling import FairQueue

        log = logging.getLogger("inkmotion.worker")
        requeued, interrupted = self.store.recover(self.max_attempts)
        for job_id in requeued:
            log.warning("job %s: re-queued after the server stopped while it ran", job_id)
        for job_id in interrupted:
            log.warning("job %s: interrupted (the server stopped during its last allowed attempt)", job_id)
        self.queue = FairQueue.load(self.store)
        if len(self.queue):
            log.info("%d queued job(s) from before the restart", len(self.queue))
        self._sent_positions: dict[str, int] = {}

    def queue_position(self, job_id: str) -> int:
        position = self.queue.position(job_id)
        return 0 if position is None else position

    def queued_count(self, owner: str) -> int:
        return self.queue.count(owner)

    async def publish_positions(self) -> None:
        """Queue positions, coalesced: however many jobs start, arrive or leave in a moment, each
        watcher of a queued job hears its new position at most once per `position_interval`, and
        only when it changed. One pass of the fair queue serves every watcher."""
        import asyncio

        from inkmotion.events import snapshot_event
        from inkmotion.jobs import QUEUED, StoreFailure

        while True:
            await self.positions_moved.wait()
            self.positions_moved.clear()
            sent, self._sent_positions = self._sent_positions, {}
            for job_id in self.hub.watched():
                position = self.queue.position(job_id)
                if position is None:
                    continue
                self._sent_positions[job_id] = position
                if sent.get(job_id) == position:
                    continue
                try:
                    record = self.store.get(job_id)
                except StoreFailure:
                    break
                if record is not None and record.state == QUEUED:
                    self.hub.publish(job_id, snapshot_event(record, position))
            await asyncio.sleep(self.position_interval)
