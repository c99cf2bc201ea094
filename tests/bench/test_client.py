"""The load generator's HTTP client: answers read whole however they arrive, a connection the
server closes opened again, and a real server's acquire and release; and the loop it runs on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest
import uvloop

from bench import workloads
from bench.client import Connection
from tests.support.live_server import LiveServer

Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve(answer: Answer, requests: Callable[[str], Awaitable[None]]) -> list[bytes]:
    """Run `requests(url)` against a loopback server that answers with `answer`; the request
    heads the server read."""
    heads: list[bytes] = []

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                heads.append(head)
                lines = head.split(b"\r\n")
                await reader.readexactly(sum(int(line[15:]) for line in lines if line.startswith(b"Content-Length:")))
                await answer(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    listener = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with listener:
        await requests(f"http://127.0.0.1:{port}")
    return heads


def test_an_answer_split_over_several_packets_is_read_whole_and_the_connection_kept() -> None:
    async def in_pieces(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for piece in (b"HTTP/1.1 201 Created\r\nContent-Le", b'ngth: 11\r\n\r\n{"id": ', b'"a"}'):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.01)

    answers: list[tuple[int, object]] = []

    async def two_requests(url: str) -> None:
        connection = await Connection.open(url)
        answers.append(await connection.request("POST", "/api/v1/leases", {"names": ["db"]}))
        answers.append(await connection.request("GET", "/api/health"))
        connection.close()

    heads = asyncio.run(serve(in_pieces, two_requests))
    assert answers == [(201, {"id": "a"}), (201, {"id": "a"})]
    assert heads[0].startswith(b"POST /api/v1/leases HTTP/1.1\r\n")
    assert b"Content-Type: application/json\r\n" in heads[0]
    assert heads[1].startswith(b"GET /api/health HTTP/1.1\r\n")
    assert b"Content-Length" not in heads[1]


def test_a_connection_the_server_closes_is_opened_again_by_the_next_request() -> None:
    async def once_then_close(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    answers: list[tuple[int, object]] = []

    async def three_requests(url: str) -> None:
        connection = await Connection.open(url)
        for _ in range(3):
            answers.append(await connection.request("DELETE", "/api/v1/leases/x"))
        connection.close()

    heads = asyncio.run(serve(once_then_close, three_requests))
    assert answers == [(204, None)] * 3
    assert len(heads) == 3


def test_an_answer_cut_off_by_the_server_is_an_error_not_a_hang() -> None:
    async def half_then_close(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial')
        await writer.drain()
        writer.close()

    async def one_request(url: str) -> None:
        connection = await Connection.open(url)
        with pytest.raises(ConnectionError):
            await connection.request("GET", "/api/health")

    asyncio.run(serve(half_then_close, one_request))


def test_an_acquire_and_its_release_on_a_real_server(server: LiveServer, client: httpx.Client, name: str) -> None:
    client.put(f"/api/v1/limits/{name}", json={"limit": 1}).raise_for_status()
    answers: list[tuple[int, object]] = []

    async def pair() -> None:
        connection = await Connection.open(server.url)
        acquired = await connection.request("POST", "/api/v1/leases", {"names": [name], "holder": "bench"})
        answers.append(acquired)
        held = client.get(f"/api/v1/limits/{name}").json()["active_slots"]
        lease = acquired[1]
        assert isinstance(lease, dict)
        answers.append(await connection.request("DELETE", f"/api/v1/leases/{lease['id']}"))
        answers.append((held, None))
        connection.close()

    workloads.run(pair())
    (status, lease), released, (held, _) = answers
    assert status == 201 and isinstance(lease, dict) and lease["names"] == [name]
    assert held == 1
    assert released == (204, None)
    assert client.get(f"/api/v1/limits/{name}").json()["active_slots"] == 0


def test_the_workloads_run_on_uvloop() -> None:
    """The generator runs on the loop uvicorn serves on, the lighter of the two."""

    async def running_loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    assert isinstance(workloads.run(running_loop()), uvloop.Loop)
