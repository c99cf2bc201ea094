from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

T = TypeVar("T", bound="Limit")


@_attrs_define
class Limit:
    """
    Attributes:
        id (UUID):
        name (str): 1 to 255 characters, none of `/ % & > <`, no control characters, and not only dots
            (`.` and `..` cannot be a segment of a URL's path).
             Example: database.
        limit (int): The number of slots.
        slot_decay_per_second (float): Slots that drain per second; 0 for no decay, otherwise at least 0.000000001.
        active (bool):
        active_slots (float): Slots occupied now, decay applied; fractions are kept.
        denied_slots (int): Slots asked for and refused since the limit was created.
        avg_slot_occupancy_seconds (float | None): Recent average time a lease held its slots; null before the first
            release.
        open_leases (int):
        created (datetime.datetime):
        updated (datetime.datetime):
    """

    id: UUID
    name: str
    limit: int
    slot_decay_per_second: float
    active: bool
    active_slots: float
    denied_slots: int
    avg_slot_occupancy_seconds: float | None
    open_leases: int
    created: datetime.datetime
    updated: datetime.datetime

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        name = self.name

        limit = self.limit

        slot_decay_per_second = self.slot_decay_per_second

        active = self.active

        active_slots = self.active_slots

        denied_slots = self.denied_slots

        avg_slot_occupancy_seconds: float | None
        avg_slot_occupancy_seconds = self.avg_slot_occupancy_seconds

        open_leases = self.open_leases

        created = self.created.isoformat()

        updated = self.updated.isoformat()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "id": id,
                "name": name,
                "limit": limit,
                "slot_decay_per_second": slot_decay_per_second,
                "active": active,
                "active_slots": active_slots,
                "denied_slots": denied_slots,
                "avg_slot_occupancy_seconds": avg_slot_occupancy_seconds,
                "open_leases": open_leases,
                "created": created,
                "updated": updated,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        id = UUID(d.pop("id"))

        name = d.pop("name")

        limit = d.pop("limit")

        slot_decay_per_second = d.pop("slot_decay_per_second")

        active = d.pop("active")

        active_slots = d.pop("active_slots")

        denied_slots = d.pop("denied_slots")

        def _parse_avg_slot_occupancy_seconds(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        avg_slot_occupancy_seconds = _parse_avg_slot_occupancy_seconds(
            d.pop("avg_slot_occupancy_seconds")
        )

        open_leases = d.pop("open_leases")

        created = datetime.datetime.fromisoformat(d.pop("created"))

        updated = datetime.datetime.fromisoformat(d.pop("updated"))

        limit = cls(
            id=id,
            name=name,
            limit=limit,
            slot_decay_per_second=slot_decay_per_second,
            active=active,
            active_slots=active_slots,
            denied_slots=denied_slots,
            avg_slot_occupancy_seconds=avg_slot_occupancy_seconds,
            open_leases=open_leases,
            created=created,
            updated=updated,
        )

        return limit
