from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

from ..models.access_role import AccessRole, check_access_role

T = TypeVar("T", bound="Access")


@_attrs_define
class Access:
    """
    Attributes:
        access_control (bool): False when the server has no API keys (then everyone may do everything).
        role (AccessRole): What the key sent may do; admin on an open server.
    """

    access_control: bool
    role: AccessRole

    def to_dict(self) -> dict[str, Any]:
        access_control = self.access_control

        role: str = self.role

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "access_control": access_control,
                "role": role,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        access_control = d.pop("access_control")

        role = check_access_role(d.pop("role"))

        access = cls(
            access_control=access_control,
            role=role,
        )

        return access
