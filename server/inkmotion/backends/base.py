"""The small interface between the service and whatever runs jobs."""

from __future__ import annotations

import abc

from inkmotion.v1 import animation_service_pb2 as service_pb2


class Backend(abc.ABC):
    """Runs jobs that are already in the job store as QUEUED, and reports through the event hub."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Recover jobs left over from a previous run and start taking work."""

    @abc.abstractmethod
    def notify_queued(self, job_id: str) -> None:
        """A new job was stored as QUEUED."""

    @abc.abstractmethod
    def cancel(self, job_id: str) -> None:
        """Cancel a queued job now, or a running one within one step."""

    @abc.abstractmethod
    async def drain(self, timeout: float) -> None:
        """Take no more jobs; let running ones finish for up to `timeout` seconds, then stop them
        and mark them interrupted. Queued jobs stay queued for the next start."""

    @abc.abstractmethod
    def devices(self) -> list[service_pb2.DeviceInfo]:
        """The devices jobs run on."""
