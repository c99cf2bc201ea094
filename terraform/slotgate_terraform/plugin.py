"""Serving the provider over Terraform's plugin protocol with the `tf` package, plus one
correction to its planning.

`tf` plans an optional attribute's default only when a resource is created. On later plans
Terraform proposes the prior value for an unset optional+computed attribute, so a default
changed outside Terraform (say `active` turned off by hand) would never be restored. Terraform's
own framework plans the default whenever the configuration leaves the attribute unset; this
servicer does the same, using the `default` of each attribute in the resource's schema."""

from __future__ import annotations

from typing import Any

import tf.provider
from tf.iface import Provider
from tf.runner import run_provider
from tf.schema import Attribute
from tf.types import Unknown
from tf.utils import read_dynamic_value, to_dynamic_value


def unset_defaults(attributes: list[Attribute], config: dict[str, Any]) -> dict[str, Any]:
    """The encoded default of each optional+computed attribute with a default that the configuration
    leaves unset (Terraform accepts a planned value other than null only for computed attributes)."""
    return {
        attribute.name: attribute.type.encode(attribute.default)
        for attribute in attributes
        if attribute.optional
        and attribute.computed
        and attribute.default is not Unknown
        and config.get(attribute.name) is None
    }


def resource_attributes(provider: Provider, type_name: str) -> list[Attribute]:
    prefix = provider.get_model_prefix()
    resource = next(kind for kind in provider.get_resources() if prefix + kind.get_name() == type_name)
    attributes: list[Attribute] = resource.get_schema().attributes
    return attributes


class DefaultingServicer(tf.provider.ProviderServicer):
    def PlanResourceChange(self, request: Any, context: Any) -> Any:
        response = super().PlanResourceChange(request, context)
        planned = read_dynamic_value(response.planned_state)
        config = read_dynamic_value(request.config)
        if planned and config:
            defaults = unset_defaults(resource_attributes(self.app, request.type_name), config)
            response.planned_state.CopyFrom(to_dynamic_value({**planned, **defaults}))
        return response


def serve(provider: Provider) -> None:
    # run_provider builds its servicer from this module attribute, and offers no other way in.
    tf.provider.ProviderServicer = DefaultingServicer
    run_provider(provider)
