from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="LimitCreate")


@_attrs_define
class LimitCreate:
    """
    Attributes:
        name (str): 1 to 255 characters, none of `/ % & > <`, no control characters, and not only dots
            (`.` and `..` cannot be a segment of a URL's path).
             Example: database.
        limit (int): The number of slots.
        slot_decay_per_second (float | Unset): Slots that drain per second; 0 for no decay, otherwise at least
            0.000000001. Default: 0.0.
        active (bool | Unset):  Default: True.
    """

    name: str
    limit: int
    slot_decay_per_second: float | Unset = 0.0
    active: bool | Unset = True

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        limit = self.limit

        slot_decay_per_second = self.slot_decay_per_second

        active = self.active

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
                "limit": limit,
            }
        )
        if slot_decay_per_second is not UNSET:
            field_dict["slot_decay_per_second"] = slot_decay_per_second
        if active is not UNSET:
            field_dict["active"] = active

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        name = d.pop("name")

        limit = d.pop("limit")

        slot_decay_per_second = d.pop("slot_decay_per_second", UNSET)

        active = d.pop("active", UNSET)

        limit_create = cls(
            name=name,
            limit=limit,
            slot_decay_per_second=slot_decay_per_second,
            active=active,
        )

        return limit_create
