"""The benchmark's workloads. Every loop is bounded in count and in time; traffic goes only to
the loopback servers the benchmark started."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psutil
import psycopg

try:
    import uvloop
except ImportError:  # no uvloop on Windows: asyncio's own loop
    uvloop = None

from bench.client import Connection

MAX_OPERATIONS_PER_CLIENT = 200_000
# How often the contention workload reads the limit's occupancy from the server. A read of a
# limit costs the server about 0.9 ms of CPU, so reading it every 20 ms took 3-4 % of the
# server from the workload it watches; every 100 ms takes under 1 %.
WATCH_INTERVAL_SECONDS = 0.1
# Clients let the server hold a request this long for slots, as the SDK does: a freed slot
# is handed over at once instead of at the end of a retry hint.
SERVER_WAIT_SECONDS = 5.0


@dataclass
class Result:
    name: str
    operations: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    denials: int = 0
    server_errors: int = 0
    other_errors: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def count(self, status: int, *, ok: int) -> bool:
        """Tally one answer; True when it is the success expected."""
        if status == ok:
            return True
        if status == 423:
            self.denials += 1
        elif status >= 500:
            self.server_errors += 1
        else:
            self.other_errors += 1
        return False

    def summary(self) -> dict[str, Any]:
        return {
            "per_second": round(self.per_second, 1),
            "operations": self.operations,
            "p50_ms": round(self.percentile(0.5) * 1e3, 2),
            "p95_ms": round(self.percentile(0.95) * 1e3, 2),
            "p99_ms": round(self.percentile(0.99) * 1e3, 2),
            "denials_423": self.denials,
            "server_errors_5xx": self.server_errors,
            "other_errors": self.other_errors,
            **self.extra,
        }


Loop = Callable[[Connection, Result, float], Awaitable[None]]
T = TypeVar("T")


def run(workload: Coroutine[Any, Any, T]) -> T:
    """Run a workload to its end on a loop of its own: uvloop's where it is installed (the
    loop uvicorn serves on). On asyncio's own loop the generator spent about a fifth more CPU
    per request, relative to the server's, and took it from the server it measures."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop if uvloop is not None else None) as runner:
        return runner.run(workload)


async def run_clients(urls: list[str], *, result: Result, clients: int, seconds: float, loop: Loop) -> Result:
    """`clients` concurrent loops spread over the servers at `urls`, each on a connection of
    its own, for `seconds`, adding to `result`. The connections are open before the clock
    starts."""
    connections: list[Connection] = []
    try:
        for index in range(clients):
            connections.append(await Connection.open(urls[index % len(urls)]))
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(*(loop(connection, result, stop_at) for connection in connections))
        result.seconds += time.perf_counter() - started
    finally:
        for connection in connections:
            connection.close()
    return result


def _bounded(stop_at: float) -> itertools.takewhile[int]:
    return itertools.takewhile(lambda _: time.perf_counter() < stop_at, range(MAX_OPERATIONS_PER_CLIENT))


async def health_loop(http: Connection, result: Result, stop_at: float) -> None:
    for _ in _bounded(stop_at):
        started = time.perf_counter()
        status, _ = await http.request("GET", "/api/health")
        ok = result.count(status, ok=200)
        result.latencies.append(time.perf_counter() - started)
        result.operations += ok


def pair_loop(limit_name: str, holds: list[tuple[float, float]] | None = None) -> Loop:
    """Acquire (waiting on the server) then release. `holds` collects when each client held
    its slot: from the grant's arrival to the release's departure, which lies within the time
    the server counts the slot as taken. A client holds its slot for one turn of the event
    loop, so that the other clients' grants can arrive meanwhile: more than `limit` of these
    spans at once would be more holders than the limit."""

    async def loop(http: Connection, result: Result, stop_at: float) -> None:
        for _ in _bounded(stop_at):
            started = time.perf_counter()
            body = {"names": [limit_name], "holder": "bench", "wait_seconds": SERVER_WAIT_SECONDS}
            status, lease = await http.request("POST", "/api/v1/leases", body)
            result.latencies.append(time.perf_counter() - started)
            if not result.count(status, ok=201):
                continue
            granted = time.perf_counter()
            await asyncio.sleep(0)
            released = time.perf_counter()
            status, _ = await http.request("DELETE", f"/api/v1/leases/{lease['id']}")
            if result.count(status, ok=204):
                result.operations += 1
            if holds is not None:
                holds.append((granted, released))

    return loop


def rate_loop(limit_name: str, granted: list[float] | None = None) -> Loop:
    """Rate-limit grants, waiting on the server; `granted` collects when each grant arrived."""

    async def loop(http: Connection, result: Result, stop_at: float) -> None:
        for _ in _bounded(stop_at):
            started = time.perf_counter()
            wait = max(0.0, min(SERVER_WAIT_SECONDS, stop_at - time.perf_counter()))
            status, _ = await http.request("POST", "/api/v1/rate-limit", {"names": [limit_name], "wait_seconds": wait})
            result.latencies.append(time.perf_counter() - started)
            if result.count(status, ok=200):
                result.operations += 1
                if granted is not None:
                    granted.append(time.perf_counter())

    return loop


async def rate_accuracy(urls: list[str], *, result: Result, limit_name: str, clients: int, seconds: float) -> Result:
    """Grants of a decaying limit to clients that always wait for one, adding to `result`,
    which also keeps what would explain a shortfall.

    Each client has one request waiting on the server at a time, and a grant counts from the
    moment its request had arrived and fit, so the clients make up for a pause of up to
    `clients` grants' worth of drain. A longer pause costs grants that no server can give back
    to them: one of the whole machine, which the generator's own loop sees as a late tick
    (and the hypervisor as stolen time), or one of the server or PostgreSQL alone, which
    shows as a long gap between grants while the generator's ticks were on time."""
    granted: list[float] = []
    done = asyncio.Event()
    stolen_before = _stolen_seconds()
    ticker = asyncio.create_task(longest_stall(done, bound_seconds=seconds + SERVER_WAIT_SECONDS))
    try:
        await run_clients(urls, result=result, clients=clients, seconds=seconds, loop=rate_loop(limit_name, granted))
    finally:
        done.set()
    stall = await ticker
    stolen = _stolen_seconds()
    result.extra["longest_gap_between_grants_ms"] = round(longest_gap(granted) * 1e3, 1)
    result.extra["generator_longest_stall_ms"] = round(stall * 1e3, 1)
    if stolen is not None and stolen_before is not None:
        result.extra["cpu_stolen_by_hypervisor_seconds"] = round(stolen - stolen_before, 2)
    return result


TICK_SECONDS = 0.01


async def longest_stall(done: asyncio.Event, *, bound_seconds: float) -> float:
    """The longest time the running loop was late for a tick, until `done` is set (at most
    `bound_seconds`): how long this process was kept from running."""
    worst = 0.0
    stop_at = time.perf_counter() + bound_seconds
    for _ in _bounded(stop_at):
        if done.is_set():
            break
        before = time.perf_counter()
        await asyncio.sleep(TICK_SECONDS)
        worst = max(worst, time.perf_counter() - before - TICK_SECONDS)
    return worst


def longest_gap(moments: list[float]) -> float:
    """The longest time between two consecutive moments (0 for fewer than two)."""
    ordered = sorted(moments)
    return max((later - earlier for earlier, later in itertools.pairwise(ordered)), default=0.0)


def _stolen_seconds() -> float | None:
    """CPU time the hypervisor gave to other machines, summed over the cores (Linux only)."""
    steal = getattr(psutil.cpu_times(), "steal", None)
    return None if steal is None else float(steal)


async def watch_usage(url: str, limit_name: str, done: asyncio.Event) -> tuple[float, int]:
    """The most slots the server reported occupied while `done` was not set, and how many
    times it was asked."""
    most = 0.0
    looks = 0
    http = await Connection.open(url)
    try:
        while not done.is_set():
            _, limit = await http.request("GET", f"/api/v1/limits/{limit_name}")
            most = max(most, limit["active_slots"])
            looks += 1
            await asyncio.sleep(WATCH_INTERVAL_SECONDS)
    finally:
        http.close()
    return most, looks


def most_held_at_once(holds: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in holds] + [(end, -1) for _, end in holds])
    held = peak = 0
    for _, change in events:
        held += change
        peak = max(peak, held)
    return peak


async def contention(urls: list[str], *, result: Result, limit_name: str, clients: int, seconds: float) -> Result:
    """Pairs on a limit too small for the clients, adding to `result`, which keeps the most
    slots held at once as the clients saw them and as the server reported them."""
    holds: list[tuple[float, float]] = []
    done = asyncio.Event()
    watcher = asyncio.create_task(watch_usage(urls[0], limit_name, done))
    await run_clients(urls, result=result, clients=clients, seconds=seconds, loop=pair_loop(limit_name, holds))
    done.set()
    most_occupied, looks = await watcher
    for seen, most in (
        ("most_held_seen_by_clients", most_held_at_once(holds)),
        ("most_occupied_seen_by_server", most_occupied),
    ):
        result.extra[seen] = max(result.extra.get(seen, 0), most)
    result.extra["server_state_looks"] = result.extra.get("server_state_looks", 0) + looks
    return result


async def raw_sql_floor(postgres_url: str, *, connections: int, seconds: float) -> Result:
    """The same single-row update pair as an acquire and a release, straight to PostgreSQL."""
    result = Result("raw SQL floor")
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as setup:
        await setup.execute("CREATE TABLE IF NOT EXISTS bench_floor (id int PRIMARY KEY, occupied float8)")
        await setup.execute("INSERT INTO bench_floor VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET occupied = 0")

    async def loop(stop_at: float) -> None:
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
            for _ in _bounded(stop_at):
                started = time.perf_counter()
                await conn.execute("UPDATE bench_floor SET occupied = occupied + 1 WHERE id = 1")
                await conn.execute("UPDATE bench_floor SET occupied = occupied - 1 WHERE id = 1")
                result.latencies.append(time.perf_counter() - started)
                result.operations += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(started + seconds) for _ in range(connections)))
    result.seconds = time.perf_counter() - started
    return result


def sdk_medians(url: str, *, concurrency_limit: str, rate_limit_name: str, repeats: int) -> dict[str, float]:
    """Median milliseconds of an uncontended `with concurrency(...)` block and of `rate_limit`."""
    from slotgate import SlotgateClient, concurrency, rate_limit

    client = SlotgateClient(url)
    costs: dict[str, list[float]] = {"concurrency_block_ms": [], "rate_limit_ms": []}
    for _ in range(min(repeats, 10_000)):
        started = time.perf_counter()
        with concurrency(concurrency_limit, client=client):
            pass
        costs["concurrency_block_ms"].append(time.perf_counter() - started)
        started = time.perf_counter()
        rate_limit(rate_limit_name, client=client)
        costs["rate_limit_ms"].append(time.perf_counter() - started)
    client.close()
    return {what: round(statistics.median(values) * 1e3, 2) for what, values in costs.items()}


def hand_off(url: str, *, limit_name: str, rounds: int, hold_seconds: float = 0.1) -> dict[str, float]:
    """With the limit full, the delay from a release to the next waiter's grant (SDK waiters)."""
    import threading

    from slotgate import SlotgateClient, concurrency

    client = SlotgateClient(url)
    delays: list[float] = []
    for _ in range(min(rounds, 1000)):
        holder = client.acquire([limit_name], lease_duration=60)
        granted = threading.Event()
        got_at: list[float] = []

        def wait_for_slot(got_at: list[float] = got_at, granted: threading.Event = granted) -> None:
            with concurrency(limit_name, client=client, timeout_seconds=30):
                got_at.append(time.perf_counter())
                granted.set()

        waiter = threading.Thread(target=wait_for_slot)
        waiter.start()
        time.sleep(hold_seconds)
        released_at = time.perf_counter()
        client.release(holder.id)
        granted.wait(timeout=30)
        waiter.join(timeout=30)
        if got_at:
            delays.append(got_at[0] - released_at)
    client.close()
    return {"hand_off_median_ms": round(statistics.median(delays) * 1e3, 1), "rounds": len(delays)}
