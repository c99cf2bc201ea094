"""PostgreSQL's hot statements take turns on a pool of connections: more of them than
connections wait their turn, for a bounded time, then give up as an outage would; once the
burst is over, one warm connection serves them all."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psycopg
import pytest

from slotgate_server.errors import is_store_outage
from slotgate_server.settings import normalise_database_url
from slotgate_server.store.database import (
    POSTGRES_CONNECTION_WAIT_SECONDS,
    POSTGRES_STATEMENTS,
    Database,
    native_statement,
)
from tests.support.live_server import fresh_database


def _hold_every_connection(db: Database, seconds: float) -> asyncio.Future[list[list[dict[str, object]]]]:
    sql = "SELECT true AS slept FROM pg_sleep(%(seconds)s)"
    return asyncio.gather(*(db.statement(sql, {"seconds": seconds}) for _ in range(POSTGRES_STATEMENTS)))


def test_statements_beyond_the_pool_wait_their_turn_for_a_bounded_time(tmp_path: Path) -> None:
    async def scenario(url: str) -> None:
        db = Database(normalise_database_url(url))
        await db.open()
        try:
            # Connections come free in time: the statement waits for one and runs.
            holders = _hold_every_connection(db, POSTGRES_CONNECTION_WAIT_SECONDS / 2)
            await asyncio.sleep(0.1)
            assert await db.statement("SELECT 1 AS one", {}) == [{"one": 1}]
            assert await holders == [[{"slept": True}]] * POSTGRES_STATEMENTS

            # They do not: the statement gives up as in an outage (503), before one is free.
            long_hold = POSTGRES_CONNECTION_WAIT_SECONDS + 1.5
            holders = _hold_every_connection(db, long_hold)
            await asyncio.sleep(0.1)
            started = time.monotonic()
            with pytest.raises(Exception) as given_up:
                await db.statement("SELECT 2 AS two", {})
            assert is_store_outage(given_up.value), repr(given_up.value)
            assert time.monotonic() - started < long_hold - 0.5
            await holders
            assert await db.statement("SELECT 3 AS three", {}) == [{"three": 3}]
        finally:
            await db.dispose()

    with fresh_database("postgres", tmp_path) as url:
        asyncio.run(scenario(url))


def test_after_a_burst_a_quiet_server_sends_every_statement_over_the_connection_used_last(tmp_path: Path) -> None:
    async def scenario(url: str) -> None:
        db = Database(normalise_database_url(url))
        await db.open()
        try:
            burst = await _hold_every_connection(db, 0.2)
            assert len(burst) == POSTGRES_STATEMENTS
            quiet = "SELECT pg_backend_pid() AS pid"
            backends = [await db.statement(quiet, {}) for _ in range(3 * POSTGRES_STATEMENTS)]
            every_connection = await asyncio.gather(
                *(db.statement("SELECT pg_backend_pid() AS pid, pg_sleep(0.1)", {}) for _ in range(POSTGRES_STATEMENTS))
            )
        finally:
            await db.dispose()
        assert len({rows[0]["pid"] for rows in every_connection}) == POSTGRES_STATEMENTS, "the burst opened them all"
        assert len({rows[0]["pid"] for rows in backends}) == 1, backends

    with fresh_database("postgres", tmp_path) as url:
        asyncio.run(scenario(url))


def test_hot_statements_are_converted_to_numbered_placeholders_once() -> None:
    native = native_statement("SELECT %(a)s + %(b)s, %(a)s, '100%%' LIKE %(pattern)s")
    assert native.text == b"SELECT $1 + $2, $1, '100%' LIKE $3"
    assert native.parameters == ("a", "b", "pattern")
    assert native_statement("SELECT %(a)s + %(b)s, %(a)s, '100%%' LIKE %(pattern)s") is native
    with pytest.raises(psycopg.ProgrammingError, match="only %\\(name\\)s placeholders"):
        native_statement("SELECT %s")


def test_a_hot_statement_without_one_of_its_parameters_is_refused_before_it_is_sent(tmp_path: Path) -> None:
    async def scenario(url: str) -> None:
        db = Database(normalise_database_url(url))
        await db.open()
        try:
            with pytest.raises(psycopg.ProgrammingError, match="query parameter missing: b"):
                await db.statement("SELECT %(a)s::int + %(b)s::int AS sum", {"a": 1})
            assert await db.statement("SELECT %(a)s::int + %(b)s::int AS sum", {"a": 1, "b": 2}) == [{"sum": 3}]
        finally:
            await db.dispose()

    with fresh_database("postgres", tmp_path) as url:
        asyncio.run(scenario(url))


def test_long_hot_statements_with_many_parameters_run_on_postgresql(tmp_path: Path) -> None:
    # 6 KiB, a name used twice, and more parameters than psycopg keeps a conversion of.
    padding = "/* " + "x" * 6000 + " */"
    terms = " + ".join(f"%(p{index})s::int" for index in range(60))
    sql = f"SELECT {terms} AS total, %(p7)s::int AS seventh {padding}"

    async def scenario(url: str) -> None:
        db = Database(normalise_database_url(url))
        await db.open()
        try:
            for _ in range(8):  # past psycopg's threshold for preparing a statement
                assert await db.statement(sql, {f"p{index}": index for index in range(60)}) == [
                    {"total": sum(range(60)), "seventh": 7}
                ]
        finally:
            await db.dispose()

    with fresh_database("postgres", tmp_path) as url:
        asyncio.run(scenario(url))
