"""Engines, transactions and migrations for SQLite and PostgreSQL.

A transaction runs whole, on the event loop (SQLite) or handed once to a database thread
(PostgreSQL). Nothing else runs between its statements, so the rows it locks are held only as
long as the database needs, not as long as a busy event loop takes to come back to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text

MIGRATIONS = Path(__file__).parent / "migrations"

# Any number of replicas may start at once against one PostgreSQL; one migrates at a time.
_MIGRATION_LOCK_KEY = 0x510769A7E

# PostgreSQL serves many transactions at once; these many run at a time per process.
POSTGRES_THREADS = 8

P = ParamSpec("P")
T = TypeVar("T")


class Database:
    """The store's engines, and where their transactions run.

    SQLite's transactions run on the event loop itself: they take microseconds and this
    process owns the file, so handing them to a thread and back would cost more than they do.
    For the same reason each SQLite engine keeps its one connection checked out rather than
    taking it from its pool for every transaction. Every write transaction starts with BEGIN
    IMMEDIATE, so that a writer in another process waits (busy timeout) rather than fails on a
    lock upgrade; readers use their own connection and never block the writer (WAL).
    PostgreSQL's transactions run on a pool of threads.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._threads: ThreadPoolExecutor | None = None
        self._held: dict[Engine, Connection] = {}
        if self.is_sqlite:
            self.write_engine = _sqlite_engine(url, begin="BEGIN IMMEDIATE")
            self.read_engine = _sqlite_engine(url, begin="BEGIN")
            self._statement_engine = self.write_engine
        else:
            engine = create_engine(url, pool_size=POSTGRES_THREADS + 2, max_overflow=0)
            self.write_engine = self.read_engine = engine
            self._statement_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
            self._threads = ThreadPoolExecutor(POSTGRES_THREADS, thread_name_prefix="slotgate-db")

    async def write(self, work: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `work(connection, ...)` in one write transaction: committed when it returns,
        rolled back if it raises."""
        return await self._run(self.write_engine, lambda connection: work(connection, *args, **kwargs))

    async def write_statements(
        self, work: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run `work(connection, ...)` with each of its statements committed on its own, for
        work whose every statement is a whole step by itself. On PostgreSQL such a statement
        costs one round trip (no BEGIN, no COMMIT) and holds its row locks only while it runs.
        On SQLite the statements share one write transaction, which costs nothing in process."""
        return await self._run(self._statement_engine, lambda connection: work(connection, *args, **kwargs))

    async def read(self, work: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._run(self.read_engine, lambda connection: work(connection, *args, **kwargs))

    async def _run(self, engine: Engine, work: Callable[[Connection], T]) -> T:
        if self._threads is None:
            connection = self._held.get(engine)
            if connection is None or connection.closed:
                connection = self._held[engine] = engine.connect()
            with connection.begin():
                return work(connection)
        return await asyncio.get_running_loop().run_in_executor(self._threads, _in_transaction, engine, work)

    async def ping(self) -> None:
        await self.read(_select_one)

    async def migrate(self) -> None:
        await self.write(_upgrade_to_head, lock=not self.is_sqlite)

    async def dispose(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=True)
        for connection in self._held.values():
            connection.close()
        for engine in {self.write_engine, self.read_engine}:
            engine.dispose()


def _in_transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    with engine.begin() as connection:
        return work(connection)


def _select_one(connection: Connection) -> None:
    connection.execute(text("SELECT 1"))


def _upgrade_to_head(connection: Connection, *, lock: bool) -> None:
    if lock:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


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
            "journal_mode=WAL",  # readers never block the writer, nor it them
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
