from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="SlotsUnavailableProblem")


@_attrs_define
class SlotsUnavailableProblem:
    """
    Attributes:
        type_ (str): A stable identifier of the kind of problem.
        title (str):
        status (int):
        detail (str): What went wrong and what to do about it.
        retry_after_seconds (float): The precise wait before a retry can expect the slots.
        blocking_names (list[str]): The limits that lacked slots.
        instance (str | Unset):
    """

    type_: str
    title: str
    status: int
    detail: str
    retry_after_seconds: float
    blocking_names: list[str]
    instance: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        type_ = self.type_

        title = self.title

        status = self.status

        detail = self.detail

        retry_after_seconds = self.retry_after_seconds

        blocking_names = self.blocking_names

        instance = self.instance

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "type": type_,
                "title": title,
                "status": status,
                "detail": detail,
                "retry_after_seconds": retry_after_seconds,
                "blocking_names": blocking_names,
            }
        )
        if instance is not UNSET:
            field_dict["instance"] = instance

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        type_ = d.pop("type")

        title = d.pop("title")

        status = d.pop("status")

        detail = d.pop("detail")

        retry_after_seconds = d.pop("retry_after_seconds")

        blocking_names = cast(list[str], d.pop("blocking_names"))

        instance = d.pop("instance", UNSET)

        slots_unavailable_problem = cls(
            type_=type_,
            title=title,
            status=status,
            detail=detail,
            retry_after_seconds=retry_after_seconds,
            blocking_names=blocking_names,
            instance=instance,
        )

        slots_unavailable_problem.additional_properties = d
        return slots_unavailable_problem

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
