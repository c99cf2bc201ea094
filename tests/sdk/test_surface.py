"""The SDK's public surface and its error vocabulary."""

from __future__ import annotations

import json

import pytest

import slotgate
import slotgate.asyncio
from slotgate import errors


def test_public_names_are_pinned() -> None:
    assert sorted(slotgate.__all__) == sorted(
        [
            "AcquireTimeout",
            "AcquisitionError",
            "ApiError",
            "Conflict",
            "Forbidden",
            "InvalidRequest",
            "Lease",
            "LeaseGone",
            "LeaseLost",
            "MissingLimits",
            "NotFound",
            "RetriesExhausted",
            "ServerError",
            "ServerUnreachable",
            "SlotgateClient",
            "SlotgateError",
            "SlotsUnavailable",
            "StoreUnavailable",
            "Unauthorized",
            "Unsatisfiable",
            "concurrency",
            "default_client",
            "rate_limit",
            "unguarded_runs",
        ]
    )
    assert sorted(slotgate.asyncio.__all__) == ["SlotgateClient", "concurrency", "default_client", "rate_limit"]
    for name in slotgate.__all__:
        assert getattr(slotgate, name) is not None


@pytest.mark.parametrize(
    ("status", "slug", "expected"),
    [
        (400, "invalid-request", errors.InvalidRequest),
        (401, "unauthorized", errors.Unauthorized),
        (403, "forbidden", errors.Forbidden),
        (404, "not-found", errors.NotFound),
        (404, "missing-limits", errors.MissingLimits),
        (409, "conflict", errors.Conflict),
        (410, "lease-gone", errors.LeaseGone),
        (422, "unsatisfiable", errors.Unsatisfiable),
        (423, "slots-unavailable", errors.SlotsUnavailable),
        (503, "store-unavailable", errors.StoreUnavailable),
        (500, "internal", errors.ServerError),
        (502, "", errors.ServerError),
        (415, "unsupported-media-type", errors.ApiError),
    ],
)
def test_problems_map_to_one_class_each(status: int, slug: str, expected: type[errors.ApiError]) -> None:
    body = json.dumps({"type": f"/problems/{slug}", "title": "t", "status": status, "detail": "what to do"})
    error = errors.from_response(status, body.encode())
    assert type(error) is expected and error.status == status and str(error) == "what to do"
    assert isinstance(error, slotgate.SlotgateError)


def test_a_non_json_answer_still_says_something() -> None:
    error = errors.from_response(502, b"<html>Bad gateway</html>")
    assert isinstance(error, errors.ServerError) and "Bad gateway" in str(error)


def test_denials_carry_the_hint() -> None:
    body = {"type": "/problems/slots-unavailable", "detail": "d", "retry_after_seconds": 0.25, "blocking_names": ["a"]}
    error = errors.from_response(423, json.dumps(body).encode())
    assert isinstance(error, errors.SlotsUnavailable)
    assert (error.retry_after_seconds, error.blocking_names) == (0.25, ["a"])
