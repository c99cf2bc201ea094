"""The SDK's arithmetic of retrying, waiting and queueing: pure functions, no server."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slotgate import _protocol, errors
from slotgate._protocol import Admission, RetryBudget

WHAT = "concurrency('db')"


def denial(retry_after: float = 0.5) -> errors.SlotsUnavailable:
    body = {"type": "/problems/slots-unavailable", "detail": "busy", "retry_after_seconds": retry_after}
    return errors.SlotsUnavailable("busy", problem=body)


def in_flight() -> errors.ApiError:
    body = {"type": "/problems/idempotency-key-in-flight", "detail": "still deciding"}
    return errors.from_response(409, json.dumps(body).encode())


def unreachable() -> errors.ServerUnreachable:
    return errors.ServerUnreachable("The Slotgate server at http://x did not answer (ConnectError).")


def budget(timeout: float | None = 10.0, max_retries: int | None = None, **settings: object) -> RetryBudget:
    return RetryBudget.starting(100.0, timeout, max_retries, **settings)  # type: ignore[arg-type]


@given(st.integers(min_value=1, max_value=10_000), st.integers(min_value=0, max_value=2**32))
def test_backoff_doubles_to_a_cap_with_half_of_it_random(failures: int, seed: int) -> None:
    step = min(_protocol.BACKOFF_LONGEST_SECONDS, _protocol.BACKOFF_FIRST_SECONDS * 2 ** min(failures - 1, 32))
    assert step / 2 <= _protocol.backoff(failures, random.Random(seed)) <= step


def test_waits_on_the_server_end_before_the_read_timeout() -> None:
    assert _protocol.longest_server_wait(10.0) == 8.0
    assert _protocol.longest_server_wait(3.0) == 1.5  # the margin is at most half
    assert budget(timeout=None, longest_server_wait=8.0).server_wait(100.0) == 8.0
    assert budget(timeout=3.0, longest_server_wait=8.0).server_wait(100.0) == 3.0  # the caller's budget first
    assert budget(timeout=3.0).server_wait(104.0) == 0.0
    assert budget(max_retries=3).server_wait(100.0) == 0.0  # counted retries never wait there


def test_a_denial_is_asked_again_under_the_same_key() -> None:
    """The server keeps no 423 under a key, and a repeat of the key resumes the waiter's place
    in its queue."""
    tries = budget()
    key = tries.key
    tries.server_wait(100.0)  # it waited on the server: try again at once
    assert tries.after(denial(), now=101.0, what=WHAT) == 0.0
    tries.waited = False  # it did not: sleep as the server hints
    assert 0.5 <= tries.after(denial(0.5), now=101.0, what=WHAT) <= 0.5 * (1 + _protocol.JITTER_SHARE)
    assert tries.key == key
    assert budget().key != key  # every acquisition has a key of its own


@pytest.mark.parametrize("error", [unreachable(), errors.ServerError("boom", status=502), in_flight()])
def test_a_lost_answer_is_asked_again_under_the_same_key(error: errors.SlotgateError) -> None:
    tries = budget()
    key = tries.key
    wait = tries.after(error, now=100.0, what=WHAT)
    assert 0 < wait <= 2 * _protocol.IN_FLIGHT_RETRY_SECONDS
    assert tries.key == key and tries.retries == 1


def test_failures_in_a_row_back_off_further_and_a_denial_starts_over() -> None:
    tries = budget(timeout=None)
    waits = [tries.after(unreachable(), now=100.0, what=WHAT) for _ in range(8)]
    assert waits[0] <= _protocol.BACKOFF_FIRST_SECONDS < _protocol.BACKOFF_LONGEST_SECONDS / 2 <= waits[-1]
    tries.after(denial(), now=100.0, what=WHAT)
    assert tries.failures == 0


def test_waits_never_pass_the_deadline() -> None:
    tries = budget(timeout=1.0)
    assert tries.after(denial(30.0), now=100.6, what=WHAT) == pytest.approx(0.4)
    assert tries.after(unreachable(), now=100.99, what=WHAT) == pytest.approx(0.01)


def test_a_spent_budget_raises_what_the_caller_should_see() -> None:
    with pytest.raises(errors.AcquireTimeout, match="no slots within the timeout") as timed_out:
        budget(timeout=1.0).after(denial(), now=101.0, what=WHAT)
    assert isinstance(timed_out.value.__cause__, errors.SlotsUnavailable)
    with pytest.raises(errors.RetriesExhausted, match="after 0 retries"):
        budget(max_retries=0).after(denial(), now=100.0, what=WHAT)
    with pytest.raises(errors.AcquireTimeout):
        budget(timeout=1.0).after(in_flight(), now=101.0, what=WHAT)
    down = unreachable()
    with pytest.raises(errors.ServerUnreachable) as raised:  # the cause as it is, with a note
        budget(timeout=1.0).after(down, now=101.0, what=WHAT)
    assert raised.value is down and "no answer within the timeout" in " ".join(down.__notes__)


@pytest.mark.parametrize("on_unavailable", ["raise", "proceed"])
def test_without_waiting_an_unavailable_server_is_final(on_unavailable: str) -> None:
    down = errors.StoreUnavailable("the store is down")
    with pytest.raises(errors.StoreUnavailable):
        budget(on_unavailable=on_unavailable).after(down, now=100.0, what=WHAT)
    # A 409 says the server is there, deciding: retried all the same.
    assert budget(on_unavailable=on_unavailable).after(in_flight(), now=100.0, what=WHAT) > 0


@pytest.mark.parametrize("error", [errors.Unauthorized("no"), errors.MissingLimits("gone"), errors.LeaseGone("x")])
def test_final_answers_are_raised_as_they_are(error: errors.SlotgateError) -> None:
    with pytest.raises(type(error)):
        budget().after(error, now=100.0, what=WHAT)


def test_on_unavailable_is_one_of_three() -> None:
    assert _protocol.check_on_unavailable("proceed") == "proceed"
    with pytest.raises(ValueError, match="'wait', 'raise' or 'proceed'"):
        _protocol.check_on_unavailable("ignore")


def test_a_release_repeated_after_a_lost_answer_may_find_it_released() -> None:
    gone = errors.LeaseGone("The lease was released at …")
    assert _protocol.release_done(gone, retried=True)
    assert not _protocol.release_done(gone, retried=False)
    expired = errors.LeaseGone("expired", problem={"end_reason": "expired"})
    assert not _protocol.release_done(expired, retried=True)


def test_a_failed_renewal_is_tried_again_before_expiry() -> None:
    rng = random.Random(7)
    for until_expiry in (0.01, 1.0, 200.0):
        wait = _protocol.renew_retry_after(until_expiry, rng)
        assert wait == 0.05 or until_expiry / 2 * (1 - _protocol.JITTER_SHARE) <= wait <= until_expiry / 2


def test_the_pool_is_shared_out_between_waiting_and_releasing() -> None:
    assert _protocol.admission_caps(32) == (24, 12)
    assert _protocol.admission_caps(4) == (3, 1)
    assert _protocol.admission_caps(2) == (1, 1)
    with pytest.raises(ValueError, match="at least 2"):
        _protocol.admission_caps(1)


def test_admission_is_first_come_first_served_per_set_of_names() -> None:
    line: Admission[str] = Admission(in_all=10, per_key=2)
    assert line.arrive(("a",), "1") and line.arrive(("a",), "2")
    assert not line.arrive(("a",), "3") and not line.arrive(("a",), "4")
    assert line.arrive(("b",), "other")  # another set of names is not held up
    assert line.leave(("a",)) == [(("a",), "3")]
    assert line.leave(("a",)) == [(("a",), "4")]
    assert line.leave(("a",)) == []


def test_sets_of_names_take_turns_at_the_places_in_all() -> None:
    line: Admission[str] = Admission(in_all=2, per_key=2)
    assert line.arrive(("a",), "a1") and line.arrive(("a",), "a2")
    for ticket in ("a3", "a4"):
        line.arrive(("a",), ticket)
    line.arrive(("b",), "b1")  # "b" waits for a place in all; "a" has all it may have
    assert line.leave(("a",)) == [(("b",), "b1")]
    assert line.leave(("a",)) == [(("a",), "a3")]
    line.arrive(("b",), "b2")
    assert line.leave(("b",)) == [(("a",), "a4")]  # the sets of names take turns
    assert line.leave(("a",)) == [(("b",), "b2")]


def test_a_ticket_that_gives_up_leaves_the_line() -> None:
    line: Admission[str] = Admission(in_all=1, per_key=1)
    assert line.arrive(("a",), "first")
    line.arrive(("a",), "impatient")
    line.arrive(("a",), "patient")
    line.withdraw(("a",), "impatient")
    line.withdraw(("a",), "never-queued")  # a no-op
    assert line.leave(("a",)) == [(("a",), "patient")]
    assert line.leave(("a",)) == []
    assert line.arrive(("a",), "again")  # nothing left behind


@given(st.lists(st.tuples(st.sampled_from(["arrive", "leave", "withdraw"]), st.sampled_from("abc")), max_size=60))
def test_admission_never_exceeds_its_places(steps: list[tuple[str, str]]) -> None:
    line: Admission[int] = Admission(in_all=3, per_key=2)
    admitted: dict[str, list[int]] = {name: [] for name in "abc"}
    queued: dict[str, list[int]] = {name: [] for name in "abc"}
    for number, (step, name) in enumerate(steps):
        key = (name,)
        if step == "arrive":
            (admitted if line.arrive(key, number) else queued)[name].append(number)
        elif step == "leave" and admitted[name]:
            admitted[name].pop(0)
            for handed_key, ticket in line.leave(key):
                queued[handed_key[0]].remove(ticket)
                admitted[handed_key[0]].append(ticket)
        elif step == "withdraw" and queued[name]:
            line.withdraw(key, queued[name].pop())
        assert sum(len(tickets) for tickets in admitted.values()) <= 3
        assert all(len(tickets) <= 2 for tickets in admitted.values())
        for waiting in queued.values():
            assert waiting == sorted(waiting)  # first come, first served
        # Nobody waits while a place is free to them.
        free_in_all = sum(len(tickets) for tickets in admitted.values()) < 3
        assert not any(queued[n] and len(admitted[n]) < 2 and free_in_all for n in "abc")


def test_a_try_is_unsettled_until_an_answer_decides_it() -> None:
    tries = budget()
    assert not tries.unsettled  # nothing went out yet
    tries.server_wait(100.0)
    assert tries.unsettled
    tries.after(unreachable(), now=100.0, what=WHAT)
    assert tries.unsettled  # it may have been granted
    tries.server_wait(100.0)
    tries.after(denial(), now=100.0, what=WHAT)
    assert not tries.unsettled  # refused: nothing was granted
    tries.server_wait(100.0)
    with pytest.raises(errors.Unauthorized):
        tries.after(errors.Unauthorized("no"), now=100.0, what=WHAT)
    assert not tries.unsettled
