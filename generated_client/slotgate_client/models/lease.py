from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

T = TypeVar("T", bound="Lease")


@_attrs_define
class Lease:
    """
    Attributes:
        id (UUID):
        names (list[str]):
        slots (int):
        holder (str):
        created (datetime.datetime):
        expires_at (datetime.datetime):
        lease_duration (float): Seconds the lease lasts from its last renewal.
        fencing_token (int): Grows with every grant across all limits; a resource can refuse a smaller one.
    """

    id: UUID
    names: list[str]
    slots: int
    holder: str
    created: datetime.datetime
    expires_at: datetime.datetime
    lease_duration: float
    fencing_token: int

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        names = self.names

        slots = self.slots

        holder = self.holder

        created = self.created.isoformat()

        expires_at = self.expires_at.isoformat()

        lease_duration = self.lease_duration

        fencing_token = self.fencing_token

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "id": id,
                "names": names,
                "slots": slots,
                "holder": holder,
                "created": created,
                "expires_at": expires_at,
                "lease_duration": lease_duration,
                "fencing_token": fencing_token,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        id = UUID(d.pop("id"))

        names = cast(list[str], d.pop("names"))

        slots = d.pop("slots")

        holder = d.pop("holder")

        created = datetime.datetime.fromisoformat(d.pop("created"))

        expires_at = datetime.datetime.fromisoformat(d.pop("expires_at"))

        lease_duration = d.pop("lease_duration")

        fencing_token = d.pop("fencing_token")

        lease = cls(
            id=id,
            names=names,
            slots=slots,
            holder=holder,
            created=created,
            expires_at=expires_at,
            lease_duration=lease_duration,
            fencing_token=fencing_token,
        )

        return lease
