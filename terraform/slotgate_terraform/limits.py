"""A limit as Terraform sees it: the configuration the resource manages, read from the API's
model. Runtime state (occupied slots, leases, denials) is left out on purpose: Terraform must
never send it back nor report its changes as drift."""

from __future__ import annotations

from typing import Any

from slotgate_client.models import Limit

DEFAULT_SLOT_DECAY_PER_SECOND = 0.0
DEFAULT_ACTIVE = True


def configuration_state(limit: Limit) -> dict[str, Any]:
    return {
        "id": str(limit.id),
        "name": limit.name,
        "limit": limit.limit,
        "slot_decay_per_second": limit.slot_decay_per_second,
        "active": limit.active,
        "created": limit.created.isoformat(),
    }


def usage_state(limit: Limit) -> dict[str, Any]:
    """The configuration with the live usage, for the data source."""
    return {
        **configuration_state(limit),
        "active_slots": limit.active_slots,
        "denied_slots": limit.denied_slots,
        "open_leases": limit.open_leases,
        "avg_slot_occupancy_seconds": limit.avg_slot_occupancy_seconds,
        "updated": limit.updated.isoformat(),
    }


def settings_from(state: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of `_protocol.create/update` for a planned state."""
    return {
        "limit": int(state["limit"]),
        "slot_decay_per_second": float(state["slot_decay_per_second"]),
        "active": bool(state["active"]),
    }
