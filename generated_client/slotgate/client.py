"""The synchronous client: one pooled connection set per process and server."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

import httpx

from slotgate import _protocol, errors
from slotgate._protocol import Call, Lease
from slotgate.settings import ClientSettings
from slotgate_client import AuthenticatedClient, Client
from slotgate_client.models import Limit

T = TypeVar("T")


def generated_client(settings: ClientSettings) -> AuthenticatedClient:
    """The generated client for these settings. Without a key it sends no Authorization header;
    the generated annotations ask for an authenticated client on admin operations regardless."""
    timeout = httpx.Timeout(settings.timeout_seconds)
    if settings.api_key:
        return AuthenticatedClient(base_url=settings.api_url, token=settings.api_key, timeout=timeout)
    return cast(AuthenticatedClient, Client(base_url=settings.api_url, timeout=timeout))


class SlotgateClient:
    """Synchronous access to a Slotgate server. Safe to share between threads."""

    def __init__(self, api_url: str | None = None, api_key: str | None = None) -> None:
        self.settings = ClientSettings.resolve(api_url, api_key)
        self._generated = generated_client(self.settings)

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
    ) -> Lease:
        call = _protocol.acquire(
            names, slots=slots, lease_duration=lease_duration, holder=holder, wait_seconds=wait_seconds
        )
        return self.call(call)

    def renew(self, lease_id: str, *, lease_duration: float | None = None) -> Lease:
        return self.call(_protocol.renew(lease_id, lease_duration=lease_duration))

    def release(self, lease_id: str) -> None:
        self.call(_protocol.release(lease_id))

    def consume(self, names: Sequence[str], *, slots: int = 1, wait_seconds: float = 0.0) -> None:
        self.call(_protocol.consume(names, slots=slots, wait_seconds=wait_seconds))

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

    def close(self) -> None:
        self._generated.get_httpx_client().close()


_default_clients: dict[tuple[int, ClientSettings], SlotgateClient] = {}
_default_clients_lock = threading.Lock()


def default_client(api_url: str | None = None, api_key: str | None = None) -> SlotgateClient:
    """The process's client for these settings (a forked child gets its own)."""
    key = (os.getpid(), ClientSettings.resolve(api_url, api_key))
    with _default_clients_lock:
        if key not in _default_clients:
            _default_clients[key] = SlotgateClient(api_url, api_key)
        return _default_clients[key]
