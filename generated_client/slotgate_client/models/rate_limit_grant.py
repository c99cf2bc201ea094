from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define

T = TypeVar("T", bound="RateLimitGrant")


@_attrs_define
class RateLimitGrant:
    """
    Attributes:
        names (list[str]):
        slots (int):
        granted_at (datetime.datetime):
    """

    names: list[str]
    slots: int
    granted_at: datetime.datetime

    def to_dict(self) -> dict[str, Any]:
        names = self.names

        slots = self.slots

        granted_at = self.granted_at.isoformat()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "names": names,
                "slots": slots,
                "granted_at": granted_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        names = cast(list[str], d.pop("names"))

        slots = d.pop("slots")

        granted_at = datetime.datetime.fromisoformat(d.pop("granted_at"))

        rate_limit_grant = cls(
            names=names,
            slots=slots,
            granted_at=granted_at,
        )

        return rate_limit_grant
