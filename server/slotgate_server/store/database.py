"""Engines, transactions and migrations for SQLite and PostgreSQL.

Every transaction runs on the event loop. On SQLite its work runs whole, without a pause: it
takes microseconds and this process owns the file; the hot requests of two turns of the loop
then share a commit (`Database.write_on_driver`). On PostgreSQL it pauses only while the database
answers, through the asynchronous driver; the store's functions stay plain functions of a
connection (SQLAlchemy runs them with `run_sync`), and no statement waits for a thread to be
handed the interpreter lock while it holds rows locked. The hot path's one-statement steps on
PostgreSQL skip SQLAlchemy altogether (`Database.statement`): its bookkeeping per statement
costs more of the server's time than the rest of an acquire's own work.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import re
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import psycopg
from alembic import command
from alembic.config import Config
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"

# Any number of replicas may start at once against one PostgreSQL; one migrates at a time.
_MIGRATION_LOCK_KEY = 0x510769A7E

# PostgreSQL serves many at once; these many run at a time per process: the one-statement
# steps of the hot path, reads, and transactions.
POSTGRES_STATEMENTS = 8
POSTGRES_READS = 4
POSTGRES_TRANSACTIONS = 4
# How long a hot-path statement waits for a free connection, and then (while PostgreSQL is
# away) for a new one, before the request is answered 503.
POSTGRES_CONNECTION_WAIT_SECONDS = 1.0

# Makes the statement's transaction commit synchronously, whatever the role's or database's
# default: PostgreSQL answers it once the log is on disk through its commit.
DURABLE_COMMIT = (
    "SELECT set_config('synchronous_commit', CASE current_setting('synchronous_commit')"
    " WHEN 'off' THEN 'on' ELSE current_setting('synchronous_commit') END, true)"
)
# Makes the statement's transaction commit without waiting for the log to reach the disk.
RELAXED_COMMIT = "SELECT set_config('synchronous_commit', 'off', true)"
# A durable transaction that writes to the log (a message for logical decoding, which nothing
# here reads): a transaction that only took an id would commit without waiting.
FLUSH_ON_COMMIT = f"{DURABLE_COMMIT}, pg_logical_emit_message(true, 'slotgate', 'flush')"
# How long a flush may take before the grants waiting for it are answered 503: a flush takes
# milliseconds unless the disk or a synchronous standby stalls.
POSTGRES_FLUSH_WAIT_SECONDS = 5.0

P = ParamSpec("P")
T = TypeVar("T")


class Database:
    """The store's engines, and where their transactions run.

    SQLite's transactions run on the event loop, whole: handing them to a thread and back
    would cost more than they do. For the same reason each SQLite engine keeps its one
    connection checked out rather than taking it from its pool for every transaction. Every
    write transaction starts with BEGIN IMMEDIATE, so that a writer in another process waits
    (busy timeout) rather than fails on a lock upgrade; readers use their own connection and
    never block the writer (WAL), and see the hot requests' work once it is committed, which
    is before any of them is answered. PostgreSQL's transactions share a pool of connections.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._held: dict[Engine, Connection] = {}
        # SQLite: the hot requests' shared transaction, while one is open (`write_on_driver`).
        self._commit_group: asyncio.Future[None] | None = None
        self._postgres: AsyncEngine | None = None
        if self.is_sqlite:
            self._write_engine = _sqlite_engine(url, begin="BEGIN IMMEDIATE")
            self._read_engine = _sqlite_engine(url, begin="BEGIN")
        else:
            # Autocommit statements (reads, a denial's count) have connections of their own, set
            # once, not at every checkout.
            self._postgres = create_async_engine(url, pool_size=POSTGRES_TRANSACTIONS, max_overflow=0)
            self._postgres_statements = create_async_engine(
                url, pool_size=POSTGRES_READS, max_overflow=0, isolation_level="AUTOCOMMIT"
            )
            # One turn per connection of the pool (`_take_turn`), and how many are taken.
            self._hot_turns = asyncio.Semaphore(POSTGRES_STATEMENTS)
            self._hot_in_flight = 0
            self._column_names: dict[str, list[str]] = {}
            # Opened in the event loop that uses it (`open`); it connects more as the load asks.
            self._hot_pool = MostRecentFirstPool(
                postgres_conninfo(url),
                min_size=1,
                max_size=POSTGRES_STATEMENTS,
                kwargs={"autocommit": True},
                timeout=POSTGRES_CONNECTION_WAIT_SECONDS,
                open=False,
            )
            # Requests waiting for their commits to reach the disk, each with the moment its
            # statement was sent; the task that writes them out, and its connection with the
            # moment it connected (`wait_for_disk`).
            self._awaiting_disk: list[tuple[asyncio.Future[None], float]] = []
            self._flusher: asyncio.Task[None] | None = None
            self._flush_connection: psycopg.AsyncConnection[Any] | None = None
            self._flush_connected_at = 0.0

    async def write(self, work: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `work(connection, ...)` in one write transaction: committed when it returns,
        rolled back if it raises."""
        bound = _bind(work, *args, **kwargs)
        if self._postgres is None:
            return self._sqlite(self._write_engine, bound)
        async with self._postgres.begin() as connection:
            return await connection.run_sync(bound)

    async def write_statements(
        self, work: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run `work(connection, ...)` with each of its statements committed on its own, for
        work whose every statement is a whole step by itself. On PostgreSQL such a statement
        costs one round trip (no BEGIN, no COMMIT) and holds its row locks only while it runs.
        On SQLite the statements share one write transaction, which costs nothing in process."""
        bound = _bind(work, *args, **kwargs)
        if self._postgres is None:
            return self._sqlite(self._write_engine, bound)
        async with self._postgres_statements.connect() as connection:
            return await connection.run_sync(bound)

    async def statement(self, sql: str, parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
        """PostgreSQL only: run one statement (in psycopg's `%(name)s` style), committed on its
        own, and return its rows. For the hot path's steps, each a whole step by itself."""
        await self.open()
        await self._take_turn()
        self._hot_in_flight += 1
        try:
            return await self._run_statement(sql, parameters)
        finally:
            self._hot_in_flight -= 1
            self._hot_turns.release()

    def is_quiet(self) -> bool:
        """PostgreSQL only: whether no hot statement and no flush is under way."""
        return self._hot_in_flight == 0 and self._flusher is None

    async def _take_turn(self) -> None:
        """Wait for one of the hot pool's connections to be free. The pool can wait too, but
        its way (a task and a condition per waiter) cost more of the server's time than a
        health check's own work when requests outnumber connections; a semaphore's costs
        next to nothing. The wait is bounded, as the pool's is, so that requests are answered
        503 while PostgreSQL is away rather than queue."""
        if not self._hot_turns.locked():
            await self._hot_turns.acquire()
            return
        async with asyncio.timeout(POSTGRES_CONNECTION_WAIT_SECONDS):
            await self._hot_turns.acquire()

    async def _run_statement(self, sql: str, parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
        connection = await self._hot_pool.getconn()
        try:
            native = native_statement(sql)
            try:
                values = [parameters[name] for name in native.parameters]
            except KeyError as missing:
                raise psycopg.ProgrammingError(f"query parameter missing: {missing.args[0]}") from None
            cursor = psycopg.AsyncRawCursor(connection)
            try:
                await cursor.execute(native.text, values)
            except psycopg.OperationalError:
                if connection.broken:
                    # PostgreSQL restarted or went away: the idle connections are most likely
                    # broken too. Replace them now rather than fail a request on each.
                    await self._hot_pool.check()
                raise
            rows = await cursor.fetchall()
            # A statement's columns are the same at every run: named once, not from the
            # description of every result.
            names = self._column_names.get(sql)
            if names is None:
                names = self._column_names[sql] = [column.name for column in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in rows]
        finally:
            await self._hot_pool.putconn(connection)

    async def wait_for_disk(self, *, sent_at: float) -> None:
        """PostgreSQL only: return once the commit of a statement sent at `sent_at` (by
        `time.monotonic()`) and already completed is on disk; raise an outage error (503) if
        that cannot be made sure of.

        A statement that commits without waiting for the disk (`synchronous_commit = off`)
        keeps its row locks only while it runs; the busy limit's next caller does not wait for
        the flush of this one. Its caller then waits here, and is answered only once its work
        would survive a crash of PostgreSQL. One flusher serves every waiter: it commits a
        transaction of its own, synchronously, and PostgreSQL writes the log out to the end of
        that commit, through every commit before it. The waiters that arrive before a round
        starts (it lets one turn of the event loop pass first) share it, and those that arrive
        while it runs share the next (group flush).

        A crash of PostgreSQL between the commit and the flush would lose the commit, and a
        flush after the restart would not bring it back. A crash ends every connection, so the
        flusher's connection vouches only for the statements sent after it connected: those
        sent before are answered 503, their work lost or not.
        """
        assert self._postgres is not None, "SQLite's commits are on disk when they return"
        waiter = asyncio.get_running_loop().create_future()
        self._awaiting_disk.append((waiter, sent_at))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_while_awaited())
        # Shielded: the flusher tells every waiter of its round, whoever is cancelled.
        await asyncio.shield(waiter)

    async def wait_until_durable(self) -> None:
        """Return once every commit completed so far is on disk (at once on SQLite, whose
        commits are on disk when they return)."""
        if self._postgres is not None:
            await self.wait_for_disk(sent_at=time.monotonic())

    async def _flush_while_awaited(self) -> None:
        in_flight: list[tuple[asyncio.Future[None], float]] = []
        try:
            while self._awaiting_disk:
                # One turn of the event loop first: the grants whose statements returned in it
                # join this round rather than wait for a round of their own. Under contention
                # that cut flushes per pair by a fifth and the server's CPU per pair by a tenth.
                await asyncio.sleep(0)
                # Every waiter of this round saw its commit complete before the flush starts.
                in_flight, self._awaiting_disk = self._awaiting_disk, []
                try:
                    async with asyncio.timeout(POSTGRES_FLUSH_WAIT_SECONDS):
                        connection = await self._connect_flusher()
                        await connection.execute(FLUSH_ON_COMMIT)
                except Exception as error:
                    await self._drop_flusher_connection()
                    for waiter, _ in in_flight:
                        _fail(waiter, error)
                    continue
                for waiter, sent_at in in_flight:
                    if sent_at <= self._flush_connected_at:
                        _fail(waiter, _unproven())
                    elif not waiter.done():
                        waiter.set_result(None)
        finally:
            self._flusher = None
            # Only a shutdown cancels the flusher; the waiters of its round are told (503).
            for waiter, _ in in_flight:
                _fail(waiter, _shutting_down())

    async def _connect_flusher(self) -> psycopg.AsyncConnection[Any]:
        if self._flush_connection is None or self._flush_connection.broken:
            await self._drop_flusher_connection()
            self._flush_connection = await psycopg.AsyncConnection.connect(
                postgres_conninfo(self.url), autocommit=True, connect_timeout=int(POSTGRES_FLUSH_WAIT_SECONDS)
            )
            # Once connected: its backend is known to have lived from now on.
            self._flush_connected_at = time.monotonic()
        return self._flush_connection

    async def _drop_flusher_connection(self) -> None:
        connection, self._flush_connection = self._flush_connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                await connection.close()

    async def open(self) -> None:
        """Connect the hot path's pool (PostgreSQL), so that the first request does not wait
        for a connection."""
        if self._postgres is not None and self._hot_pool.closed:
            await self._hot_pool.open()
            # Before any statement is sent, so that the flusher can vouch for every one.
            with contextlib.suppress(psycopg.OperationalError):
                await self._connect_flusher()

    async def read(self, work: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `work(connection, ...)`, which only reads. On PostgreSQL each of its statements
        sees the database as of its own start (no BEGIN and COMMIT round trips): reads that
        must agree with each other belong in one statement."""
        bound = _bind(work, *args, **kwargs)
        if self._postgres is None:
            return self._sqlite(self._read_engine, bound)
        async with self._postgres_statements.connect() as connection:
            return await connection.run_sync(bound)

    async def write_on_driver(
        self, work: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """SQLite only: `write`, for work that sends every statement to the driver itself (the
        hot path), returning once its transaction is committed.

        The hot requests that reach the store in one turn of the event loop, and in the turn
        after it, share one transaction, each in a savepoint of its own, committed once that
        second turn has run (group commit). A commit writes out every page its transaction
        changed, and these requests mostly change the same few pages (a busy limit's row, the
        newest leases): one commit for all of them costs little more than one for each. A
        work that raises is rolled back to its savepoint alone. No request is answered before
        the commit that keeps its work; if that commit fails, every request of the group fails
        with it.
        """
        connection = self._sqlite_connection(self._write_engine)
        driver = driver_of(connection)
        group = self._join_commit_group(driver)
        try:
            driver.execute("SAVEPOINT hot")
            result = work(connection, *args, **kwargs)
            assert not inspect.isawaitable(result), "the work of a hot request runs whole, without a pause"
            driver.execute("RELEASE hot")
        except BaseException as error:
            self._undo_savepoint(driver, error)
            raise
        # Shielded: a request cancelled meanwhile (only a shutdown cancels one) leaves the
        # commit to the others; an acquire's lease then runs out unused.
        await asyncio.shield(group)
        return result

    def _join_commit_group(self, driver: sqlite3.Connection) -> asyncio.Future[None]:
        if self._commit_group is not None and not driver.in_transaction:
            # SQLite ended the group's transaction by itself: its work is gone.
            self._fail_group(sqlite3.OperationalError("the shared transaction was rolled back"), driver)
        if self._commit_group is None:
            self._roll_back(driver)  # nothing should be left open; if it is, it belongs to no one
            driver.execute("BEGIN IMMEDIATE")
            loop = asyncio.get_running_loop()
            self._commit_group = loop.create_future()
            # Not at the start of the next turn but after it: the requests that run in it (those
            # whose statements or wake-ups completed meanwhile) join this commit rather than
            # open one of their own. That halved the commits per acquire and release, under
            # contention (0.38 to 0.18) and without (0.26 to 0.14); fewer commits also write
            # fewer pages to the log, and so call for fewer checkpoints.
            loop.call_soon(loop.call_soon, self._commit_now)
        return self._commit_group

    def _commit_now(self) -> None:
        """Commit the hot requests' shared transaction, if one is open, and tell them how it
        went; they are told whatever happens, so that none waits forever."""
        group = self._commit_group
        if group is None:
            return
        try:
            driver_of(self._sqlite_connection(self._write_engine)).execute("COMMIT")
        except BaseException as error:
            self._fail_group(error)
            if not isinstance(error, Exception):
                raise
        else:
            self._commit_group = None
            group.set_result(None)

    def _undo_savepoint(self, driver: sqlite3.Connection, error: BaseException) -> None:
        """Roll back one hot request's work. SQLite rolls a whole transaction back by itself on
        some errors (a full disk, an I/O error): the group's earlier work went with it, so the
        group fails, and the next request opens a new one."""
        if driver.in_transaction:
            try:
                driver.execute("ROLLBACK TO hot")
                driver.execute("RELEASE hot")
                return
            except sqlite3.Error:
                pass
        self._fail_group(error, driver)

    def _fail_group(self, error: BaseException, driver: sqlite3.Connection | None = None) -> None:
        """End the shared transaction without keeping any of its work, and fail its requests
        (whatever else fails); the next request opens a new one."""
        group, self._commit_group = self._commit_group, None
        try:
            self._roll_back(driver or driver_of(self._sqlite_connection(self._write_engine)))
        finally:
            if group is not None:
                _fail(group, error)

    def _roll_back(self, driver: sqlite3.Connection) -> None:
        """Roll back whatever the hot path's connection has open; a connection that cannot is
        replaced, which ends its transaction too."""
        if not driver.in_transaction:
            return
        try:
            driver.execute("ROLLBACK")
        except sqlite3.Error:
            held = self._held.pop(self._write_engine, None)
            if held is not None:
                held.invalidate()

    def _sqlite(self, engine: Engine, work: Callable[[Connection], T]) -> T:
        if engine is self._write_engine:
            self._commit_now()  # the hot requests' open transaction, first
        connection = self._sqlite_connection(engine)
        with connection.begin():
            return work(connection)

    def _sqlite_connection(self, engine: Engine) -> Connection:
        connection = self._held.get(engine)
        if connection is None or connection.closed:
            connection = self._held[engine] = engine.connect()
        return connection

    async def ping(self) -> None:
        """Whether the database answers: one trivial statement, sent as the hot path sends its own."""
        if self._postgres is None:
            driver_of(self._sqlite_connection(self._read_engine)).execute("SELECT 1")
        else:
            await self.statement("SELECT 1", {})

    async def migrate(self) -> None:
        await self.write(_upgrade_to_head, lock=not self.is_sqlite)

    async def dispose(self) -> None:
        if self.is_sqlite:
            self._commit_now()
        for connection in self._held.values():
            connection.close()
        if self._postgres is not None:
            await self._postgres.dispose()
            await self._postgres_statements.dispose()
            if self._flusher is not None:
                self._flusher.cancel()
                self._flusher = None
            for waiter, _ in self._awaiting_disk:
                _fail(waiter, _shutting_down())
            self._awaiting_disk = []
            await self._drop_flusher_connection()
            await self._hot_pool.close()
        else:
            self._write_engine.dispose()
            self._read_engine.dispose()


class MostRecentFirstPool(AsyncConnectionPool):
    """psycopg's pool, handing out the connection given back last rather than the one idle
    longest.

    Turn by turn, a quiet server that had grown its pool under a burst sent each statement to
    another backend, whose caches (and place on a processor) had gone cold meanwhile: a health
    check, an acquire and a release answered 7-14% slower than before the burst, for as long as the
    connections stayed open. Most recent first, one warm connection serves a quiet server;
    the idle ones wait at the other end, the first the pool closes when it shrinks.
    psycopg_pool has no option for it: its queue of idle connections (`_pool`) is turned so
    that the newest is where its own code takes the next from. The version is pinned
    (pyproject.toml), and tests/store/test_hot_pool.py fails if the order goes back."""

    async def _get_ready_connection(self, timeout: float | None) -> psycopg.AsyncConnection[Any] | None:
        self._pool.rotate(1)  # the newest idle connection, at the right end, moves to the left
        try:
            return await super()._get_ready_connection(timeout)
        except BaseException:
            self._pool.rotate(-1)  # none was taken: the queue as it was
            raise


@dataclass(frozen=True)
class NativeStatement:
    """A statement with PostgreSQL's own placeholders (`$1`), and the name of the parameter
    each stands for."""

    text: bytes
    parameters: tuple[str, ...]


# A named placeholder, an escaped percent sign, or any other percent sign (refused).
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%|%")


@functools.cache
def native_statement(sql: str) -> NativeStatement:
    """`sql`, in psycopg's `%(name)s` style (`%%` for a percent sign), as PostgreSQL takes it:
    converted once per statement. psycopg converts a statement at every run, and keeps its
    conversion only of statements up to 4 KiB and 50 parameters; a take with a lease is longer,
    and converting it again cost 66 µs of the server's time per acquire."""
    names: list[str] = []

    def placeholder(found: re.Match[str]) -> str:
        name = found.group(1)
        if found.group(0) == "%%":
            return "%"
        if name is None:
            raise psycopg.ProgrammingError(f"only %(name)s placeholders are taken, at {found.start()} in: {sql[:80]}")
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return NativeStatement(text=_PLACEHOLDER.sub(placeholder, sql).encode(), parameters=tuple(names))


def postgres_conninfo(url: str) -> str:
    """The libpq connection string of a PostgreSQL database URL (`postgresql+psycopg://...`)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# Made anew for each failure: an exception raised again keeps growing its traceback.
def _unproven() -> psycopg.OperationalError:
    return psycopg.OperationalError(
        "PostgreSQL's connection for flushes was made after the statement was sent: a restart may have lost its work"
    )


def _shutting_down() -> psycopg.OperationalError:
    return psycopg.OperationalError("the server shut down before the work was known to be on disk")


def _fail(group: asyncio.Future[None], error: BaseException) -> None:
    if group.done():
        return
    group.set_exception(error)
    # Marked as seen: every request of the group may have been cancelled meanwhile.
    group.exception()


def driver_of(connection: Connection) -> Any:
    """The SQLite (or psycopg) connection under a SQLAlchemy one, for statements sent to it
    directly."""
    driver = connection.connection.driver_connection
    assert driver is not None
    return driver


def _bind(
    work: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs
) -> Callable[[Connection], T]:
    return lambda connection: work(connection, *args, **kwargs)


def _upgrade_to_head(connection: Connection, *, lock: bool) -> None:
    if lock:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
    command.upgrade(migration_config(connection), "head")


def migration_config(connection: Connection) -> Config:
    """Alembic's configuration for migrating the store on `connection`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _sqlite_engine(url: str, *, begin: str) -> Engine:
    _ensure_parent_directory(url)
    # One connection each: every transaction runs on the event loop, one at a time.
    engine = create_engine(url, pool_size=1, max_overflow=0, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def configure(dbapi_connection: Any, _record: Any) -> None:
        # Leave BEGIN to us (below), so that write transactions can be IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            # A commit writes out every page it changed, whole; a hot request changes a few
            # rows on as many pages. Small pages make that write small (new databases only).
            "page_size=1024",
            "journal_mode=WAL",  # readers never block the writer, nor it them
            # The WAL is copied back into the database once it holds this many pages, and each
            # copy waits for the disk twice. Rarer copies write the busy pages fewer times.
            "wal_autocheckpoint=8192",
            "synchronous=NORMAL",  # durable across a crash of the process; WAL keeps it consistent
            "busy_timeout=30000",  # another process's writer is waited for, not reported
            "foreign_keys=ON",
            "case_sensitive_like=ON",  # name prefixes are case-sensitive, as on PostgreSQL
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def start(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


def _ensure_parent_directory(url: str) -> None:
    path = url.split(":///", 1)[1].split("?", 1)[0] if ":///" in url else ""
    if path and path != ":memory:":
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
