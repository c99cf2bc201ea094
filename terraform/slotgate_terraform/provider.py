"""The Slotgate provider: settings, the API client, and the command Terraform runs."""

from __future__ import annotations

import os
import sys

from tf.iface import Config, DataSource, Provider, Resource
from tf.schema import Attribute, Schema
from tf.types import String
from tf.utils import Diagnostics

from slotgate.client import SlotgateClient
from slotgate_terraform import diagnostics, validation
from slotgate_terraform.data_sources.concurrency_limit import ConcurrencyLimitData
from slotgate_terraform.resources.concurrency_limit import ConcurrencyLimit

ADDRESS = "registry.terraform.io/slotgate/slotgate"

# go-plugin sets this in the provider's environment; without it the command was not started by Terraform.
TERRAFORM_COOKIE = "TF_PLUGIN_MAGIC_COOKIE"

SCHEMA = Schema(
    version=0,
    attributes=[
        Attribute(
            "endpoint",
            String(),
            optional=True,
            description="The Slotgate server, e.g. http://127.0.0.1:7433 (default: SLOTGATE_API_URL, else that one).",
        ),
        Attribute(
            "api_key",
            String(),
            optional=True,
            sensitive=True,
            description="An admin API key, if the server has keys (default: SLOTGATE_API_KEY).",
        ),
    ],
)


def _setting(config: Config, name: str) -> str | None:
    value = config.get(name)
    return value if validation.is_known(value) else None


class SlotgateProvider(Provider):
    def __init__(self) -> None:
        self._client: SlotgateClient | None = None

    def full_name(self) -> str:
        return ADDRESS

    def get_model_prefix(self) -> str:
        return "slotgate_"

    def get_provider_schema(self, diags: Diagnostics) -> Schema:
        return SCHEMA

    def validate_config(self, diags: Diagnostics, config: Config) -> None:
        endpoint = _setting(config, "endpoint")
        problem = validation.endpoint_problem(endpoint) if endpoint is not None else None
        if problem:
            diagnostics.invalid_endpoint(diags, problem)

    def configure_provider(self, diags: Diagnostics, config: Config) -> None:
        # Unset (or not yet known) settings fall back to SLOTGATE_API_URL / SLOTGATE_API_KEY, as in the SDK.
        self._client = SlotgateClient(_setting(config, "endpoint"), _setting(config, "api_key"))

    @property
    def client(self) -> SlotgateClient:
        if self._client is None:  # Terraform configures a provider before any read or change
            raise RuntimeError("The Slotgate provider was used before Terraform configured it.")
        return self._client

    def get_data_sources(self) -> list[type[DataSource]]:
        return [ConcurrencyLimitData]

    def get_resources(self) -> list[type[Resource]]:
        return [ConcurrencyLimit]


def main() -> None:
    """`terraform-provider-slotgate`: the plugin process Terraform starts."""
    if TERRAFORM_COOKIE not in os.environ and "--dev" not in sys.argv:
        sys.exit(
            "This is Slotgate's Terraform provider: Terraform starts it. "
            "Install it with `slotgate terraform install`, then run terraform."
        )
    from slotgate_terraform import plugin

    plugin.serve(SlotgateProvider())


if __name__ == "__main__":
    main()
