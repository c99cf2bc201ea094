from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="LimitPatch")


@_attrs_define
class LimitPatch:
    """
    Attributes:
        limit (int | Unset): The number of slots.
        slot_decay_per_second (float | Unset): Slots that drain per second; 0 for no decay, otherwise at least
            0.000000001.
        active (bool | Unset):
    """

    limit: int | Unset = UNSET
    slot_decay_per_second: float | Unset = UNSET
    active: bool | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        limit = self.limit

        slot_decay_per_second = self.slot_decay_per_second

        active = self.active

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if limit is not UNSET:
            field_dict["limit"] = limit
        if slot_decay_per_second is not UNSET:
            field_dict["slot_decay_per_second"] = slot_decay_per_second
        if active is not UNSET:
            field_dict["active"] = active

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        limit = d.pop("limit", UNSET)

        slot_decay_per_second = d.pop("slot_decay_per_second", UNSET)

        active = d.pop("active", UNSET)

        limit_patch = cls(
            limit=limit,
            slot_decay_per_second=slot_decay_per_second,
            active=active,
        )

        return limit_patch
