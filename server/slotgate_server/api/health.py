"""/api/health and /metrics."""

from __future__ import annotations

from typing import Any

from slotgate_server import __version__, clock, state
from slotgate_server.api import render
from slotgate_server.metrics import CONTENT_TYPE
from slotgate_server.services import health

Reply = tuple[Any, ...]


async def read_health() -> Reply:
    server = state.current()
    await health.check(server)
    return {"status": "ok", "store": server.settings.store_kind, "version": __version__}, 200, render.JSON


async def read_metrics() -> Reply:
    server = state.current()
    records = await health.all_limits(server)
    return server.metrics.render(records, now=clock.now()).decode(), 200, {"Content-Type": CONTENT_TYPE}
