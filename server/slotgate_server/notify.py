"""Wake-ups for requests waiting on the server for slots.

Waiters queue per limit. When this process frees slots of a limit, as many waiters as slots
were freed try again at once, oldest first, instead of at the end of their retry hint; a
change of a limit's configuration wakes all of its waiters. Waking only that many keeps a
release from setting off one transaction per waiter."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict, deque
from collections.abc import Iterable


class SlotsFreed:
    def __init__(self) -> None:
        self._queues: defaultdict[str, deque[asyncio.Future[None]]] = defaultdict(deque)

    async def wait(self, names: Iterable[str], timeout: float) -> None:
        """Until slots of one of `names` are freed here, or `timeout` passes."""
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queues = [self._queues[name] for name in names]
        for queue in queues:
            queue.append(woken)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken, timeout)
        finally:
            for name, queue in zip(names, queues, strict=True):
                with contextlib.suppress(ValueError):
                    queue.remove(woken)
                if not queue:
                    self._queues.pop(name, None)

    def notify(self, name: str, slots: float | None = None) -> None:
        """Slots of `name` were freed: wake that many waiters (all of them when None)."""
        queue = self._queues.get(name)
        budget = float("inf") if slots is None else max(1.0, slots)
        while queue and budget > 0:
            woken = queue.popleft()
            if not woken.done():
                woken.set_result(None)
                budget -= 1
