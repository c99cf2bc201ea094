"""/api/v1/limits: limit configuration."""

from __future__ import annotations

from typing import Any

from slotgate_server import clock, state
from slotgate_server.api import render
from slotgate_server.services import limits

Reply = tuple[Any, ...]


async def list_limits(
    page_size: int = 100, name_prefix: str | None = None, active: bool | None = None, after: str | None = None
) -> Reply:
    page, next_after = await limits.list_page(
        state.current(), name_prefix=name_prefix, active=active, after=after, page_size=page_size
    )
    now = clock.now()
    return {"items": [render.limit(record, now=now) for record in page], "next": next_after}, 200, render.JSON


async def create_limit(body: dict[str, Any]) -> Reply:
    record = await limits.create(state.current(), name=body["name"], config=body)
    return render.limit(record, now=clock.now()), 201, render.limit_location(record.name)


async def read_limit(name: str) -> Reply:
    record = await limits.read(state.current(), name=name)
    return render.limit(record, now=clock.now()), 200, render.JSON


async def upsert_limit(name: str, body: dict[str, Any]) -> Reply:
    record, created = await limits.upsert(state.current(), name=name, config=body)
    if created:
        return render.limit(record, now=clock.now()), 201, render.limit_location(record.name)
    return render.limit(record, now=clock.now()), 200, render.JSON


async def update_limit(name: str, body: dict[str, Any]) -> Reply:
    record = await limits.update(state.current(), name=name, changes=body)
    return render.limit(record, now=clock.now()), 200, render.JSON


async def delete_limit(name: str) -> Reply:
    await limits.delete(state.current(), name=name)
    return None, 204
