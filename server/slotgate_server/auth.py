"""API keys and roles.

The role an operation needs is written in openapi.yaml as the single entry of its security
requirement (`apiKey: [admin]` or `apiKey: [client]`); an admin key may do everything.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from connexion.security import BearerSecurityHandler

from slotgate_server.errors import Forbidden, Unauthorized
from slotgate_server.settings import ApiKey

ROLE_RANK = {"client": 1, "admin": 2}


def role_of(token: str, keys: tuple[ApiKey, ...]) -> str | None:
    """The role of the key `token`, compared in constant time against every configured key."""
    role = None
    sent = token.encode()
    for api_key in keys:
        if hmac.compare_digest(sent, api_key.key.encode()):
            role = api_key.role
    return role


def verifier(keys: tuple[ApiKey, ...], required_role: str) -> Callable[[str], dict[str, Any]]:
    def verify(token: str) -> dict[str, Any]:
        role = role_of(token, keys)
        if role is None:
            raise Unauthorized("The API key sent is not one this server knows; check SLOTGATE_API_KEY.")
        if ROLE_RANK[role] < ROLE_RANK[required_role]:
            raise Forbidden(f"This operation needs an {required_role} key; the key sent has the {role} role.")
        return {"sub": role, "role": role}

    return verify


def bearer_handler(keys: tuple[ApiKey, ...]) -> type[BearerSecurityHandler]:
    """A bearer handler for connexion that knows the configured keys and each operation's role."""

    class ApiKeyBearer(BearerSecurityHandler):
        def get_fn(self, security_scheme: dict[str, Any], required_scopes: list[str]) -> Any:
            required_role = max(required_scopes or ["client"], key=ROLE_RANK.__getitem__)
            return self._get_verify_func(verifier(keys, required_role))

    return ApiKeyBearer
