"""Migrations keep what a database already holds, on both stores."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, text

from slotgate_server.settings import normalise_database_url
from slotgate_server.store.database import Database, migration_config
from tests.support.live_server import fresh_database

# A limit with an open lease on it, as the first schema holds them.
FIRST_SCHEMA_ROWS = (
    "INSERT INTO limits (id, name, slot_limit, slot_decay_per_second, active, occupied, occupied_at,"
    " denied_slots, created, updated) VALUES ('l1', 'database', 3, 0, true, 1, 0, 5, 0, 0)",
    "INSERT INTO leases (fencing_token, id, names, slots, holder, lease_duration, created, expires_at)"
    " VALUES (7, 'lease-1', '[\"database\"]', 1, 'h', 60, 0, 9e9)",
    "INSERT INTO lease_limits (lease_token, limit_id, slots) VALUES (7, 'l1', 1)",
)


def _migrate(conn: Connection, *, to: str, down: bool = False) -> None:
    (command.downgrade if down else command.upgrade)(migration_config(conn), to)


def _write_first_schema_rows(conn: Connection) -> None:
    for statement in FIRST_SCHEMA_ROWS:
        conn.execute(text(statement))


def _read(conn: Connection) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    limits = conn.execute(text("SELECT * FROM limits")).mappings().all()
    links = conn.execute(text("SELECT lease_token, limit_id, slots FROM lease_limits")).all()
    return [tuple(sorted(row.items())) for row in limits], [tuple(link) for link in links]


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_the_limit_counters_migrate_up_and_down_keeping_every_row(store: str, tmp_path: Path) -> None:
    async def scenario(url: str) -> None:
        db = Database(normalise_database_url(url))
        try:
            await db.write(_migrate, to="0001")
            await db.write(_write_first_schema_rows)
            await db.migrate()
            (limit,), links = await db.read(_read)
            assert dict(limit)["granted_slots"] == 0 and dict(limit)["expired_leases"] == 0
            assert dict(limit)["denied_slots"] == 5 and dict(limit)["occupied"] == 1
            assert links == [(7, "l1", 1)]
            await db.write(_migrate, to="0001", down=True)
            (limit,), links = await db.read(_read)
            assert "granted_slots" not in dict(limit) and dict(limit)["denied_slots"] == 5
            assert links == [(7, "l1", 1)]  # the lease still counts on its limit
        finally:
            await db.dispose()

    with fresh_database(store, tmp_path) as url:
        asyncio.run(scenario(url))
