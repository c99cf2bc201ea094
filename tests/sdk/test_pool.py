"""Connections: kept alive as long as they are used, bounded where asked, queued for in
the async client, and a forked child's own."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import httpx

import slotgate.asyncio
from slotgate import SlotgateClient, concurrency
from tests.sdk.conftest import MakeLimit, occupied
from tests.sdk.test_guards import Gauge


@dataclass
class Connections:
    """TCP connections opened, counted through httpcore's trace hook."""

    opened: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_request(self, request: httpx.Request) -> None:
        request.extensions["trace"] = self._trace

    async def on_async_request(self, request: httpx.Request) -> None:
        request.extensions["trace"] = self._async_trace

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            with self._lock:
                self.opened += 1

    async def _async_trace(self, event: str, info: dict[str, Any]) -> None:
        self._trace(event, info)


def test_threads_keep_their_connections_alive(api: SlotgateClient, make_limit: MakeLimit) -> None:
    """25 threads: more than the 20 connections httpx keeps alive by default, with which most
    requests opened a new connection."""
    name = make_limit(limit=100)
    client = SlotgateClient(api.settings.api_url)
    connections = Connections()
    client._generated.get_httpx_client().event_hooks["request"].append(connections.on_request)
    blocks = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal blocks
        for _ in range(4):
            with concurrency(name, client=client), lock:
                blocks += 1

    threads = [threading.Thread(target=work) for _ in range(25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert blocks == 100
    assert connections.opened <= 25  # of 200 requests


def test_a_hundred_tasks_queue_in_the_client_and_all_get_through(api: SlotgateClient, make_limit: MakeLimit) -> None:
    name = make_limit(limit=5)
    gauge = Gauge()
    connections = Connections()

    async def main() -> None:
        client = slotgate.asyncio.SlotgateClient(api.settings.api_url, max_connections=8)
        client._generated.get_async_httpx_client().event_hooks["request"].append(connections.on_async_request)

        async def work() -> None:
            async with slotgate.asyncio.concurrency(name, timeout_seconds=60, client=client):
                gauge.enter()
                await asyncio.sleep(0.01)
                gauge.leave()

        async with asyncio.TaskGroup() as group:
            for _ in range(100):
                group.create_task(work())
        await client.aclose()

    asyncio.run(main())
    assert gauge.finished == 100
    assert 1 < gauge.most <= 5
    assert connections.opened <= 8
    assert occupied(api, name) == 0


def test_tasks_waiting_in_the_client_keep_their_order(api: SlotgateClient, make_limit: MakeLimit) -> None:
    """With room for one acquisition at the server, tasks are granted in the order they came."""
    name = make_limit(limit=1)
    entered: list[int] = []

    async def main() -> None:
        client = slotgate.asyncio.SlotgateClient(api.settings.api_url, max_connections=2)

        async def work(number: int) -> None:
            async with slotgate.asyncio.concurrency(name, timeout_seconds=60, client=client):
                entered.append(number)

        async with asyncio.TaskGroup() as group:
            for number in range(8):
                group.create_task(work(number))
        await client.aclose()

    asyncio.run(main())
    assert entered == list(range(8))


def child_holds(shared: SlotgateClient, name: str, parent_lease_id: str) -> dict[str, Any]:
    """In a forked child: hold a lease on the parent's client past its duration."""
    ports: set[int] = set()
    touched_parent: list[str] = []
    http = shared._generated.get_httpx_client()
    http.event_hooks["response"].append(lambda response: ports.add(client_port(response)))
    http.event_hooks["request"].append(
        lambda request: touched_parent.append(request.url.path) if parent_lease_id in request.url.path else None
    )
    with concurrency(name, client=shared, lease_duration=0.6) as lease:
        assert lease is not None
        time.sleep(1.5)  # more than twice the lease's duration: only renewals keep it
        held = lease.held
    return {"ports": sorted(ports), "held": held, "released": lease.released, "touched_parent": touched_parent}


def client_port(response: httpx.Response) -> int:
    return int(response.extensions["network_stream"].get_extra_info("client_addr")[1])


def in_forked_child(work: Any, *args: Any) -> dict[str, Any]:
    """`work(*args)` in a child made by os.fork(), and what it returned."""
    readable, writable = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads running: on purpose
        pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        try:
            outcome = json.dumps(work(*args))
        except BaseException as error:
            outcome = json.dumps({"error": repr(error)})
        os.write(writable, outcome.encode())
        os._exit(0)
    os.close(writable)
    with os.fdopen(readable, "rb") as pipe:
        returned = pipe.read()
    os.waitpid(pid, 0)
    return dict(json.loads(returned))


def test_a_forked_child_gets_its_own_connections_and_renewals(api: SlotgateClient, make_limit: MakeLimit) -> None:
    name = make_limit(limit=2)
    shared = SlotgateClient(api.settings.api_url)
    parent_ports: set[int] = set()
    shared._generated.get_httpx_client().event_hooks["response"].append(
        lambda response: parent_ports.add(client_port(response))
    )
    with concurrency(name, client=shared, lease_duration=0.6) as parent_lease:
        assert parent_lease is not None and parent_ports  # a connection is pooled, a renewal thread runs
        child = in_forked_child(child_holds, shared, name, parent_lease.id)
        assert "error" not in child, child
        assert child["held"] and child["released"]  # the child's own thread renewed its lease
        assert not set(child["ports"]) & parent_ports  # over connections of its own
        assert child["touched_parent"] == []  # and left the parent's lease to the parent
        assert parent_lease.held
    assert parent_lease.released
    assert occupied(api, name) == 0
