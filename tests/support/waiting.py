"""Waiting in tests without sleeping as synchronisation: poll until a condition holds, and
raw HTTP requests whose connection the test closes when it chooses."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from tests.support import metrics

T = TypeVar("T")

POLL_SECONDS = 0.02


def eventually(check: Callable[[], T], *, what: str, seconds: float = 15.0) -> T:
    """`check()`'s first truthy value, polled until `seconds` pass (then the test fails)."""
    deadline = time.monotonic() + seconds
    while True:
        if found := check():
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(POLL_SECONDS)


def scraped(client: httpx.Client, name: str, **labels: str) -> float:
    """One sample of the server's /metrics (0 when it has none yet)."""
    return metrics.sample(client.get("/metrics").text, name, **labels) or 0.0


class RawRequest:
    """A POST sent on a socket of its own, which the test can close before the answer comes
    (a client that gives up), or read the answer from."""

    def __init__(self, base_url: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        url = httpx.URL(base_url)
        payload = json.dumps(body).encode()
        head = [f"POST {path} HTTP/1.1", f"Host: {url.host}:{url.port}", "Content-Type: application/json"]
        head += [f"{field}: {value}" for field, value in (headers or {}).items()]
        head += [f"Content-Length: {len(payload)}", "Connection: close"]
        self.sock = socket.create_connection((url.host, url.port or 80), timeout=30)
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + payload)

    def answer(self, *, within: float | None = None) -> tuple[int, dict[str, Any]]:
        """The answer's status and JSON body (read until the server closes the connection);
        with `within`, the test fails if no answer has begun to arrive in that many seconds."""
        if within is not None:
            self.sock.settimeout(within)
        received = b""
        try:
            while chunk := self.sock.recv(65536):
                received += chunk
        except TimeoutError:
            raise AssertionError(f"no answer within {within} s") from None
        finally:
            self.close()
        head, _, body = received.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), json.loads(body) if body else {}

    def status(self, *, within: float | None = None) -> int:
        return self.answer(within=within)[0]

    def close(self) -> None:
        self.sock.close()
