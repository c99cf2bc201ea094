"""SQLite's hot requests share a commit: those that reach the store in one turn of the event
loop, or in the turn after it, are committed together, each in a savepoint of its own. None
is answered before the commit that keeps its work, and a failure undoes exactly the work it
should."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection

from slotgate_server.store.database import Database, driver_of

Scenario = Callable[[Database], Awaitable[None]]


@pytest.fixture
def on_sqlite(tmp_path: Path) -> Callable[[Scenario], None]:
    """Runs a scenario in an event loop of its own, on a migrated SQLite database."""

    def run(scenario: Scenario) -> None:
        async def main() -> None:
            database = Database(f"sqlite:///{tmp_path / 'slotgate.db'}")
            await database.migrate()
            try:
                await scenario(database)
            finally:
                await database.dispose()

        asyncio.run(main())

    return run


def _add_limit(name: str) -> Callable[[Connection], str]:
    def work(conn: Connection) -> str:
        driver_of(conn).execute(
            "INSERT INTO limits (id, name, slot_limit, slot_decay_per_second, active, occupied, occupied_at,"
            " denied_slots, created, updated) VALUES (?, ?, 1, 0, 1, 0, 0, 0, 0, 0)",
            (name, name),
        )
        return name

    return work


def _names(db: Database) -> set[str]:
    path = db.url.split(":///", 1)[1]
    with sqlite3.connect(path) as reader:
        return {row[0] for row in reader.execute("SELECT name FROM limits")}


async def _trace(db: Database) -> list[str]:
    """Every statement the hot path's connection runs from now on."""
    seen: list[str] = []
    await db.write_on_driver(lambda conn: driver_of(conn).set_trace_callback(seen.append))
    seen.clear()  # the statements that set up the trace
    return seen


def test_requests_of_one_turn_share_one_commit(on_sqlite: Callable[[Scenario], None]) -> None:
    async def scenario(db: Database) -> None:
        seen = await _trace(db)
        names = await asyncio.gather(*(db.write_on_driver(_add_limit(f"l{index}")) for index in range(8)))
        assert names == [f"l{index}" for index in range(8)]
        assert seen.count("BEGIN IMMEDIATE") == 1
        assert seen.count("COMMIT") == 1
        assert seen.count("SAVEPOINT hot") == 8
        assert _names(db) == set(names)

    on_sqlite(scenario)


def test_a_request_of_the_next_turn_joins_the_same_commit(on_sqlite: Callable[[Scenario], None]) -> None:
    async def scenario(db: Database) -> None:
        seen = await _trace(db)
        first = asyncio.ensure_future(db.write_on_driver(_add_limit("first")))
        await asyncio.sleep(0)  # the first request's work has run: its group is open
        await asyncio.sleep(0)  # one turn later
        assert not first.done()
        assert await db.write_on_driver(_add_limit("second")) == "second"
        assert await first == "first"
        assert seen.count("BEGIN IMMEDIATE") == 1
        assert seen.count("COMMIT") == 1
        assert _names(db) == {"first", "second"}

    on_sqlite(scenario)


def test_no_request_is_answered_before_its_commit(on_sqlite: Callable[[Scenario], None]) -> None:
    async def scenario(db: Database) -> None:
        answered = asyncio.ensure_future(db.write_on_driver(_add_limit("early")))
        await asyncio.sleep(0)  # the work has run, in the open transaction
        assert not answered.done()
        assert _names(db) == set()
        await answered
        assert _names(db) == {"early"}

    on_sqlite(scenario)


def test_a_failing_request_is_undone_alone(on_sqlite: Callable[[Scenario], None]) -> None:
    async def scenario(db: Database) -> None:
        def fails(conn: Connection) -> None:
            _add_limit("undone")(conn)
            raise ValueError("refused")

        outcomes = await asyncio.gather(
            db.write_on_driver(_add_limit("before")),
            db.write_on_driver(fails),
            db.write_on_driver(_add_limit("after")),
            return_exceptions=True,
        )
        assert outcomes[0] == "before" and outcomes[2] == "after"
        assert isinstance(outcomes[1], ValueError)
        assert _names(db) == {"before", "after"}

    on_sqlite(scenario)


def test_a_failed_commit_fails_every_request_of_the_group(on_sqlite: Callable[[Scenario], None]) -> None:
    async def scenario(db: Database) -> None:
        def breaks_a_reference_checked_at_commit(conn: Connection) -> None:
            driver = driver_of(conn)
            driver.execute("PRAGMA defer_foreign_keys = ON")
            driver.execute("INSERT INTO lease_limits (lease_token, limit_id, slots) VALUES (999, 'nowhere', 1)")

        outcomes = await asyncio.gather(
            db.write_on_driver(_add_limit("kept-by-nobody")),
            db.write_on_driver(breaks_a_reference_checked_at_commit),
            return_exceptions=True,
        )
        assert all(isinstance(outcome, sqlite3.IntegrityError) for outcome in outcomes), outcomes
        assert _names(db) == set()
        assert await db.write_on_driver(_add_limit("next")) == "next"  # a new group, unharmed
        assert _names(db) == {"next"}

    on_sqlite(scenario)


def test_a_transaction_lost_whole_fails_the_requests_before_it(on_sqlite: Callable[[Scenario], None]) -> None:
    """SQLite rolls a whole transaction back on some errors (a full disk, say): the group's
    earlier work is gone, so its requests fail rather than report work that was never kept,
    and the requests after it start a group of their own."""

    def loses_the_transaction(conn: Connection) -> None:
        driver_of(conn).execute("ROLLBACK")
        raise sqlite3.OperationalError("database or disk is full")

    async def scenario(db: Database) -> None:
        outcomes = await asyncio.gather(
            db.write_on_driver(_add_limit("lost")),
            db.write_on_driver(loses_the_transaction),
            db.write_on_driver(_add_limit("later")),
            return_exceptions=True,
        )
        assert isinstance(outcomes[0], sqlite3.OperationalError), outcomes
        assert isinstance(outcomes[1], sqlite3.OperationalError), outcomes
        assert outcomes[2] == "later"
        assert _names(db) == {"later"}

    on_sqlite(scenario)


def test_requests_after_a_silently_lost_transaction_start_their_own(on_sqlite: Callable[[Scenario], None]) -> None:
    """A group whose transaction is gone without an error where it was lost: the requests
    after it do not run outside any transaction (each committed at once, then told that the
    group failed); they open a group of their own, and the group's earlier requests fail."""

    def loses_the_transaction_quietly(conn: Connection) -> str:
        driver = driver_of(conn)
        _add_limit("lost-quietly")(conn)
        driver.execute("ROLLBACK")
        driver.execute("SAVEPOINT hot")  # as if nothing had happened: its release succeeds
        return "lost-quietly"

    async def scenario(db: Database) -> None:
        outcomes = await asyncio.gather(
            db.write_on_driver(loses_the_transaction_quietly),
            db.write_on_driver(_add_limit("after")),
            return_exceptions=True,
        )
        assert isinstance(outcomes[0], sqlite3.OperationalError), outcomes
        assert outcomes[1] == "after"
        assert _names(db) == {"after"}

    on_sqlite(scenario)


def test_another_write_commits_the_open_group_first(on_sqlite: Callable[[Scenario], None]) -> None:
    async def scenario(db: Database) -> None:
        hot = asyncio.ensure_future(db.write_on_driver(_add_limit("hot")))
        await asyncio.sleep(0)
        await db.write(lambda conn: _add_limit("other")(conn))
        assert _names(db) == {"hot", "other"}
        assert await hot == "hot"

    on_sqlite(scenario)
