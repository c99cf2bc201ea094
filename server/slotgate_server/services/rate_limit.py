"""Rate-limit mode: slots taken on decaying limits, never released."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from slotgate_server import slots
from slotgate_server.errors import Unsatisfiable
from slotgate_server.services.admission import take_slots
from slotgate_server.state import ServerState
from slotgate_server.store.records import LimitRecord


def _require_decay(records: list[LimitRecord]) -> None:
    if without := [record.name for record in records if record.active and record.slot_decay_per_second <= 0]:
        quoted = ", ".join(repr(name) for name in without)
        raise Unsatisfiable(
            f"Rate limiting needs slot decay, and {quoted} has none: its slots would never come back. "
            "Give it slot_decay_per_second > 0, or take its slots under a lease (POST /api/v1/leases)."
        )


def _granted_at(_conn: Connection, _records: list[LimitRecord], _admission: slots.Admission, now: float) -> float:
    return now


async def consume(server: ServerState, *, names: Sequence[str], slots_each: int, wait_seconds: float = 0.0) -> float:
    """Take the slots, waiting up to `wait_seconds` for them; returns when they were granted."""
    return await take_slots(
        server,
        names=names,
        requested=slots_each,
        mode="rate_limit",
        grant=_granted_at,
        check=_require_decay,
        wait_seconds=wait_seconds,
    )
