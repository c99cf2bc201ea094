"""Prometheus metrics, one registry per app (no process globals)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from slotgate_server import slots
from slotgate_server.store.records import LimitRecord

# The Prometheus text format; scrapers read plain text as its version 0.0.4.
CONTENT_TYPE = "text/plain"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.grants = Counter("slotgate_grants", "Slot grants.", ["mode"], registry=self.registry)
        self.denials = Counter(
            "slotgate_denials", "Requests refused for lack of slots.", ["mode"], registry=self.registry
        )
        self.expiries = Counter("slotgate_lease_expiries", "Leases reclaimed after expiring.", registry=self.registry)
        self.take_latency = Histogram(
            "slotgate_take_seconds",
            "Time to decide a slot request (grant or denial).",
            ["mode"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=self.registry,
        )
        self.occupancy = Gauge(
            "slotgate_active_slots", "Occupied slots per limit, decay applied.", ["limit"], registry=self.registry
        )
        self.capacity = Gauge("slotgate_limit_slots", "Slots per limit.", ["limit"], registry=self.registry)

    def render(self, limits: Iterable[LimitRecord], *, now: float) -> bytes:
        """The exposition text, with per-limit gauges taken from `limits` as of `now`."""
        self.occupancy.clear()
        self.capacity.clear()
        for record in limits:
            occupied = slots.occupied_now(record.state, decay_per_second=record.slot_decay_per_second, now=now)
            self.occupancy.labels(record.name).set(occupied)
            self.capacity.labels(record.name).set(record.limit)
        return generate_latest(self.registry)
