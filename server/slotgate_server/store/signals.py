"""Freed slots, told to every server process on one PostgreSQL.

A process wakes its own waiters when it frees slots. Waiters in other processes (uvicorn
workers, replicas) learn of it through PostgreSQL's NOTIFY on one channel, sent in the
transaction that frees the slots (so it arrives once they are visible), and LISTEN on a
connection of each process's own. SQLite serves one process: nothing to tell.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import psycopg
from sqlalchemy import Connection, make_url, text

CHANNEL = "slotgate_slots_freed"


@dataclass(frozen=True)
class Freed:
    """`slots` slots of each of `names` were freed (None: any number, e.g. a limit was raised),
    by the process `origin`."""

    origin: str
    names: list[str]
    slots: int | None


def payload_sql(*, origin: str, names: str, slots: str) -> str:
    """The SQL expression of a notification's payload, for a NOTIFY sent inside a statement."""
    return f"json_build_object('origin', {origin}, 'names', {names}, 'slots', {slots})::text"


_ANNOUNCE = text(f"SELECT pg_notify('{CHANNEL}', :payload)")


def announce(conn: Connection, *, origin: str, names: Sequence[str], slots: int | None) -> None:
    """Tell the other processes, when the caller's transaction commits."""
    if conn.dialect.name != "postgresql":
        return
    payload = json.dumps({"origin": origin, "names": list(names), "slots": slots})
    conn.execute(_ANNOUNCE, {"payload": payload})


def parse(payload: str) -> Freed | None:
    """The notification, or None if it is not one of ours."""
    try:
        message = json.loads(payload)
        return Freed(origin=str(message["origin"]), names=list(message["names"]), slots=message["slots"])
    except (ValueError, KeyError, TypeError):
        return None


async def listen(database_url: str) -> AsyncIterator[Freed]:
    """Notifications as they arrive, until the connection fails (the caller reconnects)."""
    conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute(f"LISTEN {CHANNEL}")
        async for notification in conn.notifies():
            if (freed := parse(notification.payload)) is not None:
                yield freed
