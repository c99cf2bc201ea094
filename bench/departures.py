"""`python -m bench.departures`: a waiter that leaves never holds up the next caller.

Each round, on a limit of 1 whose slot is held: one client waits on the server and leaves
(its socket closed), another waits and stays; the holder releases right after the first
client left. The figure is the delay from the release to the staying client's grant, and the
leases left open at the end (none should be: a departed waiter is never granted a slot, and a
grant that raced its departure is given back).

Writes bench/results-departures.json; compare its figures with the target (50 ms).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.support.live_server import LiveServer, fresh_database, running_server
from tests.support.waiting import RawRequest, eventually, scraped

TARGET_MS = 50.0
LIMIT = "departures"


@contextlib.contextmanager
def server_on(store: str) -> Iterator[LiveServer]:
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        yield stack.enter_context(running_server(stack.enter_context(fresh_database(store, tmp)), tmp))


def one_round(client: httpx.Client) -> float:
    """Seconds from the release to the staying waiter's grant."""
    holder = client.post("/api/v1/leases", json={"names": [LIMIT]}).json()
    body = {"names": [LIMIT], "wait_seconds": 30}
    leaving = RawRequest(str(client.base_url), "/api/v1/leases", body)
    eventually(lambda: scraped(client, "slotgate_waiting_requests", mode="concurrency") == 1, what="one waits")
    staying = RawRequest(str(client.base_url), "/api/v1/leases", body)
    eventually(lambda: scraped(client, "slotgate_waiting_requests", mode="concurrency") == 2, what="two wait")
    answers: list[tuple[float, int, dict[str, Any]]] = []

    def read_answer() -> None:
        status, lease = staying.answer()
        answers.append((time.perf_counter(), status, lease))

    reader = threading.Thread(target=read_answer)
    reader.start()
    leaving.close()
    released_at = time.perf_counter()
    client.delete(f"/api/v1/leases/{holder['id']}").raise_for_status()
    reader.join(timeout=30)
    granted_at, status, lease = answers[0]
    assert status == 201, (status, lease)
    client.delete(f"/api/v1/leases/{lease['id']}").raise_for_status()
    return granted_at - released_at


def measure(store: str, *, rounds: int) -> dict[str, Any]:
    with server_on(store) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        client.put(f"/api/v1/limits/{LIMIT}", json={"limit": 1}).raise_for_status()
        delays = sorted(one_round(client) for _ in range(min(rounds, 500)))
        left_open = client.get(f"/api/v1/limits/{LIMIT}").json()["open_leases"]
        given_back = scraped(client, "slotgate_departed_requests_total", mode="concurrency", outcome="given_back")
        withdrawn = scraped(client, "slotgate_departed_requests_total", mode="concurrency", outcome="withdrawn")
    median_ms = statistics.median(delays) * 1e3
    return {
        "rounds": len(delays),
        "next_grant_median_ms": round(median_ms, 1),
        "next_grant_p90_ms": round(delays[int(0.9 * (len(delays) - 1))] * 1e3, 1),
        "next_grant_max_ms": round(delays[-1] * 1e3, 1),
        "withdrawn": withdrawn,
        "given_back": given_back,
        "leases_left_open": left_open,
        "target_median_ms": TARGET_MS,
        "met": median_ms < TARGET_MS and left_open == 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--json", type=Path, default=Path("bench/results-departures.json"))
    args = parser.parse_args()
    results = {store: measure(store, rounds=args.rounds) for store in args.stores.split(",")}
    for store, figures in results.items():
        print(f"{store:<10} " + ", ".join(f"{name} {value}" for name, value in figures.items()))
    args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
