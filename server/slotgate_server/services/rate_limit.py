"""Rate-limit mode: slots taken on decaying limits, never released."""

from __future__ import annotations

from collections.abc import Sequence

from slotgate_server import metrics
from slotgate_server.idempotency import IdempotencyKey
from slotgate_server.services.admission import take_slots
from slotgate_server.state import ServerState
from slotgate_server.waiters import Departure


async def consume(
    server: ServerState,
    *,
    names: Sequence[str],
    slots_each: int,
    wait_seconds: float = 0.0,
    key: IdempotencyKey | None = None,
    departure: Departure | None = None,
) -> tuple[float, bool]:
    """Take the slots, waiting up to `wait_seconds` for them. Returns when they were granted,
    and whether that was for an earlier request, answered again for its `key`."""
    grant = await take_slots(
        server,
        names=names,
        requested=slots_each,
        mode=metrics.RATE_LIMIT,
        require_decay=True,
        wait_seconds=wait_seconds,
        key=key,
        departure=departure,
    )
    return grant.now, grant.replayed
