"""Taking and freeing slots: the transactions around the arithmetic in `slots`, and waiting
for slots on the server when a caller asks to."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Connection

from slotgate_server import clock, slots
from slotgate_server.errors import MissingLimits, SlotsUnavailable, Unsatisfiable
from slotgate_server.state import ServerState
from slotgate_server.store import leases as lease_store
from slotgate_server.store import limits as limit_store
from slotgate_server.store.records import LeaseRecord, LimitRecord

T = TypeVar("T")

# Records what a grant produced (a lease, a rate-limit receipt) inside the granting transaction.
Grant = Callable[[Connection, list[LimitRecord], slots.Admission, float], T]
# Refuses, by raising, a request that the limits can never serve in this mode.
Check = Callable[[list[LimitRecord]], None]

RECLAIM_BATCH = 500
# Another replica's releases wake nobody here: a waiter on PostgreSQL looks again this often.
REPLICA_RECHECK_SECONDS = 0.25


@dataclass(frozen=True)
class Granted(Generic[T]):
    value: T


@dataclass(frozen=True)
class Blocked:
    denial: SlotsUnavailable
    # Blocking limits whose slots are partly held by expired leases: reclaim, then try again.
    expired_on: list[str]


async def take_slots(
    server: ServerState,
    *,
    names: Sequence[str],
    requested: int,
    mode: str,
    grant: Grant[T],
    check: Check | None = None,
    wait_seconds: float = 0.0,
) -> T:
    """Take `requested` slots on every named limit, all or nothing, waiting up to
    `wait_seconds` for them.

    A request that would be denied while expired leases still hold slots of a blocking limit
    reclaims those leases on the spot and is decided again, so correctness never waits for
    the sweep. Only the final answer counts as a denial.
    """
    started = time.perf_counter()
    arrived_at = clock.now()
    ordered = sorted(set(names))
    deadline = time.monotonic() + wait_seconds
    reclaimed = False
    while True:
        final = time.monotonic() >= deadline
        outcome = await server.db.write(
            _attempt,
            names=ordered,
            requested=requested,
            arrived_at=arrived_at,
            grant=grant,
            check=check,
            count_denial=final,
            max_wait=server.settings.max_retry_after_seconds,
        )
        if isinstance(outcome, Granted):
            server.metrics.grants.labels(mode).inc()
            server.metrics.take_latency.labels(mode).observe(time.perf_counter() - started)
            return outcome.value
        if outcome.expired_on and not reclaimed:
            reclaimed = True
            await reclaim_expired(server, limit_ids=outcome.expired_on)
            continue
        if final:
            server.metrics.denials.labels(mode).inc()
            server.metrics.take_latency.labels(mode).observe(time.perf_counter() - started)
            raise outcome.denial
        blocking = outcome.denial.extensions["blocking_names"]
        await server.freed.wait(blocking, timeout=_next_look(server, outcome.denial, deadline))


def _next_look(server: ServerState, denial: SlotsUnavailable, deadline: float) -> float:
    wait = min(denial.retry_after_seconds, max(0.0, deadline - time.monotonic()))
    return wait if server.db.is_sqlite else min(wait, REPLICA_RECHECK_SECONDS)


def _attempt(
    conn: Connection,
    *,
    names: list[str],
    requested: int,
    arrived_at: float,
    grant: Grant[T],
    check: Check | None,
    count_denial: bool,
    max_wait: float,
) -> Granted[T] | Blocked:
    records = limit_store.lock_limits(conn, names=names)
    now = clock.now()  # read after the locks: grants on one limit see time in their commit order
    _refuse_impossible(records, names=names, requested=requested, check=check)
    admission = slots.admit([record.view() for record in records], requested=requested, now=now, arrived_at=arrived_at)
    if admission.granted:
        by_name = {record.name: record for record in records}
        limit_store.write_states(conn, states={by_name[name].id: state for name, state in admission.taken.items()})
        return Granted(grant(conn, records, admission, now))
    blocking = [record for record in records if record.name in admission.blocking]
    blocking_ids = [record.id for record in blocking]
    if lease_store.any_expired(conn, now=now, limit_ids=blocking_ids):
        return Blocked(_denial(conn, blocking=blocking, requested=requested, now=now, max_wait=max_wait), blocking_ids)
    if count_denial:
        limit_store.count_denial(conn, limit_ids=blocking_ids, slots_denied=requested)
    return Blocked(_denial(conn, blocking=blocking, requested=requested, now=now, max_wait=max_wait), [])


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


def free_slots(conn: Connection, *, ended: Sequence[LeaseRecord], reason: str, now: float) -> None:
    """End the given (locked) leases and give their slots back to their limits."""
    give_back(conn, ended=ended, now=now, sample=reason == "released")
    lease_store.end_leases(conn, tokens=[lease.fencing_token for lease in ended], reason=reason, now=now)


def give_back(conn: Connection, *, ended: Sequence[LeaseRecord], now: float, sample: bool) -> None:
    """Give the slots of leases that have just ended back to their limits, and drop the links
    that counted them. With `sample`, the (one) lease's holding time updates the averages:
    only a release tells how long slots are really held; an expiry says the holder vanished."""
    tokens = [lease.fencing_token for lease in ended]
    counted = limit_store.lock_limits_of(conn, lease_tokens=tokens)
    states = {
        record.id: slots.give_back(record.state, released=n, decay_per_second=record.slot_decay_per_second, now=now)
        for record, n in counted
    }
    averages = None
    if sample:
        (lease,) = ended
        averages = {
            record.id: slots.updated_average(record.avg_occupancy_seconds, now - lease.created) for record, _ in counted
        }
    limit_store.write_states(conn, states=states, averages=averages)
    lease_store.drop_links(conn, tokens=tokens)


def _reclaim(conn: Connection, *, limit_ids: Sequence[str] | None) -> list[LeaseRecord]:
    now = clock.now()
    expired = lease_store.lock_expired(conn, now=now, batch=RECLAIM_BATCH, limit_ids=limit_ids)
    if expired:
        free_slots(conn, ended=expired, reason="expired", now=now)
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
            server.freed.notify(name, lease.slots)
