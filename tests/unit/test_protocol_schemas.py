"""Request bodies and parameters are checked by jsonschema-rs first and by jsonschema only when
it does not accept them (`protocol.CheckedSchema`). That is safe only if it accepts nothing
jsonschema refuses, on every schema of the contract; and worth it only if it accepts what
clients send."""

from __future__ import annotations

from typing import Any

import pytest
from connexion.json_schema import Draft4RequestValidator, resolve_refs
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator, ValidationError

from slotgate_server.app import load_spec
from slotgate_server.protocol import MAX_BODY_NESTING, CheckedSchema, nesting_exceeds


def _request_schemas() -> list[tuple[str, dict[str, Any], Any]]:
    """(where, schema, jsonschema validator class) of every body and parameter of the contract."""
    spec = resolve_refs(load_spec(with_security=False))
    found = []
    for path, item in spec["paths"].items():
        shared = item.get("parameters", [])
        for method, operation in item.items():
            if not isinstance(operation, dict) or method == "parameters":
                continue
            for parameter in [*shared, *operation.get("parameters", [])]:
                found.append((f"{method} {path} {parameter['name']}", parameter["schema"], Draft4Validator))
            content = operation.get("requestBody", {}).get("content", {})
            for media_type, body in content.items():
                found.append((f"{method} {path} body ({media_type})", body["schema"], Draft4RequestValidator))
    return found


SCHEMAS = _request_schemas()

# Characters at the edges of the contract's patterns: separators, escapes, control characters
# (C0, DEL, C1), line breaks, dots, and ordinary text.
EDGY_TEXT = st.text(alphabet="a.Z /%&<>\n\r\t\x00\x1f\x7f\x85\x9f\xa0é-_:0", max_size=6)
NUMBERS = st.one_of(
    st.integers(min_value=-3, max_value=3),
    st.sampled_from([59, 60, 61, 86_399, 86_400, 86_401, 999_999_999, 1_000_000_000, 1_000_000_001, 2**63, -(2**63)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-9, 1e-10, 9.99e-10, 0.5, 1.0, 60.0, 86_400.0, 86_400.0001, 1e9, 1e9 + 1]),
)
UUIDS = st.uuids().map(str)
SCALARS = st.one_of(
    st.none(), st.booleans(), NUMBERS, EDGY_TEXT, UUIDS, st.text(alphabet="ab", min_size=254, max_size=256)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(EDGY_TEXT, inner, max_size=3)),
    max_leaves=8,
)


def _near(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values shaped like what `schema` asks for, mostly one step from valid."""
    properties = schema.get("properties")
    if not properties:
        return VALUES
    fields = {name: st.one_of(VALUES, st.lists(st.one_of(EDGY_TEXT, SCALARS), max_size=3)) for name in properties}
    return st.fixed_dictionaries({}, optional=fields)


@settings(max_examples=4000, deadline=None)
@given(st.data())
def test_the_quick_check_accepts_nothing_jsonschema_refuses(data: st.DataObject) -> None:
    where, schema, validator_class = data.draw(st.sampled_from(SCHEMAS))
    instance = data.draw(st.one_of(VALUES, _near(schema)))
    checked = CheckedSchema(schema, validator_class)
    if checked.accepts_quickly(instance):
        assert checked.full.is_valid(instance), f"{where}: {instance!r}"


def _schema_of(where: str) -> CheckedSchema:
    [(_, schema, validator_class)] = [entry for entry in SCHEMAS if entry[0] == where]
    return CheckedSchema(schema, validator_class)


@pytest.mark.parametrize(
    ("where", "instance"),
    [
        (
            "post /api/v1/leases body (application/json)",
            {"names": ["database"], "slots": 1, "holder": "host/4242/MainThread", "wait_seconds": 30.0},
        ),
        ("post /api/v1/leases body (application/json)", {"names": ["a", "b"], "lease_duration": 300}),
        ("post /api/v1/rate-limit body (application/json)", {"names": ["api"], "slots": 2, "wait_seconds": 0}),
        ("delete /api/v1/leases/{lease_id} lease_id", "0b5ad7e8-4a0b-4b5e-9d43-9f0f7fb2c1a1"),
        ("get /api/v1/limits/{name} name", "database"),
    ],
)
def test_what_clients_send_is_accepted_quickly(where: str, instance: Any) -> None:
    assert _schema_of(where).accepts_quickly(instance)


def test_a_refused_value_gets_jsonschema_s_message() -> None:
    checked = _schema_of("post /api/v1/leases body (application/json)")
    with pytest.raises(ValidationError, match="has non-unique elements"):
        checked.validate({"names": ["x", "x"]})


def test_nesting_is_counted_without_recursing() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    assert nesting_exceeds(deep, MAX_BODY_NESTING)
    assert not nesting_exceeds({"names": ["a", "b"], "slots": 1}, 1)
    assert nesting_exceeds({"a": {"b": [[]]}}, 2) and not nesting_exceeds({"a": {"b": [1]}}, 2)
