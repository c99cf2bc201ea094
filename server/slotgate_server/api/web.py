"""The Concurrency page, and what it needs to know about the key it holds."""

from __future__ import annotations

from importlib import resources
from typing import Any

from connexion.context import context

from slotgate_server import state
from slotgate_server.api import render

Reply = tuple[Any, ...]

PAGE = resources.files("slotgate_server") / "web" / "concurrency.html"


async def read_concurrency_page() -> Reply:
    return PAGE.read_text(encoding="utf-8"), 200, {"Content-Type": "text/html"}


async def read_access() -> Reply:
    """An open server lets everyone do everything; otherwise the key's role decides."""
    if not state.current().settings.access_control:
        return {"access_control": False, "role": "admin"}, 200, render.JSON
    token_info: dict[str, Any] = context.get("token_info") or {}
    return {"access_control": True, "role": token_info.get("role", "client")}, 200, render.JSON
