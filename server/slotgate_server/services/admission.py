"""Taking and freeing slots: the transactions around the arithmetic in `slots`, and waiting
for slots on the server when a caller asks to."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from slotgate_server import clock, slots
from slotgate_server.errors import MissingLimits, SlotsUnavailable, Unsatisfiable
from slotgate_server.state import ServerState
from slotgate_server.store import admission as admission_store
from slotgate_server.store import leases as lease_store
from slotgate_server.store import limits as limit_store
from slotgate_server.store import signals
from slotgate_server.store.admission import NewLease, TakeRequest
from slotgate_server.store.records import LeaseRecord, LimitRecord

logger = logging.getLogger(__name__)

RECLAIM_BATCH = 500
# Freed slots wake waiters, in this process and (on PostgreSQL) in the others; a waiter looks
# again this often all the same, in case a wake-up was missed.
RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Grant:
    """Slots were taken at `now`; `fencing_token` is the lease's, when a lease was recorded."""

    now: float
    fencing_token: int | None


async def take_slots(
    server: ServerState,
    *,
    names: Sequence[str],
    requested: int,
    mode: str,
    lease: NewLease | None = None,
    require_decay: bool = False,
    wait_seconds: float = 0.0,
) -> Grant:
    """Take `requested` slots on every named limit, all or nothing, recording `lease` with
    them, waiting up to `wait_seconds` for them. `require_decay` refuses limits whose slots
    would never come back (rate-limit mode).

    An attempt that is denied while expired leases still hold slots of a blocking limit
    reclaims those leases on the spot and is decided again, so correctness never waits for
    the sweep. Only the final answer counts as a denial, and only it reads the open leases
    for a retry hint.
    """
    started = time.perf_counter()
    arrived_at = clock.now()
    ordered = sorted(set(names))
    deadline = time.monotonic() + wait_seconds
    reclaimed = waited = False
    if wait_seconds > 0 and server.freed.queued(ordered):
        # Requests here already wait for these limits' slots to be freed: queue behind them
        # rather than take a turn ahead of them, which also spares the database a denial.
        await server.freed.wait(ordered, timeout=min(RECHECK_SECONDS, wait_seconds), for_release=True)
        waited = True
    while True:
        now = clock.now()
        attempt = await admission_store.run_take(
            server.db,
            TakeRequest(
                names=ordered,
                requested=requested,
                now=now,
                arrived_at=arrived_at,
                lease=lease,
                require_decay=require_decay,
            ),
        )
        if attempt.granted:
            server.metrics.decided(mode, names=ordered, granted=True, seconds=time.perf_counter() - started)
            return Grant(now=now, fencing_token=attempt.fencing_token)
        _refuse_impossible(attempt.records, names=ordered, requested=requested, require_decay=require_decay)
        if not attempt.blocking:
            continue  # it fitted, but a limit went away before it could be locked: decide again
        if attempt.expired_on and not reclaimed:
            reclaimed = True
            await reclaim_expired(server, limit_ids=attempt.expired_on)
            continue
        if time.monotonic() >= deadline:
            server.metrics.decided(mode, names=ordered, granted=False, seconds=time.perf_counter() - started)
            raise await server.db.write_statements(
                _record_denial,
                blocking=attempt.blocking,
                requested=requested,
                now=now,
                max_wait=server.settings.max_retry_after_seconds,
            )
        blocking = [record.name for record in attempt.blocking]
        drains = all(record.slot_decay_per_second > 0 for record in attempt.blocking)
        timeout = _next_look(attempt, requested=requested, now=now, deadline=deadline, drains=drains)
        await server.freed.wait(blocking, timeout=timeout, ahead=waited, for_release=not drains)
        waited = True


def _next_look(attempt: admission_store.Take, *, requested: int, now: float, deadline: float, drains: bool) -> float:
    """How long a waiting request sleeps unless freed slots wake it sooner: until its decaying
    limits have drained enough (exact), never past its deadline, and never so long that a
    missed wake-up goes unnoticed."""
    wait = min(RECHECK_SECONDS, max(0.0, deadline - time.monotonic()))
    if drains:
        drained = max(slots.decay_wait(record.view(), requested=requested, now=now) for record in attempt.blocking)
        wait = min(wait, drained)
    return wait


def _refuse_impossible(records: list[LimitRecord], *, names: list[str], requested: int, require_decay: bool) -> None:
    found = {record.name for record in records}
    if missing := [name for name in names if name not in found]:
        raise MissingLimits(missing)
    if too_large := slots.too_large([record.view() for record in records], requested=requested):
        by_name = {record.name: record for record in records}
        sizes = ", ".join(f"{name!r} has {by_name[name].limit}" for name in too_large)
        raise Unsatisfiable(
            f"{requested} slots were asked for, more than the limit holds ({sizes}); "
            "the request could never be granted, so ask for fewer slots or raise the limit."
        )
    if require_decay and (without := [r.name for r in records if r.active and r.slot_decay_per_second <= 0]):
        quoted = ", ".join(repr(name) for name in without)
        raise Unsatisfiable(
            f"Rate limiting needs slot decay, and {quoted} has none: its slots would never come back. "
            "Give it slot_decay_per_second > 0, or take its slots under a lease (POST /api/v1/leases)."
        )


def _record_denial(
    conn: Connection, *, blocking: list[LimitRecord], requested: int, now: float, max_wait: float
) -> SlotsUnavailable:
    limit_store.count_denial(conn, limit_ids=[record.id for record in blocking], slots_denied=requested)
    return _denial(conn, blocking=blocking, requested=requested, now=now, max_wait=max_wait)


def _denial(
    conn: Connection, *, blocking: list[LimitRecord], requested: int, now: float, max_wait: float
) -> SlotsUnavailable:
    """When to retry, and why not now."""
    holds = lease_store.holds_on(conn, limit_ids=[record.id for record in blocking], now=now)
    wait = max(
        slots.retry_wait(
            record.view(),
            requested=requested,
            now=now,
            holds=holds.get(record.id, []),
            avg_occupancy_seconds=record.avg_occupancy_seconds,
            max_wait=max_wait,
        )
        for record in blocking
    )
    shortages = "; ".join(_shortage(record, now=now) for record in blocking)
    return SlotsUnavailable(
        f"{shortages}. {requested} slot{'s' if requested != 1 else ''} asked for; retry in {wait:.3g} s.",
        retry_after_seconds=wait,
        blocking_names=[record.name for record in blocking],
    )


def _shortage(record: LimitRecord, *, now: float) -> str:
    occupied = slots.occupied_now(record.state, decay_per_second=record.slot_decay_per_second, now=now)
    free = max(0.0, record.limit - occupied)
    return f"{record.name!r} has {free:.3g} of {record.limit} slots free"


def expire(conn: Connection, *, ended: Sequence[LeaseRecord], now: float) -> None:
    """End the given (locked) leases as expired and give their slots back to their limits,
    telling every server process. An expiry leaves the occupancy averages alone:
    only a release tells how long slots are really held; an expiry says the holder vanished."""
    tokens = [lease.fencing_token for lease in ended]
    counted = limit_store.lock_limits_of(conn, lease_tokens=tokens)
    states = {
        on.limit.id: slots.give_back(
            on.limit.state, released=on.slots, decay_per_second=on.limit.slot_decay_per_second, now=now
        )
        for on in counted
        if on.slots > 0
    }
    limit_store.write_expiries(conn, states=states, expired_leases={on.limit.id: on.leases for on in counted})
    lease_store.drop_links(conn, tokens=tokens)
    lease_store.end_leases(conn, tokens=tokens, reason="expired", now=now)
    for lease in ended:
        signals.announce(conn, names=lease.names, slots=lease.slots)


def _reclaim(conn: Connection, *, limit_ids: Sequence[str] | None) -> list[LeaseRecord]:
    now = clock.now()
    expired = lease_store.lock_expired(conn, now=now, batch=RECLAIM_BATCH, limit_ids=limit_ids)
    if expired:
        expire(conn, ended=expired, now=now)
    return expired


async def reclaim_expired(server: ServerState, *, limit_ids: Sequence[str] | None = None) -> int:
    """Free the slots of leases that expired (on the given limits, or anywhere); returns how many."""
    reclaimed = await server.db.write(_reclaim, limit_ids=limit_ids)
    if reclaimed:
        server.metrics.expiries.inc(len(reclaimed))
        announce_freed(server, reclaimed)
    return len(reclaimed)


def announce_freed(server: ServerState, ended: Sequence[LeaseRecord]) -> None:
    """Wake waiters for the slots these leases held."""
    for lease in ended:
        for name in lease.names:
            server.freed.freed_here(name, lease.slots)


async def relay_freed(server: ServerState) -> None:
    """Wake this process's waiters for slots freed by any process, as long as the server runs.
    While the connection is down, this process wakes its own waiters and the others' look
    again every RECHECK_SECONDS."""

    def listening() -> None:
        server.freed.relayed = True

    while True:
        try:
            async for freed in signals.listen(server.db.url, listening=listening):
                for name in freed.names:
                    server.freed.notify(name, freed.slots)
        except Exception as error:
            logger.warning("Not hearing of slots freed by other server processes (%s); retrying", error)
        finally:
            server.freed.relayed = False
        await asyncio.sleep(RECHECK_SECONDS)
