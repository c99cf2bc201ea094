"""Work run in child processes by the SDK tests (importable, so `spawn` can find it)."""

from __future__ import annotations

import threading
import time

from slotgate import SlotgateClient, concurrency


def hold_in_threads(api_url: str, name: str, threads: int) -> list[tuple[float, float]]:
    """Each thread holds one slot briefly; returns when each was inside (monotonic clock,
    which is shared by every process of the machine)."""
    client = SlotgateClient(api_url)
    intervals: list[tuple[float, float]] = []
    lock = threading.Lock()

    def work() -> None:
        with concurrency(name, timeout_seconds=60, client=client):
            entered = time.monotonic()
            time.sleep(0.02)
            left = time.monotonic()
        with lock:
            intervals.append((entered, left))

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=90)
    return intervals
