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
        wait_seconds (float | Unset): How long the server may hold the request waiting for the slots before it answers
            423; 0 answers at once. A waiting request is granted the moment the slots are
            freed (by any server process), or have drained on a decaying limit. Waiters are
            served in arrival order across all server processes: once a request has waited
            a moment, no request that arrived after it takes slots of its limits first. A
            waiter with an `Idempotency-Key` keeps its place for a few seconds after its
            answer (SLOTGATE_QUEUE_PLACE_SECONDS), so that asking again with the key resumes
            it; meanwhile it holds no one up.
             Default: 0.0.
    """

    names: list[str]
    slots: int | Unset = 1
    lease_duration: float | Unset = UNSET
    holder: str | Unset = ""
    wait_seconds: float | Unset = 0.0

    def to_dict(self) -> dict[str, Any]:
        names = self.names

        slots = self.slots

        lease_duration = self.lease_duration

        holder = self.holder

        wait_seconds = self.wait_seconds

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
        if wait_seconds is not UNSET:
            field_dict["wait_seconds"] = wait_seconds

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        names = cast(list[str], d.pop("names"))

        slots = d.pop("slots", UNSET)

        lease_duration = d.pop("lease_duration", UNSET)

        holder = d.pop("holder", UNSET)

        wait_seconds = d.pop("wait_seconds", UNSET)

        lease_request = cls(
            names=names,
            slots=slots,
            lease_duration=lease_duration,
            holder=holder,
            wait_seconds=wait_seconds,
        )

        return lease_request
