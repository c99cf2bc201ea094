"""`python -m bench.sdk_load`: the SDK itself under load, against a real server it starts.

- asyncio: one event loop, 20 tasks and then 1,000 tasks, each looping
  `async with slotgate.asyncio.concurrency(...)` around a short hold on a limit of 10. It
  reports blocks per second for each, their ratio (the target: at least 0.8), the acquire
  timeouts, and how many connections the client opened.
- threads: 25 threads looping `with slotgate.concurrency(...)` on a limit roomy enough for all
  of them, once on httpx's default pool (100 connections, only 20 of them kept alive: the
  SDK's pool before it sized its own) and once on the SDK's pool. It reports blocks per second
  and the share of requests that had to open a new connection.

Each variant runs in slices, the variants taking turns. Each loop is bounded in count and in
time; traffic goes only to the loopback server started here. The figures go to
bench/results-sdk-load.json. Compare the figures of one run: the machine is shared, so
absolute figures drift between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import slotgate
import slotgate.asyncio
from tests.support.live_server import LiveServer, fresh_database, running_server

LIMITS = {"sdk-contended": {"limit": 10}, "sdk-roomy": {"limit": 1_000_000}}
MAX_BLOCKS_PER_WORKER = 100_000
# Long enough that a task at the back of a thousand waits its turn: a timeout here is a
# stall, not a queue that is merely long.
ACQUIRE_TIMEOUT_SECONDS = 60.0
# How long the run waits for the server to show every slot free after the tasks are cancelled.
SETTLE_SECONDS = 30.0
TARGET_RATIO = 0.8


@dataclass
class ConnectionCount:
    """Requests sent and TCP connections opened, counted through httpcore's trace hook."""

    requests: int = 0
    opened: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_request(self, request: httpx.Request) -> None:
        request.extensions["trace"] = self._trace
        with self._lock:
            self.requests += 1

    async def on_async_request(self, request: httpx.Request) -> None:
        request.extensions["trace"] = self._async_trace
        self.requests += 1

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            with self._lock:
                self.opened += 1

    async def _async_trace(self, event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            self.opened += 1


@dataclass
class Tally:
    blocks: int = 0
    timeouts: int = 0
    errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, what: str) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + 1)


@contextlib.contextmanager
def server(store: str) -> Iterator[LiveServer]:
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        live = stack.enter_context(running_server(stack.enter_context(fresh_database(store, tmp)), tmp))
        for name, config in LIMITS.items():
            httpx.put(f"{live.url}/api/v1/limits/{name}", json=config).raise_for_status()
        yield live


def _bounded(stop_at: float) -> Iterator[int]:
    return itertools.takewhile(lambda _: time.monotonic() < stop_at, range(MAX_BLOCKS_PER_WORKER))


async def task_blocks(url: str, *, tasks: int, seconds: float, hold: float) -> dict[str, Any]:
    """`tasks` tasks on one loop, each looping a guarded block for `seconds`; the blocks
    finished within that time, per second. The tasks still waiting then are cancelled."""
    client = slotgate.asyncio.SlotgateClient(url)
    connections = ConnectionCount()
    client._generated.get_async_httpx_client().event_hooks["request"].append(connections.on_async_request)
    tally = Tally()
    stop_at = time.monotonic() + seconds

    async def loop() -> None:
        for _ in _bounded(stop_at):
            try:
                async with slotgate.asyncio.concurrency(
                    "sdk-contended", timeout_seconds=ACQUIRE_TIMEOUT_SECONDS, client=client
                ):
                    await asyncio.sleep(hold)
            except slotgate.AcquireTimeout:
                tally.add("timeouts")
            except slotgate.SlotgateError:
                tally.add("errors")
            else:
                tally.add("blocks")

    started = time.monotonic()
    workers = [asyncio.create_task(loop()) for _ in range(tasks)]
    await asyncio.wait(workers, timeout=seconds)
    elapsed, blocks, timeouts, errors = time.monotonic() - started, tally.blocks, tally.timeouts, tally.errors
    for worker in workers:
        worker.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    settled = await asyncio.to_thread(_settle, url, "sdk-contended")
    await client.aclose()
    return {
        "tasks": tasks,
        "seconds": elapsed,
        "blocks": blocks,
        "acquire_timeouts": timeouts,
        "other_errors": errors,
        "slots_free_after_cancelling": settled,
        "requests": connections.requests,
        "connections_opened": connections.opened,
    }


def _settle(url: str, name: str) -> bool:
    """Whether the limit shows every slot free again within SETTLE_SECONDS: the cancelled
    tasks released what they held and took nothing after they had gone."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/api/v1/limits/{name}").json()["active_slots"] == 0:
            return True
        time.sleep(0.1)
    return False


def thread_blocks(client: slotgate.SlotgateClient, *, threads: int, seconds: float) -> dict[str, Any]:
    """`threads` threads sharing `client`, each looping an uncontended block for `seconds`."""
    connections = ConnectionCount()
    client._generated.get_httpx_client().event_hooks["request"].append(connections.on_request)
    tally = Tally()
    stop_at = time.monotonic() + seconds

    def loop() -> None:
        for _ in _bounded(stop_at):
            with slotgate.concurrency("sdk-roomy", timeout_seconds=ACQUIRE_TIMEOUT_SECONDS, client=client):
                pass
            tally.add("blocks")

    started = time.monotonic()
    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=seconds + ACQUIRE_TIMEOUT_SECONDS)
    elapsed = time.monotonic() - started
    client.close()
    return {
        "threads": threads,
        "seconds": elapsed,
        "blocks": tally.blocks,
        "requests": connections.requests,
        "connections_opened": connections.opened,
    }


def httpx_default_pool(url: str) -> slotgate.SlotgateClient:
    """A client on the pool the SDK had before it sized its own: httpx's default, which keeps
    only 20 idle connections alive."""
    client = slotgate.SlotgateClient(url)
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's DEFAULT_LIMITS
    client._generated.set_httpx_client(httpx.Client(base_url=url, timeout=10.0, limits=limits))
    return client


def combined(slices: list[dict[str, Any]]) -> dict[str, Any]:
    """The slices of one variant as one run: counts added up, rates and shares of the sums."""
    total = dict(slices[0])
    for part in slices[1:]:
        for key, value in part.items():
            if isinstance(value, bool):
                total[key] = total[key] and value
            elif key not in ("tasks", "threads"):
                total[key] += value
    total["blocks_per_second"] = round(total["blocks"] / total["seconds"], 1)
    total["new_connection_share"] = round(total["connections_opened"] / max(1, total["requests"]), 3)
    total["seconds"] = round(total["seconds"], 1)
    return total


def measure(
    url: str, *, seconds: float, rounds: int, hold: float, task_counts: list[int], threads: int
) -> dict[str, Any]:
    """Each variant runs in `rounds` slices, the variants taking turns, so that a change in the
    machine's speed during the run weighs on all of them alike."""
    slice_seconds = seconds / rounds
    pools: dict[str, Callable[[str], slotgate.SlotgateClient]] = {
        "httpx_default_pool": httpx_default_pool,
        "sdk_pool": slotgate.SlotgateClient,
    }
    by_tasks: dict[int, list[dict[str, Any]]] = {count: [] for count in task_counts}
    by_pool: dict[str, list[dict[str, Any]]] = {"httpx_default_pool": [], "sdk_pool": []}
    for _ in range(rounds):
        for count in task_counts:
            by_tasks[count].append(asyncio.run(task_blocks(url, tasks=count, seconds=slice_seconds, hold=hold)))
        for pool, make_client in pools.items():
            by_pool[pool].append(thread_blocks(make_client(url), threads=threads, seconds=slice_seconds))
    runs = [combined(by_tasks[count]) for count in task_counts]
    few, many = runs[task_counts.index(min(task_counts))], runs[task_counts.index(max(task_counts))]
    ratio = many["blocks_per_second"] / few["blocks_per_second"] if few["blocks_per_second"] else 0.0
    before, after = combined(by_pool["httpx_default_pool"]), combined(by_pool["sdk_pool"])
    return {
        "asyncio": {
            "hold_ms": hold * 1e3,
            "runs": runs,
            "ratio_many_to_few": round(ratio, 3),
            "target_ratio": TARGET_RATIO,
            "target_met": ratio >= TARGET_RATIO,
        },
        "threads": {
            "httpx_default_pool": before,
            "sdk_pool": after,
            "throughput_ratio": round(after["blocks_per_second"] / before["blocks_per_second"], 3),
        },
    }


def report(figures: dict[str, Any], print_line: Callable[[str], None] = print) -> None:
    for run in figures["asyncio"]["runs"]:
        print_line(
            f"asyncio {run['tasks']:>5} tasks: {run['blocks_per_second']:>8.1f} blocks/s, "
            f"{run['acquire_timeouts']} acquire timeouts, {run['other_errors']} other errors, "
            f"{run['connections_opened']} connections for {run['requests']} requests, "
            f"slots free after cancelling: {run['slots_free_after_cancelling']}"
        )
    print_line(f"asyncio ratio: {figures['asyncio']['ratio_many_to_few']} (target {TARGET_RATIO})")
    for label, run in figures["threads"].items():
        if isinstance(run, dict):
            print_line(
                f"threads {label:<20} {run['blocks_per_second']:>8.1f} blocks/s, "
                f"{run['new_connection_share']:.1%} of {run['requests']} requests opened a connection"
            )
    print_line(f"threads throughput, SDK pool / httpx default pool: {figures['threads']['throughput_ratio']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=12.0, help="duration of each variant (at most 60)")
    parser.add_argument("--rounds", type=int, default=3, help="slices each variant runs in, taking turns")
    parser.add_argument("--hold-ms", type=float, default=2.0, help="how long each block holds its slot")
    parser.add_argument("--tasks", default="20,1000", help="comma-separated task counts (at most 2,000 each)")
    parser.add_argument("--threads", type=int, default=25, help="threads of the sync runs (at most 200)")
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--json", type=Path, default=Path("bench/results-sdk-load.json"))
    args = parser.parse_args()
    task_counts = [min(int(count), 2000) for count in args.tasks.split(",")]
    with server(args.store) as live:
        figures = measure(
            live.url,
            seconds=min(args.seconds, 60.0),
            rounds=min(max(args.rounds, 1), 10),
            hold=args.hold_ms / 1e3,
            task_counts=task_counts,
            threads=min(args.threads, 200),
        )
    figures = {"store": args.store, "seconds_per_variant": min(args.seconds, 60.0), "rounds": args.rounds, **figures}
    report(figures)
    args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
