"""Load loops: each one bounded in count and in time, loopback only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

MAX_OPERATIONS_PER_CLIENT = 200_000


@dataclass
class Result:
    name: str
    operations: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


Operation = Callable[[httpx.AsyncClient], Awaitable[bool]]


async def run_clients(url: str, *, name: str, clients: int, seconds: float, operation: Operation) -> Result:
    """`clients` loops each repeating `operation` until `seconds` pass (or the count bound)."""
    result = Result(name=name, operations=0, seconds=0.0)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        await operation(http)  # warm the connection pool and the server's caches
        stop_at = time.perf_counter() + seconds

        async def loop() -> None:
            for _ in range(MAX_OPERATIONS_PER_CLIENT):
                if time.perf_counter() >= stop_at:
                    return
                started = time.perf_counter()
                ok = await operation(http)
                result.latencies.append(time.perf_counter() - started)
                result.operations += ok
                result.errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(clients)))
        result.seconds = time.perf_counter() - started
    return result


async def health(http: httpx.AsyncClient) -> bool:
    return (await http.get("/api/health")).status_code == 200


def acquire_release(limit_name: str) -> Operation:
    async def pair(http: httpx.AsyncClient) -> bool:
        lease = await http.post("/api/v1/leases", json={"names": [limit_name], "holder": "bench"})
        if lease.status_code != 201:
            return False
        return (await http.delete(f"/api/v1/leases/{lease.json()['id']}")).status_code == 204

    return pair


def sdk_median_costs(url: str, *, concurrency_limit: str, rate_limit_name: str, repeats: int = 300) -> dict[str, float]:
    """Median seconds of an uncontended `with concurrency(...)` block and of `rate_limit(...)`,
    through the SDK's default pooled client."""
    from slotgate import SlotgateClient, concurrency, rate_limit

    client = SlotgateClient(url)
    costs: dict[str, list[float]] = {"concurrency block": [], "rate_limit": []}
    for _ in range(min(repeats, 10_000)):
        started = time.perf_counter()
        with concurrency(concurrency_limit, client=client):
            pass
        costs["concurrency block"].append(time.perf_counter() - started)
        started = time.perf_counter()
        rate_limit(rate_limit_name, client=client)
        costs["rate_limit"].append(time.perf_counter() - started)
    client.close()
    return {what: sorted(values)[len(values) // 2] for what, values in costs.items()}
