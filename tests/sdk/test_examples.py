"""The README's examples (examples/*.py) run against a real server and do what they say."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from pathlib import Path

from examples import database_connections, parallel_data_processing, throttle_task_submission
from slotgate import SlotgateClient, _protocol
from tests.sdk.conftest import MakeLimit

ROOT = Path(__file__).resolve().parents[2]


def reset(api: SlotgateClient, name: str, **config: object) -> None:
    api.call(_protocol.upsert(name, **config))  # type: ignore[arg-type]


def test_throttling_task_submission(api: SlotgateClient, make_limit: MakeLimit) -> None:
    reset(api, "task-submission", limit=5, slot_decay_per_second=5.0)
    submitted: list[float] = []
    started = time.monotonic()
    throttle_task_submission.submit_all(range(10), lambda task: submitted.append(time.monotonic() - started))
    assert len(submitted) == 10
    assert submitted[4] < 0.5  # a burst of 5
    assert submitted[9] >= 0.9  # then 5 per second


def test_database_connections_never_exceed_the_limit(api: SlotgateClient) -> None:
    reset(api, "database", limit=4)
    open_now = most = 0
    lock = threading.Lock()

    @contextlib.contextmanager
    def connect():  # type: ignore[no-untyped-def]
        nonlocal open_now, most
        with lock:
            open_now += 1
            most = max(most, open_now)
        try:
            yield _Connection()
        finally:
            with lock:
                open_now -= 1

    results = database_connections.run_queries(connect, [f"SELECT {i}" for i in range(30)], threads=20)
    assert results == [f"ran SELECT {i}" for i in range(30)]
    assert 1 < most <= 4


class _Connection:
    def execute(self, query: str) -> str:
        time.sleep(0.01)
        return f"ran {query}"


def test_heavy_data_processing_runs_alone(api: SlotgateClient) -> None:
    reset(api, "data-processing", limit=5)
    running: list[str] = []
    overlaps: list[list[str]] = []

    def job(kind: str):  # type: ignore[no-untyped-def]
        async def run() -> str:
            running.append(kind)
            overlaps.append(list(running))
            await asyncio.sleep(0.05)
            running.remove(kind)
            return kind

        return run

    results = asyncio.run(parallel_data_processing.run_jobs([job("heavy")] * 2, [job("light")] * 8))
    assert sorted(results) == ["heavy"] * 2 + ["light"] * 8
    assert all(seen == ["heavy"] for seen in overlaps if "heavy" in seen)
    assert max(len(seen) for seen in overlaps) <= 5


def test_the_readme_shows_every_example() -> None:
    readme = ROOT.joinpath("README.md").read_text()
    for example in ROOT.joinpath("examples").glob("*.py"):
        if example.name == "__init__.py":
            continue
        code = example.read_text().split('"""', 2)[2].strip()
        assert code in readme, f"README.md does not show {example.name}"
