"""Idempotency-Key: a request repeated with the key of an earlier one gets that one's answer.

A key is scoped to the API key that sent it, and bound to what its first request asked for
(`fingerprint`): the same key with another request is refused. Grants are kept under their
key in the transaction that takes the slots (store/admission.py), so a grant whose answer was
lost can always be answered again; final refusals are kept after they are decided; a 423 is
never kept, since a repeat may well be granted. While a request with a key is being decided,
a repeat sent to the same server process is answered 409 (`KeysInFlight`); one sent to
another process is decided there too, and of the two grants only one can be kept: the other
is rolled back whole and answered with the kept one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from slotgate_server.errors import IdempotencyKeyInFlight

HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's key, the API key it came with (`scope`), and the request it stands for."""

    scope: str
    key: str
    request_hash: str


def from_request(headers: Mapping[str, str], *, operation: str, request: Mapping[str, Any]) -> IdempotencyKey | None:
    """The request's key, if it sent one. `request` holds what the request asks for: the
    fields that make a repeat the same request (not how long it may wait)."""
    sent = headers.get(HEADER)
    if sent is None:
        return None
    return IdempotencyKey(scope=scope_of(headers), key=_unquoted(sent), request_hash=fingerprint(operation, request))


def scope_of(headers: Mapping[str, str]) -> str:
    """Whose key it is: a digest of the API key sent (never the key itself), or "" without one."""
    scheme, _, credentials = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        return ""
    return hashlib.sha256(credentials.strip().encode()).hexdigest()


def fingerprint(operation: str, request: Mapping[str, Any]) -> str:
    canonical = json.dumps({"operation": operation, **request}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _unquoted(sent: str) -> str:
    """A Structured Field string (`"abc"`, as the IETF draft writes the key) and the bare
    `abc` name the same key."""
    sent = sent.strip()
    if len(sent) >= 2 and sent[0] == sent[-1] == '"':
        return sent[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return sent


class KeysInFlight:
    """The keys of the requests this server process is deciding now."""

    def __init__(self) -> None:
        self._deciding: set[tuple[str, str]] = set()

    @contextmanager
    def deciding(self, key: IdempotencyKey | None) -> Iterator[None]:
        """While a request with `key` is decided; a repeat meanwhile raises 409."""
        if key is None:
            yield
            return
        held = (key.scope, key.key)
        if held in self._deciding:
            raise IdempotencyKeyInFlight()
        self._deciding.add(held)
        try:
            yield
        finally:
            self._deciding.discard(held)
