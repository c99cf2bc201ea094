"""On PostgreSQL a grant commits without waiting for the disk, so that a busy limit's row is
not locked through the flush, and is answered only once the log is on disk through its
commit: a crash of PostgreSQL cannot forget a holder who was told they hold a slot. The
requests waiting for the disk at once share a flush. A grant sent while nothing else is under
way commits durably by itself, with no flush to wait for."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest

from slotgate_server.errors import is_store_outage
from slotgate_server.settings import normalise_database_url
from slotgate_server.store import admission
from slotgate_server.store.database import Database, postgres_conninfo
from tests.support.live_server import free_port, fresh_database

Scenario = Callable[["_Watched"], Awaitable[None]]


class _Watched(Database):
    """The store's database, noting where the log ended after each hot statement returned
    (so, after its commit), each time a caller waited for the disk, and each flush."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.commit_ends: list[str] = []
        self.waits_for_disk = 0
        self.flushes = 0

    async def _connect_flusher(self) -> psycopg.AsyncConnection[Any]:
        self.flushes += 1  # once at the start of every round
        return await super()._connect_flusher()

    async def statement(self, sql: str, parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
        rows = await super().statement(sql, parameters)
        self.commit_ends.append(await _log_end(self.url))
        return rows

    async def wait_for_disk(self, *, sent_at: float) -> None:
        self.waits_for_disk += 1
        await super().wait_for_disk(sent_at=sent_at)


async def _ask(url: str, sql: str, parameters: Sequence[Any] = ()) -> Any:
    """The one value `sql` selects, asked on a connection of its own."""
    async with await psycopg.AsyncConnection.connect(postgres_conninfo(url), autocommit=True) as conn:
        row = await (await conn.execute(sql, parameters)).fetchone()
        assert row is not None
        return row[0]


async def _log_end(url: str) -> str:
    return str(await _ask(url, "SELECT pg_current_wal_insert_lsn()::text"))


async def _on_disk_through(url: str, position: str) -> bool:
    return bool(await _ask(url, "SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", [position]))


async def _create_limit(db: Database, name: str, *, slots: int) -> None:
    await db.statement(
        "INSERT INTO limits (id, name, slot_limit, slot_decay_per_second, active, occupied,"
        " occupied_at, denied_slots, created, updated)"
        " VALUES (%(name)s, %(name)s, %(slots)s, 0, true, 0, 0, 0, 0, 0) RETURNING id",
        {"name": name, "slots": slots},
    )


@pytest.fixture
def on_postgres(tmp_path: Path) -> Callable[[Scenario], None]:
    """Runs a scenario in an event loop of its own, on a migrated PostgreSQL database with one
    limit of one slot, `only`."""

    def run(scenario: Scenario) -> None:
        async def main(url: str) -> None:
            db = _Watched(normalise_database_url(url))
            await db.migrate()
            await db.open()
            try:
                await _create_limit(db, "only", slots=1)
                await scenario(db)
            finally:
                await db.dispose()

        with fresh_database("postgres", tmp_path) as url:
            asyncio.run(main(url))

    return run


def _acquire(limit: str = "only") -> admission.TakeRequest:
    lease = admission.NewLease(id=str(uuid.uuid4()), names=[limit], holder="h", duration=60.0)
    now = time.time()
    return admission.TakeRequest(names=[limit], requested=1, now=now, arrived_at=now, lease=lease, require_decay=False)


def test_a_lone_grant_is_on_disk_when_answered_without_a_flush_and_a_denial_waits_for_nothing(
    on_postgres: Callable[[Scenario], None],
) -> None:
    async def scenario(db: _Watched) -> None:
        flushes = db.flushes
        granted = await admission.run_take(db, _acquire())
        assert granted.granted
        # Nothing else was under way: the grant committed durably, in its own statement.
        assert (db.waits_for_disk, db.flushes) == (0, flushes)
        assert await _on_disk_through(db.url, db.commit_ends[-1])

        denied = await admission.run_take(db, _acquire())  # the one slot is taken
        assert not denied.granted
        assert (db.waits_for_disk, db.flushes) == (0, flushes)

    on_postgres(scenario)


def test_grants_sent_while_others_are_under_way_wait_for_a_flush(on_postgres: Callable[[Scenario], None]) -> None:
    async def scenario(db: _Watched) -> None:
        await _create_limit(db, "roomy", slots=100)
        flushes = db.flushes
        granted = await asyncio.gather(*(admission.run_take(db, _acquire("roomy")) for _ in range(4)))
        assert all(take.granted for take in granted)
        # The first was sent alone and committed durably; the other three, sent while it was
        # under way, committed without waiting and were answered once a flush had run.
        assert db.waits_for_disk == 3
        assert db.flushes > flushes
        assert await _on_disk_through(db.url, max(db.commit_ends[-4:], key=_lsn_order))

    on_postgres(scenario)


def test_the_callers_waiting_at_once_share_a_flush_and_each_gets_the_disk(
    on_postgres: Callable[[Scenario], None],
) -> None:
    async def scenario(db: _Watched) -> None:
        sent_at = time.monotonic()
        relaxed_ends = []
        for _ in range(3):
            await db.statement("SELECT set_config('synchronous_commit', 'off', true), pg_current_xact_id()", {})
            relaxed_ends.append(db.commit_ends[-1])
        flushes_before = db.flushes
        await asyncio.gather(*(db.wait_for_disk(sent_at=sent_at) for _ in range(20)))
        assert await _on_disk_through(db.url, max(relaxed_ends, key=_lsn_order))
        # Twenty waiters, arriving in one turn of the event loop, took one flush between them.
        assert db.flushes - flushes_before == 1

    on_postgres(scenario)


def test_a_caller_arriving_in_the_next_turn_of_the_event_loop_joins_the_same_flush(
    on_postgres: Callable[[Scenario], None],
) -> None:
    async def scenario(db: _Watched) -> None:
        flushes = db.flushes
        first = asyncio.create_task(db.wait_for_disk(sent_at=time.monotonic()))
        await asyncio.sleep(0)  # the first waits, and has started the flusher
        second = asyncio.create_task(db.wait_for_disk(sent_at=time.monotonic()))
        await asyncio.gather(first, second)
        assert db.flushes - flushes == 1

    on_postgres(scenario)


def test_only_statements_sent_after_the_flushers_connection_are_vouched_for(
    on_postgres: Callable[[Scenario], None],
) -> None:
    """A restart of PostgreSQL loses what was not yet on disk, and ends every connection: a
    flush on a connection made after a statement was sent cannot tell whether that
    statement's work survived, so its caller is answered as in an outage (503)."""

    async def scenario(db: _Watched) -> None:
        sent_before_the_loss = time.monotonic()
        flusher = await db._connect_flusher()
        await db.statement("SELECT true AS ended FROM pg_terminate_backend(%(pid)s)", {"pid": flusher.info.backend_pid})
        for attempt in ("on the ended connection", "on a new one"):
            with pytest.raises(Exception) as refused:
                await db.wait_for_disk(sent_at=sent_before_the_loss)
            assert is_store_outage(refused.value), (attempt, repr(refused.value))
        await db.wait_for_disk(sent_at=time.monotonic())  # sent after the new connection

    on_postgres(scenario)


def test_when_the_flush_fails_every_waiter_is_told(tmp_path: Path) -> None:
    """With PostgreSQL away, the waiters fail as in an outage (503), none waits forever, and
    the next caller is served by a new flush."""

    async def scenario() -> None:
        db = Database(normalise_database_url(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"))
        try:
            outcomes = await asyncio.wait_for(
                asyncio.gather(*(db.wait_for_disk(sent_at=time.monotonic()) for _ in range(5)), return_exceptions=True),
                timeout=30,
            )
            assert len(outcomes) == 5
            assert all(isinstance(outcome, Exception) and is_store_outage(outcome) for outcome in outcomes), outcomes
            again = await asyncio.wait_for(
                asyncio.gather(db.wait_for_disk(sent_at=time.monotonic()), return_exceptions=True), timeout=30
            )
            assert isinstance(again[0], Exception) and is_store_outage(again[0])
        finally:
            await db.dispose()

    asyncio.run(scenario())


def _lsn_order(position: str) -> tuple[int, int]:
    high, low = position.split("/")
    return int(high, 16), int(low, 16)
