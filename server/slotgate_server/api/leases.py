"""/api/v1/leases and /api/v1/limits/{name}/leases: concurrency slots under leases."""

from __future__ import annotations

from typing import Any

from slotgate_server import state
from slotgate_server.api import render
from slotgate_server.services import leases

Reply = tuple[Any, ...]


async def acquire_lease(body: dict[str, Any]) -> Reply:
    asked = {
        "names": body["names"],
        "slots": body.get("slots", 1),
        "lease_duration": body.get("lease_duration"),
        "holder": body.get("holder", ""),
    }
    wait_seconds = body.get("wait_seconds", 0.0)
    lease, replayed = await leases.acquire(
        state.current(),
        names=asked["names"],
        slots_each=asked["slots"],
        duration=asked["lease_duration"],
        holder=asked["holder"],
        wait_seconds=wait_seconds,
        key=state.idempotency_key(operation="acquire_lease", asked=asked),
        departure=state.departure() if wait_seconds > 0 else None,
    )
    return render.lease(lease), 201, render.lease_location(lease, replayed=replayed)


async def read_lease(lease_id: str) -> Reply:
    return render.lease(await leases.read(state.current(), lease_id=lease_id)), 200, render.JSON


async def release_lease(lease_id: str) -> Reply:
    await leases.release(state.current(), lease_id=lease_id)
    return None, 204


async def renew_lease(lease_id: str, body: dict[str, Any] | None = None) -> Reply:
    duration = (body or {}).get("lease_duration")
    return render.lease(await leases.renew(state.current(), lease_id=lease_id, duration=duration)), 200, render.JSON


async def list_limit_leases(name: str, page_size: int = 100, after: str | None = None) -> Reply:
    page, next_after = await leases.list_on_limit(state.current(), name=name, after=after, page_size=page_size)
    return {"items": [render.lease(lease) for lease in page], "next": next_after}, 200, render.JSON
