"""Taking and giving back slots in as few statements as the store allows.

Acquires and releases are on the path of every guarded operation, and on PostgreSQL each
round trip inside a transaction also holds a busy limit's row lock for every other caller.
So admission is decided in SQL, in the statement that takes the slots: on PostgreSQL an
acquire, a rate-limit grant and a release are each one statement, committed on its own; on
SQLite (in process, one writer) they are a few statements in one short transaction. The
server sends both straight to the driver (`run_take`, `run_release`), since SQLAlchemy's
bookkeeping per statement would cost more than the database's work; `take` and `release`
run the same SQL on a SQLAlchemy connection, in whatever transaction it is in.

The SQL arithmetic below mirrors `slots.py` operation for operation (`occupied_now`, `fits`,
`grant_moment`, `take`, `give_back`, `updated_average`), so that both give the same floats to
the last bit; tests/store/test_admission_sql.py proves it on both stores. `slots.py` stays the
statement of the rules; this module is how the store applies them.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import psycopg
from sqlalchemy import Connection, TextClause, text
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect

from slotgate_server import slots
from slotgate_server.store import idempotency as idempotency_store
from slotgate_server.store import leases as lease_store
from slotgate_server.store import limits as limit_store
from slotgate_server.store import queue as queue_store
from slotgate_server.store import signals
from slotgate_server.store.database import DURABLE_COMMIT, RELAXED_COMMIT, Database, driver_of
from slotgate_server.store.records import LeaseRecord, LimitRecord

Row = Mapping[str, Any]

# Open leases are not counted on the hot path.
LIMIT_COLUMNS = (
    "id, name, slot_limit, slot_decay_per_second, active, occupied, occupied_at, "
    "denied_slots, granted_slots, expired_leases, avg_occupancy_seconds, created, updated, "
    "CAST(NULL AS INTEGER) AS open_leases"
)
LEASE_COLUMNS = "fencing_token, id, names, slots, holder, lease_duration, created, expires_at, ended_at, end_reason"


@dataclass(frozen=True)
class NewLease:
    """The lease a concurrency grant records, in the statement that grants it."""

    id: str
    names: list[str]
    holder: str
    duration: float


@dataclass(frozen=True)
class TakeRequest:
    """One attempt to take slots: `requested` of each of `names` (distinct, sorted) at `now`,
    for a request that arrived at `arrived_at`, recording `lease` with them if one is given.
    `require_decay`: grant only if every active limit decays (rate-limit mode). `key`: the
    Idempotency-Key to keep the grant under, with it (`idempotency.grant_parameters`). Served
    places of requests that arrived before it (before its own `place`'s arrival, if it holds
    one) block it."""

    names: list[str]
    requested: int
    now: float
    arrived_at: float
    lease: NewLease | None
    require_decay: bool
    key: Mapping[str, Any] | None = None
    # The request's place in the queue, if it holds one (store/queue.py).
    place: queue_store.Place | None = None


class KeptMeanwhile(Exception):
    """The take's Idempotency-Key was kept by another request (in another server process)
    while this one was decided: nothing was taken, and the kept answer is the answer."""


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
    # Whether an answer is kept under the request's Idempotency-Key (by a request decided
    # elsewhere while this one waited).
    key_kept: bool = False
    # Blocking limits on which requests that arrived before this one hold places in the queue:
    # it takes none of their slots before those requests are granted or gone.
    queued_on: list[str] = field(default_factory=list)


def _query(conn: Connection, sql: str, parameters: Mapping[str, Any]) -> Sequence[Row]:
    """Run one statement in the connection's transaction; its rows as mappings."""
    if conn.dialect.name == "sqlite":
        cursor = driver_of(conn).cursor()
        cursor.row_factory = sqlite3.Row
        rows: list[Row] = cursor.execute(sql, parameters).fetchall()
        return rows
    return cast(Sequence[Row], conn.execute(_statement(sql), parameters).mappings().all())


@functools.cache
def _statement(sql: str) -> TextClause:
    # One space between words: less to send, and to hash when psycopg looks for its prepared form.
    return text(" ".join(sql.split()))


@functools.cache
def _driver_sql(sql: str) -> str:
    """A statement as psycopg takes it, with `%(name)s` parameters."""
    return str(_statement(sql).compile(dialect=psycopg_dialect()))  # type: ignore[no-untyped-call]


class _Sql:
    """The spelling of what the two stores write differently."""

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgresql"
        self.greatest = "GREATEST" if self.postgres else "max"
        self.least = "LEAST" if self.postgres else "min"


def _names_in(count: int) -> str:
    return "(" + ", ".join(f":name_{index}" for index in range(count)) + ")"


def _name_parameters(names: Sequence[str]) -> dict[str, str]:
    return {f"name_{index}": name for index, name in enumerate(names)}


def _occupied_now(sql: _Sql, row: str, now: str) -> str:
    """slots.occupied_now of `row`'s state at the moment `now`."""
    return (
        f"{sql.greatest}(0.0, {row}.occupied - {row}.slot_decay_per_second"
        f" * {sql.greatest}(0.0, {now} - {row}.occupied_at))"
    )


def _fits(sql: _Sql, row: str) -> str:
    """slots.fits at :now; an inactive limit always fits."""
    return f"(NOT {row}.active OR {_occupied_now(sql, row, ':now')} + :requested <= {row}.slot_limit + :tolerance)"


def _grant_moment(sql: _Sql, row: str) -> str:
    """slots.grant_moment: on a decaying limit, the later of the arrival and the moment the
    request first fit, never before the last change nor after now."""
    excess = f"({_occupied_now(sql, row, f'{row}.occupied_at')} + :requested - {row}.slot_limit)"
    decay_wait = (
        f"(CASE WHEN {excess} <= :tolerance THEN 0.0 "
        f"ELSE ({excess} - :half_tolerance) / {row}.slot_decay_per_second END)"
    )
    fits_from = f"({row}.occupied_at + {decay_wait})"
    return (
        f"(CASE WHEN {row}.slot_decay_per_second > 0 "
        f"THEN {sql.least}(:now, {sql.greatest}(:arrived_at, {fits_from}, {row}.occupied_at)) ELSE :now END)"
    )


def _new_occupied(sql: _Sql, row: str) -> str:
    """slots.take: the occupied slots at the new moment, plus the requested."""
    return f"{_occupied_now(sql, row, f'{row}.new_at')} + :requested"


def _judgement(sql: _Sql, source: str) -> str:
    """The limits of `source` with, for each, whether the request fits, whether a request that
    arrived before it waits for the limit (store/queue.py), and the moment its new state would
    count from (slots.take)."""
    return f"""
        SELECT {source}.*,
            {_fits(sql, source)} AS fits,
            ({source}.active AND {queue_store.AHEAD.format(row=source)}) AS queued_ahead,
            (NOT {source}.active OR {source}.slot_decay_per_second > 0) AS decays,
            {sql.greatest}({_grant_moment(sql, source)}, {source}.occupied_at) AS new_at
        FROM {source}"""


def _expired_holders(judged: str) -> str:
    """Whether expired leases hold slots of a judged limit that does not fit."""
    return f"""(CASE WHEN {judged}.fits THEN false ELSE EXISTS (
        SELECT 1 FROM lease_limits JOIN leases ON leases.fencing_token = lease_limits.lease_token
        WHERE lease_limits.limit_id = {judged}.id AND lease_limits.slots > 0
            AND leases.ended_at IS NULL AND leases.expires_at <= :now
    ) END) AS expired_holders"""


def _named(name_count: int) -> str:
    return f"SELECT {LIMIT_COLUMNS} FROM limits WHERE name IN {_names_in(name_count)}"


def _all_grantable(source: str, *, require_decay: bool) -> str:
    grantable = "fits AND NOT queued_ahead AND decays" if require_decay else "fits AND NOT queued_ahead"
    return f"SELECT count(*) = :name_count AND coalesce(bool_and({grantable}), false) AS granted FROM {source}"


_INSERT_LEASE = """
    INSERT INTO leases (id, names, slots, holder, lease_duration, created, expires_at)
    {source} RETURNING fencing_token"""
_INSERT_LINKS = "INSERT INTO lease_limits (lease_token, limit_id, slots) {source}"
_LEASE_VALUES = ":lease_id, {names}, :requested, :holder, :duration, :now, :expires_at"


@functools.cache
def _take_sql(
    dialect: str, *, name_count: int, record_lease: bool, require_decay: bool, keep_key: bool, durable: bool = False
) -> str:
    """PostgreSQL: the whole take in one statement, committed without waiting for the disk, or
    (`durable`) only once on disk. SQLite: the judgement, after which the caller writes what
    was granted (nothing else writes meanwhile)."""
    sql = _Sql(dialect)
    kept = idempotency_store.IS_KEPT if keep_key else "false"
    if not sql.postgres:
        new_occupied = _new_occupied(sql, "judged")
        return f"""
        WITH named AS ({_named(name_count)}), judged AS ({_judgement(sql, "named")})
        SELECT judged.*, {new_occupied} AS new_occupied, {_expired_holders("judged")}, {kept} AS key_kept
        FROM judged"""
    lease_ctes = ""
    if record_lease:
        lease_values = _LEASE_VALUES.format(names="CAST(:lease_names AS JSON)")
        lease_ctes = f""", lease AS (
            {_INSERT_LEASE.format(source=f"SELECT {lease_values} FROM verdict WHERE granted")}
        ), links AS ({
            _INSERT_LINKS.format(
                source="SELECT lease.fencing_token, judged.id, CASE WHEN judged.active THEN :requested ELSE 0 END "
                "FROM lease, judged"
            )
        })"""
    token = "(SELECT fencing_token FROM lease)" if record_lease else "CAST(NULL AS BIGINT)"
    if keep_key:
        keep = idempotency_store.INSERT_GRANT.format(token=token, source="FROM verdict WHERE granted")
        lease_ctes += f""", kept AS ({keep}
        )"""
    # A request that does not fit as of the statement's snapshot is denied from the snapshot,
    # locking nothing: denials never queue behind the grants and releases of a busy limit.
    # Only one that fits takes the locks, in name order, and is decided again on the rows as
    # they are once locked. A grant commits without waiting for the disk (`committing`), so
    # that the locks are not held through the flush; it is answered only once on disk
    # (`run_take`). A durable one waits for the disk as it commits.
    committing = DURABLE_COMMIT if durable else RELAXED_COMMIT
    return f"""
    WITH committing AS ({committing}
    ), named AS ({_named(name_count)}
    ), seen AS ({_judgement(sql, "named")}
    ), locked AS (
        {_named(name_count)} AND ({_all_grantable("seen", require_decay=require_decay)})
        ORDER BY name FOR UPDATE
    ), judged AS ({_judgement(sql, "locked")}
    ), verdict AS ({_all_grantable("judged", require_decay=require_decay)}
    ), taken AS (
        UPDATE limits SET occupied = {_new_occupied(sql, "judged")}, occupied_at = judged.new_at,
            granted_slots = limits.granted_slots + :requested
        FROM judged, verdict
        WHERE limits.id = judged.id AND verdict.granted AND judged.active
    ){lease_ctes}
    SELECT judged.*, {_expired_holders("judged")}, verdict.granted, {token} AS fencing_token, {kept} AS key_kept
    FROM judged, verdict, committing
    UNION ALL
    SELECT seen.*, {_expired_holders("seen")}, false, NULL, {kept} FROM seen WHERE NOT EXISTS (SELECT FROM locked)"""


def take(conn: Connection, request: TakeRequest) -> Take:
    """Take the requested slots on every named limit, all or nothing, and record the request's
    lease with them; or take nothing and say why not."""
    dialect = conn.dialect.name
    sql, parameters = _take_statement(dialect, request)
    rows = _query(conn, sql, parameters)
    if dialect == "postgresql":
        return _taken_in_one_statement(rows)
    rows = sorted(rows, key=lambda row: str(row["name"]))
    granted = len(rows) == len(request.names) and all(
        row["fits"] and not row["queued_ahead"] and (row["decays"] or not request.require_decay) for row in rows
    )
    if not granted:
        return _outcome(rows, granted=False, fencing_token=None)
    token = _sqlite_write_grant(conn, rows, parameters, record_lease=request.lease is not None)
    if request.key is not None:
        driver_of(conn).execute(_SQLITE_INSERT_KEPT, {**parameters, "kept_lease_token": token})
    return _outcome(rows, granted=True, fencing_token=token)


async def run_take(db: Database, request: TakeRequest) -> Take:
    """`take`, as the server runs it, straight to the driver: on PostgreSQL its one statement
    (`Database.statement`), on SQLite its transaction (`Database.write_on_driver`). Either
    returns a grant only once it is on disk. A take whose Idempotency-Key another request
    kept meanwhile raises `KeptMeanwhile`, having taken nothing.

    On PostgreSQL a take sent while this process has no other statement and no flush under
    way commits durably in its own statement: no other request of this process waits for its
    locks through the flush, and the grant is answered without waking the flusher's backend
    as well. Under load, takes commit without waiting and share flushes."""
    try:
        if db.is_sqlite:
            return await db.write_on_driver(take, request)
        durable = db.is_quiet()
        sql, parameters = _take_statement("postgresql", request, durable=durable)
        sent_at = time.monotonic()
        taken = _taken_in_one_statement(await db.statement(_driver_sql(sql), parameters))
    except (sqlite3.IntegrityError, psycopg.IntegrityError) as error:
        if request.key is not None and idempotency_store.is_kept_grant_conflict(error):
            raise KeptMeanwhile() from error
        raise
    if taken.granted and not durable:
        await db.wait_for_disk(sent_at=sent_at)
    return taken


def _take_statement(dialect: str, request: TakeRequest, *, durable: bool = False) -> tuple[str, dict[str, Any]]:
    sql = _take_sql(
        dialect,
        name_count=len(request.names),
        record_lease=request.lease is not None,
        require_decay=request.require_decay,
        keep_key=request.key is not None,
        durable=durable,
    )
    parameters = {
        **_name_parameters(request.names),
        "name_count": len(request.names),
        "requested": request.requested,
        "now": request.now,
        "arrived_at": request.arrived_at,
        "queued_at": request.arrived_at if request.place is None else request.place.arrived_at,
        "place": queue_store.NO_PLACE if request.place is None else request.place.position,
        "live_after": request.now - queue_store.PROCESS_TIMEOUT_SECONDS,
        "tolerance": slots.SLOT_TOLERANCE,
        "half_tolerance": slots.SLOT_TOLERANCE / 2,
    }
    if request.lease is not None:
        parameters |= _lease_parameters(request.lease, now=request.now)
    if request.key is not None:
        parameters |= request.key
    return sql, parameters


def _taken_in_one_statement(rows: Sequence[Row]) -> Take:
    """What PostgreSQL's one take statement decided and did."""
    rows = sorted(rows, key=lambda row: str(row["name"]))
    granted = bool(rows) and bool(rows[0]["granted"])
    return _outcome(rows, granted=granted, fencing_token=rows[0]["fencing_token"] if granted else None)


def _outcome(rows: Sequence[Row], *, granted: bool, fencing_token: int | None) -> Take:
    records = [limit_store.record(row) for row in rows]
    if granted:
        return Take(records=records, granted=True, blocking=[], expired_on=[], fencing_token=fencing_token)
    blocking = [record for record, row in zip(records, rows, strict=True) if not row["fits"] or row["queued_ahead"]]
    return Take(
        records=records,
        granted=False,
        blocking=blocking,
        expired_on=[row["id"] for row in rows if row["expired_holders"]],
        fencing_token=None,
        key_kept=any(row["key_kept"] for row in rows),
        queued_on=[row["name"] for row in rows if row["queued_ahead"]],
    )


def _lease_parameters(lease: NewLease, *, now: float) -> dict[str, Any]:
    return {
        "lease_id": lease.id,
        "lease_names": json.dumps(lease.names),
        "holder": lease.holder,
        "duration": lease.duration,
        "expires_at": now + lease.duration,
    }


_SQLITE_WRITE_TAKEN = """
    UPDATE limits SET occupied = :occupied, occupied_at = :at, granted_slots = granted_slots + :requested
    WHERE id = :limit_id"""
_SQLITE_INSERT_LEASE = _INSERT_LEASE.format(source=f"VALUES ({_LEASE_VALUES.format(names=':lease_names')})")
_SQLITE_INSERT_LINK = _INSERT_LINKS.format(source="VALUES (:lease_token, :limit_id, :slots)")
_SQLITE_INSERT_KEPT = idempotency_store.INSERT_GRANT.format(token=":kept_lease_token", source="")


def _sqlite_write_grant(
    conn: Connection, rows: Sequence[Row], parameters: Mapping[str, Any], *, record_lease: bool
) -> int | None:
    """Write the new states the judgement computed, and the lease with its links."""
    driver = driver_of(conn)
    requested = parameters["requested"]
    taken = [
        {"limit_id": row["id"], "occupied": row["new_occupied"], "at": row["new_at"], "requested": requested}
        for row in rows
        if row["active"]
    ]
    driver.executemany(_SQLITE_WRITE_TAKEN, taken)
    if not record_lease:
        return None
    token: int = driver.execute(_SQLITE_INSERT_LEASE, parameters).fetchone()[0]
    links = [{"lease_token": token, "limit_id": row["id"], "slots": requested if row["active"] else 0} for row in rows]
    driver.executemany(_SQLITE_INSERT_LINK, links)
    return token


def _give_back(sql: _Sql, row: str, *, released: str, lease_created: str) -> str:
    """slots.give_back of `released` slots at :now, and slots.updated_average with the lease's
    holding time as the sample: the SET clause of a release."""
    at = f"{sql.greatest}(:now, {row}.occupied_at)"
    sample = f"{sql.greatest}(0.0, :now - {lease_created})"
    average = f"{row}.avg_occupancy_seconds"
    return (
        f"occupied = {sql.greatest}(0.0, {_occupied_now(sql, row, at)} - {released}), occupied_at = {at}, "
        f"avg_occupancy_seconds = (CASE WHEN {average} IS NULL OR {average} < :negligible THEN {sample} "
        f"ELSE {average} + :sample_weight * ({sample} - {average}) END)"
    )


_CLAIM = f"""
    UPDATE leases SET ended_at = :now, end_reason = 'released'
    WHERE id = :lease_id AND ended_at IS NULL AND expires_at > :now
    RETURNING {LEASE_COLUMNS}"""

# Waiters in other processes hear of the freed slots when the release commits.
_FREED_PAYLOAD = signals.payload_sql(names="ended.names", slots="ended.slots")
_POSTGRES_GIVE_BACK = _give_back(
    _Sql("postgresql"), "limits", released="locked.released", lease_created="ended.created"
)
# The limits are locked in name order, as every acquire locks them.
#
# A release commits without waiting for its WAL to reach the disk (`relaxed`): the limit's row
# stays locked that much less, and the caller waits that much less. No grant can outlive a
# release lost in a crash of PostgreSQL: a grant that took the freed slots committed after the
# release, and is answered only once the log is on disk through its commit, which writes out
# the release's first. What a crash can lose is the release alone; the lease then stays open
# until it expires, like any lost holder's.
_POSTGRES_RELEASE = f"""
    WITH relaxed AS ({RELAXED_COMMIT}
    ), ended AS ({_CLAIM}
    ), unlinked AS (
        DELETE FROM lease_limits WHERE lease_token IN (SELECT fencing_token FROM ended)
        RETURNING limit_id, slots
    ), locked AS (
        SELECT limits.id, unlinked.slots AS released FROM limits JOIN unlinked ON unlinked.limit_id = limits.id
        WHERE unlinked.slots > 0 ORDER BY limits.name FOR UPDATE OF limits
    ), freed AS (
        UPDATE limits SET {_POSTGRES_GIVE_BACK}
        FROM locked, ended WHERE limits.id = locked.id
    )
    SELECT ended.*, pg_notify('{signals.CHANNEL}', {_FREED_PAYLOAD}) AS announced FROM ended, relaxed"""
_SQLITE_UNLINK = "DELETE FROM lease_limits WHERE lease_token = :token RETURNING limit_id, slots"
_SQLITE_GIVE_BACK = f"""
    UPDATE limits SET {_give_back(_Sql("sqlite"), "limits", released=":released", lease_created=":created")}
    WHERE id = :limit_id"""


def release(conn: Connection, *, lease_id: str, now: float) -> LeaseRecord | None:
    """End the lease if it is open and unexpired, and give its slots back, telling every server
    process; None if it was not open (unknown, ended, or expired: the caller finds out which)."""
    parameters = _release_parameters(lease_id=lease_id, now=now)
    if conn.dialect.name == "postgresql":
        ended = _query(conn, _POSTGRES_RELEASE, parameters)
        return lease_store.record(ended[0]) if ended else None
    ended = _query(conn, _CLAIM, parameters)
    if not ended:
        return None
    lease = lease_store.record(ended[0])
    counted = [
        link["limit_id"] for link in _query(conn, _SQLITE_UNLINK, {"token": lease.fencing_token}) if link["slots"]
    ]
    give_back = {**parameters, "released": lease.slots, "created": lease.created}
    for limit_id in counted:
        _query(conn, _SQLITE_GIVE_BACK, {**give_back, "limit_id": limit_id})
    return lease


async def run_release(db: Database, *, lease_id: str, now: float) -> LeaseRecord | None:
    """`release`, as the server runs it, straight to the driver: on PostgreSQL its one
    statement (`Database.statement`), on SQLite its transaction (`Database.write_on_driver`)."""
    if db.is_sqlite:
        return await db.write_on_driver(release, lease_id=lease_id, now=now)
    ended = await db.statement(_driver_sql(_POSTGRES_RELEASE), _release_parameters(lease_id=lease_id, now=now))
    return lease_store.record(ended[0]) if ended else None


def _release_parameters(*, lease_id: str, now: float) -> dict[str, Any]:
    return {
        "lease_id": lease_id,
        "now": now,
        "sample_weight": slots.OCCUPANCY_SAMPLE_WEIGHT,
        "negligible": slots.NEGLIGIBLE_OCCUPANCY_SECONDS,
    }
