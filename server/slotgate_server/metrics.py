"""Prometheus metrics, one registry per app (no process globals).

Two kinds. What the store keeps of each limit (its size, its occupancy, its open leases, and
its counts of granted and denied slots and of expired leases) is read at each scrape, so that
every server process, worker or replica, answers the same and a restart loses nothing. What a
process measures itself (how long its requests took to be decided, the requests it granted and
denied, the expired leases it reclaimed) is that process's own, as Prometheus's client
libraries keep it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from slotgate_server import slots
from slotgate_server.store.records import LimitRecord

# The Prometheus text format; scrapers read plain text as its version 0.0.4.
CONTENT_TYPE = "text/plain"
# The ways slots are taken, as the metrics label them: under a lease, or by a rate limit.
CONCURRENCY = "concurrency"
RATE_LIMIT = "rate_limit"
MODES = (CONCURRENCY, RATE_LIMIT)
# Where prometheus_client keeps every value in files, for processes that share their metrics
# (`shared_between_workers`); it reads the variable when it is first imported.
MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
TAKE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.grants = Counter(
            "slotgate_grants", "Requests granted slots by this server process.", ["mode"], registry=self.registry
        )
        self.denials = Counter(
            "slotgate_denials",
            "Requests refused for lack of slots by this server process.",
            ["mode"],
            registry=self.registry,
        )
        self.expiries = Counter(
            "slotgate_lease_expiries",
            "Expired leases this server process's sweep and acquires reclaimed.",
            registry=self.registry,
        )
        self.waiting = Gauge(
            "slotgate_waiting_requests",
            "Requests waiting in this server process for slots to be freed or to drain.",
            ["mode"],
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self.departures = Counter(
            "slotgate_departed_requests",
            "Requests whose client went away before they were answered: withdrawn while they "
            "waited, or granted and given back at once.",
            ["mode", "outcome"],
            registry=self.registry,
        )
        self.take_latency = Histogram(
            "slotgate_take_seconds",
            "Time this server process took to decide a slot request (grant or denial).",
            ["mode"],
            buckets=TAKE_BUCKETS,
            registry=self.registry,
        )
        self.take_latency_per_limit = Histogram(
            "slotgate_limit_take_seconds",
            "Time this server process took to decide a slot request, once for each limit it named.",
            ["mode", "limit"],
            buckets=TAKE_BUCKETS,
            registry=self.registry,
        )

    def decided(self, mode: str, *, names: Sequence[str], granted: bool, seconds: float) -> None:
        """A slot request on `names` was granted or refused after `seconds`."""
        (self.grants if granted else self.denials).labels(mode).inc()
        self.take_latency.labels(mode).observe(seconds)
        for name in names:
            self.take_latency_per_limit.labels(mode, name).observe(seconds)

    def forget(self, name: str) -> None:
        """A limit was deleted through this process: drop its series here. (Other processes
        keep theirs until they restart; a limit made again under the name continues them.)"""
        for mode in MODES:
            with contextlib.suppress(KeyError):
                self.take_latency_per_limit.remove(mode, name)

    def render(self, limits: Iterable[LimitRecord], *, now: float) -> bytes:
        """The exposition text: this process's own metrics (or, for workers sharing theirs,
        every worker's, summed), then each limit's from `limits` as of `now`."""
        own: CollectorRegistry = self.registry
        if os.environ.get(MULTIPROCESS_DIRECTORY):
            own = CollectorRegistry()
            MultiProcessCollector(own)  # type: ignore[no-untyped-call]
        return generate_latest(own) + generate_latest(_LimitRows(limits, now=now))


@contextlib.contextmanager
def shared_between_workers(workers: int) -> Iterator[None]:
    """For `slotgate server start --workers N`: its workers, started within, keep their own
    metrics in files of one directory, made here for as long as they run (prometheus_client's
    multiprocess mode), so that a scrape, which reaches one worker, reports them all. A
    directory already named in the environment is used as it is. The workers are new
    interpreters (uvicorn spawns them), so each reads the variable as it imports
    prometheus_client, whatever this process imported before."""
    if workers == 1 or os.environ.get(MULTIPROCESS_DIRECTORY):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="slotgate-metrics-") as directory:
        os.environ[MULTIPROCESS_DIRECTORY] = directory
        try:
            yield
        finally:
            del os.environ[MULTIPROCESS_DIRECTORY]


class _LimitRows:
    """The per-limit families, from the limits' rows as read for one scrape."""

    def __init__(self, limits: Iterable[LimitRecord], *, now: float) -> None:
        self.limits = list(limits)
        self.now = now

    def collect(self) -> Iterator[Metric]:
        labels = ["limit"]
        size = GaugeMetricFamily("slotgate_limit_slots", "Slots per limit.", labels=labels)
        occupied = GaugeMetricFamily("slotgate_active_slots", "Occupied slots per limit, decay applied.", labels=labels)
        open_leases = GaugeMetricFamily("slotgate_open_leases", "Open leases per limit.", labels=labels)
        granted = CounterMetricFamily(
            "slotgate_granted_slots", "Slots taken on the limit, by every server process.", labels=labels
        )
        denied = CounterMetricFamily(
            "slotgate_denied_slots",
            "Slots refused on the limit for lack of room, by every server process.",
            labels=labels,
        )
        expired = CounterMetricFamily(
            "slotgate_expired_leases",
            "Leases on the limit that expired before they were released, by every server process.",
            labels=labels,
        )
        for record in self.limits:
            name = [record.name]
            size.add_metric(name, record.limit)
            occupancy = slots.occupied_now(record.state, decay_per_second=record.slot_decay_per_second, now=self.now)
            occupied.add_metric(name, occupancy)
            open_leases.add_metric(name, record.open_leases or 0)
            granted.add_metric(name, record.granted_slots)
            denied.add_metric(name, record.denied_slots)
            expired.add_metric(name, record.expired_leases)
        yield from (size, occupied, open_leases, granted, denied, expired)
