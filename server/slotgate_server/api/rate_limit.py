"""/api/v1/rate-limit: slots taken on decaying limits."""

from __future__ import annotations

from typing import Any

from slotgate_server import clock, state
from slotgate_server.api import render
from slotgate_server.services import rate_limit

Reply = tuple[Any, ...]


async def consume_rate_limit(body: dict[str, Any]) -> Reply:
    asked = {"names": body["names"], "slots": body.get("slots", 1)}
    wait_seconds = body.get("wait_seconds", 0.0)
    granted_at, replayed = await rate_limit.consume(
        state.current(),
        names=asked["names"],
        slots_each=asked["slots"],
        wait_seconds=wait_seconds,
        key=state.idempotency_key(operation="consume_rate_limit", asked=asked),
        departure=state.departure() if wait_seconds > 0 else None,
    )
    return {**asked, "granted_at": clock.iso(granted_at)}, 200, render.answer_headers(replayed=replayed)
