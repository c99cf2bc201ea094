"""The synchronous client: one pooled connection set per process and server."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

import httpx

from slotgate import _protocol, errors
from slotgate._protocol import Admission, Call, Key, Lease, OnUnavailable, RetryBudget
from slotgate.settings import ClientSettings
from slotgate_client import AuthenticatedClient, Client
from slotgate_client.models import Limit

T = TypeVar("T")


def generated_client(settings: ClientSettings, *, max_connections: int | None) -> AuthenticatedClient:
    """The generated client for these settings, on a pool of at most `max_connections` (None:
    no bound) that keeps every connection it opened alive for the next request. Without a key
    it sends no Authorization header; the generated annotations ask for an authenticated client
    on admin operations regardless."""
    timeout = httpx.Timeout(settings.timeout_seconds)
    pool = {"limits": httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)}
    if settings.api_key:
        return AuthenticatedClient(base_url=settings.api_url, token=settings.api_key, timeout=timeout, httpx_args=pool)
    return cast(AuthenticatedClient, Client(base_url=settings.api_url, timeout=timeout, httpx_args=pool))


def seconds_left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


class ClientBase:
    """What the sync and async clients share: settings, a pool of connections, the queue of
    acquisitions in front of it, and what to do when the server cannot be reached."""

    def __init__(
        self,
        api_url: str | None,
        api_key: str | None,
        *,
        max_connections: int | None,
        on_unavailable: OnUnavailable,
    ) -> None:
        self.settings = ClientSettings.resolve(api_url, api_key)
        self.max_connections = max_connections
        self.on_unavailable = _protocol.check_on_unavailable(on_unavailable)
        self._caps = None if max_connections is None else _protocol.admission_caps(max_connections)
        self._connect()
        _live_clients.add(self)

    def _connect(self) -> None:
        """A pool and a queue of its own. A forked child calls this again and leaves its
        parent's alone: their sockets and waiting threads are the parent's."""
        self._generated = generated_client(self.settings, max_connections=self.max_connections)
        self._admission: Admission[Any] | None = None
        if self._caps is not None:
            self._admission = Admission(in_all=self._caps[0], per_key=self._caps[1])

    def _budget(
        self, timeout_seconds: float | None, max_retries: int | None, on_unavailable: OnUnavailable | None
    ) -> RetryBudget:
        """The bounds of one acquisition, starting now. A request never asks to wait on the
        server longer than its answer has to come back within the HTTP read timeout."""
        return RetryBudget.starting(
            time.monotonic(),
            timeout_seconds,
            max_retries,
            on_unavailable=_protocol.check_on_unavailable(on_unavailable or self.on_unavailable),
            longest_server_wait=_protocol.longest_server_wait(self.settings.timeout_seconds),
        )


class SlotgateClient(ClientBase):
    """Synchronous access to a Slotgate server. Safe to share between threads, and across
    `fork()`: a child process gets connections of its own.

    `max_connections` bounds the pool; by default there is no bound, since a thread has one
    request out at a time, and every connection opened is kept alive for the next request
    (httpx's own default keeps 20, so that a 21st thread opened a connection per request).
    With a bound, acquisitions beyond what fits wait their turn in this client, as the async
    client's do (see `slotgate.asyncio.SlotgateClient`).

    `on_unavailable` is what `concurrency` and `rate_limit` on this client do by default when
    the server cannot be reached or answers 5xx: "wait" (retry with backoff within the
    caller's timeout), "raise" (at once), or "proceed" (run unguarded, logged as an error and
    counted in `slotgate.unguarded_runs()`).

    Each method makes one request; `concurrency` and `rate_limit` add waiting and retries.
    """

    def __init__(
        self,
        api_url: str | None = None,
        api_key: str | None = None,
        *,
        max_connections: int | None = None,
        on_unavailable: OnUnavailable = "wait",
    ) -> None:
        super().__init__(api_url, api_key, max_connections=max_connections, on_unavailable=on_unavailable)

    def _connect(self) -> None:
        super()._connect()
        self._admission_lock = threading.Lock()
        self._background: set[threading.Thread] = set()

    def call(self, call: Call[T]) -> T:
        try:
            response = call.endpoint.sync_detailed(client=self._generated, **call.arguments)
        except httpx.TransportError as error:
            raise errors.unreachable(self.settings.api_url, error) from error
        return _protocol.result(call, response)

    def acquire(
        self,
        names: Sequence[str],
        *,
        slots: int = 1,
        lease_duration: float | None = None,
        holder: str = "",
        wait_seconds: float = 0.0,
        idempotency_key: str | None = None,
    ) -> Lease:
        """One acquire request, under `idempotency_key` (a new one by default): a repeat with
        the same key gets the same lease."""
        key = idempotency_key or _protocol.new_idempotency_key()
        call = _protocol.acquire(
            names,
            slots=slots,
            lease_duration=lease_duration,
            holder=holder,
            wait_seconds=wait_seconds,
            idempotency_key=key,
        )
        return self.call(call)

    def renew(self, lease_id: str, *, lease_duration: float | None = None) -> Lease:
        return self.call(_protocol.renew(lease_id, lease_duration=lease_duration))

    def release(self, lease_id: str) -> None:
        self.call(_protocol.release(lease_id))

    def consume(
        self, names: Sequence[str], *, slots: int = 1, wait_seconds: float = 0.0, idempotency_key: str | None = None
    ) -> None:
        key = idempotency_key or _protocol.new_idempotency_key()
        self.call(_protocol.consume(names, slots=slots, wait_seconds=wait_seconds, idempotency_key=key))

    def limits(self, *, name_prefix: str | None = None, active: bool | None = None) -> Iterator[Limit]:
        """Every limit in name order, page by page."""
        return self._walk(lambda after: _protocol.list_page(name_prefix=name_prefix, active=active, after=after))

    def leases_of(self, name: str) -> Iterator[Any]:
        """Every open lease of a limit, oldest first, page by page."""
        return self._walk(lambda after: _protocol.leases_page(name, after=after))

    def _walk(self, page_after: Callable[[str | None], Call[Any]]) -> Iterator[Any]:
        after = None
        while True:
            page = self.call(page_after(after))
            yield from page.items
            if not isinstance(page.next_, str):
                return
            after = page.next_

    @contextlib.contextmanager
    def _turn(self, names: Sequence[str], *, deadline: float | None, what: str) -> Iterator[None]:
        """While an acquisition of `names` may be at the server; until then it waits here, in
        line, at most until `deadline`."""
        if self._admission is None:
            yield
            return
        key, ticket = _protocol.names_key(names), threading.Event()
        try:
            with self._admission_lock:
                if self._admission.arrive(key, ticket):
                    ticket.set()
            if not ticket.wait(seconds_left(deadline)):
                raise errors.AcquireTimeout(f"{what}: its turn to ask the server did not come within the timeout.")
            yield
        finally:
            self._done(key, ticket)

    def _done(self, key: Key, ticket: threading.Event) -> None:
        """A set ticket holds a place, which passes on; any other leaves the line."""
        assert self._admission is not None
        with self._admission_lock:
            if not ticket.is_set():
                self._admission.withdraw(key, ticket)
                return
            for _, handed in self._admission.leave(key):
                handed.set()

    def _in_background(self, work: Callable[[], None]) -> None:
        """`work()` in a daemon thread, which `close` waits for."""

        def run() -> None:
            try:
                work()
            finally:
                self._background.discard(thread)

        thread = threading.Thread(target=run, name="slotgate-give-back", daemon=True)
        self._background.add(thread)
        thread.start()

    def close(self) -> None:
        for thread in list(self._background):
            thread.join()
        self._generated.get_httpx_client().close()


_live_clients: weakref.WeakSet[ClientBase] = weakref.WeakSet()
_default_clients: dict[tuple[int, ClientSettings], SlotgateClient] = {}
_default_clients_lock = threading.Lock()


def default_client(api_url: str | None = None, api_key: str | None = None) -> SlotgateClient:
    """The process's client for these settings (a forked child gets its own)."""
    key = (os.getpid(), ClientSettings.resolve(api_url, api_key))
    with _default_clients_lock:
        if key not in _default_clients:
            _default_clients[key] = SlotgateClient(api_url, api_key)
        return _default_clients[key]


def _after_fork_in_child() -> None:
    """The child's clients get pools of their own; the parent's connections are left open for
    the parent (dropping them closes only the child's copies of the sockets)."""
    global _default_clients_lock
    _default_clients.clear()
    _default_clients_lock = threading.Lock()
    for client in list(_live_clients):
        client._connect()


os.register_at_fork(after_in_child=_after_fork_in_child)
