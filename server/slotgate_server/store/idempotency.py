"""Queries on the answers kept under Idempotency-Keys. They run inside the caller's
transaction and never commit. A grant's key is written by the take itself (store/admission.py,
with `INSERT_GRANT`), so that the grant and its key commit or roll back together."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, delete, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from slotgate_server.idempotency import IdempotencyKey
from slotgate_server.store.records import KeptAnswer
from slotgate_server.store.tables import idempotency_keys

# The grant's row, from the take's parameters: `{source}` yields the lease's token (or NULL).
INSERT_GRANT = """
    INSERT INTO idempotency_keys (scope, key, request_hash, granted_at, lease_id, lease_token, lease_duration,
        expires_at)
    SELECT :key_scope, :idempotency_key, :request_hash, :now, :kept_lease_id, {token}, :kept_lease_duration,
        :key_expires_at {source}"""

# The keys past their retention, a batch at a time.
# Whether an answer is kept under the take's key.
IS_KEPT = "EXISTS (SELECT 1 FROM idempotency_keys WHERE scope = :key_scope AND key = :idempotency_key)"

_PURGE = text("""
    DELETE FROM idempotency_keys WHERE (scope, key) IN (
        SELECT scope, key FROM idempotency_keys WHERE expires_at <= :now LIMIT :batch)""")


def grant_parameters(
    key: IdempotencyKey, *, lease_id: str | None, lease_duration: float | None, expires_at: float
) -> dict[str, Any]:
    """The parameters `INSERT_GRANT` reads, beside the take's own."""
    return {
        "key_scope": key.scope,
        "idempotency_key": key.key,
        "request_hash": key.request_hash,
        "kept_lease_id": lease_id,
        "kept_lease_duration": lease_duration,
        "key_expires_at": expires_at,
    }


def is_kept_grant_conflict(error: BaseException) -> bool:
    """Whether a take failed because its key was kept meanwhile (by a request decided in
    another server process): the drivers' unique violation on this table's key."""
    return "idempotency_keys" in str(error)


def find(conn: Connection, *, key: IdempotencyKey) -> KeptAnswer | None:
    row = conn.execute(
        select(idempotency_keys).where(idempotency_keys.c.scope == key.scope, idempotency_keys.c.key == key.key)
    ).first()
    if row is None:
        return None
    kept = row._mapping
    problem = kept["problem"]
    return KeptAnswer(
        request_hash=kept["request_hash"],
        granted_at=kept["granted_at"],
        lease_id=kept["lease_id"],
        lease_token=kept["lease_token"],
        lease_duration=kept["lease_duration"],
        problem=json.loads(problem) if isinstance(problem, str) else problem,
    )


def keep_refusal(conn: Connection, *, key: IdempotencyKey, problem: dict[str, Any], expires_at: float) -> None:
    """Keep a final refusal under its key, unless something was kept under it first."""
    dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    row = {
        "scope": key.scope,
        "key": key.key,
        "request_hash": key.request_hash,
        "problem": problem,
        "expires_at": expires_at,
    }
    conn.execute(dialect_insert(idempotency_keys).values(**row).on_conflict_do_nothing())


def forget(conn: Connection, *, key: IdempotencyKey) -> None:
    conn.execute(
        delete(idempotency_keys).where(idempotency_keys.c.scope == key.scope, idempotency_keys.c.key == key.key)
    )


def purge_expired(conn: Connection, *, now: float, batch: int) -> int:
    """Forget at most `batch` keys past their retention; how many were forgotten."""
    return conn.execute(_PURGE, {"now": now, "batch": batch}).rowcount
