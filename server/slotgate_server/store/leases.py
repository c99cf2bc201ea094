"""Queries on leases. They run inside the caller's transaction and never commit."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, select, update

from slotgate_server import slots
from slotgate_server.store.records import LeaseRecord
from slotgate_server.store.tables import lease_limits, leases, limits

# Built once: a statement object reused keeps its cache key (see store/limits.py).
_DROP_LINKS = delete(lease_limits).where(lease_limits.c.lease_token.in_(bindparam("tokens", expanding=True)))


def record(row: Mapping[Any, Any]) -> LeaseRecord:
    """A lease from a row of its columns."""
    names = row["names"]
    return LeaseRecord(
        fencing_token=row["fencing_token"],
        id=row["id"],
        # JSON text where SQLite's driver is read directly, a list where SQLAlchemy decoded it.
        names=list(json.loads(names) if isinstance(names, str) else names),
        slots=row["slots"],
        holder=row["holder"],
        lease_duration=row["lease_duration"],
        created=row["created"],
        expires_at=row["expires_at"],
        ended_at=row["ended_at"],
        end_reason=row["end_reason"],
    )


def get_lease(conn: Connection, *, lease_id: str, lock: bool = False) -> LeaseRecord | None:
    query = select(leases).where(leases.c.id == lease_id)
    if lock:
        query = query.with_for_update()
    row = (conn.execute(query)).first()
    return record(row._mapping) if row else None


def end_leases(conn: Connection, *, tokens: Sequence[int], reason: str, now: float) -> None:
    conn.execute(update(leases).where(leases.c.fencing_token.in_(tokens)).values(ended_at=now, end_reason=reason))


def drop_links(conn: Connection, *, tokens: Sequence[int]) -> None:
    """An ended lease counts against nothing."""
    conn.execute(_DROP_LINKS, {"tokens": list(tokens)})


def extend(conn: Connection, *, token: int, duration: float, now: float) -> None:
    conn.execute(
        update(leases).where(leases.c.fencing_token == token).values(expires_at=now + duration, lease_duration=duration)
    )


def _open_on(limit_ids: Iterable[str]) -> Any:
    return select(lease_limits.c.lease_token).where(lease_limits.c.limit_id.in_(list(limit_ids)))


def lock_expired(
    conn: Connection, *, now: float, batch: int, limit_ids: Iterable[str] | None = None
) -> list[LeaseRecord]:
    """Open leases past their expiry (on the given limits, or anywhere), locked.

    A lease another transaction holds is being released or reclaimed. The sweep (no
    `limit_ids`) skips it. An acquire that would be denied (`limit_ids`) waits for that
    transaction instead, so that it decides again once the slots are back, not before."""
    query = (
        select(leases)
        .where(leases.c.ended_at.is_(None), leases.c.expires_at <= now)
        .order_by(leases.c.expires_at)
        .limit(batch)
        .with_for_update(skip_locked=limit_ids is None)
    )
    if limit_ids is not None:
        query = query.where(leases.c.fencing_token.in_(_open_on(limit_ids)))
    return [record(row._mapping) for row in conn.execute(query)]


def holds_on(conn: Connection, *, limit_ids: Iterable[str], now: float) -> dict[str, slots.Holding]:
    """The given limits as a retry hint reads them: each one's slot state, average occupancy
    and denied slots, and the slots each of its open leases holds, all in one snapshot, so
    that the open leases account for the occupied slots (none released or granted between
    the two reads). A limit deleted meanwhile is missing."""
    open_links = lease_limits.join(
        leases, and_(leases.c.fencing_token == lease_limits.c.lease_token, leases.c.ended_at.is_(None))
    )
    rows = conn.execute(
        select(
            limits.c.id,
            limits.c.occupied,
            limits.c.occupied_at,
            limits.c.avg_occupancy_seconds,
            limits.c.denied_slots,
            lease_limits.c.slots,
            leases.c.created,
            leases.c.expires_at,
        )
        .select_from(
            limits.outerjoin(open_links, and_(lease_limits.c.limit_id == limits.c.id, lease_limits.c.slots > 0))
        )
        .where(limits.c.id.in_(list(limit_ids)))
    )
    found: dict[str, tuple[slots.SlotState, float | None, int]] = {}
    holds: dict[str, list[slots.Hold]] = defaultdict(list)
    for limit_id, occupied, at, average, denied, n, created, expires_at in rows:
        found[limit_id] = (slots.SlotState(occupied, at), average, denied)
        if n is not None and created is not None:
            holds[limit_id].append(slots.Hold(slots=n, held_for=now - created, expires_in=expires_at - now))
    return {
        limit_id: slots.Holding(
            state=state, holds=tuple(holds[limit_id]), avg_occupancy_seconds=average, denied_slots=denied
        )
        for limit_id, (state, average, denied) in found.items()
    }


def list_open_on_limit(
    conn: Connection, *, limit_id: str, after_token: int | None, page_size: int
) -> list[LeaseRecord]:
    query = (
        select(leases)
        .join(lease_limits, leases.c.fencing_token == lease_limits.c.lease_token)
        .where(lease_limits.c.limit_id == limit_id, leases.c.ended_at.is_(None))
        .order_by(leases.c.fencing_token)
        .limit(page_size)
    )
    if after_token is not None:
        query = query.where(leases.c.fencing_token > after_token)
    return [record(row._mapping) for row in conn.execute(query)]


def purge_ended(conn: Connection, *, ended_before: float) -> int:
    result = conn.execute(delete(leases).where(leases.c.ended_at < ended_before))
    return result.rowcount
