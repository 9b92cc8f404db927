"""Time budgets for work done on a caller's behalf before anything is queued.

A request is checked (parsed, decoded, traced) in a worker thread with a budget; the long loops
of the codecs call `check_budget()` now and then, which raises `InvalidInput` naming the field
once the budget is spent. A thread cannot be stopped from outside, so this is how a hostile or
merely enormous input gives the thread back within a fraction of a second of its budget.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

from inkmotion.errors import InvalidInput

_local = threading.local()


@contextmanager
def time_budget(seconds: float, field: str = "request"):
    """Checks in this thread inside the block must finish within `seconds`."""
    previous = getattr(_local, "budget", None)
    _local.budget = (time.monotonic() + seconds, seconds, field)
    try:
        yield
    finally:
        _local.budget = previous


def check_budget(field: str | None = None) -> None:
    """Raise InvalidInput if this thread's budget (if any) is spent."""
    budget = getattr(_local, "budget", None)
    if budget is not None and time.monotonic() > budget[0]:
        raise InvalidInput(
            field or budget[2],
            f"took more than the {budget[1]:g} s allowed to check it; send a simpler or smaller input",
        )
