"""Properties of the slot arithmetic."""

from __future__ import annotations

import itertools
import math

from hypothesis import given
from hypothesis import strategies as st

from slotgate_server import slots
from slotgate_server.slots import Hold, LimitView, SlotState

times = st.floats(min_value=0, max_value=1e6, allow_nan=False)
gaps = st.floats(min_value=0, max_value=1e3, allow_nan=False)
rates = st.floats(min_value=0, max_value=1e3, allow_nan=False)
positive_rates = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False)
occupancies = st.floats(min_value=0, max_value=1e6, allow_nan=False)
limit_sizes = st.integers(min_value=0, max_value=1000)
requests = st.integers(min_value=1, max_value=1000)


def view(limit: int, rate: float, state: SlotState, active: bool = True, name: str = "x") -> LimitView:
    return LimitView(name=name, limit=limit, decay_per_second=rate, active=active, state=state)


@given(occupancies, times, rates, gaps)
def test_decay_is_exact_and_never_negative(occupied: float, at: float, rate: float, gap: float) -> None:
    now = at + gap
    value = slots.occupied_now(SlotState(occupied, at), decay_per_second=rate, now=now)
    assert value >= 0
    assert value == max(0.0, occupied - rate * (now - at))


@given(occupancies, times, rates, gaps, gaps)
def test_decay_only_drains(occupied: float, at: float, rate: float, first: float, second: float) -> None:
    state = SlotState(occupied, at)
    earlier = slots.occupied_now(state, decay_per_second=rate, now=at + first)
    later = slots.occupied_now(state, decay_per_second=rate, now=at + first + second)
    assert later <= earlier


def test_decay_keeps_fractions() -> None:
    state = slots.take(SlotState(0.0, 100.0), requested=1, decay_per_second=0.3, now=100.0)
    assert math.isclose(slots.occupied_now(state, decay_per_second=0.3, now=101.0), 0.7, rel_tol=1e-12)
    # A reader at a clock behind the last write sees no negative drain.
    assert slots.occupied_now(state, decay_per_second=0.3, now=99.0) == 1.0


@given(limit_sizes, rates, occupancies, times, requests, gaps)
def test_admitted_never_exceeds_the_limit(
    limit: int, rate: float, occupied: float, at: float, requested: int, gap: float
) -> None:
    admission = slots.admit([view(limit, rate, SlotState(occupied, at))], requested=requested, now=at + gap)
    if admission.granted:
        assert admission.taken["x"].occupied <= limit + slots.SLOT_TOLERANCE
    else:
        assert admission.taken == {}
        assert admission.blocking == ("x",)


@given(st.lists(st.tuples(limit_sizes, st.booleans(), occupancies), min_size=1, max_size=5), requests)
def test_admission_is_all_or_nothing(specs: list[tuple[int, bool, float]], requested: int) -> None:
    views = [
        view(limit, 0.0, SlotState(occ, 0.0), active, name=f"l{i}") for i, (limit, active, occ) in enumerate(specs)
    ]
    admission = slots.admit(views, requested=requested, now=1.0)
    active = {v.name for v in views if v.active}
    assert set(admission.taken) == (active if admission.granted else set())
    assert admission.counted == {v.name: requested if v.active else 0 for v in views}


@given(limit_sizes, occupancies, requests)
def test_inactive_limits_never_block(limit: int, occupied: float, requested: int) -> None:
    admission = slots.admit([view(limit, 0.0, SlotState(occupied, 0.0), active=False)], requested=requested, now=0.0)
    assert admission.granted and admission.taken == {}


@given(
    st.integers(min_value=1, max_value=20),
    positive_rates,
    st.lists(st.tuples(gaps, st.integers(min_value=1, max_value=5)), min_size=1, max_size=40),
)
def test_denials_do_not_drift_the_state(limit: int, rate: float, calls: list[tuple[float, int]]) -> None:
    """Replaying only the granted calls gives exactly the state the full sequence gave."""
    state, now, granted = SlotState(0.0, 0.0), 0.0, []
    for gap, requested in calls:
        now += gap
        admission = slots.admit([view(limit, rate, state)], requested=requested, now=now)
        if admission.granted:
            state = admission.taken["x"]
            granted.append((now, requested))
    replayed = SlotState(0.0, 0.0)
    for moment, requested in granted:
        replayed = slots.take(replayed, requested=requested, decay_per_second=rate, now=moment)
    assert replayed == state


@given(st.integers(min_value=1, max_value=100), positive_rates, occupancies, requests)
def test_the_exact_decay_wait_admits(limit: int, rate: float, occupied: float, requested: int) -> None:
    requested = min(requested, limit)
    v = view(limit, rate, SlotState(occupied, 0.0))
    wait = slots.decay_wait(v, requested=requested, now=0.0)
    assert wait >= 0
    assert slots.admit([v], requested=requested, now=wait).granted
    if wait * rate > 1e-6:  # a wait worth more than a millionth of a slot is not wasted
        assert not slots.admit([v], requested=requested, now=wait * 0.99).granted


@given(
    st.integers(min_value=1, max_value=50),
    st.lists(st.tuples(st.integers(1, 5), gaps, gaps), max_size=10),
    st.none() | st.floats(min_value=0, max_value=100),
    st.floats(min_value=0.1, max_value=60),
)
def test_occupancy_wait_is_bounded(
    limit: int, holds: list[tuple[int, float, float]], avg: float | None, bound: float
) -> None:
    held = [Hold(slots=n, held_for=age, expires_in=left) for n, age, left in holds]
    occupied = float(sum(h.slots for h in held))
    v = view(limit, 0.0, SlotState(occupied, 0.0))
    wait = slots.occupancy_wait(v, requested=1, now=0.0, holds=held, avg_occupancy_seconds=avg, max_wait=bound)
    if occupied + 1 <= limit:
        assert wait == 0.0
    else:
        assert slots.MIN_RETRY_SECONDS <= wait <= max(bound, slots.MIN_RETRY_SECONDS)


def test_occupancy_wait_expects_the_earliest_leases_to_end_first() -> None:
    held = [Hold(slots=1, held_for=1.0, expires_in=100.0), Hold(slots=1, held_for=3.0, expires_in=100.0)]
    v = view(2, 0.0, SlotState(2.0, 0.0))
    wait = slots.occupancy_wait(v, requested=1, now=0.0, holds=held, avg_occupancy_seconds=4.0, max_wait=30)
    assert wait == 1.0  # the older lease is expected to end after 4 - 3 seconds
    wait = slots.occupancy_wait(v, requested=2, now=0.0, holds=held, avg_occupancy_seconds=4.0, max_wait=30)
    assert wait == 3.0
    # A lease cannot outlive its expiry.
    short = [Hold(slots=2, held_for=0.0, expires_in=0.5)]
    assert slots.occupancy_wait(v, requested=1, now=0.0, holds=short, avg_occupancy_seconds=9.0, max_wait=30) == 0.5


@given(occupancies, times, rates, gaps, st.integers(0, 1000))
def test_giving_back_never_goes_negative(occupied: float, at: float, rate: float, gap: float, released: int) -> None:
    state = slots.give_back(SlotState(occupied, at), released=released, decay_per_second=rate, now=at + gap)
    assert state.occupied >= 0 and state.at == at + gap


@given(st.floats(min_value=0, max_value=1e6))
def test_retry_after_header_rounds_up_to_whole_seconds(wait: float) -> None:
    header = slots.retry_after_header(wait)
    assert isinstance(header, int)
    assert header >= wait - slots.SLOT_TOLERANCE
    assert header < wait + 1


@given(st.none() | st.floats(min_value=0, max_value=1e5), st.floats(min_value=0, max_value=1e5))
def test_average_moves_towards_the_sample(previous: float | None, sample: float) -> None:
    average = slots.updated_average(previous, sample)
    if previous is None:
        assert average == sample
    else:
        assert min(previous, sample) - 1e-9 <= average <= max(previous, sample) + 1e-9


@given(limit_sizes, requests, st.booleans())
def test_requests_larger_than_an_active_limit_are_refused_up_front(limit: int, requested: int, active: bool) -> None:
    too_large = slots.too_large([view(limit, 0.0, SlotState(0.0, 0.0), active)], requested=requested)
    assert too_large == (["x"] if active and requested > limit else [])


@given(
    st.integers(min_value=1, max_value=5),
    st.floats(min_value=0.5, max_value=50),
    st.lists(st.floats(min_value=0, max_value=0.05), min_size=1, max_size=60),
)
def test_waiting_on_the_server_costs_no_rate_and_never_exceeds_it(limit: int, rate: float, delays: list[float]) -> None:
    """Requests that all arrived at 0 and are each served a little after they could be: the
    grants keep pace with the decay rate exactly, and never run ahead of it."""
    state, now, grants = SlotState(0.0, 0.0), 0.0, 0
    for delay in delays:
        v = view(limit, rate, state)
        now = max(now, slots.decay_wait(v, requested=1, now=now) + now) + delay  # served late
        admission = slots.admit([v], requested=1, now=now, arrived_at=0.0)
        assert admission.granted
        moment = slots.grant_moment(v, requested=1, now=now, arrived_at=0.0)
        assert state.at <= moment <= now
        state = admission.taken["x"]
        assert state.occupied <= limit + slots.SLOT_TOLERANCE
        grants += 1
    # Exactly `limit` at once, then one per 1/rate of time since: the delays were not lost.
    assert grants <= limit + rate * state.at + 1e-6
    assert grants >= min(len(delays), limit + rate * state.at - 1 - 1e-6)


@given(occupancies, times, rates, gaps, st.integers(1, 100))
def test_a_clock_behind_the_last_change_never_moves_the_state_back(
    occupied: float, at: float, rate: float, behind: float, requested: int
) -> None:
    state = SlotState(occupied, at)
    assert slots.take(state, requested=requested, decay_per_second=rate, now=at - behind).at == at
    assert slots.give_back(state, released=requested, decay_per_second=rate, now=at - behind).at == at


def test_a_vanishing_average_is_replaced_not_moved() -> None:
    # A long run of instant releases drives the average towards 0; once negligible, the next
    # sample replaces it, so the arithmetic never underflows (PostgreSQL refuses underflow).
    average: float | None = 1.0
    for _ in range(5000):
        average = slots.updated_average(average, 0.0)
    assert average == 0.0
    assert slots.updated_average(5e-324, 0.0) == 0.0
    assert slots.updated_average(5e-324, 2.0) == 2.0


# Retry hints

holds_lists = st.lists(
    st.tuples(st.integers(1, 5), st.floats(min_value=0, max_value=1e3), st.floats(min_value=-10, max_value=1e3)),
    max_size=12,
)
fractions = st.floats(min_value=0, max_value=1, exclude_max=True)
averages = st.none() | st.floats(min_value=0, max_value=1e3)
bounds = st.floats(min_value=0.01, max_value=60)


def as_holds(specs: list[tuple[int, float, float]]) -> list[Hold]:
    return [Hold(slots=n, held_for=age, expires_in=left) for n, age, left in specs]


@given(st.integers(1, 50), positive_rates, occupancies, requests, holds_lists, averages, bounds, fractions)
def test_a_decaying_limit_never_hints_longer_than_its_exact_drain(
    limit: int,
    rate: float,
    occupied: float,
    requested: int,
    holds: list[tuple[int, float, float]],
    average: float | None,
    bound: float,
    spread: float,
) -> None:
    requested = min(requested, limit)
    v = view(limit, rate, SlotState(occupied, 0.0))
    exact = slots.decay_wait(v, requested=requested, now=0.0)
    held = as_holds(holds)
    wait = slots.retry_wait(
        v, requested=requested, now=0.0, holds=held, avg_occupancy_seconds=average, max_wait=bound, spread=spread
    )
    assert 0.0 <= wait <= exact
    if not held:
        # Brought forward by at most half of the wait, and at most SPREAD_SECONDS.
        assert wait >= exact / 2 and wait >= exact - slots.SPREAD_SECONDS - 1e-12
        unspread = slots.retry_wait(
            v, requested=requested, now=0.0, holds=held, avg_occupancy_seconds=average, max_wait=bound
        )
        assert unspread == exact


@given(st.integers(1, 50), occupancies, requests, holds_lists, averages, bounds, fractions)
def test_a_limit_without_decay_hints_within_the_cap_and_never_negative(
    limit: int,
    occupied: float,
    requested: int,
    holds: list[tuple[int, float, float]],
    average: float | None,
    bound: float,
    spread: float,
) -> None:
    v = view(limit, 0.0, SlotState(occupied, 0.0))
    wait = slots.retry_wait(
        v,
        requested=requested,
        now=0.0,
        holds=as_holds(holds),
        avg_occupancy_seconds=average,
        max_wait=bound,
        spread=spread,
    )
    assert 0.0 <= wait <= bound


@given(st.integers(1, 20), st.lists(st.tuples(st.integers(1, 3), gaps), min_size=1, max_size=12), averages)
def test_hints_follow_the_hold_times(limit: int, holds: list[tuple[int, float]], average: float | None) -> None:
    """With open leases accounting for every occupied slot, the estimate is never later than
    the latest lease is expected to end: after the average occupancy, or (before a first
    release) as long again as it has been held."""
    held = [Hold(slots=n, held_for=age, expires_in=1e6) for n, age in holds]
    occupied = sum(hold.slots for hold in held)
    v = view(limit, 0.0, SlotState(float(occupied), 0.0))
    wait = slots.occupancy_wait(v, requested=1, now=0.0, holds=held, avg_occupancy_seconds=average, max_wait=1e9)
    if occupied + 1 <= limit:
        assert wait == 0.0
        return
    latest = average if average is not None else max(hold.held_for for hold in held)
    assert wait <= max(slots.MIN_RETRY_SECONDS, latest)


def test_holders_of_a_few_milliseconds_get_hints_of_milliseconds() -> None:
    average: float | None = None
    for _ in range(5):  # five releases after 2 ms each
        average = slots.updated_average(average, 0.002)
    held = [Hold(slots=1, held_for=0.0005 * index, expires_in=300.0) for index in range(10)]
    v = view(10, 0.0, SlotState(10.0, 0.0))
    hints = [
        slots.retry_wait(
            v,
            requested=1,
            now=0.0,
            holds=held,
            avg_occupancy_seconds=average,
            max_wait=30.0,
            spread=slots.spread_fraction(ticket),
        )
        for ticket in range(20)
    ]
    assert max(hints) <= 0.005
    # Before any release, leases as young as these are expected to end as soon.
    first = slots.retry_wait(v, requested=1, now=0.0, holds=held, avg_occupancy_seconds=None, max_wait=30.0)
    assert first <= 0.002


def test_released_slots_are_hinted_at_once() -> None:
    # The request was denied, and the slots were given back before the hint was worked out.
    v = view(10, 0.0, SlotState(9.0, 0.0))
    assert slots.retry_wait(v, requested=1, now=0.0, holds=[], avg_occupancy_seconds=2.0, max_wait=30.0) == 0.0


def test_leases_the_hint_cannot_see_fall_back_to_the_cap() -> None:
    # Slots taken while the limit decayed, then its decay was turned off: they never come back.
    v = view(1, 0.0, SlotState(1.0, 0.0))
    assert slots.retry_wait(v, requested=1, now=0.0, holds=[], avg_occupancy_seconds=0.002, max_wait=30.0) == 30.0


def test_successive_denials_of_a_decaying_limit_are_spread_before_the_drain() -> None:
    v = view(1, 20.0, SlotState(1.0, 0.0))
    exact = slots.decay_wait(v, requested=1, now=0.0)
    hints = sorted(
        slots.retry_wait(
            v,
            requested=1,
            now=0.0,
            holds=[],
            avg_occupancy_seconds=None,
            max_wait=30.0,
            spread=slots.spread_fraction(ticket),
        )
        for ticket in range(1, 9)
    )
    assert hints[-1] <= exact
    assert hints[0] >= exact - slots.SPREAD_SECONDS
    # Eight clients come back at eight moments, apart from each other.
    assert min(later - earlier for earlier, later in itertools.pairwise(hints)) > slots.SPREAD_SECONDS / 16


@given(st.integers(min_value=0, max_value=2**63), st.integers(min_value=2, max_value=300))
def test_successive_tickets_spread_evenly(start: int, count: int) -> None:
    spread = sorted(slots.spread_fraction(start + index) for index in range(count))
    assert all(0.0 <= fraction < 1.0 for fraction in spread)
    gaps = [later - earlier for earlier, later in itertools.pairwise(spread)]
    widest = max([*gaps, 1.0 - spread[-1] + spread[0]])
    assert widest < 2.0 / count


@given(st.floats(min_value=0, max_value=1e6), fractions, averages)
def test_spreading_keeps_its_bounds(wait: float, fraction: float, average: float | None) -> None:
    earlier = slots.spread_earlier(wait, fraction=fraction)
    assert wait / 2 <= earlier <= wait
    later = slots.spread_later(wait, fraction=fraction, average=average)
    assert wait <= later <= wait + slots.SPREAD_SECONDS


def test_a_limits_first_denial_is_hinted_unspread() -> None:
    # A lone client that honours its first hint is granted at its first retry.
    assert slots.spread_fraction(0) == 0.0
    assert all(slots.spread_fraction(ticket) > 0.0 for ticket in range(1, 1000))
