"""What every request can reach: the settings, the database and the metrics of its app, and
what the request brings beside its parameters (its Idempotency-Key, its client's departure)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connexion import context, request

from slotgate_server import idempotency
from slotgate_server.idempotency import IdempotencyKey, KeysInFlight
from slotgate_server.metrics import Metrics
from slotgate_server.settings import Settings
from slotgate_server.store.database import Database
from slotgate_server.waiters import Departure, SlotsFreed


@dataclass(frozen=True)
class ServerState:
    settings: Settings
    db: Database
    metrics: Metrics
    freed: SlotsFreed
    keys_in_flight: KeysInFlight = field(default_factory=KeysInFlight)
    # Names this process in the queue of waiting requests that every process shares.
    process_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def current() -> ServerState:
    """The state of the app serving the current request (set up by the app's lifespan)."""
    state: ServerState = request.state.slotgate
    return state


def idempotency_key(*, operation: str, asked: Mapping[str, Any]) -> IdempotencyKey | None:
    """The current request's Idempotency-Key, bound to what it asks for (`asked`)."""
    return idempotency.from_request(request.headers, operation=operation, request=asked)


def departure() -> Departure:
    """Hears when the current request's client goes away."""
    return Departure(context.receive)
