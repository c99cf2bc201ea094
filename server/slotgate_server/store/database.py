"""Engines, transactions and migrations for SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"

# Any number of replicas may start at once against one PostgreSQL; one migrates at a time.
_MIGRATION_LOCK_KEY = 0x510769A7E


class Database:
    """The store's engines. Writes go through `transaction()`, reads through `reading()`.

    SQLite has one writer at a time: in this process writers queue on a lock instead of
    polling the file lock, and every write transaction starts with BEGIN IMMEDIATE so that
    writers in other processes wait (busy timeout) rather than fail on a lock upgrade.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.write_engine = _sqlite_engine(url, begin="BEGIN IMMEDIATE", pool_size=1)
            self.read_engine = _sqlite_engine(url, begin="BEGIN", pool_size=4)
            self._writer_lock: asyncio.Lock | None = asyncio.Lock()
        else:
            engine = create_async_engine(url, pool_size=10, max_overflow=20)
            self.write_engine = self.read_engine = engine
            self._writer_lock = None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        async with self._writer_lock or contextlib.nullcontext(), self.write_engine.begin() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        async with self.read_engine.connect() as conn:
            yield conn

    async def ping(self) -> None:
        async with self.reading() as conn:
            await conn.execute(text("SELECT 1"))

    async def migrate(self) -> None:
        async with self.transaction() as conn:
            if not self.is_sqlite:
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            await conn.run_sync(_upgrade_to_head)

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()


def _upgrade_to_head(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _sqlite_engine(url: str, *, begin: str, pool_size: int) -> AsyncEngine:
    _ensure_parent_directory(url)
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
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

    @event.listens_for(engine.sync_engine, "begin")
    def start(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


def _ensure_parent_directory(url: str) -> None:
    path = url.split(":///", 1)[1].split("?", 1)[0] if ":///" in url else ""
    if path and path != ":memory:":
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
