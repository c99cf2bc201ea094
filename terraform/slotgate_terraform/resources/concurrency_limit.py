"""Resource `slotgate_concurrency_limit`: a limit's configuration, managed by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tf.iface import (
    Config,
    CreateContext,
    DeleteContext,
    ImportContext,
    ReadContext,
    Resource,
    State,
    UpdateContext,
    UpgradeContext,
)
from tf.schema import Attribute, Schema
from tf.types import Bool, Number, String
from tf.utils import Diagnostics

from slotgate import _protocol, errors
from slotgate.client import SlotgateClient
from slotgate_terraform import diagnostics, limits, validation

if TYPE_CHECKING:
    from slotgate_terraform.provider import SlotgateProvider

SCHEMA = Schema(
    version=0,
    description="A Slotgate limit: named slots shared by every process that acquires them. Terraform manages "
    "its configuration; the slots held at run time are never touched.",
    attributes=[
        Attribute("id", String(), computed=True, description="The limit's id on the server."),
        Attribute(
            "name",
            String(),
            required=True,
            requires_replace=True,
            description="The unique name (1 to 255 characters, none of `/ % & > <`). A new name replaces the limit.",
        ),
        Attribute("limit", Number(), required=True, description="The number of slots (a whole number, 0 or more)."),
        Attribute(
            "slot_decay_per_second",
            Number(),
            optional=True,
            computed=True,
            default=limits.DEFAULT_SLOT_DECAY_PER_SECOND,
            description="Slots that drain per second, for rate limiting; 0 (the default) for none.",
        ),
        Attribute(
            "active",
            Bool(),
            optional=True,
            computed=True,
            default=limits.DEFAULT_ACTIVE,
            description="Whether the limit blocks when full (default true); an inactive limit never blocks.",
        ),
        Attribute("created", String(), computed=True, description="When the limit was created (RFC 3339)."),
    ],
)


class ConcurrencyLimit(Resource):
    def __init__(self, provider: SlotgateProvider) -> None:
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return "concurrency_limit"

    @classmethod
    def get_schema(cls) -> Schema:
        return SCHEMA

    @property
    def _client(self) -> SlotgateClient:
        return self.provider.client

    def validate(self, diags: Diagnostics, type_name: str, config: Config) -> None:
        super().validate(diags, type_name, config)
        diagnostics.invalid_values(diags, validation.limit_problems(config))

    def create(self, ctx: CreateContext, planned: State) -> State | None:
        name = planned["name"]
        with diagnostics.reporting(ctx.diagnostics, "create", name):
            return limits.configuration_state(
                self._client.call(_protocol.create(name, **limits.settings_from(planned)))
            )
        return None

    def read(self, ctx: ReadContext, current: State) -> State | None:
        name = current["name"]
        try:
            return limits.configuration_state(self._client.call(_protocol.read(name)))
        except errors.NotFound:
            return None  # deleted outside Terraform: out of the state, so the next plan creates it again
        except errors.SlotgateError as error:
            diagnostics.api_failure(ctx.diagnostics, "read", name, error)
            return current

    def update(self, ctx: UpdateContext, current: State, planned: State) -> State | None:
        # A PATCH of the configuration only: the server keeps held slots, leases and denials.
        name = planned["name"]
        with diagnostics.reporting(ctx.diagnostics, "update", name):
            return limits.configuration_state(
                self._client.call(_protocol.update(name, **limits.settings_from(planned)))
            )
        return current  # a failed update leaves the limit as it was, and in the state

    def delete(self, ctx: DeleteContext, current: State) -> State | None:
        name = current["name"]
        try:
            self._client.call(_protocol.delete(name))
        except errors.NotFound:
            pass  # already gone, which is what was asked
        except errors.SlotgateError as error:
            diagnostics.api_failure(ctx.diagnostics, "delete", name, error)
            return current
        return None

    def import_(self, ctx: ImportContext, name: str) -> State | None:
        """`terraform import ADDRESS NAME`: limits are imported by name."""
        problem = validation.name_problem(name)
        if problem:
            diagnostics.invalid_import_id(ctx.diagnostics, problem)
            return None
        with diagnostics.reporting(ctx.diagnostics, "import", name):
            return limits.configuration_state(self._client.call(_protocol.read(name)))
        return None

    def upgrade(self, ctx: UpgradeContext, version: int, old: State) -> State | None:
        return old  # one schema version so far: nothing to upgrade
