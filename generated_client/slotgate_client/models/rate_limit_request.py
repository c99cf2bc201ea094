from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="RateLimitRequest")


@_attrs_define
class RateLimitRequest:
    """
    Attributes:
        names (list[str]):
        slots (int | Unset):  Default: 1.
    """

    names: list[str]
    slots: int | Unset = 1

    def to_dict(self) -> dict[str, Any]:
        names = self.names

        slots = self.slots

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "names": names,
            }
        )
        if slots is not UNSET:
            field_dict["slots"] = slots

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        names = cast(list[str], d.pop("names"))

        slots = d.pop("slots", UNSET)

        rate_limit_request = cls(
            names=names,
            slots=slots,
        )

        return rate_limit_request
