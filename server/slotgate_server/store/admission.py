"""Taking and giving back slots in as few statements as the store allows.

Acquires and releases are on the path of every guarded operation, and on PostgreSQL each
round trip inside a transaction also holds a busy limit's row lock for every other caller.
So admission is decided in SQL, in the statement that takes the slots: on PostgreSQL an
acquire, a rate-limit grant and a release are each one statement, committed on its own; on
SQLite (in process, one writer) they are a few statements in one short transaction.

The SQL arithmetic below mirrors `slots.py` operation for operation (`occupied_now`, `fits`,
`grant_moment`, `take`, `give_back`, `updated_average`), so that both give the same floats to
the last bit; tests/unit/test_admission_sql.py proves it on both stores. `slots.py` stays the
statement of the rules; this module is how the store applies them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, TextClause, bindparam, text

from slotgate_server import slots
from slotgate_server.store import leases as lease_store
from slotgate_server.store.records import LeaseRecord, LimitRecord

LIMIT_COLUMNS = (
    "id, name, slot_limit, slot_decay_per_second, active, occupied, occupied_at, "
    "denied_slots, avg_occupancy_seconds, created, updated"
)


@dataclass(frozen=True)
class NewLease:
    """The lease a concurrency grant records, in the statement that grants it."""

    id: str
    names: list[str]
    holder: str
    duration: float


@dataclass(frozen=True)
class Take:
    """What one attempt to take slots found and did."""

    # The named limits that exist, as they were when the attempt was decided, in name order.
    records: list[LimitRecord]
    granted: bool
    # Limits that lacked slots (empty when granted).
    blocking: list[LimitRecord]
    # Ids of blocking limits on which expired leases still hold slots.
    expired_on: list[str]
    # The new lease's fencing token, when a lease was granted.
    fencing_token: int | None


class _Functions:
    """The SQL spelling of max() and min() of several values."""

    def __init__(self, dialect: str) -> None:
        postgres = dialect == "postgresql"
        self.greatest = "GREATEST" if postgres else "max"
        self.least = "LEAST" if postgres else "min"


def _occupied_now(f: _Functions, row: str, now: str) -> str:
    """slots.occupied_now of `row`'s state at the moment `now`."""
    return (
        f"{f.greatest}(0.0, {row}.occupied - {row}.slot_decay_per_second"
        f" * {f.greatest}(0.0, {now} - {row}.occupied_at))"
    )


def _fits(f: _Functions, row: str) -> str:
    """slots.fits at :now; an inactive limit always fits."""
    return f"(NOT {row}.active OR {_occupied_now(f, row, ':now')} + :requested <= {row}.slot_limit + :tolerance)"


def _grant_moment(f: _Functions, row: str) -> str:
    """slots.grant_moment: on a decaying limit, the later of the arrival and the moment the
    request first fit, never before the last change nor after now."""
    excess = f"({_occupied_now(f, row, f'{row}.occupied_at')} + :requested - {row}.slot_limit)"
    decay_wait = (
        f"(CASE WHEN {excess} <= :tolerance THEN 0.0 "
        f"ELSE ({excess} - :half_tolerance) / {row}.slot_decay_per_second END)"
    )
    fits_from = f"({row}.occupied_at + {decay_wait})"
    return (
        f"(CASE WHEN {row}.slot_decay_per_second > 0 "
        f"THEN {f.least}(:now, {f.greatest}(:arrived_at, {fits_from}, {row}.occupied_at)) ELSE :now END)"
    )


def _judged(f: _Functions, *, lock: bool) -> str:
    """The named limits with, for each, whether the request fits, the moment its new state
    counts from (slots.take), and whether expired leases hold slots of one that does not fit."""
    return f"""
    locked AS (
        SELECT {LIMIT_COLUMNS} FROM limits WHERE name IN :names ORDER BY name{" FOR UPDATE" if lock else ""}
    ), judged AS (
        SELECT locked.*,
            {_fits(f, "locked")} AS fits,
            (NOT locked.active OR locked.slot_decay_per_second > 0) AS decays,
            {f.greatest}({_grant_moment(f, "locked")}, locked.occupied_at) AS new_at,
            (CASE WHEN {_fits(f, "locked")} THEN false ELSE EXISTS (
                SELECT 1 FROM lease_limits JOIN leases ON leases.fencing_token = lease_limits.lease_token
                WHERE lease_limits.limit_id = locked.id AND lease_limits.slots > 0
                    AND leases.ended_at IS NULL AND leases.expires_at <= :now
            ) END) AS expired_holders
        FROM locked
    )"""


def _granted(require_decay: bool) -> str:
    condition = "fits AND decays" if require_decay else "fits"
    return f"SELECT count(*) = :name_count AND coalesce(bool_and({condition}), false) AS granted FROM judged"


def _new_occupied(f: _Functions, row: str) -> str:
    """slots.take: the occupied slots at the new moment, plus the requested."""
    return f"{_occupied_now(f, row, f'{row}.new_at')} + :requested"


@functools.cache
def _take_statement(dialect: str, *, record_lease: bool, require_decay: bool) -> TextClause:
    f = _Functions(dialect)
    if dialect == "postgresql":
        lease_ctes = (
            """, lease AS (
            INSERT INTO leases (id, names, slots, holder, lease_duration, created, expires_at)
            SELECT :lease_id, CAST(:lease_names AS JSON), :requested, :holder, :duration, :now, :expires_at
            FROM verdict WHERE granted
            RETURNING fencing_token
        ), links AS (
            INSERT INTO lease_limits (lease_token, limit_id, slots)
            SELECT lease.fencing_token, judged.id, CASE WHEN judged.active THEN :requested ELSE 0 END
            FROM lease, judged
        )"""
            if record_lease
            else ""
        )
        token = "(SELECT fencing_token FROM lease)" if record_lease else "CAST(NULL AS BIGINT)"
        sql = f"""
        WITH {_judged(f, lock=True)}, verdict AS ({_granted(require_decay)}), taken AS (
            UPDATE limits SET occupied = {_new_occupied(f, "judged")}, occupied_at = judged.new_at
            FROM judged, verdict
            WHERE limits.id = judged.id AND verdict.granted AND judged.active
        ){lease_ctes}
        SELECT judged.*, (SELECT granted FROM verdict) AS granted, {token} AS fencing_token
        FROM judged ORDER BY name"""
    else:
        # One writer at a time: the rows cannot change between this and the writes after it.
        sql = f"""
        WITH {_judged(f, lock=False)}
        SELECT judged.*, {_new_occupied(f, "judged")} AS new_occupied FROM judged ORDER BY name"""
    return text(sql).bindparams(bindparam("names", expanding=True))


_SQLITE_WRITE_TAKEN = text("UPDATE limits SET occupied = :occupied, occupied_at = :at WHERE id = :limit_id")


def _parameters(*, names: list[str], requested: int, now: float, arrived_at: float) -> dict[str, Any]:
    return {
        "names": names,
        "name_count": len(names),
        "requested": requested,
        "now": now,
        "arrived_at": arrived_at,
        "tolerance": slots.SLOT_TOLERANCE,
        "half_tolerance": slots.SLOT_TOLERANCE / 2,
    }


def _limit(row: Row[Any]) -> LimitRecord:
    return LimitRecord(
        id=row.id,
        name=row.name,
        limit=row.slot_limit,
        slot_decay_per_second=row.slot_decay_per_second,
        active=bool(row.active),
        state=slots.SlotState(occupied=row.occupied, at=row.occupied_at),
        denied_slots=row.denied_slots,
        avg_occupancy_seconds=row.avg_occupancy_seconds,
        open_leases=None,
        created=row.created,
        updated=row.updated,
    )


def take(
    conn: Connection,
    *,
    names: list[str],
    requested: int,
    now: float,
    arrived_at: float,
    lease: NewLease | None,
    require_decay: bool,
) -> Take:
    """Take `requested` slots on every named limit (distinct names, sorted), all or nothing,
    and record `lease` with them; or take nothing and say why not.

    `require_decay`: grant only if every active limit decays (rate-limit mode)."""
    dialect = conn.dialect.name
    statement = _take_statement(dialect, record_lease=lease is not None, require_decay=require_decay)
    parameters = _parameters(names=names, requested=requested, now=now, arrived_at=arrived_at)
    if lease is not None and dialect == "postgresql":
        parameters |= _lease_parameters(lease, now=now)
    rows = conn.execute(statement, parameters).all()
    if dialect == "postgresql":
        granted = bool(rows) and bool(rows[0].granted)
        token = rows[0].fencing_token if granted else None
    else:
        granted = len(rows) == len(names) and all(row.fits and (row.decays or not require_decay) for row in rows)
        token = _sqlite_record_grant(conn, rows, requested=requested, lease=lease, now=now) if granted else None
    records = [_limit(row) for row in rows]
    if granted:
        return Take(records=records, granted=True, blocking=[], expired_on=[], fencing_token=token)
    blocking = [record for record, row in zip(records, rows, strict=True) if not row.fits]
    expired_on = [row.id for row in rows if row.expired_holders]
    return Take(records=records, granted=False, blocking=blocking, expired_on=expired_on, fencing_token=None)


def _lease_parameters(lease: NewLease, *, now: float) -> dict[str, Any]:
    return {
        "lease_id": lease.id,
        "lease_names": json.dumps(lease.names),
        "holder": lease.holder,
        "duration": lease.duration,
        "expires_at": now + lease.duration,
    }


def _sqlite_record_grant(
    conn: Connection, rows: Sequence[Row[Any]], *, requested: int, lease: NewLease | None, now: float
) -> int | None:
    taken = [{"limit_id": row.id, "occupied": row.new_occupied, "at": row.new_at} for row in rows if row.active]
    if taken:
        conn.execute(_SQLITE_WRITE_TAKEN, taken)
    if lease is None:
        return None
    counted = {row.id: requested if row.active else 0 for row in rows}
    return lease_store.insert_lease(
        conn,
        lease_id=lease.id,
        names=lease.names,
        slots_each=requested,
        holder=lease.holder,
        duration=lease.duration,
        counted=counted,
        now=now,
    ).fencing_token


def _give_back(f: _Functions, row: str, *, released: str, lease_created: str) -> dict[str, str]:
    """slots.give_back of `released` slots at :now, and slots.updated_average with the lease's
    holding time as the sample: the SET clause of a release."""
    at = f"{f.greatest}(:now, {row}.occupied_at)"
    sample = f"{f.greatest}(0.0, :now - {lease_created})"
    return {
        "occupied": f"{f.greatest}(0.0, {_occupied_now(f, row, at)} - {released})",
        "occupied_at": at,
        "avg_occupancy_seconds": (
            f"(CASE WHEN {row}.avg_occupancy_seconds IS NULL THEN {sample} "
            f"ELSE {row}.avg_occupancy_seconds + :sample_weight * ({sample} - {row}.avg_occupancy_seconds) END)"
        ),
    }


def _set_clause(assignments: dict[str, str]) -> str:
    return ", ".join(f"{column} = {value}" for column, value in assignments.items())


_LEASE_COLUMNS = "fencing_token, id, names, slots, holder, lease_duration, created, expires_at, ended_at, end_reason"
_CLAIM = f"""
    UPDATE leases SET ended_at = :now, end_reason = 'released'
    WHERE id = :lease_id AND ended_at IS NULL AND expires_at > :now
    RETURNING {_LEASE_COLUMNS}"""


@functools.cache
def _release_statements(dialect: str) -> tuple[TextClause, ...]:
    f = _Functions(dialect)
    if dialect == "postgresql":
        freed = _give_back(f, "limits", released="locked.released", lease_created="ended.created")
        # The limits are locked in name order, as every acquire locks them.
        return (
            text(f"""
            WITH ended AS ({_CLAIM}
            ), unlinked AS (
                DELETE FROM lease_limits WHERE lease_token IN (SELECT fencing_token FROM ended)
                RETURNING limit_id, slots
            ), locked AS (
                SELECT limits.id, unlinked.slots AS released FROM limits JOIN unlinked ON unlinked.limit_id = limits.id
                WHERE unlinked.slots > 0 ORDER BY limits.name FOR UPDATE OF limits
            ), freed AS (
                UPDATE limits SET {_set_clause(freed)}
                FROM locked, ended WHERE limits.id = locked.id
            )
            SELECT * FROM ended"""),
        )
    return (
        text(_CLAIM),
        text("DELETE FROM lease_limits WHERE lease_token = :token RETURNING limit_id, slots"),
        text(
            f"UPDATE limits SET {_set_clause(_give_back(f, 'limits', released=':released', lease_created=':created'))}"
            " WHERE id IN :limit_ids"
        ).bindparams(bindparam("limit_ids", expanding=True)),
    )


def release(conn: Connection, *, lease_id: str, now: float) -> LeaseRecord | None:
    """End the lease if it is open and unexpired, and give its slots back; None if it was not
    open (unknown, ended, or expired: the caller finds out which)."""
    parameters = {"lease_id": lease_id, "now": now, "sample_weight": slots.OCCUPANCY_SAMPLE_WEIGHT}
    if conn.dialect.name == "postgresql":
        (statement,) = _release_statements("postgresql")
        row = conn.execute(statement, parameters).first()
        return _lease(row) if row else None
    claim, unlink, give_back = _release_statements(conn.dialect.name)
    row = conn.execute(claim, parameters).first()
    if row is None:
        return None
    lease = _lease(row)
    counted = [link.limit_id for link in conn.execute(unlink, {"token": lease.fencing_token}) if link.slots > 0]
    if counted:
        conn.execute(
            give_back,
            parameters | {"limit_ids": counted, "released": lease.slots, "created": lease.created},
        )
    return lease


def _lease(row: Row[Any]) -> LeaseRecord:
    names = row.names if isinstance(row.names, list) else json.loads(row.names)
    return LeaseRecord(
        fencing_token=row.fencing_token,
        id=row.id,
        names=list(names),
        slots=row.slots,
        holder=row.holder,
        lease_duration=row.lease_duration,
        created=row.created,
        expires_at=row.expires_at,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
    )
