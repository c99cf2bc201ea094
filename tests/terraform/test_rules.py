"""The provider checks at plan time what the contract checks at the server: the same rules."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from tf.schema import Attribute
from tf.types import Bool, Number, String, Unknown

from slotgate_terraform import validation
from slotgate_terraform.plugin import unset_defaults
from slotgate_terraform.resources.concurrency_limit import SCHEMA

CONTRACT = yaml.safe_load(Path(__file__).resolve().parents[2].joinpath("openapi.yaml").read_text())
SCHEMAS: dict[str, Any] = CONTRACT["components"]["schemas"]
NAME_PATTERN = re.compile(SCHEMAS["LimitName"]["pattern"])


def test_bounds_are_the_contracts() -> None:
    name, slots, decay = SCHEMAS["LimitName"], SCHEMAS["SlotCount"], SCHEMAS["DecayRate"]
    assert (name["minLength"], name["maxLength"]) == (1, validation.MAX_NAME_LENGTH)
    assert (slots["minimum"], slots["maximum"]) == (0, validation.MAX_SLOTS)
    assert (decay["minimum"], decay["maximum"]) == (0, validation.MAX_DECAY_PER_SECOND)
    assert decay["not"]["maximum"] == validation.MIN_POSITIVE_DECAY_PER_SECOND  # (0, that) is refused


SAMPLES = ["a/b", "a%b", "a&b", "a>b", "a<b", "a\tb", "a\x7fb", "a\x9fb", "ok\n", ".", "..", "...", ".a.", "ok"]


@given(st.text(max_size=300) | st.text(".", min_size=1) | st.sampled_from(SAMPLES))
def test_a_name_is_refused_exactly_when_the_contract_refuses_it(name: str) -> None:
    allowed = NAME_PATTERN.fullmatch(name) is not None and 1 <= len(name) <= validation.MAX_NAME_LENGTH
    assert (validation.name_problem(name) is None) == allowed


@pytest.mark.parametrize(
    ("config", "attributes"),
    [
        ({"name": "ok", "limit": 0, "slot_decay_per_second": 0.5}, []),
        ({"name": "ok", "limit": Unknown, "slot_decay_per_second": None}, []),
        ({"name": "", "limit": -1, "slot_decay_per_second": -0.1}, ["name", "limit", "slot_decay_per_second"]),
        ({"name": "ok", "limit": 1, "slot_decay_per_second": 1e-12}, ["slot_decay_per_second"]),
        ({"name": "ok", "limit": 1, "slot_decay_per_second": 1e-9}, []),
        ({"name": "ok", "limit": 2.5}, ["limit"]),
        ({"name": "ok", "limit": 1_000_000_001}, ["limit"]),
        ({"name": "ok", "limit": "12"}, ["limit"]),
        ({"name": "ok", "limit": True}, ["limit"]),
    ],
)
def test_limit_problems_name_each_bad_attribute(config: dict[str, Any], attributes: list[str]) -> None:
    assert [problem.attribute for problem in validation.limit_problems(config)] == attributes


def test_defaults_are_planned_for_unset_attributes_only() -> None:
    defaults = unset_defaults(SCHEMA.attributes, {"name": "x", "limit": 1, "active": False, "id": None})
    assert defaults == {"slot_decay_per_second": 0.0}
    everything_unset = unset_defaults(SCHEMA.attributes, {"name": "x", "limit": 1})
    assert everything_unset == {"slot_decay_per_second": 0.0, "active": True}


def test_unknown_configuration_is_not_replaced_by_a_default() -> None:
    attributes = [Attribute("flag", Bool(), optional=True, computed=True, default=True), Attribute("n", Number())]
    assert unset_defaults(attributes, {"flag": Unknown}) == {}
    assert unset_defaults([Attribute("s", String(), computed=True)], {}) == {}
