"""What the sync and async SDK share: each API call as data, answers turned into results or
errors, the lease object, and the arithmetic of waiting and renewing. No I/O here."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import Any, Generic, Literal, TypeVar, get_args
from uuid import UUID

from slotgate import errors
from slotgate.settings import ClientSettings
from slotgate_client.api.leases import acquire_lease, list_limit_leases, read_lease, release_lease, renew_lease
from slotgate_client.api.limits import create_limit, delete_limit, list_limits, read_limit, update_limit, upsert_limit
from slotgate_client.api.rate_limit import consume_rate_limit
from slotgate_client.models import Lease as LeaseModel
from slotgate_client.models import (
    LeaseRenewal,
    LeaseRequest,
    LimitConfig,
    LimitCreate,
    LimitPatch,
    RateLimitRequest,
)
from slotgate_client.models import Limit as LimitModel
from slotgate_client.types import UNSET, Response, Unset

T = TypeVar("T")

logger = logging.getLogger("slotgate")

# A renewal is due when this share of the lease's duration has passed: two more tries fit
# before it expires.
RENEW_AFTER_SHARE = 1 / 3

# Waits are stretched by up to this share at random, so that waiters told the same moment do
# not all return at once.
JITTER_SHARE = 0.05

# A request that waits on the server for slots asks to wait this much less than the HTTP read
# timeout (at most half of it), so that the answer is back before the client gives up on it.
# Waiting there beats sleeping here: the server hands freed slots over at once.
READ_TIMEOUT_MARGIN_SECONDS = 2.0

# Retries after a failure to reach the server wait about this long at first, doubling to at
# most the longest; after a 409 (an earlier try with the key is still being decided), about
# the short wait. Each is jittered ("equal jitter": half fixed, half random), so that clients
# cut off together do not come back together.
BACKOFF_FIRST_SECONDS = 0.05
BACKOFF_LONGEST_SECONDS = 2.0
IN_FLIGHT_RETRY_SECONDS = 0.1

# How often the SDK asks again for the grant of an acquire given up while its answer was on
# the way (cancellation), while the server answers 409 (it has yet to see the departure).
GIVE_BACK_TRIES = 5

# A release that cannot reach the server is retried this long (never past the lease's own
# duration: by then the slots have come back anyway).
RELEASE_RETRY_SECONDS = 10.0

# While the server cannot be reached, a warning every this many failed tries (the first one too).
UNAVAILABLE_WARN_EVERY = 30

OnUnavailable = Literal["wait", "raise", "proceed"]


@dataclass
class Lease:
    """Slots held under a lease. `held` turns false once released or lost."""

    id: str
    names: list[str]
    slots: int
    holder: str
    fencing_token: int
    expires_at: datetime
    lease_duration: float
    released: bool = False
    lost_reason: str | None = None

    @property
    def held(self) -> bool:
        return not self.released and self.lost_reason is None

    @property
    def lost(self) -> bool:
        return self.lost_reason is not None


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API call: the generated endpoint module, its arguments, and how to read a success."""

    endpoint: ModuleType
    arguments: dict[str, Any]
    convert: Callable[[Any], T]


def _unset(value: Any) -> Any:
    return UNSET if value is None else value


def lease_from(model: LeaseModel) -> Lease:
    return Lease(
        id=str(model.id),
        names=list(model.names),
        slots=model.slots,
        holder=model.holder,
        fencing_token=model.fencing_token,
        expires_at=model.expires_at,
        lease_duration=model.lease_duration,
    )


def _nothing(_parsed: Any) -> None:
    return None


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


def acquire(
    names: Sequence[str],
    *,
    slots: int,
    lease_duration: float | None,
    holder: str,
    wait_seconds: float = 0.0,
    idempotency_key: str,
) -> Call[Lease]:
    body = LeaseRequest(
        names=list(names), slots=slots, lease_duration=_unset(lease_duration), holder=holder, wait_seconds=wait_seconds
    )
    return Call(acquire_lease, {"body": body, "idempotency_key": idempotency_key}, lease_from)


def renew(lease_id: str, *, lease_duration: float | None = None) -> Call[Lease]:
    body: LeaseRenewal | Unset = LeaseRenewal(lease_duration=_unset(lease_duration))
    return Call(renew_lease, {"lease_id": UUID(lease_id), "body": body}, lease_from)


def release(lease_id: str) -> Call[None]:
    return Call(release_lease, {"lease_id": UUID(lease_id)}, _nothing)


def read_lease_of(lease_id: str) -> Call[Lease]:
    return Call(read_lease, {"lease_id": UUID(lease_id)}, lease_from)


def consume(names: Sequence[str], *, slots: int, wait_seconds: float = 0.0, idempotency_key: str) -> Call[None]:
    body = RateLimitRequest(names=list(names), slots=slots, wait_seconds=wait_seconds)
    return Call(consume_rate_limit, {"body": body, "idempotency_key": idempotency_key}, _nothing)


def _same(parsed: T) -> T:
    return parsed


def create(name: str, *, limit: int, slot_decay_per_second: float = 0.0, active: bool = True) -> Call[LimitModel]:
    body = LimitCreate(name=name, limit=limit, slot_decay_per_second=slot_decay_per_second, active=active)
    return Call(create_limit, {"body": body}, _same)


def upsert(name: str, *, limit: int, slot_decay_per_second: float = 0.0, active: bool = True) -> Call[LimitModel]:
    body = LimitConfig(limit=limit, slot_decay_per_second=slot_decay_per_second, active=active)
    return Call(upsert_limit, {"name": name, "body": body}, _same)


def read(name: str) -> Call[LimitModel]:
    return Call(read_limit, {"name": name}, _same)


def update(
    name: str, *, limit: int | None = None, slot_decay_per_second: float | None = None, active: bool | None = None
) -> Call[LimitModel]:
    body = LimitPatch(limit=_unset(limit), slot_decay_per_second=_unset(slot_decay_per_second), active=_unset(active))
    return Call(update_limit, {"name": name, "body": body}, _same)


def delete(name: str) -> Call[None]:
    return Call(delete_limit, {"name": name}, _nothing)


def list_page(
    *, name_prefix: str | None = None, active: bool | None = None, after: str | None = None, page_size: int = 100
) -> Call[Any]:
    arguments = {"name_prefix": _unset(name_prefix), "active": _unset(active), "after": _unset(after)}
    return Call(list_limits, {**arguments, "page_size": page_size}, _same)


def leases_page(name: str, *, after: str | None = None, page_size: int = 100) -> Call[Any]:
    return Call(list_limit_leases, {"name": name, "after": _unset(after), "page_size": page_size}, _same)


def result(call: Call[T], response: Response[Any]) -> T:
    """The success of `call`, or the SDK error for its answer."""
    if 200 <= response.status_code < 300:
        return call.convert(response.parsed)
    raise errors.from_response(response.status_code, response.content)


def check_on_unavailable(on_unavailable: str) -> OnUnavailable:
    if on_unavailable not in get_args(OnUnavailable):
        raise ValueError(f"on_unavailable must be 'wait', 'raise' or 'proceed', not {on_unavailable!r}")
    return on_unavailable  # type: ignore[return-value]


def longest_server_wait(read_timeout: float) -> float:
    """How long a request may ask to wait on the server, with an HTTP read timeout of
    `read_timeout`: the server's answer must come back before the client stops listening."""
    return max(0.0, read_timeout - min(READ_TIMEOUT_MARGIN_SECONDS, read_timeout / 2))


DEFAULT_LONGEST_SERVER_WAIT = longest_server_wait(ClientSettings.timeout_seconds)


# The errors that say the server could not serve at all: no answer, or a 5xx.
UNAVAILABLE = (errors.ServerUnreachable, errors.ServerError)


def unavailable(error: errors.SlotgateError) -> bool:
    return isinstance(error, UNAVAILABLE)


def backoff(failures: int, rng: random.Random) -> float:
    """Seconds to wait after `failures` failed tries in a row: doubling, jittered."""
    step = min(BACKOFF_LONGEST_SECONDS, BACKOFF_FIRST_SECONDS * 2.0 ** min(failures - 1, 32))
    return step / 2 + rng.uniform(0, step / 2)


@dataclass
class RetryBudget:
    """How long and how often a caller is willing to try, and the Idempotency-Key of its tries.

    One key stands for the whole acquisition. A try whose answer was lost (no answer, a 5xx)
    or is still being decided (409) is repeated with it, so that the server answers with what
    it decided and takes nothing twice. A try refused with a 423 is repeated with it too: the
    server keeps no 423 under a key (the repeat is decided anew), and it keeps a waiter's
    place in its queue for a few seconds after the 423, which the repeat resumes, so that a
    long wait keeps its arrival order.
    """

    deadline: float | None  # on the monotonic clock
    max_retries: int | None
    on_unavailable: OnUnavailable = "wait"
    longest_server_wait: float = DEFAULT_LONGEST_SERVER_WAIT
    retries: int = 0
    failures: int = 0  # tries in a row that found the server unavailable
    key: str = field(default_factory=new_idempotency_key)
    waited: bool = False  # whether the last try could wait on the server
    # Whether the last try went out and no answer settled it: it may have been granted.
    unsettled: bool = False
    _random: random.Random = field(default_factory=random.Random)

    @classmethod
    def starting(
        cls,
        now: float,
        timeout_seconds: float | None,
        max_retries: int | None,
        *,
        on_unavailable: OnUnavailable = "wait",
        longest_server_wait: float = DEFAULT_LONGEST_SERVER_WAIT,
    ) -> RetryBudget:
        deadline = None if timeout_seconds is None else now + timeout_seconds
        return cls(deadline, max_retries, on_unavailable=on_unavailable, longest_server_wait=longest_server_wait)

    @classmethod
    def for_release(cls, now: float, lease: Lease, on_unavailable: OnUnavailable) -> RetryBudget:
        return cls.starting(now, min(RELEASE_RETRY_SECONDS, lease.lease_duration), None, on_unavailable=on_unavailable)

    def server_wait(self, now: float) -> float:
        """How long the try about to go out may wait on the server: none when retries are
        counted (each would otherwise take that long), else up to the time left."""
        self.unsettled = True
        wait = 0.0
        if self.max_retries is None:
            left = self.longest_server_wait if self.deadline is None else self.deadline - now
            wait = max(0.0, min(self.longest_server_wait, left))
        self.waited = wait > 0
        return wait

    def after(self, error: errors.SlotgateError, *, now: float, what: str) -> float:
        """Seconds to sleep before the next try, after `error`. Raises `error` when it is
        final, and what the caller should see when the budget is spent."""
        self.unsettled = unavailable(error) or isinstance(error, errors.IdempotencyKeyInFlight)
        if isinstance(error, errors.SlotsUnavailable):
            self.failures = 0
            wait = 0.0 if self.waited else error.retry_after_seconds * (1 + self._random.uniform(0, JITTER_SHARE))
            return self._spend(error, wait, now=now, what=what)
        if isinstance(error, errors.IdempotencyKeyInFlight):
            return self._spend(error, IN_FLIGHT_RETRY_SECONDS * self._random.uniform(0.5, 1.5), now=now, what=what)
        if unavailable(error) and self.on_unavailable == "wait":
            self.failures += 1
            if self.failures % UNAVAILABLE_WARN_EVERY == 1:
                logger.warning("%s: %s Retrying (try %d).", what, error, self.failures + 1)
            return self._spend(error, backoff(self.failures, self._random), now=now, what=what)
        raise error

    def _spend(self, error: errors.SlotgateError, wait: float, *, now: float, what: str) -> float:
        """`wait`, cut to the time left, counting a retry; raises when none is left."""
        if self.max_retries is not None and self.retries >= self.max_retries:
            retries = f"{self.retries} retr{'y' if self.retries == 1 else 'ies'}"
            raise self._given_up(error, errors.RetriesExhausted, f"after {retries}", what=what)
        if self.deadline is not None:
            if now >= self.deadline:
                raise self._given_up(error, errors.AcquireTimeout, "within the timeout", what=what)
            wait = min(wait, self.deadline - now)
        self.retries += 1
        return wait

    def _given_up(
        self, error: errors.SlotgateError, spent: type[errors.AcquisitionError], how: str, *, what: str
    ) -> errors.SlotgateError:
        """What the caller sees: the server's unavailability as it is, else `spent`."""
        if unavailable(error):
            error.add_note(f"{what}: no answer {how}; {self.failures} tries in a row found the server unavailable.")
            return error
        given_up = spent(f"{what}: no slots {how}. Last answer: {error}")
        given_up.__cause__ = error
        return given_up


def release_done(gone: errors.LeaseGone, *, retried: bool) -> bool:
    """Whether a 410 to a release means the release went through: after a try whose answer
    was lost, that try may have released the lease (if it expired instead, its slots are just
    as free)."""
    return retried and gone.problem.get("end_reason", "released") == "released"


def renew_retry_after(until_expiry: float, rng: random.Random) -> float:
    """When to try again after a failed renewal: halfway to the expiry (a little sooner, at
    random), so that a few more tries fit before it."""
    return max(0.05, until_expiry / 2 * (1 - rng.uniform(0, JITTER_SHARE)))


Key = tuple[str, ...]


def names_key(names: Sequence[str]) -> Key:
    return tuple(sorted(set(names)))


def admission_caps(max_connections: int) -> tuple[int, int]:
    """How many acquisitions of a client may be at the server at once, in all and per set of
    names, for a pool of `max_connections`. A quarter of the connections (at least one) is
    left to releases and renewals, so that a holder can always give its slots back while
    others wait; one set of names takes at most half of the rest, so that a set whose slots
    are stuck cannot keep the others off the server."""
    if max_connections < 2:
        raise ValueError(f"max_connections must be at least 2, not {max_connections}")
    in_all = max_connections - max(1, max_connections // 4)
    return in_all, max(1, in_all // 2)


class Admission(Generic[T]):
    """Which of a client's acquisitions may be at the server now, as tickets (the clients wait
    on them; no waiting here). At most `per_key` per set of names and `in_all` in all; within
    a set of names first come, first served; sets of names with tickets waiting take turns
    at the places that come free."""

    def __init__(self, *, in_all: int, per_key: int) -> None:
        self.in_all, self.per_key = in_all, per_key
        self._admitted = 0
        self._by_key: dict[Key, int] = {}
        self._queues: dict[Key, deque[T]] = {}
        self._turns: OrderedDict[Key, None] = OrderedDict()  # sets of names next in line for a place

    def arrive(self, key: Key, ticket: T) -> bool:
        """Whether `ticket` may go at once; else it waits until `leave` hands it a place."""
        if key not in self._queues and self._by_key.get(key, 0) < self.per_key and self._admitted < self.in_all:
            self._admit(key)
            return True
        self._queues.setdefault(key, deque()).append(ticket)
        self._offer_turn(key)
        return False

    def leave(self, key: Key) -> list[tuple[Key, T]]:
        """An admitted acquisition is done: the tickets that may go now."""
        self._admitted -= 1
        self._by_key[key] -= 1
        if not self._by_key[key]:
            del self._by_key[key]
        self._offer_turn(key)
        admitted = []
        while self._turns and self._admitted < self.in_all:
            next_key, _ = self._turns.popitem(last=False)
            queue = self._queues[next_key]
            admitted.append((next_key, queue.popleft()))
            if not queue:
                del self._queues[next_key]
            self._admit(next_key)
            self._offer_turn(next_key)  # at the back of the line
        return admitted

    def withdraw(self, key: Key, ticket: T) -> None:
        """A waiting ticket gives up (a ticket already handed a place must `leave` instead)."""
        queue = self._queues.get(key)
        if queue is None or ticket not in queue:
            return
        queue.remove(ticket)
        if not queue:
            del self._queues[key]
            self._turns.pop(key, None)

    def _admit(self, key: Key) -> None:
        self._admitted += 1
        self._by_key[key] = self._by_key.get(key, 0) + 1

    def _offer_turn(self, key: Key) -> None:
        if key in self._queues and self._by_key.get(key, 0) < self.per_key:
            self._turns.setdefault(key, None)


def renew_after(lease: Lease) -> float:
    return lease.lease_duration * RENEW_AFTER_SHARE


def as_names(names: str | Sequence[str]) -> list[str]:
    return [names] if isinstance(names, str) else list(names)


def default_holder() -> str:
    """host/pid/thread, and the asyncio task when there is one."""
    holder = f"{socket.gethostname()}/{os.getpid()}/{threading.current_thread().name}"
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    return f"{holder}/{task.get_name()}" if task else holder


def describe(names: list[str]) -> str:
    return ", ".join(repr(name) for name in names)


class _Tally:
    """A count shared by the threads of one process; a forked child starts its own at zero."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._restart)

    def add(self) -> None:
        with self._lock:
            self.value += 1

    def _restart(self) -> None:
        self.value, self._lock = 0, threading.Lock()


_unguarded = _Tally()


def unguarded_runs() -> int:
    """How many blocks and `rate_limit` calls this process has let through unguarded: on
    limits that do not exist, or with `on_unavailable="proceed"` while the server could not be
    reached. A number to export to your metrics and alert on."""
    return _unguarded.value


def run_unguarded(missing: errors.MissingLimits, *, what: str, strict: bool) -> None:
    """Missing limits: raise in strict mode, else say loudly that the block runs unguarded."""
    if strict:
        raise missing
    _unguarded.add()
    logger.warning(
        "%s: no limit named %s, so the block runs unguarded. Create the limit, or pass strict=True to fail instead.",
        what,
        describe(missing.missing_names),
    )


def run_unavailable(error: errors.SlotgateError, *, what: str, on_unavailable: OnUnavailable) -> None:
    """The server is unavailable: raise, unless the caller chose to proceed unguarded."""
    if on_unavailable != "proceed":
        raise error
    _unguarded.add()
    logger.error(
        "%s: the Slotgate server is unavailable (%s), so the block runs UNGUARDED (on_unavailable='proceed').",
        what,
        error,
    )


def note_given_back(lease: Lease) -> None:
    logger.debug(
        "Slotgate lease %s on %s, asked for again after its caller gave up, is released.",
        lease.id,
        describe(lease.names),
    )


def note_release_failure(lease: Lease, error: errors.SlotgateError) -> None:
    """A release that did not go through: the lease had ended, or the server could not be told."""
    if isinstance(error, errors.LeaseGone):
        if not lease.lost:
            lease.lost_reason = error.detail
            logger.error("Slotgate lease %s on %s had ended before release: %s", lease.id, describe(lease.names), error)
        return
    logger.error(
        "Slotgate lease %s on %s could not be released (%s); its slots come back when it expires at %s.",
        lease.id,
        describe(lease.names),
        error,
        lease.expires_at.isoformat(),
    )


def mark_lost(lease: Lease, reason: str) -> None:
    lease.lost_reason = reason
    logger.error(
        "Slotgate lease %s on %s was LOST while its block runs: %s. The slots may be held by someone else.",
        lease.id,
        describe(lease.names),
        reason,
    )
