"""The faults contract fuzzing found, each pinned by the request that showed it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.contract.conftest import ADMIN_KEY
from tests.support.live_server import LiveServer

PROBLEM = "application/problem+json"


@pytest.fixture
def admin(contract_server: LiveServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=contract_server.url, headers=headers, timeout=30) as http:
        yield http


def assert_bad_request(response: httpx.Response, says: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    assert says in response.json()["detail"], response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/api/v1/limits", "GET, HEAD, POST"),
        ("/api/v1/limits/database", "GET, HEAD, PUT, DELETE, PATCH"),
        ("/api/v1/leases/1d7e3b0c-41b5-4a8e-8f5e-3c2a9d6b7f01", "GET, HEAD, DELETE"),
    ],
)
def test_405_allows_every_method_of_the_path(admin: httpx.Client, path: str, allow: str) -> None:
    # Routing named only the methods of the first operation it tried (`Allow: GET, HEAD`).
    response = admin.options(path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.headers["content-type"] == PROBLEM and allow in response.json()["detail"]


@pytest.mark.parametrize("body", [b"\xad\x90", b'{"name": "caf\xe9", "limit": 1}'])
def test_a_body_that_is_not_utf8_is_a_bad_request(admin: httpx.Client, body: bytes) -> None:
    # The JSON body reader raised UnicodeDecodeError: 500.
    response = admin.post("/api/v1/limits", content=body, headers={"Content-Type": "application/json"})
    assert_bad_request(response, "UTF-8")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json_numbers(admin: httpx.Client, constant: str) -> None:
    # NaN passed every bound of the schema and reached the store: 500.
    body = f'{{"limit": 1, "slot_decay_per_second": {constant}}}'
    response = admin.put("/api/v1/limits/nan-decay", content=body, headers={"Content-Type": "application/json"})
    assert_bad_request(response, "not a JSON number")
    assert admin.get("/api/v1/limits/nan-decay").status_code == 404


@pytest.mark.parametrize("encoded", ["a%2Fb", "a%0Ab", "a%0Db", "a%00b"])
def test_a_name_with_a_slash_or_control_character_is_a_bad_name(admin: httpx.Client, encoded: str) -> None:
    # Decoded before routing, the name split the path or ended the route's match: 404 on PUT,
    # which the contract does not list (and which says nothing about the name).
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = admin.request(method, f"/api/v1/limits/{encoded}", json={"limit": 1})
        assert_bad_request(response, "not a valid limit name")


@pytest.mark.parametrize("name", ["trailing-line-break\n", ".", "..", "..."])
def test_names_a_url_cannot_carry_are_refused(admin: httpx.Client, name: str) -> None:
    # `$` in the name's pattern let a final line break through on the server (Python's reading
    # of it), and `.` and `..` were names no client can put in a URL's path (they are removed
    # as dot segments): such limits could be created but never read, changed or deleted.
    assert_bad_request(admin.post("/api/v1/limits", json={"name": name, "limit": 1}), "not a valid limit name")
    assert_bad_request(admin.post("/api/v1/leases", json={"names": [name]}), "not a valid limit name")


def test_a_page_cursor_with_a_line_break_is_refused(admin: httpx.Client) -> None:
    assert admin.put("/api/v1/limits/cursor", json={"limit": 1}).status_code in {200, 201}
    assert_bad_request(admin.get("/api/v1/limits/cursor/leases", params={"after": "5\n"}), "does not match")


@pytest.mark.parametrize("holder", ["host\x00/1", "line\nbreak", "tab\there"])
def test_a_holder_with_a_control_character_is_refused(admin: httpx.Client, holder: str) -> None:
    # PostgreSQL text cannot hold NUL: the insert failed with 500.
    assert admin.put("/api/v1/limits/holders", json={"limit": 5}).status_code in {200, 201}
    response = admin.post("/api/v1/leases", json={"names": ["holders"], "holder": holder})
    assert_bad_request(response, "does not match")


@pytest.mark.parametrize("parameter", ["name_prefix", "after"])
def test_a_list_filter_with_nul_is_refused(admin: httpx.Client, parameter: str) -> None:
    # PostgreSQL refused the query with NUL in a text parameter: 500.
    assert_bad_request(admin.get("/api/v1/limits", params={parameter: "a\x00"}), "does not match")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/limits", b'{"name": "lone\\ud800", "limit": 1}'),
        ("/api/v1/leases", b'{"names": ["db"], "holder": "lone\\udc00"}'),
    ],
)
def test_a_lone_surrogate_escape_is_a_bad_request(admin: httpx.Client, path: str, body: bytes) -> None:
    # The escape parses to a string that no database driver can encode: 500 on both stores.
    response = admin.post(path, content=body, headers={"Content-Type": "application/json"})
    assert_bad_request(response, "lone surrogate")


@pytest.mark.parametrize("depth", [33, 990, 100_000])
@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/api/v1/leases"), ("POST", "/api/v1/rate-limit"), ("PUT", "/api/v1/limits/deep")]
)
def test_deeply_nested_json_is_a_bad_request(admin: httpx.Client, method: str, path: str, depth: int) -> None:
    # About 1,000 levels made the parser or the schema's validation recurse too deep: 500.
    body = '{"names": ' + "[" * depth + "]" * depth + ', "limit": 1}'
    response = admin.request(method, path, content=body, headers={"Content-Type": "application/json"})
    assert_bad_request(response, "more than 32 levels deep")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v1/leases/{}"), ("DELETE", "/api/v1/leases/{}"), ("POST", "/api/v1/leases/{}/renew")],
)
@pytest.mark.parametrize("lease_id", ["not-a-uuid", "12345", "1d7e3b0c41b54a8e8f5e3c2a9d6b7f01"])
def test_a_lease_id_that_is_not_a_uuid_is_a_bad_request(
    admin: httpx.Client, method: str, path: str, lease_id: str
) -> None:
    # The contract says 400; it was looked up and answered 404.
    assert_bad_request(admin.request(method, path.format(lease_id)), "is not a lease id")


def test_a_refused_value_is_repeated_only_in_part(admin: httpx.Client) -> None:
    name = "x" * 200 + "/"
    response = admin.post("/api/v1/leases", json={"names": [name]})
    assert_bad_request(response, "not a valid limit name")
    assert len(response.json()["detail"]) < 250, response.json()["detail"]
