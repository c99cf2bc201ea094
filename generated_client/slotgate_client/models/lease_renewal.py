from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="LeaseRenewal")


@_attrs_define
class LeaseRenewal:
    """
    Attributes:
        lease_duration (float | Unset): Seconds from now; defaults to the lease's own duration.
    """

    lease_duration: float | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        lease_duration = self.lease_duration

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if lease_duration is not UNSET:
            field_dict["lease_duration"] = lease_duration

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        lease_duration = d.pop("lease_duration", UNSET)

        lease_renewal = cls(
            lease_duration=lease_duration,
        )

        return lease_renewal
