"""/api/v1/rate-limit: slots taken on decaying limits."""

from __future__ import annotations

from typing import Any

from slotgate_server import clock, state
from slotgate_server.api import render
from slotgate_server.services import rate_limit

Reply = tuple[Any, ...]


async def consume_rate_limit(body: dict[str, Any]) -> Reply:
    slots_each = body.get("slots", 1)
    granted_at = await rate_limit.consume(
        state.current(), names=body["names"], slots_each=slots_each, wait_seconds=body.get("wait_seconds", 0.0)
    )
    return {"names": body["names"], "slots": slots_each, "granted_at": clock.iso(granted_at)}, 200, render.JSON
