"""Queries on limits. They run inside the caller's transaction and never commit."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from slotgate_server import slots
from slotgate_server.errors import Conflict
from slotgate_server.store.records import LimitRecord
from slotgate_server.store.tables import lease_limits as lease_links
from slotgate_server.store.tables import limits

# Configuration fields as the API names them, and their columns.
CONFIG_COLUMNS = {"limit": "slot_limit", "slot_decay_per_second": "slot_decay_per_second", "active": "active"}

# Links exist only while a lease is open, so counting them counts open leases.
_open_leases = select(func.count()).where(lease_links.c.limit_id == limits.c.id).scalar_subquery().label("open_leases")
# Admission does not need the count: the lock queries skip it.
_not_counted = literal(None).label("open_leases")


def record(row: Mapping[Any, Any]) -> LimitRecord:
    """A limit from a row of its columns and `open_leases` (None where not counted)."""
    return LimitRecord(
        id=row["id"],
        name=row["name"],
        limit=row["slot_limit"],
        slot_decay_per_second=row["slot_decay_per_second"],
        active=bool(row["active"]),  # SQLite's driver, read directly, gives 0 or 1
        state=slots.SlotState(occupied=row["occupied"], at=row["occupied_at"]),
        denied_slots=row["denied_slots"],
        granted_slots=row["granted_slots"],
        expired_leases=row["expired_leases"],
        avg_occupancy_seconds=row["avg_occupancy_seconds"],
        open_leases=row["open_leases"],
        created=row["created"],
        updated=row["updated"],
    )


def _new_limit(*, name: str, config: Mapping[str, Any], now: float) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "name": name,
        "slot_limit": config["limit"],
        "slot_decay_per_second": float(config.get("slot_decay_per_second", 0.0)),
        "active": config.get("active", True),
        "occupied": 0.0,
        "occupied_at": now,
        "denied_slots": 0,
        "granted_slots": 0,
        "expired_leases": 0,
        "avg_occupancy_seconds": None,
        "created": now,
        "updated": now,
    }


def insert_limit(conn: Connection, *, name: str, config: Mapping[str, Any], now: float) -> LimitRecord:
    try:
        conn.execute(insert(limits).values(**_new_limit(name=name, config=config, now=now)))
    except IntegrityError:
        raise Conflict(f"A limit named {name!r} already exists; PATCH or PUT it to change it.") from None
    record = get_limit(conn, name=name)
    assert record is not None
    return record


def insert_limit_if_absent(conn: Connection, *, name: str, config: Mapping[str, Any], now: float) -> LimitRecord | None:
    """The new limit, or None when one of that name exists (also when a concurrent
    transaction creates it first)."""
    dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(limits).values(**_new_limit(name=name, config=config, now=now))
    inserted = conn.execute(statement.on_conflict_do_nothing(index_elements=["name"]).returning(limits.c.id))
    return get_limit(conn, name=name) if inserted.first() else None


def get_limit(conn: Connection, *, name: str) -> LimitRecord | None:
    row = (conn.execute(select(limits, _open_leases).where(limits.c.name == name))).first()
    return record(row._mapping) if row else None


def list_limits(
    conn: Connection,
    *,
    name_prefix: str | None,
    active: bool | None,
    after: str | None,
    page_size: int,
) -> list[LimitRecord]:
    query = select(limits, _open_leases).order_by(limits.c.name).limit(page_size)
    if name_prefix:
        query = query.where(limits.c.name.startswith(name_prefix, autoescape=True))
    if active is not None:
        query = query.where(limits.c.active == active)
    if after is not None:
        query = query.where(limits.c.name > after)
    return [record(row._mapping) for row in conn.execute(query)]


def update_config(conn: Connection, *, name: str, config: Mapping[str, Any], now: float) -> LimitRecord | None:
    """Change configuration fields only: the slot state and counters are left alone."""
    values: dict[str, Any] = {CONFIG_COLUMNS[field]: value for field, value in config.items()}
    if "slot_decay_per_second" in values:
        values["slot_decay_per_second"] = float(values["slot_decay_per_second"])
        # The drain so far happened at the old rate: re-base the state before the rate changes.
        current = lock_limits(conn, names=[name])
        if current:
            values["occupied"] = slots.occupied_now(
                current[0].state, decay_per_second=current[0].slot_decay_per_second, now=now
            )
            values["occupied_at"] = now
    result = conn.execute(update(limits).where(limits.c.name == name).values(updated=now, **values))
    if result.rowcount == 0:
        return None
    return get_limit(conn, name=name)


def delete_limit(conn: Connection, *, name: str) -> bool:
    result = conn.execute(delete(limits).where(limits.c.name == name))
    return result.rowcount > 0


# The statements of every acquire and release are built once: a statement object reused keeps
# its cache key, which spares SQLAlchemy walking it again on every call.
_LOCK_BY_NAME = (
    select(limits, _not_counted)
    .where(limits.c.name.in_(bindparam("names", expanding=True)))
    .order_by(limits.c.name)
    .with_for_update(of=limits)
)
_LOCK_OF_LEASES = (
    select(limits, _not_counted, lease_links.c.slots.label("counted"))
    .join(lease_links, lease_links.c.limit_id == limits.c.id)
    .where(lease_links.c.lease_token.in_(bindparam("tokens", expanding=True)))
    .order_by(limits.c.name)
    .with_for_update(of=limits)
)
_COUNT_EXPIRED = (
    update(limits)
    .where(limits.c.id == bindparam("limit_id"))
    .values(expired_leases=limits.c.expired_leases + bindparam("expired"))
)
_WRITE_EXPIRY = _COUNT_EXPIRED.values(occupied=bindparam("occupied"), occupied_at=bindparam("at"))
_WRITE_STATE = (
    update(limits)
    .where(limits.c.id == bindparam("limit_id"))
    .values(occupied=bindparam("occupied"), occupied_at=bindparam("at"))
)


@dataclass(frozen=True)
class Counted:
    """A limit that leases name: how many slots they count on it (none where it was inactive
    when they were granted), and how many leases they are."""

    limit: LimitRecord
    slots: int
    leases: int


def lock_limits(conn: Connection, *, names: Iterable[str]) -> list[LimitRecord]:
    """The named limits, locked for update in name order (one order for every caller, so two
    callers naming the same limits never deadlock)."""
    return [record(row._mapping) for row in conn.execute(_LOCK_BY_NAME, {"names": list(names)})]


def lock_limits_of(conn: Connection, *, lease_tokens: Sequence[int]) -> list[Counted]:
    """The limits the given leases name, locked in name order, with what they count on each."""
    counted: dict[str, Counted] = {}
    for row in conn.execute(_LOCK_OF_LEASES, {"tokens": list(lease_tokens)}):
        before = counted.get(row.id) or Counted(limit=record(row._mapping), slots=0, leases=0)
        counted[row.id] = replace(before, slots=before.slots + row.counted, leases=before.leases + 1)
    return list(counted.values())


def write_expiries(
    conn: Connection, *, states: Mapping[str, slots.SlotState], expired_leases: Mapping[str, int]
) -> None:
    """Count expired leases on each limit they named (`expired_leases`, by limit id), and store
    the slot states they left where they held slots (`states`)."""
    for limit_id, expired in expired_leases.items():
        state = states.get(limit_id)
        if state is None:
            conn.execute(_COUNT_EXPIRED, {"limit_id": limit_id, "expired": expired})
        else:
            conn.execute(
                _WRITE_EXPIRY, {"limit_id": limit_id, "expired": expired, "occupied": state.occupied, "at": state.at}
            )


def write_states(conn: Connection, *, states: Mapping[str, slots.SlotState]) -> None:
    """Store new slot states (by limit id)."""
    for limit_id, state in states.items():
        conn.execute(_WRITE_STATE, {"limit_id": limit_id, "occupied": state.occupied, "at": state.at})


def count_denial(conn: Connection, *, limit_ids: Sequence[str], slots_denied: int) -> None:
    conn.execute(
        update(limits).where(limits.c.id.in_(list(limit_ids))).values(denied_slots=limits.c.denied_slots + slots_denied)
    )
