"""Concurrency leases: acquire, read, renew, release, list, and the expiry sweep."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import Connection

from slotgate_server import clock, metrics
from slotgate_server.errors import InvalidRequest, LeaseGone, NotFound
from slotgate_server.idempotency import IdempotencyKey
from slotgate_server.services import queue
from slotgate_server.services.admission import announce_freed, expire, reclaim_expired, take_slots
from slotgate_server.services.limits import read as read_limit
from slotgate_server.state import ServerState
from slotgate_server.store import admission as admission_store
from slotgate_server.store import idempotency as idempotency_store
from slotgate_server.store import leases as lease_store
from slotgate_server.store.admission import NewLease
from slotgate_server.store.records import LeaseRecord
from slotgate_server.waiters import Departure


def _check_duration(server: ServerState, duration: float) -> None:
    settings = server.settings
    if not settings.min_lease_seconds <= duration <= settings.max_lease_seconds:
        raise InvalidRequest(
            f"lease_duration must be between {settings.min_lease_seconds:g} and "
            f"{settings.max_lease_seconds:g} seconds on this server, not {duration:g}; renew a long lease instead."
        )


async def acquire(
    server: ServerState,
    *,
    names: Sequence[str],
    slots_each: int,
    duration: float | None,
    holder: str,
    wait_seconds: float = 0.0,
    key: IdempotencyKey | None = None,
    departure: Departure | None = None,
) -> tuple[LeaseRecord, bool]:
    """The new lease, and whether it is an earlier request's, answered again for its `key`."""
    lease_duration = server.settings.default_lease_seconds if duration is None else duration
    _check_duration(server, lease_duration)
    lease = NewLease(id=str(uuid.uuid4()), names=list(names), holder=holder, duration=lease_duration)
    grant = await take_slots(
        server,
        names=names,
        requested=slots_each,
        mode=metrics.CONCURRENCY,
        lease=lease,
        wait_seconds=wait_seconds,
        key=key,
        departure=departure,
    )
    # A lease was recorded with the grant.
    assert grant.fencing_token is not None and grant.lease_id is not None and grant.lease_duration is not None
    granted = LeaseRecord(
        fencing_token=grant.fencing_token,
        id=grant.lease_id,
        names=lease.names,
        slots=slots_each,
        holder=holder,
        lease_duration=grant.lease_duration,
        created=grant.now,
        expires_at=grant.now + grant.lease_duration,
        ended_at=None,
        end_reason=None,
    )
    return granted, grant.replayed


def _not_found(lease_id: str) -> NotFound:
    return NotFound(f"There is no lease {lease_id!r}; it may never have existed, or ended long ago.")


def _gone(lease: LeaseRecord) -> LeaseGone:
    if lease.end_reason == "released":
        return LeaseGone(
            f"The lease was released at {clock.iso(lease.ended_at or 0.0)}; its slots are free. Acquire a new lease."
        )
    return LeaseGone(
        f"The lease expired at {clock.iso(lease.expires_at)} and its slots were freed; acquire a new lease."
    )


async def read(server: ServerState, *, lease_id: str) -> LeaseRecord:
    lease = await server.db.read(lease_store.get_lease, lease_id=lease_id)
    if lease is None:
        raise _not_found(lease_id)
    if lease.ended_at is not None or lease.expired(clock.now()):
        raise _gone(lease)
    return lease


def _lock_open(conn: Connection, *, lease_id: str, now: float) -> tuple[LeaseRecord, LeaseRecord | None]:
    """The lease, locked, and what ended it if it is not open. An expired lease is reclaimed
    here, so that the answer and the slot counts agree."""
    lease = lease_store.get_lease(conn, lease_id=lease_id, lock=True)
    if lease is None:
        raise _not_found(lease_id)
    if lease.ended_at is not None:
        return lease, lease
    if lease.expired(now):
        expire(conn, ended=[lease], now=now)
        return lease, replace(lease, ended_at=now, end_reason="expired")
    return lease, None


def _ended(conn: Connection, *, lease_id: str) -> LeaseRecord:
    """Why a lease could not be released: it is unknown (raises), ended, or expired (and is
    reclaimed here)."""
    _, ended = _lock_open(conn, lease_id=lease_id, now=clock.now())
    assert ended is not None  # open and unexpired a moment ago, it would have been released
    return ended


async def release(server: ServerState, *, lease_id: str) -> None:
    released = await admission_store.run_release(server.db, lease_id=lease_id, now=clock.now())
    if released is not None:
        announce_freed(server, [released])
        return
    lease = await server.db.write(_ended, lease_id=lease_id)
    announce_freed(server, [lease])  # a late release may have reclaimed it just now
    raise _gone(lease)


def _renew(conn: Connection, *, lease_id: str, duration: float | None, server: ServerState) -> LeaseRecord:
    now = clock.now()
    lease, ended = _lock_open(conn, lease_id=lease_id, now=now)
    if ended is not None:
        return ended
    new_duration = lease.lease_duration if duration is None else duration
    _check_duration(server, new_duration)
    lease_store.extend(conn, token=lease.fencing_token, duration=new_duration, now=now)
    return replace(lease, expires_at=now + new_duration, lease_duration=new_duration)


async def renew(server: ServerState, *, lease_id: str, duration: float | None) -> LeaseRecord:
    lease = await server.db.write(_renew, lease_id=lease_id, duration=duration, server=server)
    if lease.ended_at is not None:
        announce_freed(server, [lease])  # it may have expired and been reclaimed just now
        raise _gone(lease)
    return lease


async def list_on_limit(
    server: ServerState, *, name: str, after: str | None, page_size: int
) -> tuple[list[LeaseRecord], str | None]:
    limit = await read_limit(server, name=name)
    found = await server.db.read(
        lease_store.list_open_on_limit,
        limit_id=limit.id,
        after_token=int(after) if after else None,
        page_size=page_size + 1,
    )
    page = found[:page_size]
    return page, (str(page[-1].fencing_token) if len(found) > page_size else None)


async def sweep(server: ServerState) -> int:
    """Reclaim every expired lease and forget ended ones past the history window."""
    reclaimed = total = await reclaim_expired(server)
    while reclaimed:
        reclaimed = await reclaim_expired(server)
        total += reclaimed
    await server.db.write(lease_store.purge_ended, ended_before=clock.now() - server.settings.lease_history_seconds)
    await forget_expired_keys(server)
    await queue.purge(server)
    return total


KEY_PURGE_BATCH = 500


async def forget_expired_keys(server: ServerState) -> None:
    """Forget the answers kept under Idempotency-Keys past their retention, a batch per
    transaction, so that a backlog never holds the store for long."""
    forgotten = KEY_PURGE_BATCH
    while forgotten >= KEY_PURGE_BATCH:
        forgotten = await server.db.write(idempotency_store.purge_expired, now=clock.now(), batch=KEY_PURGE_BATCH)
