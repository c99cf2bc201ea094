"""Contract fuzzing: schemathesis drives a real server process, on both stores, with the
contract in openapi.yaml as its only knowledge of the API."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from schemathesis.config import SchemathesisConfig

from tests.support.live_server import LiveServer, fresh_database, running_server

SPEC = Path(__file__).resolve().parents[2] / "openapi.yaml"
ADMIN_KEY = "contract-admin-key"

# A failure reproduces with the same seed; SLOTGATE_CONTRACT_SEED and SLOTGATE_CONTRACT_EXAMPLES
# explore further (CI keeps the defaults, which bound the stage's time).
SEED = int(os.environ.get("SLOTGATE_CONTRACT_SEED", "20261121"))
EXAMPLES = int(os.environ.get("SLOTGATE_CONTRACT_EXAMPLES", "120"))
SCENARIOS = int(os.environ.get("SLOTGATE_CONTRACT_SCENARIOS", "120"))
MAX_STEPS = 12
MAX_RUNS = 5

# Answers to schema-valid requests that the state of limits and leases decides, of the same
# kind as the 404 and 409 that schemathesis accepts by default: openapi.yaml says so at each.
STATE_ANSWERS = {
    "acquire_lease": [422, 423],
    "consume_rate_limit": [422, 423],
    "read_lease": [410],
    "renew_lease": [410],
    "release_lease": [410],
}
VALID_DATA_ANSWERS = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


def contract_config(*, api_key: str | None, base_url: str | None = None) -> SchemathesisConfig:
    """Every built-in check on, positive and negative data, a fixed seed."""
    settings: dict[str, Any] = {
        "seed": SEED,
        # Longer than the longest wait_seconds (60) the contract lets a request ask for.
        "request-timeout": 75,
        "generation": {"mode": "all", "max-examples": EXAMPLES, "database": "none"},
        "checks": {"enabled": True},
        "phases": {"stateful": {"max-steps": MAX_STEPS}},
        "operations": [
            {
                "include-operation-id": operation_id,
                "checks": {"positive_data_acceptance": {"expected-statuses": VALID_DATA_ANSWERS + answers}},
            }
            for operation_id, answers in STATE_ANSWERS.items()
        ],
    }
    if base_url:
        settings["base-url"] = base_url
    if api_key:
        settings["auth"] = {"openapi": {"apiKey": {"bearer": api_key}}}
    return SchemathesisConfig.from_dict(settings)


@pytest.fixture(scope="session")
def contract_server(store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with API keys, so that every security requirement of the contract is enforced."""
    tmp_dir = tmp_path_factory.mktemp(f"contract-{store}")
    env = {
        "SLOTGATE_API_KEYS": f"admin:{ADMIN_KEY},client:contract-client-key",
        # The contract admits any positive lease duration and leaves the floor to the operator:
        # here the floor is the smallest positive number, so every valid duration is granted.
        "SLOTGATE_MIN_LEASE_SECONDS": "5e-324",
    }
    with fresh_database(store, tmp_dir) as url, running_server(url, tmp_dir, env) as live:
        yield live


def clear_limits(server: LiveServer) -> None:
    """Delete every limit on the server."""
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30) as http:
        while names := [
            limit["name"] for limit in http.get("/api/v1/limits", params={"page_size": 500}).json()["items"]
        ]:
            for name in names:
                http.delete(f"/api/v1/limits/{quote(name, safe='')}").raise_for_status()


TALLY = pytest.StashKey[Counter[str]]()


@pytest.fixture(scope="session")
def tally(request: pytest.FixtureRequest) -> Counter[str]:
    """Counts of what the fuzzer sent, per store, shown at the end of the run."""
    return request.config.stash.setdefault(TALLY, Counter())


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    counts = config.stash.get(TALLY, None)
    if not counts:
        return
    terminalreporter.section("contract fuzzing")
    terminalreporter.write_line(f"seed {SEED}, up to {EXAMPLES} examples per operation and phase")
    for store in sorted({key.split(":", 1)[0] for key in counts}):
        terminalreporter.write_line(
            f"{store}: {counts[f'{store}:cases']} cases with an admin key, "
            f"{counts[f'{store}:anonymous']} without a key, "
            f"{counts[f'{store}:steps']} stateful steps in {counts[f'{store}:scenarios']} sequences, "
            f"{counts[f'{store}:linked']} of them along {len([k for k in counts if k.startswith(f'{store}:link:')])} "
            "different links"
        )
