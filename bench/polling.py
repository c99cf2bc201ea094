"""`python -m bench.polling`: what clients that poll on the server's retry hint get.

A polling client asks without waiting on the server (`wait_seconds` 0) and, on a 423, sleeps
the precise wait the answer's body gives (`retry_after_seconds`) before it asks again. Two
workloads, against a real server on SQLite and on PostgreSQL:

- rate: 8 polling clients on a limit of 1 slot draining 20 per second; grants per second
  against 20. Beside it, the SDK (`slotgate.rate_limit` in 8 threads), which waits on the
  server, on a limit of the same shape.
- slots: 20 polling clients on a limit of 10 slots, each holding its slot 2 ms; pairs
  (acquire and release) per second and the hints they were given.

Writes JSON (bench/results-polling.json). The machine is shared: compare figures of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import workloads
from bench.client import Connection
from tests.support.live_server import LiveServer, fresh_database, running_server

# target: (store, server processes)
TARGETS = {
    "sqlite": ("sqlite", 1),
    "postgres": ("postgres", 1),
    "postgres-2-replicas": ("postgres", 2),
}
DEFAULT_TARGETS = ("sqlite", "postgres")
RATE_PER_SECOND = 20.0
RATE_CLIENTS = 8
SLOT_LIMIT = 10
SLOT_CLIENTS = 20
HOLD_SECONDS = 0.002
# Polling clients within 5 % of the rate, the SDK (waiting on the server) within 2 %.
POLLING_TOLERANCE = 0.05
SDK_TOLERANCE = 0.02
MAX_POLLS_PER_CLIENT = 100_000
# A hint the server should never give, and one that would stall a run: a client never sleeps
# past the run's end.
MAX_SECONDS = 120.0


@dataclass
class Polls:
    """What polling clients saw: when grants (or pairs) completed, the hints they slept."""

    grants: list[float] = field(default_factory=list)
    hints: list[float] = field(default_factory=list)
    # Grants (or pairs) of each client: a client told to wait long drops out of the run.
    per_client: list[int] = field(default_factory=list)
    requests: int = 0
    server_errors: int = 0
    other_errors: int = 0
    seconds: float = 0.0

    def tally(self, status: int, body: Any, *, ok: int) -> float | None:
        """Count one answer; the hint to sleep on a 423, None otherwise."""
        self.requests += 1
        if status == 423:
            hint = float(body["retry_after_seconds"])
            self.hints.append(hint)
            return hint
        if status >= 500:
            self.server_errors += 1
        elif status != ok:
            self.other_errors += 1
        return None


def _bounded(stop_at: float) -> Iterator[int]:
    for index in range(MAX_POLLS_PER_CLIENT):
        if time.perf_counter() >= stop_at:
            return
        yield index


async def _sleep_hint(hint: float, stop_at: float) -> None:
    await asyncio.sleep(max(0.0, min(hint, stop_at - time.perf_counter())))


async def rate_poller(http: Connection, polls: Polls, *, name: str, stop_at: float) -> int:
    """Rate-limit grants, sleeping each 423's hint; how many this client got."""
    body = {"names": [name], "wait_seconds": 0}
    granted = 0
    for _ in _bounded(stop_at):
        status, answer = await http.request("POST", "/api/v1/rate-limit", body)
        hint = polls.tally(status, answer, ok=200)
        if status == 200:
            polls.grants.append(time.perf_counter())
            granted += 1
        elif hint is not None:
            await _sleep_hint(hint, stop_at)
    return granted


async def slot_poller(http: Connection, polls: Polls, *, name: str, stop_at: float) -> int:
    """Acquire, hold HOLD_SECONDS, release; on a 423 sleep its hint. How many pairs this
    client made."""
    body = {"names": [name], "holder": "bench-polling", "wait_seconds": 0}
    pairs = 0
    for _ in _bounded(stop_at):
        status, answer = await http.request("POST", "/api/v1/leases", body)
        hint = polls.tally(status, answer, ok=201)
        if status == 201:
            await asyncio.sleep(HOLD_SECONDS)
            released, _ = await http.request("DELETE", f"/api/v1/leases/{answer['id']}")
            polls.tally(released, None, ok=204)
            if released == 204:
                polls.grants.append(time.perf_counter())
                pairs += 1
        elif hint is not None:
            await _sleep_hint(hint, stop_at)
    return pairs


async def poll(url: str, *, clients: int, seconds: float, name: str, slots: bool) -> Polls:
    """`clients` polling clients, each on a connection of its own, for `seconds`."""
    polls = Polls()
    poller = slot_poller if slots else rate_poller
    connections = [await Connection.open(url) for _ in range(clients)]
    try:
        started = time.perf_counter()
        stop_at = started + seconds
        polls.per_client = list(
            await asyncio.gather(*(poller(http, polls, name=name, stop_at=stop_at) for http in connections))
        )
        polls.seconds = time.perf_counter() - started
    finally:
        for http in connections:
            http.close()
    return polls


def sdk_rate(url: str, *, clients: int, seconds: float, name: str) -> Polls:
    """`slotgate.rate_limit(name)` in `clients` threads (each with a client of its own), which
    wait on the server, for `seconds`."""
    from slotgate import AcquireTimeout, SlotgateClient, rate_limit

    polls = Polls()
    lock = threading.Lock()
    started = time.perf_counter()
    stop_at = started + seconds

    def take_turns() -> None:
        client = SlotgateClient(url)
        granted = 0
        try:
            for _ in _bounded(stop_at):
                try:
                    rate_limit(name, timeout_seconds=max(0.001, stop_at - time.perf_counter()), client=client)
                except AcquireTimeout:
                    return
                granted += 1
                with lock:
                    polls.grants.append(time.perf_counter())
        finally:
            client.close()
            with lock:
                polls.per_client.append(granted)

    threads = [threading.Thread(target=take_turns) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + MAX_SECONDS)
    polls.seconds = time.perf_counter() - started
    polls.requests = len(polls.grants)
    return polls


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def hint_figures(hints: list[float]) -> dict[str, float | int]:
    """The hints' distribution, in milliseconds."""
    return {
        "hints": len(hints),
        "hint_mean_ms": round(statistics.fmean(hints) * 1e3, 2) if hints else 0.0,
        "hint_p50_ms": round(percentile(hints, 0.5) * 1e3, 2),
        "hint_p99_ms": round(percentile(hints, 0.99) * 1e3, 2),
        "hint_max_ms": round(max(hints, default=0.0) * 1e3, 2),
    }


def steady_rate(grants: list[float]) -> float:
    """Grants per second between the first grant and the last: the burst the limit allows at
    the start and the run's ragged end do not count."""
    if len(grants) < 2:
        return 0.0
    ordered = sorted(grants)
    return (len(ordered) - 1) / (ordered[-1] - ordered[0])


def client_figures(polls: Polls) -> dict[str, int]:
    """The fewest and most grants of one client."""
    return {
        "fewest_of_a_client": min(polls.per_client, default=0),
        "most_of_a_client": max(polls.per_client, default=0),
    }


def rate_figures(polls: Polls, *, rate: float) -> dict[str, Any]:
    steady = steady_rate(polls.grants)
    return {
        "grants": len(polls.grants),
        "per_second": round(len(polls.grants) / polls.seconds, 2) if polls.seconds else 0.0,
        "steady_per_second": round(steady, 2),
        "ratio_to_rate": round(steady / rate, 4),
        "requests_per_grant": round(polls.requests / len(polls.grants), 2) if polls.grants else None,
        "longest_gap_between_grants_ms": round(workloads.longest_gap(polls.grants) * 1e3, 1),
        **client_figures(polls),
        "server_errors_5xx": polls.server_errors,
        "other_errors": polls.other_errors,
        **hint_figures(polls.hints),
    }


def slot_figures(polls: Polls) -> dict[str, Any]:
    return {
        "pairs": len(polls.grants),
        "pairs_per_second": round(len(polls.grants) / polls.seconds, 1) if polls.seconds else 0.0,
        "denials_per_pair": round(len(polls.hints) / len(polls.grants), 2) if polls.grants else None,
        **client_figures(polls),
        "server_errors_5xx": polls.server_errors,
        "other_errors": polls.other_errors,
        **hint_figures(polls.hints),
    }


@contextlib.contextmanager
def servers(store: str, replicas: int) -> Iterator[list[LiveServer]]:
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_database(store, Path(tmp)))
        yield [stack.enter_context(running_server(url, Path(tmp))) for _ in range(replicas)]


def create(url: str, config: dict[str, Any]) -> str:
    name = f"polling-{uuid.uuid4().hex[:8]}"
    httpx.put(f"{url}/api/v1/limits/{name}", json=config, timeout=30).raise_for_status()
    return name


def measure_on(urls: list[str], *, seconds: float) -> dict[str, Any]:
    """The three workloads, on limits of their own; polling clients spread over the servers."""
    rate_limit = {"limit": 1, "slot_decay_per_second": RATE_PER_SECOND}
    polling = workloads.run(_spread(urls, seconds=seconds, name=create(urls[0], rate_limit), slots=False))
    sdk = sdk_rate(urls[-1], clients=RATE_CLIENTS, seconds=seconds, name=create(urls[0], rate_limit))
    slots = workloads.run(_spread(urls, seconds=seconds, name=create(urls[0], {"limit": SLOT_LIMIT}), slots=True))
    figures = {
        "rate_polling": rate_figures(polling, rate=RATE_PER_SECOND),
        "rate_sdk": rate_figures(sdk, rate=RATE_PER_SECOND),
        "slots_polling": slot_figures(slots),
    }
    figures["verdicts"] = {
        "polling within 5% of 20/s": abs(figures["rate_polling"]["ratio_to_rate"] - 1) <= POLLING_TOLERANCE,
        "SDK within 2% of 20/s": abs(figures["rate_sdk"]["ratio_to_rate"] - 1) <= SDK_TOLERANCE,
        "no 5xx": all(figures[load]["server_errors_5xx"] == 0 for load in ("rate_polling", "slots_polling")),
    }
    return figures


async def _spread(urls: list[str], *, seconds: float, name: str, slots: bool) -> Polls:
    """The polling clients of one workload, split evenly over the servers."""
    clients = SLOT_CLIENTS if slots else RATE_CLIENTS
    shares = [clients // len(urls) + (index < clients % len(urls)) for index in range(len(urls))]
    parts = await asyncio.gather(
        *(
            poll(url, clients=share, seconds=seconds, name=name, slots=slots)
            for url, share in zip(urls, shares, strict=True)
        )
    )
    merged = Polls(seconds=max(part.seconds for part in parts))
    for part in parts:
        merged.grants += part.grants
        merged.per_client += part.per_client
        merged.hints += part.hints
        merged.requests += part.requests
        merged.server_errors += part.server_errors
        merged.other_errors += part.other_errors
    return merged


def measure(target: str, *, seconds: float, rounds: int) -> dict[str, Any]:
    """`rounds` runs of the workloads on one server (set), each on fresh limits."""
    store, replicas = TARGETS[target]
    with servers(store, replicas) as started:
        return {"rounds": [measure_on([server.url for server in started], seconds=seconds) for _ in range(rounds)]}


def table(results: dict[str, Any]) -> str:
    lines = [
        f"{'target':<20} {'round':>5} {'poll/s':>7} {'ratio':>7} {'req/grant':>9} {'sdk/s':>7} {'ratio':>7} "
        f"{'pairs/s':>8} {'of a client':>11} {'hint mean/p50/p99/max ms':>28}"
    ]
    for target, figures in results.items():
        for index, run in enumerate(figures["rounds"], 1):
            rate, sdk, pairs = run["rate_polling"], run["rate_sdk"], run["slots_polling"]
            hints = "/".join(f"{pairs[key]:g}" for key in ("hint_mean_ms", "hint_p50_ms", "hint_p99_ms", "hint_max_ms"))
            clients = f"{pairs['fewest_of_a_client']}-{pairs['most_of_a_client']}"
            lines.append(
                f"{target:<20} {index:>5} {rate['steady_per_second']:>7.2f} {rate['ratio_to_rate']:>7.3f} "
                f"{rate['requests_per_grant']!s:>9} {sdk['steady_per_second']:>7.2f} {sdk['ratio_to_rate']:>7.3f} "
                f"{pairs['pairs_per_second']:>8.1f} {clients:>11} {hints:>28}"
            )
    return "\n".join(lines)


def _commit() -> str | None:
    try:
        found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return found.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--targets", default=",".join(DEFAULT_TARGETS), help=f"comma-separated of: {', '.join(TARGETS)}"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each workload (at most 60)")
    parser.add_argument("--rounds", type=int, default=1, help="runs of the workloads per target (at most 10)")
    parser.add_argument("--label", default="", help="a note kept with the figures (what code ran)")
    parser.add_argument("--json", type=Path, default=Path("bench/results-polling.json"))
    args = parser.parse_args()
    seconds = min(args.seconds, 60.0)
    rounds = max(1, min(args.rounds, 10))
    results = {target: measure(target, seconds=seconds, rounds=rounds) for target in args.targets.split(",")}
    print(table(results))
    run = {
        "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "label": args.label,
        "seconds": seconds,
    }
    args.json.write_text(json.dumps({"run": run, **results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
