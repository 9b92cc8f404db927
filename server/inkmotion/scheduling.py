"""The fair queue: which queued job starts next when several users share a server.

Jobs compete by priority first (a plain user may only lower theirs; the token file can grant
more). Among equal priorities the user whose last job started longest ago goes first, so users
take turns: one user's 500 queued jobs delay another user's next job by at most one of theirs.
Within a user, their own jobs run by priority, then first come.

The job store stays the record of what is queued; this is the order, kept in memory, rebuilt
from the store at start (`FairQueue.load`). The whole order is simulated in one pass
(O(queued x log users)) and cached until the queue changes, so positions for every watcher
cost one pass, not one query each.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import time
from dataclasses import dataclass, field


@dataclass(order=True)
class _Entry:
    sort_key: tuple  # (-priority, seq): a user's own order
    job_id: str = field(compare=False)
    owner: str = field(compare=False)


class FairQueue:
    def __init__(self, last_starts: dict[str, float] | None = None):
        self._queues: dict[str, list[_Entry]] = {}
        self._entries: dict[str, _Entry] = {}
        self._last_start: dict[str, float] = dict(last_starts or {})
        self._order: list[str] | None = None
        self._positions: dict[str, int] | None = None

    @classmethod
    def load(cls, store) -> "FairQueue":
        queue = cls(store.last_starts())
        for record in store.queued():
            queue.add(record.id, record.owner, record.priority, record.seq)
        return queue

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, job_id: str) -> bool:
        return job_id in self._entries

    def add(self, job_id: str, owner: str, priority: int, seq: int) -> None:
        entry = _Entry((-priority, seq), job_id, owner)
        bisect.insort(self._queues.setdefault(owner, []), entry)
        self._entries[job_id] = entry
        self._changed()

    def remove(self, job_id: str) -> bool:
        entry = self._entries.pop(job_id, None)
        if entry is None:
            return False
        own = self._queues[entry.owner]
        own.pop(bisect.bisect_left(own, entry))
        if not own:
            del self._queues[entry.owner]
        self._changed()
        return True

    def started(self, job_id: str, when: float | None = None) -> None:
        """The job left the queue to run: its owner goes to the back of the turn order."""
        entry = self._entries.get(job_id)
        if entry is not None:
            self._last_start[entry.owner] = time.time() if when is None else when
            self.remove(job_id)

    def count(self, owner: str) -> int:
        return len(self._queues.get(owner, ()))

    def order(self) -> list[str]:
        """Queued job ids in the order they would start if nothing else arrived."""
        if self._order is None:
            self._order = self._simulate()
            self._positions = {job_id: i for i, job_id in enumerate(self._order)}
        return self._order

    def position(self, job_id: str) -> int | None:
        """Jobs that start before this one (None: not queued)."""
        self.order()
        return self._positions.get(job_id)

    def _changed(self) -> None:
        self._order = self._positions = None

    def _simulate(self) -> list[str]:
        # Each user's turn key: (their head job's -priority, when they last started, head seq).
        # Simulated starts come after every real one: (1, n) sorts after (0, any time).
        tick = itertools.count()
        heap = []
        for owner, own in self._queues.items():
            last = self._last_start.get(owner)
            turn = (0, float("-inf") if last is None else last)
            head = own[0].sort_key
            heap.append((head[0], turn, head[1], owner, 0))
        heapq.heapify(heap)
        order = []
        while heap:
            _, _, _, owner, index = heapq.heappop(heap)
            own = self._queues[owner]
            order.append(own[index].job_id)
            if index + 1 < len(own):
                head = own[index + 1].sort_key
                heapq.heappush(heap, (head[0], (1, next(tick)), head[1], owner, index + 1))
        return order
