"""The queue of waiting requests across server processes (store/queue.py): when a waiting
request takes a place, gives it up or keeps it for a repeat, and the heartbeat that keeps
this process's places served.

A request takes a place once it finds others' places ahead of it, or has waited
PLACE_AFTER_SECONDS and still not been granted:
most waiters are handed slots within milliseconds and never need one, and a place costs
writes (under contention, places for every waiter cost a busy PostgreSQL so much that its
hot statements timed out). From then on no request that arrived after it takes slots of its
limits before it is granted; within that first moment, the queues of each process keep
arrival order among its own waiters. When its
connection ends without a grant, a place of a request with an Idempotency-Key is parked for
SLOTGATE_QUEUE_PLACE_SECONDS: a repeat of the key (the SDK asking again) resumes it, and with
it the request's order; meanwhile it blocks no one. A place that is freed or parked wakes
the requests that come first in line after it, in whichever process they wait; so does a
request woken for freed slots that are for a request ahead of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlalchemy import Connection

from slotgate_server import clock
from slotgate_server.idempotency import IdempotencyKey
from slotgate_server.state import ServerState
from slotgate_server.store import queue as queue_store
from slotgate_server.store import signals
from slotgate_server.store.queue import Place

logger = logging.getLogger(__name__)

PURGE_BATCH = 500
# How long a request waits before it takes a place in the queue.
PLACE_AFTER_SECONDS = 0.5


class QueuePlace:
    """The place of one waiting request on `names` (distinct, sorted), if it holds one."""

    def __init__(self, server: ServerState, *, names: Sequence[str], arrived_at: float, key: IdempotencyKey | None):
        self.server = server
        self.names = list(names)
        self.arrived_at = arrived_at
        self.key = key
        self.place: Place | None = None

    async def resume(self) -> bool:
        """Take over the place kept for the request's key, if there is one (with its order)."""
        if self.key is None or self.place is not None:
            return False
        if await self.server.db.read(queue_store.find, key=self.key) is None:
            return False
        await self.hold()
        return True

    async def hold(self) -> bool:
        """Take a place, unless the request holds one; whether it took one now."""
        if self.place is not None:
            return False
        self.place = await self.server.db.write(
            queue_store.take,
            names=self.names,
            arrived_at=self.arrived_at,
            process=self.server.process_id,
            key=self.key,
        )
        self.server.freed.hold_place(self.place.position)
        return True

    async def pass_on(self, names: Sequence[str]) -> None:
        """Wake the requests first in line on `names` (this one left, or was woken for slots
        that are theirs to take)."""
        firsts = await self.server.db.write(_wake_first_in_line, names=names)
        self.server.freed.next_in_line_here(firsts)

    async def leave(self, *, keep_for_a_repeat: bool) -> None:
        """The request is answered or gone: free its place, or (`keep_for_a_repeat`, with a key)
        park it for a repeat of the key. Either way the requests behind it may come first."""
        if keep_for_a_repeat and self.key is not None:
            await self.hold()  # a request that waited without one keeps its order too
        place, self.place = self.place, None
        if place is None:
            return
        self.server.freed.drop_place(place.position)
        parked_until = clock.now() + self.server.settings.queue_place_seconds if keep_for_a_repeat else None
        await self.server.db.write(_leave, place=place, parked_until=parked_until)
        # Only once the place is gone for everyone: a request that took a place behind it
        # meanwhile is then either seen here, or sees it gone when it decides again.
        await self.pass_on(self.names)


def _leave(conn: Connection, *, place: Place, parked_until: float | None) -> None:
    if parked_until is None:
        queue_store.leave(conn, position=place.position)
    else:
        queue_store.park(conn, position=place.position, until=parked_until)


def _wake_first_in_line(conn: Connection, *, names: Sequence[str]) -> list[int]:
    """The places first in line on `names`, told to every process on commit."""
    firsts = queue_store.first_in_line(conn, names=names, live_after=clock.now() - queue_store.PROCESS_TIMEOUT_SECONDS)
    signals.first_in_line(conn, places=firsts)
    return firsts


async def heartbeat_forever(server: ServerState) -> None:
    """Say that this process lives, so that its places count, for as long as it runs."""
    while True:
        try:
            await server.db.write(queue_store.heartbeat, process=server.process_id, now=clock.now())
        except Exception as error:
            logger.warning("Could not say this process lives (%s); its waiters' places may lapse", error)
        await asyncio.sleep(queue_store.HEARTBEAT_SECONDS)


async def purge(server: ServerState) -> None:
    """Forget parked places that ran out and the places of processes that stopped, a batch per
    transaction."""
    forgotten = PURGE_BATCH
    while forgotten >= PURGE_BATCH:
        now = clock.now()
        forgotten = await server.db.write(
            queue_store.purge, now=now, live_after=now - queue_store.PROCESS_TIMEOUT_SECONDS, batch=PURGE_BATCH
        )
