"""Job events: built from the store's view of a job, fanned out to every watcher of that job."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

from google.protobuf.timestamp_pb2 import Timestamp

from inkmotion.jobs import CANCELLED, FAILED, INTERRUPTED, QUEUED, RUNNING, SUCCEEDED, JobRecord
from inkmotion.v1 import jobs_pb2


def make_event(job: jobs_pb2.Job, **kind) -> jobs_pb2.JobEvent:
    now = Timestamp()
    now.FromNanoseconds(time.time_ns())
    return jobs_pb2.JobEvent(job=job, time=now, **kind)


def snapshot_event(record: JobRecord, position: int = 0) -> jobs_pb2.JobEvent:
    """The event that describes a job as it stands: what a watcher sees first. `position`: jobs
    ahead of it, while it is queued."""
    if record.state == QUEUED:
        return make_event(record.to_proto(position), queued=jobs_pb2.JobQueued(position=position))
    job = record.to_proto()
    if record.state == RUNNING:
        if record.step == 0 and record.progress == 0 and record.message in ("", "started"):
            return make_event(job, started=jobs_pb2.JobStarted(device=record.device))
        # Past its start: where it is, a step or a phase ("loading model ...") a late watcher must see.
        return make_event(job, progress=jobs_pb2.JobProgress(
            fraction=record.progress, step=record.step, total_steps=record.total_steps, message=record.message))
    if record.state == SUCCEEDED:
        return make_event(job, finished=jobs_pb2.JobFinished(result=job.result))
    if record.state == FAILED:
        return make_event(job, failed=jobs_pb2.JobFailed(reason=record.error))
    if record.state == CANCELLED:
        return make_event(job, cancelled=jobs_pb2.JobCancelled())
    if record.state == INTERRUPTED:
        return make_event(job, interrupted=jobs_pb2.JobInterrupted(reason=record.error))
    raise ValueError(f"job {record.id} has unknown state {record.state}")


class EventHub:
    """Per-job fan-out to asyncio queues. `publish` runs on the loop; worker threads use
    `publish_threadsafe`. A slow watcher's queue is bounded: progress events are dropped for it,
    state changes are not."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_backlog: int = 256):
        self._loop = loop
        self._watchers: dict[str, set[asyncio.Queue]] = defaultdict(set)
        self._max_backlog = max_backlog

    def subscribe(self, job_id: str) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue()
        self._watchers[job_id].add(queue)
        return queue

    def unsubscribe(self, job_id: str, queue: asyncio.Queue) -> None:
        watchers = self._watchers.get(job_id)
        if watchers is not None:
            watchers.discard(queue)
            if not watchers:
                del self._watchers[job_id]

    def watched(self) -> list[str]:
        return list(self._watchers)

    def watcher_count(self, job_id: str) -> int:
        return len(self._watchers.get(job_id, ()))

    def publish(self, job_id: str, event: jobs_pb2.JobEvent) -> None:
        droppable = event.WhichOneof("kind") == "progress"
        for queue in self._watchers.get(job_id, ()):
            if droppable and queue.qsize() >= self._max_backlog:
                continue
            queue.put_nowait(event)

    def publish_threadsafe(self, job_id: str, event: jobs_pb2.JobEvent) -> None:
        self._loop.call_soon_threadsafe(self.publish, job_id, event)

    def call_soon(self, callback) -> None:
        """Run `callback` on the loop, from the loop or any thread."""
        self._loop.call_soon_threadsafe(callback)
