"""What every request can reach: the settings, the database and the metrics of its app."""

from __future__ import annotations

from dataclasses import dataclass

from connexion import request

from slotgate_server.metrics import Metrics
from slotgate_server.notify import SlotsFreed
from slotgate_server.settings import Settings
from slotgate_server.store.database import Database


@dataclass(frozen=True)
class ServerState:
    settings: Settings
    db: Database
    metrics: Metrics
    freed: SlotsFreed


def current() -> ServerState:
    """The state of the app serving the current request (set up by the app's lifespan)."""
    state: ServerState = request.state.slotgate
    return state
