"""Wake-ups for requests waiting on slots: whenever this process frees slots or changes a
limit, every waiter tries again at once instead of at the end of its retry hint."""

from __future__ import annotations

import asyncio
import contextlib


class SlotsFreed:
    """An edge-triggered signal: `wait` returns at the next `notify`, or after `timeout`."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
