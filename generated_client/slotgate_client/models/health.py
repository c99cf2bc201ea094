from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

from ..models.health_status import HealthStatus, check_health_status
from ..models.health_store import HealthStore, check_health_store

T = TypeVar("T", bound="Health")


@_attrs_define
class Health:
    """
    Attributes:
        status (HealthStatus):
        store (HealthStore):
        version (str):
    """

    status: HealthStatus
    store: HealthStore
    version: str

    def to_dict(self) -> dict[str, Any]:
        status: str = self.status

        store: str = self.store

        version = self.version

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "status": status,
                "store": store,
                "version": version,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        status = check_health_status(d.pop("status"))

        store = check_health_store(d.pop("store"))

        version = d.pop("version")

        health = cls(
            status=status,
            store=store,
            version=version,
        )

        return health
