"""Limits over HTTP against a real server, on both stores."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.api import PROBLEM, assert_problem, create


def test_crud_cycle(client: httpx.Client, name: str) -> None:
    created = create(client, name, slot_decay_per_second=0.5, active=False)
    assert created.status_code == 201
    assert created.headers["location"] == f"/api/v1/limits/{name}"
    body = created.json()
    assert body["name"] == name and body["limit"] == 5 and body["slot_decay_per_second"] == 0.5
    assert body["active"] is False and body["active_slots"] == 0 and body["denied_slots"] == 0
    assert body["open_leases"] == 0 and body["avg_slot_occupancy_seconds"] is None
    uuid.UUID(body["id"])

    assert client.get(f"/api/v1/limits/{name}").json() == body | {"active_slots": 0.0}

    patched = client.patch(f"/api/v1/limits/{name}", json={"limit": 7, "active": True})
    assert patched.status_code == 200
    assert patched.json()["limit"] == 7 and patched.json()["active"] is True
    assert patched.json()["slot_decay_per_second"] == 0.5  # untouched by the patch
    assert patched.json()["id"] == body["id"]

    assert client.delete(f"/api/v1/limits/{name}").status_code == 204
    assert_problem(client.get(f"/api/v1/limits/{name}"), 404, says=name)
    assert_problem(client.delete(f"/api/v1/limits/{name}"), 404)
    assert_problem(client.patch(f"/api/v1/limits/{name}", json={"limit": 1}), 404)


def test_taken_name_is_a_conflict(client: httpx.Client, name: str) -> None:
    assert create(client, name).status_code == 201
    assert_problem(create(client, name), 409, says="already exists")


def test_upsert_creates_then_replaces_idempotently(client: httpx.Client, name: str) -> None:
    first = client.put(f"/api/v1/limits/{name}", json={"limit": 3, "slot_decay_per_second": 2.0, "active": False})
    assert first.status_code == 201 and first.headers["location"] == f"/api/v1/limits/{name}"
    again = client.put(f"/api/v1/limits/{name}", json={"limit": 3, "slot_decay_per_second": 2.0, "active": False})
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert {k: again.json()[k] for k in ("limit", "slot_decay_per_second", "active")} == {
        "limit": 3,
        "slot_decay_per_second": 2.0,
        "active": False,
    }
    # Omitted optional fields take their defaults: PUT sets the whole configuration.
    reset = client.put(f"/api/v1/limits/{name}", json={"limit": 4})
    assert reset.status_code == 200
    assert (reset.json()["slot_decay_per_second"], reset.json()["active"]) == (0.0, True)


def test_upsert_keeps_runtime_state(client: httpx.Client, name: str) -> None:
    create(client, name)
    lease = client.post("/api/v1/leases", json={"names": [name], "slots": 2})
    assert lease.status_code == 201
    updated = client.put(f"/api/v1/limits/{name}", json={"limit": 6})
    assert updated.json()["active_slots"] == 2 and updated.json()["open_leases"] == 1


def test_list_pages_in_name_order_with_filters(client: httpx.Client) -> None:
    prefix = f"page-{uuid.uuid4().hex[:6]}-"
    names = [f"{prefix}{i:02d}" for i in range(7)]
    for i, limit_name in enumerate(reversed(names)):
        assert create(client, limit_name, active=i % 2 == 0).status_code == 201
    seen, after = [], None
    while True:
        params: dict[str, object] = {"name_prefix": prefix, "page_size": 3}
        if after:
            params["after"] = after
        page = client.get("/api/v1/limits", params=params).json()
        assert len(page["items"]) <= 3
        seen += [item["name"] for item in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert seen == names
    active = client.get("/api/v1/limits", params={"name_prefix": prefix, "active": "true"}).json()["items"]
    assert all(item["active"] for item in active) and len(active) == 4
    inactive = client.get("/api/v1/limits", params={"name_prefix": prefix, "active": "false"}).json()["items"]
    assert {item["name"] for item in inactive} | {item["name"] for item in active} == set(names)


def test_name_prefix_is_literal_and_case_sensitive(client: httpx.Client) -> None:
    tag = uuid.uuid4().hex[:6]
    for limit_name in (f"Lit_{tag}", f"lit_{tag}", f"litX{tag}"):
        create(client, limit_name)
    found = client.get("/api/v1/limits", params={"name_prefix": "lit_"}).json()["items"]
    assert f"lit_{tag}" in [item["name"] for item in found]
    assert not {f"Lit_{tag}", f"litX{tag}"} & {item["name"] for item in found}


@pytest.mark.parametrize(
    "bad_name",
    ["a/b", "50%", "a&b", "a>b", "a<b", "", "x" * 256, "tab\there", "nul\x00", "bell\x07", "del\x7f"],
)
def test_invalid_names_are_refused(client: httpx.Client, bad_name: str) -> None:
    assert_problem(client.post("/api/v1/limits", json={"name": bad_name, "limit": 1}), 400)


def test_longest_and_unusual_names_are_accepted(client: httpx.Client) -> None:
    for good in ["y" * 255, f"db pool #1 (é) {uuid.uuid4().hex[:6]}", f"a.b:c@d?e {uuid.uuid4().hex[:6]}"]:
        created = create(client, good)
        assert created.status_code == 201, created.text
        assert client.get(created.headers["location"]).json()["name"] == good
        client.delete(created.headers["location"])


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"limit": -1}, "minimum"),
        ({"limit": 1.5}, "integer"),
        ({"limit": "5"}, "integer"),
        ({"limit": True}, ""),
        ({"limit": 1, "slot_decay_per_second": -0.1}, "minimum"),
        ({"limit": 1, "slot_decay_per_second": "fast"}, "number"),
        ({"limit": 1, "active": "yes"}, "boolean"),
        ({"limit": 1, "colour": "red"}, "colour"),
        ({}, "limit"),
        ({"limit": 10**12}, "maximum"),
    ],
)
def test_invalid_fields_are_refused(client: httpx.Client, name: str, body: dict, says: str) -> None:
    assert_problem(client.post("/api/v1/limits", json={"name": name, **body}), 400, says=says)
    assert_problem(client.put(f"/api/v1/limits/{name}", json=body), 400)
    assert client.get(f"/api/v1/limits/{name}").status_code == 404


def test_malformed_requests_are_problems(client: httpx.Client, name: str) -> None:
    assert_problem(
        client.post("/api/v1/limits", content=b"{not json", headers={"content-type": "application/json"}), 400
    )
    assert_problem(client.post("/api/v1/limits", json=[1, 2]), 400)
    assert_problem(client.get("/api/v1/limits", params={"page_size": 0}), 400)
    assert_problem(client.get("/api/v1/limits", params={"page_size": "many"}), 400)
    assert_problem(client.get("/api/v1/limits", params={"colour": "red"}), 400, says="colour")
    response = client.post("/api/v1/limits", content=b"name=x", headers={"content-type": "text/plain"})
    assert response.status_code == 415 and response.headers["content-type"].startswith(PROBLEM)
    assert client.get("/api/v1/nowhere").status_code == 404
    assert client.get("/api/v1/nowhere").headers["content-type"].startswith(PROBLEM)
