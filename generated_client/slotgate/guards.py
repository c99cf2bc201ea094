"""`concurrency` and `rate_limit` for threads and processes."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from slotgate import _protocol, errors
from slotgate._protocol import Lease, OnUnavailable, RetryBudget, describe
from slotgate.client import SlotgateClient, default_client

logger = logging.getLogger("slotgate")

T = TypeVar("T")


@contextlib.contextmanager
def concurrency(
    names: str | Sequence[str],
    occupy: int = 1,
    timeout_seconds: float | None = None,
    max_retries: int | None = None,
    lease_duration: float = 300,
    strict: bool = False,
    holder: str | None = None,
    client: SlotgateClient | None = None,
    on_unavailable: OnUnavailable | None = None,
) -> Iterator[Lease | None]:
    """Hold `occupy` slots of every named limit while the block runs.

    Waits (as the server hints) until the slots are free, at most `timeout_seconds` from the call
    and `max_retries` retries. A try whose answer is lost (no answer, a 5xx) is repeated under
    its Idempotency-Key, so the server takes nothing twice. When the server cannot be reached,
    `on_unavailable` (by default the client's, "wait") chooses: retry within those bounds,
    "raise" at once, or "proceed" to run the block unguarded. KeyboardInterrupt while a request
    waits on the server closes its connection, which withdraws it; a grant whose answer was
    already on its way (or lost when giving up) is asked for again in the background and
    released.

    The lease is renewed in the background; it is released on every way out of the block.
    Yields the lease, or None when the block runs unguarded (limits that do not exist, unless
    `strict=True`; or the server unavailable with "proceed").
    """
    api = client or default_client()
    wanted = _protocol.as_names(names)
    what = f"concurrency({describe(wanted)})"
    budget = api._budget(timeout_seconds, max_retries, on_unavailable)
    taker = holder or _protocol.default_holder()

    def ask(wait: float, key: str) -> Lease:
        return api.acquire(
            wanted, slots=occupy, lease_duration=lease_duration, holder=taker, wait_seconds=wait, idempotency_key=key
        )

    lease = _unless_unguarded(
        lambda: _taking(api, wanted, ask, budget=budget, what=what),
        what=what,
        strict=strict,
        on_unavailable=budget.on_unavailable,
    )
    if lease is None:
        yield None
        return
    renewals = _renewals_of(api)
    try:
        renewals.add(lease)
        yield lease
    finally:
        renewals.remove(lease)
        _release(api, lease, budget.on_unavailable)
    if strict and lease.lost:
        raise errors.LeaseLost(f"{what}: the lease was lost while the block ran ({lease.lost_reason}).")


def rate_limit(
    names: str | Sequence[str],
    occupy: int = 1,
    timeout_seconds: float | None = None,
    strict: bool = False,
    client: SlotgateClient | None = None,
    on_unavailable: OnUnavailable | None = None,
) -> None:
    """Take `occupy` slots of every named decaying limit, waiting until they have drained free.
    Retries and `on_unavailable` as in `concurrency`."""
    api = client or default_client()
    wanted = _protocol.as_names(names)
    what = f"rate_limit({describe(wanted)})"
    budget = api._budget(timeout_seconds, None, on_unavailable)

    def attempt(wait: float, key: str) -> None:
        api.consume(wanted, slots=occupy, wait_seconds=wait, idempotency_key=key)

    _unless_unguarded(
        lambda: _in_turn(api, wanted, attempt, budget=budget, what=what),
        what=what,
        strict=strict,
        on_unavailable=budget.on_unavailable,
    )


def _unless_unguarded(take: Callable[[], T], *, what: str, strict: bool, on_unavailable: OnUnavailable) -> T | None:
    """`take()`, or None when the block is to run unguarded: its limits do not exist, or the
    server is unavailable and the caller chose to proceed."""
    try:
        return take()
    except errors.MissingLimits as missing:
        _protocol.run_unguarded(missing, what=what, strict=strict)
    except _protocol.UNAVAILABLE as down:
        _protocol.run_unavailable(down, what=what, on_unavailable=on_unavailable)
    return None


def _taking(
    api: SlotgateClient, names: list[str], ask: Callable[[float, str], Lease], *, budget: RetryBudget, what: str
) -> Lease:
    """A lease, asked for in turn. Given up with a try unsettled (KeyboardInterrupt while the
    answer was on its way, the server gone mid-answer), the try may have been granted: it is
    asked for again in a background thread, and what that grants is released."""
    try:
        return _in_turn(api, names, ask, budget=budget, what=what)
    except BaseException:
        if budget.unsettled:
            key = budget.key
            api._in_background(lambda: _give_back(api, lambda: ask(0.0, key)))
        raise


def _give_back(api: SlotgateClient, ask_again: Callable[[], Lease]) -> None:
    """Ask again, without waiting, under the key of a try given up unsettled, and release what
    it grants (see `slotgate.asyncio._give_back`)."""
    jitter = random.Random()
    for failures in range(1, _protocol.GIVE_BACK_TRIES + 1):
        try:
            lease = ask_again()
        except errors.IdempotencyKeyInFlight:  # the server has yet to see the connection close
            time.sleep(_protocol.backoff(failures, jitter))
            continue
        except errors.SlotgateError:
            return
        _protocol.note_given_back(lease)
        _release(api, lease, "raise")
        return


def _in_turn(
    api: SlotgateClient, names: list[str], attempt: Callable[[float, str], T], *, budget: RetryBudget, what: str
) -> T:
    with api._turn(names, deadline=budget.deadline, what=what):
        return _wait_for(attempt, budget=budget, what=what)


def _wait_for(attempt: Callable[[float, str], T], *, budget: RetryBudget, what: str) -> T:
    """`attempt(wait_seconds, idempotency_key)` until it succeeds or the budget is spent."""
    while True:
        on_server = budget.server_wait(time.monotonic())
        try:
            return attempt(on_server, budget.key)
        except errors.SlotgateError as error:
            time.sleep(budget.after(error, now=time.monotonic(), what=what))


def _release(api: SlotgateClient, lease: Lease, on_unavailable: OnUnavailable) -> None:
    """Release, retrying a release whose answer was lost (whose repeat may find it released)."""
    budget = RetryBudget.for_release(time.monotonic(), lease, on_unavailable)

    def attempt(_wait: float, _key: str) -> None:
        try:
            api.release(lease.id)
        except errors.LeaseGone as gone:
            if not _protocol.release_done(gone, retried=budget.retries > 0):
                raise

    try:
        _wait_for(attempt, budget=budget, what=f"release of lease {lease.id}")
    except errors.SlotgateError as error:
        _protocol.note_release_failure(lease, error)
    else:
        lease.released = True


@dataclass
class _Held:
    lease: Lease
    due: float  # monotonic time of the next renewal
    expires: float  # monotonic time the lease expires unless renewed


class _Renewals:
    """One daemon thread per client renews every lease its blocks hold, each well before it
    expires; a block costs no thread of its own. A lease the server says has ended, or that
    no renewal reached before it expired, is marked lost."""

    def __init__(self, api: SlotgateClient) -> None:
        self._api = api
        self._held: dict[str, _Held] = {}
        self._changed = threading.Condition()
        self._random = random.Random()
        self._thread: threading.Thread | None = None
        # When the thread looks at the held leases next, unless woken sooner. A lease due no
        # sooner needs no wake-up: a block then costs the thread nothing.
        self._next_look = float("-inf")

    def add(self, lease: Lease) -> None:
        now = time.monotonic()
        with self._changed:
            held = self._held[lease.id] = _Held(
                lease, due=now + _protocol.renew_after(lease), expires=now + lease.lease_duration
            )
            if self._thread is None or not self._thread.is_alive():
                self._next_look = float("-inf")
                self._thread = threading.Thread(target=self._run, name="slotgate-renewals", daemon=True)
                self._thread.start()
            elif held.due < self._next_look:
                self._changed.notify()

    def remove(self, lease: Lease) -> None:
        with self._changed:
            self._held.pop(lease.id, None)

    def _run(self) -> None:
        while True:
            with self._changed:
                now = time.monotonic()
                due = [held for held in self._held.values() if held.due <= now]
                if not due:
                    self._next_look = min((held.due for held in self._held.values()), default=now + 60)
                    self._changed.wait(timeout=self._next_look - now)
                    continue
                self._next_look = float("-inf")  # it looks again once these are renewed
            for held in due:
                self._renew(held)

    def _renew(self, held: _Held) -> None:
        started = time.monotonic()
        try:
            renewed = self._api.renew(held.lease.id)
        except (errors.LeaseGone, errors.NotFound) as ended:
            self._lost(held, ended.detail)
            return
        except errors.SlotgateError as error:
            if time.monotonic() >= held.expires:
                self._lost(held, f"no renewal got through before it expired (last error: {error})")
                return
            logger.warning("Slotgate lease %s: renewal failed (%s); retrying.", held.lease.id, error)
            now = time.monotonic()
            held.due = now + _protocol.renew_retry_after(held.expires - now, self._random)
            return
        held.lease.expires_at = renewed.expires_at
        held.expires = started + renewed.lease_duration
        held.due = started + _protocol.renew_after(renewed)

    def _lost(self, held: _Held, reason: str) -> None:
        with self._changed:
            if self._held.pop(held.lease.id, None) is None:
                return  # the block already ended; release reports what happened
        _protocol.mark_lost(held.lease, reason)


_renewals: weakref.WeakKeyDictionary[SlotgateClient, _Renewals] = weakref.WeakKeyDictionary()
_renewals_lock = threading.Lock()


def _renewals_of(api: SlotgateClient) -> _Renewals:
    with _renewals_lock:
        if api not in _renewals:
            _renewals[api] = _Renewals(api)
        return _renewals[api]


def _forget_renewals() -> None:
    """A forked child renews its own leases, in a thread of its own; the leases its parent
    holds are the parent's to renew."""
    global _renewals_lock
    _renewals.clear()
    _renewals_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_renewals)
