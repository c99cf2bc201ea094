"""What the store hands out: plain frozen records, never live ORM rows."""

from __future__ import annotations

from dataclasses import dataclass

from slotgate_server import slots


@dataclass(frozen=True)
class LimitRecord:
    id: str
    name: str
    limit: int
    slot_decay_per_second: float
    active: bool
    state: slots.SlotState
    denied_slots: int
    granted_slots: int
    expired_leases: int
    avg_occupancy_seconds: float | None
    open_leases: int | None  # None where the query did not count them
    created: float
    updated: float

    def view(self) -> slots.LimitView:
        return slots.LimitView(
            name=self.name,
            limit=self.limit,
            decay_per_second=self.slot_decay_per_second,
            active=self.active,
            state=self.state,
        )


@dataclass(frozen=True)
class LeaseRecord:
    fencing_token: int
    id: str
    names: list[str]
    slots: int
    holder: str
    lease_duration: float
    created: float
    expires_at: float
    ended_at: float | None
    end_reason: str | None

    def expired(self, now: float) -> bool:
        return self.ended_at is None and self.expires_at <= now


@dataclass(frozen=True)
class KeptAnswer:
    """What the first request with an Idempotency-Key was answered: a grant at `granted_at`
    (with its lease, in concurrency mode), or a refusal (`problem`)."""

    request_hash: str
    granted_at: float | None
    lease_id: str | None
    lease_token: int | None
    lease_duration: float | None
    problem: dict[str, object] | None
