"""Taking and freeing slots: the transactions around the arithmetic in `slots`, and waiting
for slots on the server when a caller asks to."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from slotgate_server import clock, slots
from slotgate_server.errors import (
    ClientDeparted,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    MissingLimits,
    Replayed,
    SlotgateError,
    SlotsUnavailable,
    Unsatisfiable,
    problem_of,
)
from slotgate_server.idempotency import IdempotencyKey
from slotgate_server.services import queue
from slotgate_server.services.queue import QueuePlace
from slotgate_server.state import ServerState
from slotgate_server.store import admission as admission_store
from slotgate_server.store import idempotency as idempotency_store
from slotgate_server.store import leases as lease_store
from slotgate_server.store import limits as limit_store
from slotgate_server.store import signals
from slotgate_server.store.admission import KeptMeanwhile, NewLease, TakeRequest
from slotgate_server.store.records import KeptAnswer, LeaseRecord, LimitRecord
from slotgate_server.waiters import Departure, Woken

logger = logging.getLogger(__name__)

RECLAIM_BATCH = 500
# While the relay of other processes' wake-ups is down, it tries to reconnect this often.
RELAY_RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class Grant:
    """Slots were taken at `now`; under the lease `lease_id` (with its `fencing_token` and
    `lease_duration`) when a lease was recorded. `replayed`: an earlier request with the same
    Idempotency-Key took them, and this one took nothing."""

    now: float
    fencing_token: int | None = None
    lease_id: str | None = None
    lease_duration: float | None = None
    replayed: bool = False


async def take_slots(
    server: ServerState,
    *,
    names: Sequence[str],
    requested: int,
    mode: str,
    lease: NewLease | None = None,
    require_decay: bool = False,
    wait_seconds: float = 0.0,
    key: IdempotencyKey | None = None,
    departure: Departure | None = None,
) -> Grant:
    """Take `requested` slots on every named limit, all or nothing, recording `lease` with
    them, waiting up to `wait_seconds` for them. `require_decay` refuses limits whose slots
    would never come back (rate-limit mode).

    With a `key`, the grant, or a final refusal, is kept under it, and a request that repeats
    it gets the kept answer instead. If the client departs (`departure`) while the request
    waits, the request is withdrawn; a grant that raced the departure is given back.
    """
    wanted = Wanted(sorted(set(names)), requested, mode, lease, require_decay, wait_seconds, key, departure)
    with server.keys_in_flight.deciding(key):
        try:
            grant = await _take_waiting(server, wanted)
        except KeptMeanwhile:
            assert key is not None
            return await _kept_meanwhile(server, key)
        except (MissingLimits, Unsatisfiable) as refusal:
            if key is not None:
                await _keep_refusal(server, key=key, refusal=refusal)
            raise
        except ClientDeparted:
            server.metrics.departures.labels(mode, "withdrawn").inc()
            raise
        finally:
            if departure is not None:
                await departure.stop()
    if departure is not None and departure.departed and not grant.replayed:
        await _give_back_departed(server, grant=grant, names=names, requested=requested, key=key)
        server.metrics.departures.labels(mode, "given_back").inc()
        raise ClientDeparted()
    return grant


@dataclass(frozen=True)
class Wanted:
    """What a request asks of `take_slots`, its names distinct and sorted."""

    names: list[str]
    requested: int
    mode: str
    lease: NewLease | None
    require_decay: bool
    wait_seconds: float
    key: IdempotencyKey | None
    departure: Departure | None


async def _take_waiting(server: ServerState, wanted: Wanted) -> Grant:
    """`_attempts`, holding a place in the queue of the limits while the request waits
    (services/queue.py). A request that waited and is answered 423, or whose client went,
    keeps its place for a repeat of its key."""
    queued = QueuePlace(server, names=wanted.names, arrived_at=clock.now(), key=wanted.key)
    try:
        grant = await _attempts(server, wanted, queued)
    except (SlotsUnavailable, ClientDeparted):
        await _settle(queued, keep_for_a_repeat=wanted.wait_seconds > 0)
        raise
    except Exception:
        await _settle(queued, keep_for_a_repeat=False)
        raise
    await queued.leave(keep_for_a_repeat=False)
    return grant


async def _settle(queued: QueuePlace, *, keep_for_a_repeat: bool) -> None:
    """Give up or park a place on the way out of a request that was not granted; a place that
    cannot be written lapses (parked places and those of stopped processes are purged)."""
    try:
        await queued.leave(keep_for_a_repeat=keep_for_a_repeat)
    except Exception as error:
        logger.warning("Could not give up a place in the queue (%s); it lapses", error)


async def _attempts(server: ServerState, wanted: Wanted, queued: QueuePlace) -> Grant:
    """An attempt to take the slots, then one more each time slots may have come free, until
    granted or the wait is over.

    An attempt that is denied while expired leases still hold slots of a blocking limit
    reclaims those leases on the spot and is decided again, so correctness never waits for
    the sweep. Only the final answer counts as a denial, and only it reads the open leases
    for a retry hint. A request with a key looks for an answer kept under it when its first
    attempt is not granted, and again whenever an attempt finds one kept (by a repeat decided
    in another server process while this one waited): a repeat of a granted request is
    refused by the take (`KeptMeanwhile`) before it takes anything, so a first attempt that
    is granted needs no look.
    """
    names, requested, mode, lease = wanted.names, wanted.requested, wanted.mode, wanted.lease
    require_decay, wait_seconds, key, departure = (
        wanted.require_decay,
        wanted.wait_seconds,
        wanted.key,
        wanted.departure,
    )
    started = time.perf_counter()
    arrived_at = queued.arrived_at
    deadline = time.monotonic() + wait_seconds
    recheck_seconds = server.settings.waiter_recheck_seconds
    reclaimed = looked_for_key = False
    # What ended its last wait on the server; None until it has waited.
    woken: Woken | None = None
    if wait_seconds > 0 and server.freed.queued(names):
        # Requests here already wait for these limits' slots to be freed: queue behind them
        # rather than take a turn ahead of them, which also spares the database a denial.
        timeout = min(recheck_seconds, wait_seconds, queue.PLACE_AFTER_SECONDS)
        with server.metrics.waiting.labels(mode).track_inprogress():
            woken = await server.freed.wait(names, timeout=timeout, for_release=True, departure=departure)
    while True:
        _withdraw_if_departed(departure)
        freed_before = server.freed.freeings(names)  # slots freed while it looks wake it after
        now = clock.now()
        attempt = await admission_store.run_take(
            server.db,
            TakeRequest(
                names=names,
                requested=requested,
                now=now,
                arrived_at=arrived_at,
                lease=lease,
                require_decay=require_decay,
                key=_key_parameters(server, key, lease=lease, now=now),
                place=queued.place,
            ),
        )
        if attempt.granted:
            server.metrics.decided(mode, names=names, granted=True, seconds=time.perf_counter() - started)
            if lease is None:
                return Grant(now=now)
            return Grant(now, attempt.fencing_token, lease_id=lease.id, lease_duration=lease.duration)
        if key is not None and (attempt.key_kept or not looked_for_key):
            looked_for_key = True
            if (kept := await server.db.read(idempotency_store.find, key=key)) is not None:
                return await _replayed(server, key=key, kept=kept)
            if wait_seconds > 0 and await queued.resume():
                continue  # decide again in the order of the request it repeats
        _refuse_impossible(attempt.records, names=names, requested=requested, require_decay=require_decay)
        if not attempt.blocking:
            continue  # it fitted, but a limit went away before it could be locked: decide again
        if attempt.expired_on and not reclaimed:
            reclaimed = True
            await reclaim_expired(server, limit_ids=attempt.expired_on)
            continue
        if time.monotonic() >= deadline:
            server.metrics.decided(mode, names=names, granted=False, seconds=time.perf_counter() - started)
            raise await server.db.write_statements(
                _record_denial,
                blocking=attempt.blocking,
                requested=requested,
                now=now,
                max_wait=server.settings.max_retry_after_seconds,
            )
        if attempt.queued_on:
            # Requests that arrived before it wait for these slots: it joins them in the queue,
            # and decides again once it holds its place, lest the places ahead left meanwhile
            # (a place that leaves later wakes it).
            if await queued.hold():
                continue
            if woken is Woken.FREED:
                await queued.pass_on(attempt.queued_on)  # the freed slots are theirs
        elif time.perf_counter() - started >= queue.PLACE_AFTER_SECONDS:
            await queued.hold()  # it waited and was not let in: no later request goes first
        # Behind others, it is woken when it comes first in line; it listens for freed slots
        # only on the limits where no one is ahead of it.
        listened = [record for record in attempt.blocking if record.name not in attempt.queued_on]
        drains = not attempt.queued_on and all(record.slot_decay_per_second > 0 for record in listened)
        timeout = _next_look(
            attempt, requested=requested, now=now, deadline=deadline, drains=drains, recheck=recheck_seconds
        )
        if queued.place is None:  # it looks again when it is due to take a place
            timeout = min(timeout, max(0.0, queue.PLACE_AFTER_SECONDS - (time.perf_counter() - started)))
        with server.metrics.waiting.labels(mode).track_inprogress():
            woken = await server.freed.wait(
                [record.name for record in listened],
                timeout=timeout,
                ahead=woken is not None,
                for_release=not drains,
                departure=departure,
                place=None if queued.place is None else queued.place.position,
                freed_since=freed_before,
            )


def _withdraw_if_departed(departure: Departure | None) -> None:
    if departure is not None and departure.departed:
        raise ClientDeparted()


def _key_parameters(
    server: ServerState, key: IdempotencyKey | None, *, lease: NewLease | None, now: float
) -> dict[str, Any] | None:
    if key is None:
        return None
    return idempotency_store.grant_parameters(
        key,
        lease_id=None if lease is None else lease.id,
        lease_duration=None if lease is None else lease.duration,
        expires_at=now + server.settings.idempotency_seconds,
    )


async def _replayed(server: ServerState, *, key: IdempotencyKey, kept: KeptAnswer) -> Grant:
    """The answer kept under `key`, for a request that repeats it."""
    if kept.request_hash != key.request_hash:
        raise IdempotencyKeyReused()
    # A grant committed without waiting for the disk is answered once it is on disk; so is
    # its repeat, lest the grant be lost in a crash after the client was told of it.
    await server.db.wait_until_durable()
    if kept.problem is not None:
        raise Replayed(kept.problem)
    assert kept.granted_at is not None, "a kept answer is a grant or a refusal"
    return Grant(
        now=kept.granted_at,
        fencing_token=kept.lease_token,
        lease_id=kept.lease_id,
        lease_duration=kept.lease_duration,
        replayed=True,
    )


async def _kept_meanwhile(server: ServerState, key: IdempotencyKey) -> Grant:
    kept = await server.db.read(idempotency_store.find, key=key)
    if kept is None:  # kept and forgotten since (its grant went to a client that left)
        raise IdempotencyKeyInFlight()
    return await _replayed(server, key=key, kept=kept)


async def _keep_refusal(server: ServerState, *, key: IdempotencyKey, refusal: SlotgateError) -> None:
    await server.db.write(
        idempotency_store.keep_refusal,
        key=key,
        problem=problem_of(refusal),
        expires_at=clock.now() + server.settings.idempotency_seconds,
    )


async def _give_back_departed(
    server: ServerState, *, grant: Grant, names: Sequence[str], requested: int, key: IdempotencyKey | None
) -> None:
    """Give back what was granted to a client that had gone, and keep nothing under its key:
    a repeat of its request is a new request."""
    logger.info("A grant on %s went to a client that had gone; giving it back", ", ".join(map(repr, names)))
    if grant.lease_id is not None:
        released = await server.db.write(_end_departed_lease, lease_id=grant.lease_id, key=key)
        if released is not None:
            announce_freed(server, [released])
        return
    await server.db.write(_give_back_departed_slots, names=names, requested=requested, key=key)
    for name in names:
        server.freed.freed_here(name, requested)


def _end_departed_lease(conn: Connection, *, lease_id: str, key: IdempotencyKey | None) -> LeaseRecord | None:
    if key is not None:
        idempotency_store.forget(conn, key=key)
    return admission_store.release(conn, lease_id=lease_id, now=clock.now())


def _give_back_departed_slots(
    conn: Connection, *, names: Sequence[str], requested: int, key: IdempotencyKey | None
) -> None:
    if key is not None:
        idempotency_store.forget(conn, key=key)
    now = clock.now()
    states = {
        record.id: slots.give_back(
            record.state, released=requested, decay_per_second=record.slot_decay_per_second, now=now
        )
        for record in limit_store.lock_limits(conn, names=names)
        if record.active
    }
    limit_store.write_states(conn, states=states)


def _next_look(
    attempt: admission_store.Take, *, requested: int, now: float, deadline: float, drains: bool, recheck: float
) -> float:
    """How long a waiting request sleeps unless it is woken sooner: until its decaying limits
    have drained enough (exact), never past its deadline, and never longer than `recheck`,
    so that a missed wake-up goes unnoticed no longer than that."""
    wait = min(recheck, max(0.0, deadline - time.monotonic()))
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
    """When to retry, and why not now (as the denied attempt saw it, at `now`).

    The hint counts from the moment it is given, after the denial was counted and the limits
    read, not from the attempt: a client sleeps it from when it reads it, and each moment
    between is drain a poller would come back late for. It reads the blocking limits and
    their open leases afresh, in one snapshot (the leases' ages as of just before the read);
    each denial gets its own spread from the limit's count of denied slots."""
    read_at = max(now, clock.now())
    holdings = lease_store.holds_on(conn, limit_ids=[record.id for record in blocking], now=read_at)
    hinted_at = max(read_at, clock.now())
    wait = max(
        _retry_wait(record, holdings.get(record.id), requested=requested, now=hinted_at, max_wait=max_wait)
        for record in blocking
    )
    shortages = "; ".join(_shortage(record, now=now) for record in blocking)
    return SlotsUnavailable(
        f"{shortages}. {requested} slot{'s' if requested != 1 else ''} asked for; retry in {wait:.3g} s.",
        retry_after_seconds=wait,
        blocking_names=[record.name for record in blocking],
    )


def _retry_wait(
    record: LimitRecord, holding: slots.Holding | None, *, requested: int, now: float, max_wait: float
) -> float:
    """One blocking limit's hint, from its fresh `holding` (or, if it was deleted meanwhile,
    from the denied attempt's `record`)."""
    if holding is None:
        holding = slots.Holding(record.state, (), record.avg_occupancy_seconds, record.denied_slots + requested)
    view = slots.LimitView(
        name=record.name,
        limit=record.limit,
        decay_per_second=record.slot_decay_per_second,
        active=record.active,
        state=holding.state,
    )
    return slots.retry_wait(
        view,
        requested=requested,
        now=now,
        holds=holding.holds,
        avg_occupancy_seconds=holding.avg_occupancy_seconds,
        max_wait=max_wait,
        spread=slots.spread_fraction(holding.denied_slots - requested),
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
    While the connection is down, this process wakes its own waiters, and waiters look again
    every SLOTGATE_WAITER_RECHECK_SECONDS."""

    def listening() -> None:
        server.freed.relayed = True

    while True:
        try:
            async for freed in signals.listen(server.db.url, listening=listening):
                server.freed.wake_places(freed.places)
                for name in freed.names:
                    server.freed.notify(name, freed.slots)
        except Exception as error:
            logger.warning("Not hearing of slots freed by other server processes (%s); retrying", error)
        finally:
            server.freed.relayed = False
        await asyncio.sleep(RELAY_RETRY_SECONDS)
