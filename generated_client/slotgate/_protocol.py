"""What the sync and async SDK share: each API call as data, answers turned into results or
errors, the lease object, and the arithmetic of waiting and renewing. No I/O here."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import Any, Generic, TypeVar
from uuid import UUID

from slotgate import errors
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

# How long one request may wait on the server for slots. The server hands freed slots over at
# once, so waiting there beats sleeping here; shorter than the HTTP timeout.
SERVER_WAIT_SECONDS = 5.0


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


def acquire(
    names: Sequence[str], *, slots: int, lease_duration: float | None, holder: str, wait_seconds: float = 0.0
) -> Call[Lease]:
    body = LeaseRequest(
        names=list(names), slots=slots, lease_duration=_unset(lease_duration), holder=holder, wait_seconds=wait_seconds
    )
    return Call(acquire_lease, {"body": body}, lease_from)


def renew(lease_id: str, *, lease_duration: float | None = None) -> Call[Lease]:
    body: LeaseRenewal | Unset = LeaseRenewal(lease_duration=_unset(lease_duration))
    return Call(renew_lease, {"lease_id": UUID(lease_id), "body": body}, lease_from)


def release(lease_id: str) -> Call[None]:
    return Call(release_lease, {"lease_id": UUID(lease_id)}, _nothing)


def read_lease_of(lease_id: str) -> Call[Lease]:
    return Call(read_lease, {"lease_id": UUID(lease_id)}, lease_from)


def consume(names: Sequence[str], *, slots: int, wait_seconds: float = 0.0) -> Call[None]:
    body = RateLimitRequest(names=list(names), slots=slots, wait_seconds=wait_seconds)
    return Call(consume_rate_limit, {"body": body}, _nothing)


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


@dataclass
class RetryBudget:
    """How long and how often a caller is willing to wait for slots."""

    deadline: float | None  # on the monotonic clock
    max_retries: int | None
    retries: int = 0
    _random: random.Random = field(default_factory=random.Random)

    @classmethod
    def starting(cls, now: float, timeout_seconds: float | None, max_retries: int | None) -> RetryBudget:
        return cls(deadline=None if timeout_seconds is None else now + timeout_seconds, max_retries=max_retries)

    def server_wait(self, now: float) -> float:
        """How long the next request may wait on the server: none when retries are counted
        (each would otherwise take that long), else up to the time left."""
        if self.max_retries is not None:
            return 0.0
        left = SERVER_WAIT_SECONDS if self.deadline is None else self.deadline - now
        return max(0.0, min(SERVER_WAIT_SECONDS, left))

    def next_wait(self, denial: errors.SlotsUnavailable, *, now: float, what: str, waited: bool = False) -> float:
        """Seconds to sleep before the next try (none after waiting on the server); raises
        when the budget is spent."""
        if self.max_retries is not None and self.retries >= self.max_retries:
            raise errors.RetriesExhausted(
                f"{what}: still no slots after {self.retries} retr{'y' if self.retries == 1 else 'ies'}. "
                f"Last answer: {denial.detail}"
            ) from denial
        wait = 0.0 if waited else denial.retry_after_seconds * (1 + self._random.uniform(0, JITTER_SHARE))
        if self.deadline is not None:
            remaining = self.deadline - now
            if remaining <= 0:
                raise errors.AcquireTimeout(
                    f"{what}: no slots within the timeout. Last answer: {denial.detail}"
                ) from denial
            wait = min(wait, remaining)
        self.retries += 1
        return wait


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


def run_unguarded(missing: errors.MissingLimits, *, what: str, strict: bool) -> None:
    """Missing limits: raise in strict mode, else say loudly that the block runs unguarded."""
    if strict:
        raise missing
    logger.warning(
        "%s: no limit named %s, so the block runs unguarded. Create the limit, or pass strict=True to fail instead.",
        what,
        describe(missing.missing_names),
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
