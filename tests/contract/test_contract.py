"""openapi.yaml fuzzed against a live server: every operation alone, with and without an API
key, and sequences of operations along the contract's links."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis.core.failures import FailureGroup

from tests.contract.conftest import ADMIN_KEY, MAX_RUNS, MAX_STEPS, SCENARIOS, SPEC, clear_limits, contract_config
from tests.support.live_server import LiveServer

admin = schemathesis.openapi.from_path(SPEC, config=contract_config(api_key=ADMIN_KEY))
anonymous = schemathesis.openapi.from_path(SPEC, config=contract_config(api_key=None))


# The links of the lifecycle each sequence run must have followed at least once.
CHAIN = [
    "POST /api/v1/limits -> [201] ReadLimit",
    "GET /api/v1/limits/{name} -> [200] AcquireLease",
    "POST /api/v1/leases -> [201] ListLimitLeases",
    "GET /api/v1/limits/{name}/leases -> [200] RenewLease",
    "GET /api/v1/limits/{name}/leases -> [200] ReleaseLease",
    "POST /api/v1/limits -> [201] UpdateLimit",
    "PATCH /api/v1/limits/{name} -> [200] DeleteLimit",
]


def is_protected(case: schemathesis.Case) -> bool:
    return case.operation.definition.raw.get("security") != []


@admin.parametrize()
def test_operation(case: schemathesis.Case, contract_server: LiveServer, store: str, tally: Counter[str]) -> None:
    tally[f"{store}:cases"] += 1
    case.call_and_validate(base_url=contract_server.url)


@anonymous.parametrize()
def test_operation_without_a_key(
    case: schemathesis.Case, contract_server: LiveServer, store: str, tally: Counter[str]
) -> None:
    tally[f"{store}:anonymous"] += 1
    response = case.call(base_url=contract_server.url)
    case.validate_response(response)
    if is_protected(case) and case.method == case.operation.method.upper():
        assert response.status_code == 401, f"{case.as_curl_command()}\n{response.status_code} {response.text}"


def test_sequences(contract_server: LiveServer, store: str, tally: Counter[str]) -> None:
    """Sequences along the links: create a limit, read it, take slots, list and renew the lease,
    release it, change and delete the limit, with generated data at every step."""
    schema = schemathesis.openapi.from_path(
        SPEC, config=contract_config(api_key=ADMIN_KEY, base_url=contract_server.url)
    )
    found: dict[str, None] = {}

    class Sequences(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Every sequence starts from no limits, so that one sequence's answers do not hang on
            # what earlier ones left behind, and a failing sequence replays alike.
            clear_limits(contract_server)
            tally[f"{store}:scenarios"] += 1
            super().setup()

        def step(self, input: Any) -> Any:
            tally[f"{store}:steps"] += 1
            if input.transition is not None:
                tally[f"{store}:linked"] += 1
                tally[f"{store}:link:{input.transition.id}"] += 1
            return super().step(input)

        def before_call(self, case: schemathesis.Case) -> None:
            # Each step is a new request: a generated Idempotency-Key ("0", say) would recur
            # across steps and turn later acquires into 422s for a key reused with another
            # body, and the links after a grant would go unexplored. The header's own values
            # are fuzzed by the stateless tests.
            if case.headers and "Idempotency-Key" in case.headers:
                case.headers["Idempotency-Key"] = str(uuid.uuid4())
            super().before_call(case)

        def validate_response(self, response: Any, case: Any, *args: Any, **kwargs: Any) -> None:
            # Failures are kept as they happen: a replay against the server's changed state
            # need not reproduce them, and the report must not lose them.
            try:
                super().validate_response(response, case, *args, **kwargs)
            except FailureGroup as failures:
                found[str(failures)] = None
                raise

    configured = schema.config.get_hypothesis_settings(phase="stateful")
    # Shrinking replays sequences against a server whose clock has moved on: generate only.
    settings = hypothesis.settings(
        configured, max_examples=SCENARIOS, stateful_step_count=MAX_STEPS, phases=[hypothesis.Phase.generate]
    )
    # Answers that hang on time (an expired lease, a drained slot) can make Hypothesis find its
    # choices inconsistent and end a run early; the next run goes on with the next seed.
    for attempt in range(MAX_RUNS):
        started = tally[f"{store}:scenarios"]
        try:
            hypothesis.seed(schema.config.seed + attempt)(Sequences).run(settings=settings)
        except hypothesis.errors.FlakyStrategyDefinition:
            pass
        except Exception:
            if not found:
                raise
        if found or tally[f"{store}:scenarios"] - started >= SCENARIOS:
            break
    if found:
        pytest.fail("\n\n".join(found), pytrace=False)
    followed = {key.split(":link:", 1)[1] for key in tally if key.startswith(f"{store}:link:")}
    assert not [link for link in CHAIN if not any(taken.startswith(link) for taken in followed)], followed
