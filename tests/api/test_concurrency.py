"""Many HTTP clients on one small limit never hold more slots than it has."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.cli.test_server_start import start, wait_healthy
from tests.support import metrics
from tests.support.live_server import fresh_database, running_server

LIMIT = 5
CLIENTS = 50
ROUNDS = 3
DEADLINE_SECONDS = 90
SCRAPES = 4


@dataclass
class Observations:
    holds: list[tuple[float, float]] = field(default_factory=list)  # (granted seen, release sent)
    tokens: list[int] = field(default_factory=list)
    server_max_active: float = 0.0
    server_max_open: int = 0
    denials: int = 0
    failures: list[str] = field(default_factory=list)
    # The limit's figures in /metrics once the load is over, as each scrape saw them.
    scraped: list[dict[str, float]] = field(default_factory=list)
    # The requests granted by the process that answered each scrape, by its own count.
    process_grants: list[float | None] = field(default_factory=list)


async def hold_repeatedly(http: httpx.AsyncClient, name: str, seen: Observations, deadline: float) -> None:
    rounds = 0
    while rounds < ROUNDS and time.monotonic() < deadline:
        response = await http.post("/api/v1/leases", json={"names": [name], "holder": "load"})
        if response.status_code == 423:
            seen.denials += 1
            # Honour the hint, shortened so the test stays quick, with jitter.
            await asyncio.sleep(min(response.json()["retry_after_seconds"], 0.05) * random.uniform(0.5, 1.5))
            continue
        if response.status_code != 201:
            seen.failures.append(f"acquire {response.status_code}: {response.text}")
            return
        granted = time.monotonic()
        lease = response.json()
        seen.tokens.append(lease["fencing_token"])
        await asyncio.sleep(random.uniform(0.005, 0.03))
        released = time.monotonic()
        release = await http.delete(f"/api/v1/leases/{lease['id']}")
        if release.status_code != 204:
            seen.failures.append(f"release {release.status_code}: {release.text}")
        seen.holds.append((granted, released))
        rounds += 1


async def watch_server(http: httpx.AsyncClient, name: str, seen: Observations, done: asyncio.Event) -> None:
    while not done.is_set():
        limit = (await http.get(f"/api/v1/limits/{name}")).json()
        seen.server_max_active = max(seen.server_max_active, limit["active_slots"])
        seen.server_max_open = max(seen.server_max_open, limit["open_leases"])
        await asyncio.sleep(0.01)


def most_held_at_once(holds: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in holds] + [(end, -1) for _, end in holds])
    held = peak = 0
    for _, change in events:  # at equal times a release (-1) sorts before a grant (+1)
        held += change
        peak = max(peak, held)
    return peak


async def run_load(urls: list[str], name: str) -> Observations:
    seen = Observations()
    deadline = time.monotonic() + DEADLINE_SECONDS
    # Idle connections are dropped well before the server's keep-alive timeout (5 s), so that a
    # request never goes out on a connection the server is closing at that moment.
    limits = httpx.Limits(max_connections=CLIENTS + 5, keepalive_expiry=2)
    clients = [httpx.AsyncClient(base_url=url, timeout=30, limits=limits) for url in urls]
    try:
        await clients[0].post("/api/v1/limits", json={"name": name, "limit": LIMIT})
        done = asyncio.Event()
        watchers = [asyncio.create_task(watch_server(http, name, seen, done)) for http in clients]
        await asyncio.gather(
            *(hold_repeatedly(clients[i % len(clients)], name, seen, deadline) for i in range(CLIENTS))
        )
        done.set()
        await asyncio.gather(*watchers)
        final = (await clients[-1].get(f"/api/v1/limits/{name}")).json()
        assert final["active_slots"] == 0 and final["open_leases"] == 0
        # Several scrapes of each address, each on a new connection, which either of the
        # workers behind one port may accept.
        for url in urls:
            for _ in range(SCRAPES):
                async with httpx.AsyncClient(base_url=url, timeout=30) as scraper:
                    exposition = (await scraper.get("/metrics")).text
                seen.scraped.append(metrics.of_limit(exposition, name))
                seen.process_grants.append(metrics.sample(exposition, "slotgate_grants_total", mode="concurrency"))
    finally:
        for http in clients:
            await http.aclose()
    return seen


def assert_never_over_the_limit(seen: Observations) -> None:
    assert not seen.failures, seen.failures[:5]
    assert len(seen.holds) == CLIENTS * ROUNDS  # every client finished every round
    assert seen.denials > 0  # the limit really was contended
    assert most_held_at_once(seen.holds) <= LIMIT
    assert seen.server_max_active <= LIMIT and seen.server_max_open <= LIMIT
    assert len(set(seen.tokens)) == len(seen.tokens)
    # Every server process counts every grant and refusal, its own and the others'.
    counted = {"slotgate_granted_slots_total": len(seen.holds), "slotgate_denied_slots_total": seen.denials}
    for figures in seen.scraped:
        assert {key: figures[key] for key in counted} == counted
        assert figures["slotgate_active_slots"] == 0 and figures["slotgate_open_leases"] == 0


def test_fifty_clients_on_a_limit_of_five(client: httpx.Client, name: str) -> None:
    seen = asyncio.run(run_load([str(client.base_url)], name))
    assert_never_over_the_limit(seen)


def test_two_server_processes_share_one_postgresql(tmp_path: Path) -> None:
    with (
        fresh_database("postgres", tmp_path) as url,
        running_server(url, tmp_path) as first,
        running_server(url, tmp_path) as second,
    ):
        seen = asyncio.run(run_load([first.url, second.url], "shared"))
    assert_never_over_the_limit(seen)


def test_the_workers_of_one_server_share_one_postgresql(tmp_path: Path) -> None:
    with fresh_database("postgres", tmp_path) as url:
        environment = {"SLOTGATE_DATABASE_URL": url, "SLOTGATE_LEASE_SWEEP_SECONDS": "0.25"}
        process, line, port = start(tmp_path, "--workers", "2", env=environment)
        try:
            assert "store: postgresql" in line and "workers: 2" in line
            wait_healthy(port)
            seen = asyncio.run(run_load([f"http://127.0.0.1:{port}"], "workers"))
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)
    assert_never_over_the_limit(seen)
    # Whichever worker answers, it reports the grants of both: they share their own metrics.
    assert seen.process_grants == [len(seen.holds)] * SCRAPES


def test_the_overlap_count_detects_overlap() -> None:
    assert most_held_at_once([(0, 2), (1, 3), (1.5, 4)]) == 3
    assert most_held_at_once([(0, 1), (1, 2), (2, 3)]) == 1
