"""Limit configuration: create, read, list, change, delete."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from slotgate_server import clock
from slotgate_server.errors import NotFound
from slotgate_server.state import ServerState
from slotgate_server.store import limits as limit_store
from slotgate_server.store import signals
from slotgate_server.store.records import LimitRecord


def _not_found(name: str) -> NotFound:
    return NotFound(f"There is no limit named {name!r}; list them with GET /api/v1/limits.")


async def create(server: ServerState, *, name: str, config: Mapping[str, Any]) -> LimitRecord:
    return await server.db.write(limit_store.insert_limit, name=name, config=config, now=clock.now())


async def read(server: ServerState, *, name: str) -> LimitRecord:
    record = await server.db.read(limit_store.get_limit, name=name)
    if record is None:
        raise _not_found(name)
    return record


async def list_page(
    server: ServerState, *, name_prefix: str | None, active: bool | None, after: str | None, page_size: int
) -> tuple[list[LimitRecord], str | None]:
    """One page of limits in name order, and the cursor of the next page (None on the last)."""
    records = await server.db.read(
        limit_store.list_limits, name_prefix=name_prefix, active=active, after=after, page_size=page_size + 1
    )
    page = records[:page_size]
    return page, (page[-1].name if len(records) > page_size else None)


async def update(server: ServerState, *, name: str, changes: Mapping[str, Any]) -> LimitRecord:
    record = await server.db.write(_update, name=name, config=changes)
    if record is None:
        raise _not_found(name)
    server.freed.freed_here(name)  # a raised limit or a deactivation may let all its waiters in
    return record


def _update(conn: Connection, *, name: str, config: Mapping[str, Any]) -> LimitRecord | None:
    # A raised limit or a deactivation may let every waiter in, in any process.
    signals.announce(conn, names=[name], slots=None)
    return limit_store.update_config(conn, name=name, config=config, now=clock.now())


async def upsert(server: ServerState, *, name: str, config: Mapping[str, Any]) -> tuple[LimitRecord, bool]:
    """Give the limit exactly this configuration; returns it and whether it was created."""
    full = {"slot_decay_per_second": 0.0, "active": True, **config}
    record, created = await server.db.write(_upsert, name=name, config=full)
    if record is None:  # deleted between the two statements
        raise _not_found(name)
    server.freed.freed_here(name)
    return record, created


def _upsert(conn: Connection, *, name: str, config: Mapping[str, Any]) -> tuple[LimitRecord | None, bool]:
    now = clock.now()
    signals.announce(conn, names=[name], slots=None)
    created = limit_store.insert_limit_if_absent(conn, name=name, config=config, now=now)
    if created is not None:
        return created, True
    return limit_store.update_config(conn, name=name, config=config, now=now), False


async def delete(server: ServerState, *, name: str) -> None:
    if not await server.db.write(_delete, name=name):
        raise _not_found(name)
    server.freed.freed_here(name)  # its waiters learn at once that it is gone
    server.metrics.forget(name)


def _delete(conn: Connection, *, name: str) -> bool:
    signals.announce(conn, names=[name], slots=None)
    return limit_store.delete_limit(conn, name=name)
