"""Freed slots, told to every server process on one PostgreSQL.

Waiters in any process (uvicorn workers, replicas) learn of freed slots through PostgreSQL's
NOTIFY on one channel, sent in the transaction that frees them (so it arrives once they are
visible), and LISTEN on a connection of each process's own. The process that freed them hears
it too, and wakes its waiters only then: every process's waiters start the race for the slots
at the same moment, so no process keeps the slots it happens to hold. SQLite serves one
process, which wakes its own waiters directly.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import psycopg
from sqlalchemy import Connection, text

from slotgate_server.store.database import postgres_conninfo

CHANNEL = "slotgate_slots_freed"


@dataclass(frozen=True)
class Freed:
    """`slots` slots of each of `names` were freed (None: any number, e.g. a limit was raised);
    the requests in `places` of the queue came first in line (store/queue.py)."""

    names: list[str]
    slots: int | None
    places: list[int] = field(default_factory=list)


def payload_sql(*, names: str, slots: str) -> str:
    """The SQL expression of a notification's payload, for a NOTIFY sent inside a statement."""
    return f"json_build_object('names', {names}, 'slots', {slots})::text"


_ANNOUNCE = text(f"SELECT pg_notify('{CHANNEL}', :payload)")


def announce(conn: Connection, *, names: Sequence[str], slots: int | None) -> None:
    """Tell every process, when the caller's transaction commits."""
    _notify(conn, {"names": list(names), "slots": slots})


def first_in_line(conn: Connection, *, places: Sequence[int]) -> None:
    """Tell every process that the requests in `places` came first in line, when the caller's
    transaction commits."""
    if places:
        _notify(conn, {"names": [], "slots": None, "places": list(places)})


def _notify(conn: Connection, message: dict[str, object]) -> None:
    if conn.dialect.name == "postgresql":  # SQLite serves one process, which wakes its own
        conn.execute(_ANNOUNCE, {"payload": json.dumps(message)})


def parse(payload: str) -> Freed | None:
    """The notification, or None if it is not one of ours."""
    try:
        message = json.loads(payload)
        return Freed(
            names=[str(name) for name in message["names"]],
            slots=message["slots"],
            places=[int(place) for place in message.get("places", [])],
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


async def listen(database_url: str, *, listening: Callable[[], None]) -> AsyncIterator[Freed]:
    """Notifications as they arrive, until the connection fails (the caller reconnects).
    `listening` is called once nothing can be missed any more."""
    async with await psycopg.AsyncConnection.connect(postgres_conninfo(database_url), autocommit=True) as conn:
        await conn.execute(f"LISTEN {CHANNEL}")
        listening()
        async for notification in conn.notifies():
            if (freed := parse(notification.payload)) is not None:
                yield freed
