"""All slot arithmetic: decay, admission, retry hints and occupancy averages.

Pure functions on plain values. The store keeps, per limit, the number of occupied slots
as of a moment (`SlotState`); everything else is derived from it here. Decay is exact: the
occupied value keeps its fraction and is re-based only when slots are taken or given back,
never by a denial or an unrelated write.

These functions are the rules. Acquires, rate-limit grants and releases apply `admit`,
`take`, `grant_moment`, `give_back` and `updated_average` in SQL, inside the statement that
changes the slots (store/admission.py), written to mirror them operation for operation;
tests/store/test_admission_sql.py proves on both stores that the two agree to the last bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Float arithmetic on decayed values leaves crumbs such as 1e-15 slots. A request that fits
# to within this many slots is admitted, so that a caller arriving exactly on time passes.
SLOT_TOLERANCE = 1e-9

# The shortest wait hinted from an estimate while the slots are taken: a retry sooner than
# this only adds load. An exact wait (a decaying limit's drain) is hinted as it is, however
# short: never longer.
MIN_RETRY_SECONDS = 0.001

# Polling clients told the same moment all come back together. On a decaying limit each is
# late by its own round trip, and the first of them takes the slots late: drain time that
# the limit never gives back. On a limit without decay one of them takes the freed slot and
# the others are denied again, a herd at every release. So each denial's hint is spread by
# a fraction of its own (`spread_fraction`, different for each denial of a limit):
# - an exact wait is brought forward, by at most SPREAD_SHARE of it and SPREAD_SECONDS: the
#   clients come back spread over the moments just before the slots drain, those too early
#   are told the (short) rest, and one of them asks soon after the moment. Never later than
#   the true wait.
# - an estimate is put back by at most the average occupancy and SPREAD_SECONDS: the clients
#   come back spread over the next releases instead of all at the first.
SPREAD_SHARE = 0.5
SPREAD_SECONDS = 0.01

# Fibonacci hashing: 2**64 over the golden ratio. The fractions of successive multiples fall
# evenly apart however many of them are taken (the three-distance theorem).
_GOLDEN_64 = 0x9E3779B97F4A7C15

# How much a new sample moves the average occupancy: recent behaviour counts most.
OCCUPANCY_SAMPLE_WEIGHT = 0.2

# An average below this says nothing about how long slots are held, and moving a vanishing
# average further would leave the range of a float: the next sample replaces it.
NEGLIGIBLE_OCCUPANCY_SECONDS = 1e-9


@dataclass(frozen=True)
class SlotState:
    """`occupied` slots as of `at` (seconds since the epoch)."""

    occupied: float
    at: float


@dataclass(frozen=True)
class LimitView:
    """What admission needs to know about one limit."""

    name: str
    limit: int
    decay_per_second: float
    active: bool
    state: SlotState


@dataclass(frozen=True)
class Hold:
    """One open lease's slots on a limit, as the retry hint sees it."""

    slots: int
    held_for: float
    expires_in: float


@dataclass(frozen=True)
class Holding:
    """A limit that denied a request, read in one snapshot for its retry hint: its slot
    state, the holds of its open leases, its average occupancy, and the slots it has denied
    so far (this denial's included): the denial's place among all of the limit's denials."""

    state: SlotState
    holds: tuple[Hold, ...]
    avg_occupancy_seconds: float | None
    denied_slots: int


@dataclass(frozen=True)
class Admission:
    granted: bool
    # Limits that lacked slots (empty when granted).
    blocking: tuple[str, ...]
    # The new state of each limit that was occupied (only when granted; inactive limits
    # are never occupied).
    taken: dict[str, SlotState]
    # Slots counted on each named limit: `requested` on active ones, 0 on inactive ones.
    counted: dict[str, int]


def occupied_now(state: SlotState, *, decay_per_second: float, now: float) -> float:
    """Occupied slots at `now`, decay applied; never negative."""
    elapsed = max(0.0, now - state.at)
    return max(0.0, state.occupied - decay_per_second * elapsed)


def fits(*, occupied: float, requested: int, limit: int) -> bool:
    return occupied + requested <= limit + SLOT_TOLERANCE


def take(state: SlotState, *, requested: int, decay_per_second: float, now: float) -> SlotState:
    # A clock behind the last change (another replica's) must not move the state back in time.
    at = max(now, state.at)
    return SlotState(occupied_now(state, decay_per_second=decay_per_second, now=at) + requested, at)


def give_back(state: SlotState, *, released: int, decay_per_second: float, now: float) -> SlotState:
    at = max(now, state.at)
    remaining = occupied_now(state, decay_per_second=decay_per_second, now=at) - released
    return SlotState(max(0.0, remaining), at)


def too_large(limits: Iterable[LimitView], *, requested: int) -> list[str]:
    """Active limits that could never grant `requested` slots, however long one waited."""
    return [view.name for view in limits if view.active and requested > view.limit]


def admit(limits: Sequence[LimitView], *, requested: int, now: float, arrived_at: float | None = None) -> Admission:
    """All or nothing: grant `requested` slots on every active limit, or on none.

    `arrived_at` is when the request reached the server (it may have waited there since).
    On a decaying limit its slots count from the moment it had both arrived and fit, not
    from when the server got round to it: time spent waiting on the server costs no rate.
    """
    blocking = tuple(
        view.name
        for view in limits
        if view.active
        and not fits(
            occupied=occupied_now(view.state, decay_per_second=view.decay_per_second, now=now),
            requested=requested,
            limit=view.limit,
        )
    )
    counted = {view.name: requested if view.active else 0 for view in limits}
    if blocking:
        return Admission(granted=False, blocking=blocking, taken={}, counted=counted)
    taken = {
        view.name: take(
            view.state,
            requested=requested,
            decay_per_second=view.decay_per_second,
            now=grant_moment(view, requested=requested, now=now, arrived_at=arrived_at),
        )
        for view in limits
        if view.active
    }
    return Admission(granted=True, blocking=(), taken=taken, counted=counted)


def grant_moment(view: LimitView, *, requested: int, now: float, arrived_at: float | None) -> float:
    """The moment a grant at `now` counts from: on a decaying limit, the later of the
    request's arrival and the moment it first fit; never before the limit's last change."""
    if arrived_at is None or view.decay_per_second <= 0:
        return now
    fits_from = view.state.at + decay_wait(view, requested=requested, now=view.state.at)
    return min(now, max(arrived_at, fits_from, view.state.at))


def decay_wait(view: LimitView, *, requested: int, now: float) -> float:
    """Exact seconds until `requested` slots have drained free on a decaying limit."""
    occupied = occupied_now(view.state, decay_per_second=view.decay_per_second, now=now)
    excess = occupied + requested - view.limit
    if excess <= SLOT_TOLERANCE:
        return 0.0
    # Admission allows SLOT_TOLERANCE of excess: wait until half of it is left, so that float
    # rounding of the drain cannot put the moment on the wrong side of the boundary.
    return (excess - SLOT_TOLERANCE / 2) / view.decay_per_second


def occupancy_wait(
    view: LimitView,
    *,
    requested: int,
    now: float,
    holds: Sequence[Hold],
    avg_occupancy_seconds: float | None,
    max_wait: float,
) -> float:
    """Estimated seconds until open leases give back enough slots, bounded by `max_wait`;
    0 when the slots are free already (given back since the request was denied).

    Leases are counted off in the order they are expected to end: each after the average
    occupancy, at the latest when it expires. One held longer than the average is expected
    to end within a tenth of it. Until a first release shows how long the limit's slots are
    held, a lease is expected to be held as long again as it has been: the hints follow the
    holders from the first denial, and grow as the leases age.
    """
    occupied = occupied_now(view.state, decay_per_second=view.decay_per_second, now=now)
    needed = occupied + requested - view.limit
    if needed <= SLOT_TOLERANCE:
        return 0.0
    overdue_wait = 0.0 if avg_occupancy_seconds is None else 0.1 * avg_occupancy_seconds
    freed = 0.0
    for expected_end, slots in sorted(_expected_ends(holds, avg_occupancy_seconds)):
        freed += slots
        if freed >= needed - SLOT_TOLERANCE:
            wait = expected_end if expected_end > 0 else overdue_wait
            return min(max_wait, max(MIN_RETRY_SECONDS, wait))
    # The open leases do not account for the occupied slots (they drain by decay, or were
    # taken while the limit decayed and never come back): fall back to the bound.
    return max_wait


def _expected_ends(holds: Iterable[Hold], average: float | None) -> Iterable[tuple[float, int]]:
    for hold in holds:
        rest = hold.held_for if average is None else average - hold.held_for
        yield min(hold.expires_in, rest), hold.slots


def retry_wait(
    view: LimitView,
    *,
    requested: int,
    now: float,
    holds: Sequence[Hold],
    avg_occupancy_seconds: float | None,
    max_wait: float,
    spread: float = 0.0,
) -> float:
    """The wait to hint for one blocking limit, spread by `spread` (a fraction in [0, 1),
    see `spread_fraction`; 0 hints the wait itself).

    On a decaying limit the drain gives an exact answer, which the hint never exceeds (open
    leases may free slots sooner); otherwise the estimate from open leases applies, spread
    over the next releases, at most `max_wait`.
    """
    estimate = occupancy_wait(
        view,
        requested=requested,
        now=now,
        holds=holds,
        avg_occupancy_seconds=avg_occupancy_seconds,
        max_wait=max_wait,
    )
    if view.decay_per_second > 0:
        exact = decay_wait(view, requested=requested, now=now)
        return spread_earlier(min(exact, estimate) if holds else exact, fraction=spread)
    return min(max_wait, spread_later(estimate, fraction=spread, average=avg_occupancy_seconds))


def spread_earlier(wait: float, *, fraction: float) -> float:
    """`wait` brought forward by `fraction` of SPREAD_SHARE of it, by at most SPREAD_SECONDS:
    never later, never below half of it, never negative."""
    fraction = min(1.0, max(0.0, fraction))
    return max(0.0, wait - fraction * min(SPREAD_SHARE * wait, SPREAD_SECONDS))


def spread_later(wait: float, *, fraction: float, average: float | None) -> float:
    """`wait` put back by `fraction` of the average occupancy (when known), by at most
    SPREAD_SECONDS."""
    fraction = min(1.0, max(0.0, fraction))
    window = SPREAD_SECONDS if average is None else min(max(0.0, average), SPREAD_SECONDS)
    return max(0.0, wait) + fraction * window


def spread_fraction(ticket: int) -> float:
    """A fraction in [0, 1) for a denial of a limit that denied `ticket` slots before it.
    Successive tickets fall evenly apart: any n of them in a row leave no gap wider than
    2/n, whichever server process hands them out, so polling clients denied one after
    another are spread. Ticket 0, a limit's first denial, is not spread at all."""
    return ((ticket * _GOLDEN_64) % 2**64) / 2**64


def retry_after_header(seconds: float) -> int:
    """Whole seconds for the `Retry-After` header: the precise wait, rounded up."""
    return max(0, math.ceil(seconds - SLOT_TOLERANCE))


def updated_average(previous: float | None, sample: float) -> float:
    """The occupancy average after one more lease was released after `sample` seconds."""
    sample = max(0.0, sample)
    if previous is None or previous < NEGLIGIBLE_OCCUPANCY_SECONDS:
        return sample
    return previous + OCCUPANCY_SAMPLE_WEIGHT * (sample - previous)
