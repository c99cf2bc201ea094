"""The store decides admission in SQL; `slots.py` states the rules. On both stores, for any
slot state, the SQL grants exactly when `slots.admit` does, blocks on the same limits, and
writes the same new state to the last bit; a release gives back and averages as
`slots.give_back` and `slots.updated_average` do."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, create_engine, insert, select, text

from slotgate_server import slots
from slotgate_server.settings import normalise_database_url
from slotgate_server.store import admission
from slotgate_server.store.database import Database
from slotgate_server.store.tables import lease_limits, leases, limits
from tests.support.live_server import fresh_database

EPOCH = 1.7e9  # states are kept as seconds since the epoch

# Rates span the contract's range: 0 (no decay), or from a billionth to a billion per second.
rates = st.one_of(st.just(0.0), st.floats(min_value=1e-9, max_value=1e9), st.floats(min_value=1e-3, max_value=1e4))
occupancies = st.one_of(
    st.integers(min_value=0, max_value=60).map(float), st.floats(min_value=0, max_value=60, allow_nan=False)
)
offsets = st.floats(min_value=-5, max_value=120, allow_nan=False)  # a clock may be behind the last change


@dataclass(frozen=True)
class LimitSpec:
    limit: int
    rate: float
    occupied: float
    at: float
    active: bool


limit_specs = st.builds(
    LimitSpec,
    limit=st.integers(min_value=0, max_value=50),
    rate=rates,
    occupied=occupancies,
    at=offsets.map(lambda offset: EPOCH + offset),
    active=st.booleans(),
)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated database of the store, reached synchronously: the store's functions are plain
    functions of a connection, whichever way the server runs them."""
    tmp_dir: Path = tmp_path_factory.mktemp(f"admission-{request.param}")
    with fresh_database(request.param, tmp_dir) as url:
        migrated = Database(normalise_database_url(url))
        asyncio.run(migrated.migrate())
        asyncio.run(migrated.dispose())
        engine = create_engine(normalise_database_url(url))
        try:
            yield engine
        finally:
            engine.dispose()


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    """A transaction that every example rolls back."""
    with engine.connect() as connection:
        yield connection


def _insert_limits(conn: Connection, specs: list[LimitSpec]) -> dict[str, LimitSpec]:
    by_name = {f"l{index}": spec for index, spec in enumerate(specs)}
    conn.execute(
        insert(limits),
        [
            {
                "id": f"id-{name}",
                "name": name,
                "slot_limit": spec.limit,
                "slot_decay_per_second": spec.rate,
                "active": spec.active,
                "occupied": spec.occupied,
                "occupied_at": spec.at,
                "denied_slots": 0,
                "avg_occupancy_seconds": None,
                "created": EPOCH,
                "updated": EPOCH,
            }
            for name, spec in by_name.items()
        ],
    )
    return by_name


def _states(conn: Connection) -> dict[str, slots.SlotState]:
    rows = conn.execute(select(limits.c.name, limits.c.occupied, limits.c.occupied_at))
    return {name: slots.SlotState(occupied, at) for name, occupied, at in rows}


def _granted_slots(conn: Connection) -> dict[str, int]:
    return {name: granted for name, granted in conn.execute(select(limits.c.name, limits.c.granted_slots))}


def _view(name: str, spec: LimitSpec) -> slots.LimitView:
    return slots.LimitView(
        name=name,
        limit=spec.limit,
        decay_per_second=spec.rate,
        active=spec.active,
        state=slots.SlotState(spec.occupied, spec.at),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    specs=st.lists(limit_specs, min_size=1, max_size=3),
    requested=st.integers(min_value=1, max_value=20),
    now_offset=offsets,
    waited=st.floats(min_value=0, max_value=30, allow_nan=False),
    with_lease=st.booleans(),
    require_decay=st.booleans(),
)
def test_sql_admission_agrees_with_slots(
    conn: Connection,
    specs: list[LimitSpec],
    requested: int,
    now_offset: float,
    waited: float,
    with_lease: bool,
    require_decay: bool,
) -> None:
    now = EPOCH + now_offset
    arrived_at = now - waited
    with conn.begin() as transaction:
        by_name = _insert_limits(conn, specs)
        names = sorted(by_name)
        lease = admission.NewLease(id=str(uuid.uuid4()), names=names, holder="h", duration=60.0) if with_lease else None
        request = admission.TakeRequest(
            names=names, requested=requested, now=now, arrived_at=arrived_at, lease=lease, require_decay=require_decay
        )
        taken = admission.take(conn, request)
        after = _states(conn)
        counted = _granted_slots(conn)
        links = conn.execute(select(lease_limits.c.limit_id, lease_limits.c.slots)).all()
        transaction.rollback()

    views = [_view(name, by_name[name]) for name in names]
    expected = slots.admit(views, requested=requested, now=now, arrived_at=arrived_at)
    decays = all(view.decay_per_second > 0 for view in views if view.active)
    assert taken.granted == (expected.granted and (decays or not require_decay))
    assert [record.name for record in taken.records] == names
    if taken.granted:
        for name in names:
            # Exactly the same floats: the SQL mirrors the arithmetic operation for operation.
            assert after[name] == expected.taken.get(name, slots.SlotState(by_name[name].occupied, by_name[name].at))
        assert (taken.fencing_token is not None) == with_lease
        assert sorted(links) == (sorted((f"id-{name}", expected.counted[name]) for name in names) if with_lease else [])
        # Every active limit counts the slots taken; an inactive one takes none.
        assert counted == {name: requested if spec.active else 0 for name, spec in by_name.items()}
    else:
        assert {record.name for record in taken.blocking} == set(expected.blocking)
        assert after == {name: slots.SlotState(spec.occupied, spec.at) for name, spec in by_name.items()}
        assert counted == dict.fromkeys(names, 0)
        assert links == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    spec=limit_specs.filter(lambda spec: spec.active),
    released=st.integers(min_value=1, max_value=20),
    held_for=st.floats(min_value=-1, max_value=500, allow_nan=False),
    now_offset=offsets,
    # Any average, down to the smallest float a long run of instant releases could leave.
    previous_average=st.one_of(st.none(), st.floats(min_value=0, max_value=500, allow_nan=False)),
)
def test_sql_release_agrees_with_slots(
    conn: Connection,
    spec: LimitSpec,
    released: int,
    held_for: float,
    now_offset: float,
    previous_average: float | None,
) -> None:
    now = EPOCH + now_offset
    with conn.begin() as transaction:
        (name,) = _insert_limits(conn, [spec])
        conn.execute(limits.update().values(avg_occupancy_seconds=previous_average))
        lease_id = str(uuid.uuid4())
        token = conn.execute(
            insert(leases).returning(leases.c.fencing_token),
            {
                "id": lease_id,
                "names": [name],
                "slots": released,
                "holder": "h",
                "lease_duration": 1e6,
                "created": now - held_for,
                "expires_at": now + 1e6,
            },
        ).scalar_one()
        conn.execute(insert(lease_limits), {"lease_token": token, "limit_id": f"id-{name}", "slots": released})
        ended = admission.release(conn, lease_id=lease_id, now=now)
        again = admission.release(conn, lease_id=lease_id, now=now)
        state = _states(conn)[name]
        average = conn.execute(select(limits.c.avg_occupancy_seconds)).scalar_one()
        links = conn.execute(select(lease_limits)).all()
        transaction.rollback()

    assert ended is not None and ended.end_reason == "released" and ended.ended_at == now
    assert again is None  # a lease is released once
    before = slots.SlotState(spec.occupied, spec.at)
    assert state == slots.give_back(before, released=released, decay_per_second=spec.rate, now=now)
    assert average == slots.updated_average(previous_average, now - (now - held_for))
    assert links == []


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_a_grant_and_a_release_commit_without_waiting_for_the_disk(conn: Connection) -> None:
    """Neither keeps a busy limit's row locked through the flush. The server answers a grant
    only once it is on disk (tests/store/test_wait_for_disk.py); a release not even then: any
    grant of its slots writes it out with its own."""
    with conn.begin() as transaction:
        (name,) = _insert_limits(conn, [LimitSpec(limit=5, rate=0.0, occupied=0.0, at=EPOCH, active=True)])
        lease = admission.NewLease(id=str(uuid.uuid4()), names=[name], holder="h", duration=60.0)
        request = admission.TakeRequest(
            names=[name], requested=1, now=EPOCH, arrived_at=EPOCH, lease=lease, require_decay=False
        )
        taken = admission.take(conn, request)
        grant_commit = conn.execute(text("SHOW synchronous_commit")).scalar_one()
        ended = admission.release(conn, lease_id=lease.id, now=EPOCH + 1)
        release_commit = conn.execute(text("SHOW synchronous_commit")).scalar_one()
        transaction.rollback()

    assert taken.granted and ended is not None
    assert (grant_commit, release_commit) == ("off", "off")
