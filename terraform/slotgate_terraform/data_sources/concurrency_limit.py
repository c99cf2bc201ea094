"""Data source `slotgate_concurrency_limit`: an existing limit by name, with its live usage."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tf.iface import Config, DataSource, ReadDataContext, State
from tf.schema import Attribute, Schema
from tf.types import Bool, Number, String
from tf.utils import Diagnostics

from slotgate import _protocol
from slotgate_terraform import diagnostics, limits, validation

if TYPE_CHECKING:
    from slotgate_terraform.provider import SlotgateProvider


def _computed(name: str, kind: Number | String | Bool, description: str) -> Attribute:
    return Attribute(name, kind, computed=True, description=description)


SCHEMA = Schema(
    version=0,
    description="An existing Slotgate limit, read by name, with its configuration and live usage.",
    attributes=[
        Attribute("name", String(), required=True, description="The limit's name."),
        _computed("id", String(), "The limit's id on the server."),
        _computed("limit", Number(), "The number of slots."),
        _computed("slot_decay_per_second", Number(), "Slots that drain per second; 0 for none."),
        _computed("active", Bool(), "Whether the limit blocks when full."),
        _computed("created", String(), "When the limit was created (RFC 3339)."),
        _computed("updated", String(), "When its configuration or usage last changed (RFC 3339)."),
        _computed("active_slots", Number(), "Slots occupied now, decay applied (fractions are kept)."),
        _computed("denied_slots", Number(), "Slots asked for and refused since the limit was created."),
        _computed("open_leases", Number(), "Leases that hold slots of the limit now."),
        _computed(
            "avg_slot_occupancy_seconds",
            Number(),
            "Recent average time a lease held its slots; null before the first release.",
        ),
    ],
)


class ConcurrencyLimitData(DataSource):
    def __init__(self, provider: SlotgateProvider) -> None:
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return "concurrency_limit"

    @classmethod
    def get_schema(cls) -> Schema:
        return SCHEMA

    def validate(self, diags: Diagnostics, type_name: str, config: Config) -> None:
        super().validate(diags, type_name, config)
        name = config.get("name")
        problem = validation.name_problem(name) if validation.is_known(name) else None
        if problem:
            diagnostics.invalid_values(diags, [validation.Problem("name", problem)])

    def read(self, ctx: ReadDataContext, config: Config) -> State | None:
        name = config["name"]
        with diagnostics.reporting(ctx.diagnostics, "read", name):
            return limits.usage_state(self.provider.client.call(_protocol.read(name)))
        return None
