"""Where the SDK finds the server: explicit arguments, else SLOTGATE_API_URL / SLOTGATE_API_KEY."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_API_URL = "http://127.0.0.1:7433"


@dataclass(frozen=True)
class ClientSettings:
    api_url: str = DEFAULT_API_URL
    api_key: str | None = field(default=None, repr=False)
    timeout_seconds: float = 10.0

    @classmethod
    def resolve(cls, api_url: str | None = None, api_key: str | None = None) -> ClientSettings:
        url = api_url or os.environ.get("SLOTGATE_API_URL") or DEFAULT_API_URL
        key = api_key if api_key is not None else os.environ.get("SLOTGATE_API_KEY") or None
        return cls(api_url=url.rstrip("/"), api_key=key)
