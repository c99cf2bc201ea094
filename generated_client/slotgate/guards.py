"""`concurrency` and `rate_limit` for threads and processes."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from slotgate import _protocol, errors
from slotgate._protocol import Lease, RetryBudget, describe
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
) -> Iterator[Lease | None]:
    """Hold `occupy` slots of every named limit while the block runs.

    Waits (as the server hints) until the slots are free, at most `timeout_seconds` from the call
    and `max_retries` retries. The lease is renewed in the background; it is released on every
    way out of the block. Yields the lease, or None when the limits do not exist and the block
    runs unguarded (with `strict=True` that raises instead).
    """
    api = client or default_client()
    wanted = _protocol.as_names(names)
    what = f"concurrency({describe(wanted)})"
    try:
        lease = _wait_for(
            lambda wait: api.acquire(
                wanted,
                slots=occupy,
                lease_duration=lease_duration,
                holder=holder or _protocol.default_holder(),
                wait_seconds=wait,
            ),
            what=what,
            timeout_seconds=timeout_seconds,
            max_retries=max_retries,
        )
    except errors.MissingLimits as missing:
        _unguarded(missing, what=what, strict=strict)
        yield None
        return
    renewer = _Renewer(api, lease)
    renewer.start()
    try:
        yield lease
    finally:
        renewer.stop()
        _release(api, lease)
    if strict and lease.lost:
        raise errors.LeaseLost(f"{what}: the lease was lost while the block ran ({lease.lost_reason}).")


def rate_limit(
    names: str | Sequence[str],
    occupy: int = 1,
    timeout_seconds: float | None = None,
    strict: bool = False,
    client: SlotgateClient | None = None,
) -> None:
    """Take `occupy` slots of every named decaying limit, waiting until they have drained free."""
    api = client or default_client()
    wanted = _protocol.as_names(names)
    what = f"rate_limit({describe(wanted)})"
    try:
        _wait_for(
            lambda wait: api.consume(wanted, slots=occupy, wait_seconds=wait),
            what=what,
            timeout_seconds=timeout_seconds,
        )
    except errors.MissingLimits as missing:
        _unguarded(missing, what=what, strict=strict)


def _wait_for(
    attempt: Callable[[float], T], *, what: str, timeout_seconds: float | None, max_retries: int | None = None
) -> T:
    """`attempt(wait_seconds)` until it is granted or the budget is spent."""
    budget = RetryBudget.starting(time.monotonic(), timeout_seconds, max_retries)
    while True:
        on_server = budget.server_wait(time.monotonic())
        try:
            return attempt(on_server)
        except errors.SlotsUnavailable as denial:
            time.sleep(budget.next_wait(denial, now=time.monotonic(), what=what, waited=on_server > 0))


def _unguarded(missing: errors.MissingLimits, *, what: str, strict: bool) -> None:
    if strict:
        raise missing
    logger.warning(
        "%s: no limit named %s, so the block runs unguarded. Create the limit, or pass strict=True to fail instead.",
        what,
        describe(missing.missing_names),
    )


def _release(api: SlotgateClient, lease: Lease) -> None:
    try:
        api.release(lease.id)
    except errors.LeaseGone as gone:
        if not lease.lost:
            lease.lost_reason = gone.detail
            logger.error(
                "Slotgate lease %s on %s had ended before release: %s", lease.id, describe(lease.names), gone.detail
            )
    except errors.SlotgateError as error:
        logger.error(
            "Slotgate lease %s on %s could not be released (%s); its slots come back when it expires at %s.",
            lease.id,
            describe(lease.names),
            error,
            lease.expires_at.isoformat(),
        )
    else:
        lease.released = True


class _Renewer(threading.Thread):
    """Renews a lease well before it expires, until stopped; marks it lost if the server says
    it ended, or if no renewal got through before it expired."""

    def __init__(self, api: SlotgateClient, lease: Lease) -> None:
        super().__init__(name=f"slotgate-renew-{lease.id[:8]}", daemon=True)
        self._api = api
        self._lease = lease
        self._stopped = threading.Event()
        self._expires = time.monotonic() + lease.lease_duration

    def stop(self) -> None:
        self._stopped.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=self._api.settings.timeout_seconds + 1)

    def run(self) -> None:
        interval = _protocol.renew_after(self._lease)
        while not self._stopped.wait(interval):
            started = time.monotonic()
            try:
                renewed = self._api.renew(self._lease.id)
            except (errors.LeaseGone, errors.NotFound) as ended:
                self._lost(ended.detail)
                return
            except errors.SlotgateError as error:
                if time.monotonic() >= self._expires:
                    self._lost(f"no renewal got through before it expired (last error: {error})")
                    return
                logger.warning("Slotgate lease %s: renewal failed (%s); retrying.", self._lease.id, error)
                interval = max(0.05, min(interval, (self._expires - time.monotonic()) / 2))
                continue
            self._lease.expires_at = renewed.expires_at
            self._expires = started + renewed.lease_duration
            interval = _protocol.renew_after(renewed)

    def _lost(self, reason: str) -> None:
        if self._stopped.is_set():
            return  # the block already ended; release reports what happened
        self._lease.lost_reason = reason
        logger.error(
            "Slotgate lease %s on %s was LOST while its block runs: %s. The slots may be held by someone else.",
            self._lease.id,
            describe(self._lease.names),
            reason,
        )
