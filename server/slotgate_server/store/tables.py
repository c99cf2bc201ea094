"""The tables. Times are seconds since the epoch (float) so that slot arithmetic is the same
plain number on every store."""

from __future__ import annotations

from typing import cast

from sqlalchemy import JSON, BigInteger, Boolean, Double, ForeignKey, Index, Integer, String, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants a 64-bit identity.
TokenType = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class LimitRow(Base):
    __tablename__ = "limits"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    slot_limit: Mapped[int] = mapped_column(Integer)
    slot_decay_per_second: Mapped[float] = mapped_column(Double)
    active: Mapped[bool] = mapped_column(Boolean)
    # The slot state: `occupied` slots as of `occupied_at`; decay is applied on read.
    occupied: Mapped[float] = mapped_column(Double, default=0.0)
    occupied_at: Mapped[float] = mapped_column(Double)
    # Counters for the metrics, kept in the row so that every server process counts alike.
    denied_slots: Mapped[int] = mapped_column(BigInteger, default=0)
    granted_slots: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    expired_leases: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    avg_occupancy_seconds: Mapped[float | None] = mapped_column(Double, nullable=True)
    created: Mapped[float] = mapped_column(Double)
    updated: Mapped[float] = mapped_column(Double)


class LeaseRow(Base):
    __tablename__ = "leases"
    __table_args__ = (
        Index("ix_leases_open_expiry", "ended_at", "expires_at"),
        {"sqlite_autoincrement": True},  # never reuse a token, even after the newest lease is purged
    )

    # The fencing token is the row's auto-increment key: it is drawn after the limits' rows
    # are locked, so a later grant on the same limit always carries a larger token.
    fencing_token: Mapped[int] = mapped_column(TokenType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    names: Mapped[list[str]] = mapped_column(JSON)
    slots: Mapped[int] = mapped_column(Integer)
    holder: Mapped[str] = mapped_column(String(255))
    lease_duration: Mapped[float] = mapped_column(Double)
    created: Mapped[float] = mapped_column(Double)
    expires_at: Mapped[float] = mapped_column(Double)
    ended_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)


class LeaseLimitRow(Base):
    """Which limits an open lease counts against, and by how many slots (0 on a limit that
    was inactive when the lease was granted). Removed when the lease ends."""

    __tablename__ = "lease_limits"

    lease_token: Mapped[int] = mapped_column(
        TokenType, ForeignKey("leases.fencing_token", ondelete="CASCADE"), primary_key=True
    )
    limit_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("limits.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    slots: Mapped[int] = mapped_column(Integer)


class IdempotencyKeyRow(Base):
    """What was answered to the first request with a client's Idempotency-Key: a grant (when
    `granted_at` is set; a lease's id and token with it) or a final refusal (`problem`).
    A grant's row is written in the transaction that takes its slots."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    lease_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    lease_token: Mapped[int | None] = mapped_column(TokenType, nullable=True)
    lease_duration: Mapped[float | None] = mapped_column(Double, nullable=True)
    problem: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    expires_at: Mapped[float] = mapped_column(Double, index=True)


class ServerProcessRow(Base):
    """A server process that holds places in the queue, and when it last said it lives."""

    __tablename__ = "server_processes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seen_at: Mapped[float] = mapped_column(Double)


class QueuePlaceRow(Base):
    """A request's place in the queue of the limits it waits for, kept in arrival order
    (`arrived_at`, then `position`) across every server process. `process` serves it while
    `parked_until` is null; a parked place (its connection ended) keeps its order until then
    for a repeat of its Idempotency-Key, and lets everyone pass meanwhile."""

    __tablename__ = "queue_places"
    __table_args__ = (Index("ix_queue_places_key", "scope", "key", unique=True), {"sqlite_autoincrement": True})

    position: Mapped[int] = mapped_column(TokenType, primary_key=True, autoincrement=True)
    scope: Mapped[str | None] = mapped_column(String(64), nullable=True)
    key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    arrived_at: Mapped[float] = mapped_column(Double)
    process: Mapped[str] = mapped_column(String(36))
    parked_until: Mapped[float | None] = mapped_column(Double, nullable=True)


class QueuePlaceLimitRow(Base):
    """The limits a place waits for."""

    __tablename__ = "queue_place_limits"
    __table_args__ = (Index("ix_queue_place_limits_limit", "limit_id", "place"),)

    place: Mapped[int] = mapped_column(
        TokenType, ForeignKey("queue_places.position", ondelete="CASCADE"), primary_key=True
    )
    limit_id: Mapped[str] = mapped_column(String(36), ForeignKey("limits.id", ondelete="CASCADE"), primary_key=True)


limits = cast(Table, LimitRow.__table__)
leases = cast(Table, LeaseRow.__table__)
lease_limits = cast(Table, LeaseLimitRow.__table__)
idempotency_keys = cast(Table, IdempotencyKeyRow.__table__)
server_processes = cast(Table, ServerProcessRow.__table__)
queue_places = cast(Table, QueuePlaceRow.__table__)
queue_place_limits = cast(Table, QueuePlaceLimitRow.__table__)
