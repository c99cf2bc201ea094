"""Requests waiting on the server for slots: their queues and wake-ups, and the departure of
their clients.

Waiters queue per limit. When slots of a limit are freed, as many waiters as slots were freed
try again at once, first in the queue first, instead of at the end of their retry hint; a
change of a limit's configuration wakes all of its waiters. Waking only that many keeps a
release from setting off one transaction per waiter. A waiter that tries and loses goes back
to the front: the queue keeps the order in which requests came.

A waiter that holds a place in the queue shared by every process (services/queue.py) is
also woken when its place comes first in line: each such place has a bell here, which rings
whether or not its waiter is waiting at that moment, so a wake-up that arrives between two
looks is kept for the next."""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence

from starlette.types import Receive


class Woken(enum.Enum):
    """What ended a wait."""

    FREED = "freed"  # slots of one of its limits were freed (or the limit changed)
    NEXT_IN_LINE = "next in line"  # its place in the queue came first
    TIMEOUT = "timeout"
    DEPARTED = "departed"  # its client went away


class _Bell:
    """The wake-up of one place in the queue: rung at most once between two waits."""

    def __init__(self) -> None:
        self.rung = False
        self.waiter: asyncio.Future[Woken] | None = None

    def ring(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(Woken.NEXT_IN_LINE)
        else:
            self.rung = True


class SlotsFreed:
    def __init__(self) -> None:
        self._queues: defaultdict[str, deque[asyncio.Future[Woken]]] = defaultdict(deque)
        # True while every freeing of slots, this process's too, comes back through the
        # database to all processes (store/signals.py); this process then wakes no one itself.
        self.relayed = False
        # Per limit, the waiters that only freed slots can let in (not the drain of a decay).
        # Plain counts: a waiter comes and goes on every acquire of a busy limit, and
        # Counter's update and subtract cost several times a dictionary's own operations.
        self._for_release: dict[str, int] = {}
        # Per limit, how many times its freed slots were told here: a waiter that looked before
        # the latest telling, and waits only after it, is woken at once (`freed_since`).
        self._freeings: dict[str, int] = {}
        # The bells of the places in the shared queue that requests in this process hold.
        self._bells: dict[int, _Bell] = {}

    def queued(self, names: Sequence[str]) -> bool:
        """Whether requests already wait for slots of every one of `names` to be freed."""
        return all(name in self._for_release for name in names)

    async def wait(
        self,
        names: Sequence[str],
        timeout: float,
        *,
        ahead: bool = False,
        for_release: bool = False,
        departure: Departure | None = None,
        place: int | None = None,
        freed_since: Mapping[str, int] | None = None,
    ) -> Woken:
        """Until slots of one of `names` are freed, `timeout` passes, the client of the request
        departs, or the request's `place` in the queue (held: `hold_place`) comes first in
        line, whichever is first; which it was. `ahead`: at the front of the queues (a request
        that waited before). `for_release`: nothing but freed slots can let it in.
        `freed_since`: the `freeings` it saw when it last looked; slots freed since then wake it
        at once."""
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[Woken] = loop.create_future()
        # The timeout wakes the waiter as a wake-up would (cheaper than asyncio.wait_for, which
        # wraps the future in another and cancels it on the way out).
        timer = loop.call_later(timeout, _wake, woken, Woken.TIMEOUT)
        if departure is not None:
            departure.on_departure(woken)
        if freed_since is not None and any(self._freeings.get(name, 0) != freed_since.get(name, 0) for name in names):
            _wake(woken, Woken.FREED)
        bell = None if place is None else self._bells.get(place)
        if bell is not None:
            if bell.rung:
                bell.rung = False
                _wake(woken, Woken.NEXT_IN_LINE)
            bell.waiter = woken
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
            return await woken
        finally:
            timer.cancel()
            if departure is not None:
                departure.forget(woken)
            if bell is not None:
                bell.waiter = None
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

    def hold_place(self, place: int) -> None:
        """A request in this process holds `place` in the shared queue: from now on, its
        coming first in line is kept until the request next waits."""
        self._bells.setdefault(place, _Bell())

    def drop_place(self, place: int) -> None:
        self._bells.pop(place, None)

    def next_in_line_here(self, places: Iterable[int]) -> None:
        """These places came first in line (as this process found): wake their requests,
        unless the database relays it to every process, this one included."""
        if not self.relayed:
            self.wake_places(places)

    def wake_places(self, places: Iterable[int]) -> None:
        """Wake the requests of these places that wait in this process."""
        for place in places:
            if (bell := self._bells.get(place)) is not None:
                bell.ring()

    def freeings(self, names: Sequence[str]) -> dict[str, int]:
        """How many times freed slots of each of `names` were told here, for `wait`."""
        return {name: self._freeings.get(name, 0) for name in names}

    def notify(self, name: str, slots: float | None = None) -> None:
        """Slots of `name` were freed: wake that many waiters (all of them when None)."""
        self._freeings[name] = self._freeings.get(name, 0) + 1
        queue = self._queues.get(name)
        budget = float("inf") if slots is None else max(1.0, slots)
        while queue and budget > 0:
            woken = queue.popleft()
            if not woken.done():
                woken.set_result(Woken.FREED)
                budget -= 1


def _wake(woken: asyncio.Future[Woken], why: Woken) -> None:
    if not woken.done():
        woken.set_result(why)


class Departure:
    """Whether the client of a request has gone: its connection closed, which the server hears
    as ASGI's `http.disconnect` once the request's body has been read.

    It listens only once asked (`listen`): a request that is answered without waiting costs
    nothing. Stop it (`stop`) before the answer is sent: once the answer is complete, the
    server reports every request as disconnected."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._listener: asyncio.Task[None] | None = None
        self._waiters: set[asyncio.Future[Woken]] = set()
        self.departed = False

    def listen(self) -> None:
        if self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(self._listen(), name="slotgate-departure")

    def on_departure(self, woken: asyncio.Future[Woken]) -> None:
        """Wake `woken` when the client departs (at once if it has)."""
        self.listen()
        if self.departed:
            _wake(woken, Woken.DEPARTED)
        else:
            self._waiters.add(woken)

    def forget(self, woken: asyncio.Future[Woken]) -> None:
        self._waiters.discard(woken)

    async def stop(self) -> None:
        """Stop listening; whether the client departed stays as it was last heard."""
        listener, self._listener = self._listener, None
        if listener is not None and not listener.done():
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _listen(self) -> None:
        # The body was read whole before the request was decided: what comes now is the end.
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self.departed = True
        for woken in self._waiters:
            _wake(woken, Woken.DEPARTED)
        self._waiters.clear()
