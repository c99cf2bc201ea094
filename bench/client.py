"""The load generator's HTTP client: one keep-alive HTTP/1.1 connection per simulated client,
on asyncio's transports, with httptools' parser (the one uvicorn serves with).

On a 2-core machine the generator shares the cores with the server and PostgreSQL: every
microsecond it spends on a request is taken from the server it measures, and more so from
the pair workloads, which keep all three busy, than from the health floor, where the server
alone is the bound. aiohttp spent 0.45 ms of CPU per acquire-and-release pair; this client
spends about a third of that (the CPU line of the benchmark's table shows it).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httptools

# As long as a request may take before the benchmark gives up on it.
REQUEST_TIMEOUT_SECONDS = 30.0


class Connection:
    """One connection to a server at `http://host:port`, one request at a time. A connection
    the server closed is opened again by the next request."""

    def __init__(self, url: str) -> None:
        authority = url.removeprefix("http://").rstrip("/")
        host, _, port = authority.rpartition(":")
        self._host, self._port = host, int(port)
        self._host_header = f"Host: {authority}\r\n".encode()
        self._transport: asyncio.Transport | None = None
        self._answers: _Answers  # the current connection's (`_connect`)

    @classmethod
    async def open(cls, url: str) -> Connection:
        connection = cls(url)
        await connection._connect()
        return connection

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Send one request; its status and its JSON body (None when it has none)."""
        if self._transport is None or self._transport.is_closing():
            await self._connect()
        assert self._transport is not None
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self._host_header
        payload = b""
        if body is not None:
            payload = json.dumps(body).encode()
            head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(payload)
        answer = self._answers.expect()
        self._transport.write(head + b"\r\n" + payload)
        async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
            status, raw = await answer
        return status, json.loads(raw) if raw else None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    async def _connect(self) -> None:
        self._answers = _Answers()
        self._transport, _ = await asyncio.get_running_loop().create_connection(
            lambda: self._answers, self._host, self._port
        )


class _Answers(asyncio.Protocol):
    """The answers of one TCP connection, read with httptools' parser."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self._transport: asyncio.BaseTransport | None = None
        self._answer: asyncio.Future[tuple[int, bytes]] | None = None

    def expect(self) -> asyncio.Future[tuple[int, bytes]]:
        """The next answer, once read whole."""
        self._answer = asyncio.get_running_loop().create_future()
        return self._answer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc or ConnectionError("the server closed the connection mid-answer"))

    # httptools' callbacks

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        raw, self._body = b"".join(self._body), []
        if not self._parser.should_keep_alive() and self._transport is not None:
            self._transport.close()
        if self._answer is not None and not self._answer.done():
            self._answer.set_result((self._parser.get_status_code(), raw))
