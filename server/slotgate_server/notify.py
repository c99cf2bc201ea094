"""Wake-ups for requests waiting on the server for slots.

Waiters queue per limit. When slots of a limit are freed, as many waiters as slots were freed
try again at once, first in the queue first, instead of at the end of their retry hint; a
change of a limit's configuration wakes all of its waiters. Waking only that many keeps a
release from setting off one transaction per waiter. A waiter that tries and loses goes back
to the front: the queue keeps the order in which requests came."""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Sequence


class SlotsFreed:
    def __init__(self) -> None:
        self._queues: defaultdict[str, deque[asyncio.Future[None]]] = defaultdict(deque)
        # True while every freeing of slots, this process's too, comes back through the
        # database to all processes (store/signals.py); this process then wakes no one itself.
        self.relayed = False
        # Per limit, the waiters that only freed slots can let in (not the drain of a decay).
        # Plain counts: a waiter comes and goes on every acquire of a busy limit, and
        # Counter's update and subtract cost several times a dictionary's own operations.
        self._for_release: dict[str, int] = {}

    def queued(self, names: Sequence[str]) -> bool:
        """Whether requests already wait for slots of every one of `names` to be freed."""
        return all(name in self._for_release for name in names)

    async def wait(
        self, names: Sequence[str], timeout: float, *, ahead: bool = False, for_release: bool = False
    ) -> None:
        """Until slots of one of `names` are freed, or `timeout` passes. `ahead`: at the front
        of the queues (a request that waited before). `for_release`: nothing but freed slots
        can let it in."""
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()
        # The timeout wakes the waiter as a wake-up would (cheaper than asyncio.wait_for, which
        # wraps the future in another and cancels it on the way out).
        timer = loop.call_later(timeout, _wake, woken)
        queues = [self._queues[name] for name in names]
        for queue in queues:
            if ahead:
                queue.appendleft(woken)
            else:
                queue.append(woken)
        if for_release:
            for name in names:
                self._for_release[name] = self._for_release.get(name, 0) + 1
        try:
            await woken
        finally:
            timer.cancel()
            for name, queue in zip(names, queues, strict=True):
                # A waiter woken by `notify` is no longer in that queue; one woken by its timer,
                # or waiting for several limits, still is.
                if woken in queue:
                    queue.remove(woken)
                # Forget the queue once empty, but only if it is still the limit's queue: another
                # waiter may have emptied and dropped it, and a newer one taken its place.
                if not queue and self._queues.get(name) is queue:
                    del self._queues[name]
            if for_release:
                for name in names:
                    if (left := self._for_release[name] - 1) > 0:
                        self._for_release[name] = left
                    else:
                        del self._for_release[name]

    def freed_here(self, name: str, slots: float | None = None) -> None:
        """This process freed slots of `name` (None: any number): wake its waiters now, unless
        the database relays every freeing back to every process, this one included."""
        if not self.relayed:
            self.notify(name, slots)

    def notify(self, name: str, slots: float | None = None) -> None:
        """Slots of `name` were freed: wake that many waiters (all of them when None)."""
        queue = self._queues.get(name)
        budget = float("inf") if slots is None else max(1.0, slots)
        while queue and budget > 0:
            woken = queue.popleft()
            if not woken.done():
                woken.set_result(None)
                budget -= 1


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)
