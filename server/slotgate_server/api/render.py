"""Records as the contract shows them."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from slotgate_server import clock, slots
from slotgate_server.errors import REPLAYED_HEADER
from slotgate_server.store.records import LeaseRecord, LimitRecord

# Operations answer JSON or problem+json; a success says which.
JSON = {"Content-Type": "application/json"}


def limit(record: LimitRecord, *, now: float) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "limit": record.limit,
        "slot_decay_per_second": record.slot_decay_per_second,
        "active": record.active,
        "active_slots": slots.occupied_now(record.state, decay_per_second=record.slot_decay_per_second, now=now),
        "denied_slots": record.denied_slots,
        "avg_slot_occupancy_seconds": record.avg_occupancy_seconds,
        "open_leases": record.open_leases or 0,
        "created": clock.iso(record.created),
        "updated": clock.iso(record.updated),
    }


def limit_location(name: str) -> dict[str, str]:
    return {**JSON, "Location": f"/api/v1/limits/{quote(name, safe='')}"}


def lease(record: LeaseRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "names": record.names,
        "slots": record.slots,
        "holder": record.holder,
        "created": clock.iso(record.created),
        "expires_at": clock.iso(record.expires_at),
        "lease_duration": record.lease_duration,
        "fencing_token": record.fencing_token,
    }


def lease_location(record: LeaseRecord, *, replayed: bool = False) -> dict[str, str]:
    return {**answer_headers(replayed=replayed), "Location": f"/api/v1/leases/{record.id}"}


def answer_headers(*, replayed: bool) -> dict[str, str]:
    """A success's headers; an answer repeated for an Idempotency-Key says so."""
    return {**JSON, REPLAYED_HEADER: "true"} if replayed else JSON
