"""A grant that races its client's departure is given back at once, and nothing is kept under
its Idempotency-Key: a repeat of the request is a new request. On both stores."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from slotgate_server import clock
from slotgate_server.errors import ClientDeparted
from slotgate_server.idempotency import IdempotencyKey
from slotgate_server.metrics import Metrics
from slotgate_server.services import leases, rate_limit
from slotgate_server.settings import Settings, normalise_database_url
from slotgate_server.state import ServerState
from slotgate_server.store import idempotency as idempotency_store
from slotgate_server.store import limits as limit_store
from slotgate_server.store.database import Database
from slotgate_server.waiters import SlotsFreed
from tests.support.live_server import fresh_database

KEY = IdempotencyKey(scope="", key="departing", request_hash="h")


class DepartsDuringTheTake:
    """The departure of a client that is there when its request is first looked at, and gone
    by the time the grant comes back from the store (in place of `waiters.Departure`)."""

    def __init__(self) -> None:
        self.looks = 0

    @property
    def departed(self) -> bool:
        self.looks += 1
        return self.looks > 1

    async def stop(self) -> None:
        pass


@asynccontextmanager
async def server_on(url: str) -> AsyncIterator[ServerState]:
    db = Database(normalise_database_url(url))
    await db.migrate()
    await db.open()
    try:
        yield ServerState(settings=Settings(database_url=db.url), db=db, metrics=Metrics(), freed=SlotsFreed())
    finally:
        await db.dispose()


async def make_limit(server: ServerState, name: str, **config: object) -> None:
    await server.db.write(limit_store.insert_limit, name=name, config={"limit": 1, **config}, now=clock.now())


async def usage(server: ServerState, name: str) -> tuple[float, int | None]:
    """The limit's occupied slots, and its open leases."""
    record = await server.db.read(limit_store.get_limit, name=name)
    assert record is not None
    return record.state.occupied, record.open_leases


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_lease_granted_to_a_departed_client_is_released_and_its_key_forgotten(store: str, tmp_path: Path) -> None:
    async def scenario(server: ServerState) -> None:
        await make_limit(server, "db")
        with pytest.raises(ClientDeparted):
            await leases.acquire(
                server, names=["db"], slots_each=1, duration=None, holder="h", key=KEY, departure=DepartsDuringTheTake()
            )
        assert await usage(server, "db") == (0, 0)
        assert await server.db.read(idempotency_store.find, key=KEY) is None

        _, replayed = await leases.acquire(server, names=["db"], slots_each=1, duration=None, holder="h", key=KEY)
        assert not replayed, "a repeat of a request whose grant was given back is a new request"
        assert await usage(server, "db") == (1, 1)

    with fresh_database(store, tmp_path) as url:
        asyncio.run(_run(url, scenario))


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_rate_limit_slots_granted_to_a_departed_client_are_given_back(store: str, tmp_path: Path) -> None:
    async def scenario(server: ServerState) -> None:
        await make_limit(server, "api", slot_decay_per_second=0.001)
        with pytest.raises(ClientDeparted):
            await rate_limit.consume(server, names=["api"], slots_each=1, key=KEY, departure=DepartsDuringTheTake())
        assert await usage(server, "api") == (0, 0)
        assert await server.db.read(idempotency_store.find, key=KEY) is None
        _, replayed = await rate_limit.consume(server, names=["api"], slots_each=1, key=KEY)
        assert not replayed

    with fresh_database(store, tmp_path) as url:
        asyncio.run(_run(url, scenario))


async def _run(url: str, scenario: Callable[[ServerState], Awaitable[None]]) -> None:
    async with server_on(url) as server:
        await scenario(server)
