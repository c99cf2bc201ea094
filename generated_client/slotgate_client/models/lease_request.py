from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="LeaseRequest")


@_attrs_define
class LeaseRequest:
    """
    Attributes:
        names (list[str]):
        slots (int | Unset): Slots to take on each named limit. Default: 1.
        lease_duration (float | Unset): Seconds until the lease expires unless renewed. By default the server's default
            duration (300 s unless the operator changed it); the server's minimum applies
            (60 s unless the operator lowered it).
        holder (str | Unset): Who holds the slots, e.g. host/pid/task; shown to operators. Default: ''.
    """

    names: list[str]
    slots: int | Unset = 1
    lease_duration: float | Unset = UNSET
    holder: str | Unset = ""

    def to_dict(self) -> dict[str, Any]:
        names = self.names

        slots = self.slots

        lease_duration = self.lease_duration

        holder = self.holder

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "names": names,
            }
        )
        if slots is not UNSET:
            field_dict["slots"] = slots
        if lease_duration is not UNSET:
            field_dict["lease_duration"] = lease_duration
        if holder is not UNSET:
            field_dict["holder"] = holder

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        names = cast(list[str], d.pop("names"))

        slots = d.pop("slots", UNSET)

        lease_duration = d.pop("lease_duration", UNSET)

        holder = d.pop("holder", UNSET)

        lease_request = cls(
            names=names,
            slots=slots,
            lease_duration=lease_duration,
            holder=holder,
        )

        return lease_request
