"""Taking and freeing slots: the transactions around the arithmetic in `slots`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from slotgate_server import clock, slots
from slotgate_server.errors import MissingLimits, SlotsUnavailable, Unsatisfiable
from slotgate_server.state import ServerState
from slotgate_server.store import leases as lease_store
from slotgate_server.store import limits as limit_store
from slotgate_server.store.records import LeaseRecord, LimitRecord

T = TypeVar("T")

# Records what a grant produced (a lease, a rate-limit receipt) inside the granting transaction.
Grant = Callable[[AsyncConnection, list[LimitRecord], slots.Admission, float], Awaitable[T]]
# Refuses, by raising, a request that the limits can never serve in this mode.
Check = Callable[[list[LimitRecord]], None]

RECLAIM_BATCH = 500


async def take_slots(
    server: ServerState,
    *,
    names: Sequence[str],
    requested: int,
    mode: str,
    grant: Grant[T],
    check: Check | None = None,
) -> T:
    """Take `requested` slots on every named limit, all or nothing.

    A request that would be denied while expired leases still hold slots of a blocking limit
    reclaims those leases on the spot and is decided again, so correctness never waits for
    the sweep.
    """
    started = time.perf_counter()
    ordered = sorted(set(names))
    for attempt in (1, 2):
        now = clock.now()
        async with server.db.transaction() as conn:
            records = await limit_store.lock_limits(conn, names=ordered)
            _refuse_impossible(records, names=ordered, requested=requested, check=check)
            admission = slots.admit([record.view() for record in records], requested=requested, now=now)
            if admission.granted:
                by_name = {record.name: record for record in records}
                states = {by_name[name].id: state for name, state in admission.taken.items()}
                await limit_store.write_states(conn, states=states)
                result = await grant(conn, records, admission, now)
                server.metrics.grants.labels(mode).inc()
                server.metrics.take_latency.labels(mode).observe(time.perf_counter() - started)
                return result
            blocking = [record for record in records if record.name in admission.blocking]
            reclaim_first = attempt == 1 and await lease_store.any_expired(
                conn, now=now, limit_ids=[record.id for record in blocking]
            )
            if not reclaim_first:
                denial = await _deny(server, conn, blocking=blocking, requested=requested, now=now)
        if reclaim_first:
            await reclaim_expired(server, limit_ids=[record.id for record in blocking])
            continue
        server.metrics.denials.labels(mode).inc()
        server.metrics.take_latency.labels(mode).observe(time.perf_counter() - started)
        raise denial
    raise AssertionError("unreachable: the second attempt always grants or denies")


def _refuse_impossible(records: list[LimitRecord], *, names: list[str], requested: int, check: Check | None) -> None:
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
    if check:
        check(records)


async def _deny(
    server: ServerState, conn: AsyncConnection, *, blocking: list[LimitRecord], requested: int, now: float
) -> SlotsUnavailable:
    """Count the denial on the limits that caused it, and work out when to retry."""
    blocking_ids = [record.id for record in blocking]
    await limit_store.count_denial(conn, limit_ids=blocking_ids, slots_denied=requested)
    holds = await lease_store.holds_on(conn, limit_ids=blocking_ids, now=now)
    wait = max(
        slots.retry_wait(
            record.view(),
            requested=requested,
            now=now,
            holds=holds.get(record.id, []),
            avg_occupancy_seconds=record.avg_occupancy_seconds,
            max_wait=server.settings.max_retry_after_seconds,
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


async def free_slots(conn: AsyncConnection, *, ended: Sequence[LeaseRecord], reason: str, now: float) -> None:
    """End the given (locked) leases and give their slots back to their limits."""
    tokens = [lease.fencing_token for lease in ended]
    counted = await lease_store.counted_slots(conn, tokens=tokens)
    records = await limit_store.lock_limits_by_id(conn, ids=[i for i, n in counted.items() if n > 0])
    states = {
        record.id: slots.give_back(
            record.state, released=counted[record.id], decay_per_second=record.slot_decay_per_second, now=now
        )
        for record in records
    }
    averages = None
    if reason == "released":
        # Only a release tells how long slots are really held; an expiry says the holder vanished.
        (lease,) = ended
        averages = {
            record.id: slots.updated_average(record.avg_occupancy_seconds, now - lease.created) for record in records
        }
    await limit_store.write_states(conn, states=states, averages=averages)
    await lease_store.end_leases(conn, tokens=tokens, reason=reason, now=now)


async def reclaim_expired(server: ServerState, *, limit_ids: Sequence[str] | None = None) -> int:
    """Free the slots of leases that expired (on the given limits, or anywhere); returns how many."""
    now = clock.now()
    async with server.db.transaction() as conn:
        expired = await lease_store.lock_expired(conn, now=now, batch=RECLAIM_BATCH, limit_ids=limit_ids)
        if expired:
            await free_slots(conn, ended=expired, reason="expired", now=now)
    server.metrics.expiries.inc(len(expired))
    return len(expired)
