"""Queries on the queue of waiting requests. They run inside the caller's transaction and
never commit.

A request that waits takes a place in the queue of its limits; while a place serves a
request that arrived earlier, no later request takes slots of those limits (`AHEAD`, part of
every take's judgement, store/admission.py). Places are ordered by arrival (`arrived_at`,
then `position`), so the order holds across server processes. A place counts only while its
process lives (it says so every few seconds: `heartbeat`) and a connection waits in it: a
parked place blocks no one, and keeps its order only for a repeat of its Idempotency-Key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from slotgate_server.idempotency import IdempotencyKey
from slotgate_server.store.tables import limits, queue_place_limits, queue_places, server_processes

# Whether a place of a request that arrived before this one (`:queued_at`, `:place`) is
# served on the limit of `{row}`: then this request takes none of its slots.
AHEAD = """EXISTS (
    SELECT 1 FROM queue_place_limits AS ahead_on
    JOIN queue_places AS ahead ON ahead.position = ahead_on.place
    JOIN server_processes AS owner ON owner.id = ahead.process
    WHERE ahead_on.limit_id = {row}.id AND ahead.parked_until IS NULL AND owner.seen_at > :live_after
        AND (ahead.arrived_at < :queued_at OR (ahead.arrived_at = :queued_at AND ahead.position < :place)))"""

# The `:place` of a request that holds none: behind every place that arrived when it did.
NO_PLACE = 2**62
# A process that has not said it lives for this long serves none of its places.
PROCESS_TIMEOUT_SECONDS = 5.0
# How often a process says it lives.
HEARTBEAT_SECONDS = 1.0


@dataclass(frozen=True)
class Place:
    position: int
    arrived_at: float


def find(conn: Connection, *, key: IdempotencyKey) -> Place | None:
    """The place kept for this key, if there is one."""
    row = conn.execute(
        select(queue_places.c.position, queue_places.c.arrived_at).where(
            queue_places.c.scope == key.scope, queue_places.c.key == key.key
        )
    ).first()
    return None if row is None else Place(position=row.position, arrived_at=row.arrived_at)


def take(
    conn: Connection, *, names: Sequence[str], arrived_at: float, process: str, key: IdempotencyKey | None
) -> Place:
    """A place served by `process`, for a request on `names` that arrived at `arrived_at`: the
    one kept for its key (which it resumes, with its order), or a new one."""
    if key is not None and (kept := find(conn, key=key)) is not None:
        conn.execute(
            update(queue_places)
            .where(queue_places.c.position == kept.position)
            .values(process=process, parked_until=None)
        )
        return kept
    row = {"arrived_at": arrived_at, "process": process}
    if key is not None:
        row |= {"scope": key.scope, "key": key.key}
    position = conn.execute(insert(queue_places).values(**row).returning(queue_places.c.position)).scalar_one()
    named = select(literal(position), limits.c.id).where(limits.c.name.in_(list(names)))
    conn.execute(insert(queue_place_limits).from_select(["place", "limit_id"], named))
    return Place(position=position, arrived_at=arrived_at)


def leave(conn: Connection, *, position: int) -> None:
    conn.execute(delete(queue_places).where(queue_places.c.position == position))


def first_in_line(conn: Connection, *, names: Sequence[str], live_after: float) -> list[int]:
    """The served place that comes first in each of the queues of `names` (by arrival)."""
    order = func.row_number().over(
        partition_by=queue_place_limits.c.limit_id, order_by=(queue_places.c.arrived_at, queue_places.c.position)
    )
    ranked = (
        select(queue_places.c.position, order.label("rank"))
        .join(queue_place_limits, queue_place_limits.c.place == queue_places.c.position)
        .join(limits, limits.c.id == queue_place_limits.c.limit_id)
        .join(server_processes, server_processes.c.id == queue_places.c.process)
        .where(
            limits.c.name.in_(list(names)),
            queue_places.c.parked_until.is_(None),
            server_processes.c.seen_at > live_after,
        )
        .subquery()
    )
    return sorted(set(conn.execute(select(ranked.c.position).where(ranked.c.rank == 1)).scalars()))


def park(conn: Connection, *, position: int, until: float) -> None:
    """No connection waits in the place any more: it blocks no one, and is kept until `until`."""
    conn.execute(update(queue_places).where(queue_places.c.position == position).values(parked_until=until))


def heartbeat(conn: Connection, *, process: str, now: float) -> None:
    dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(server_processes).values(id=process, seen_at=now)
    conn.execute(statement.on_conflict_do_update(index_elements=["id"], set_={"seen_at": now}))


_PURGE = text("""
    DELETE FROM queue_places WHERE position IN (
        SELECT position FROM queue_places
        WHERE parked_until < :now OR process NOT IN (SELECT id FROM server_processes WHERE seen_at > :live_after)
        LIMIT :batch)""")


def purge(conn: Connection, *, now: float, live_after: float, batch: int) -> int:
    """Forget at most `batch` places whose parking ran out or whose process stopped living,
    and the processes long gone; how many places were forgotten."""
    forgotten: int = conn.execute(_PURGE, {"now": now, "live_after": live_after, "batch": batch}).rowcount
    conn.execute(delete(server_processes).where(server_processes.c.seen_at <= live_after))
    return forgotten
