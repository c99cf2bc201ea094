"""The SDK's errors: the server's problem types under one base class, plus what only a
client can see (timeouts, lost leases, an unreachable server)."""

from __future__ import annotations

import json
from typing import Any

import httpx


class SlotgateError(Exception):
    """Base of every error the SDK raises."""


class ApiError(SlotgateError):
    """The server answered with a problem (RFC 9457)."""

    status = 0

    def __init__(self, detail: str, *, status: int = 0, problem: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status or type(self).status
        self.problem = problem or {}


class InvalidRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class MissingLimits(NotFound):
    """Some names are not limits; nothing was taken."""

    @property
    def missing_names(self) -> list[str]:
        return list(self.problem.get("missing_names", []))


class Conflict(ApiError):
    status = 409


class IdempotencyKeyInFlight(Conflict):
    """A request with the same Idempotency-Key is still being decided; the SDK retries it
    with that key."""


class IdempotencyKeyReused(ApiError):
    """An Idempotency-Key was sent again with another request. The SDK makes a key per
    request, so this is a bug in it."""

    status = 422


class LeaseGone(ApiError):
    """The lease has ended (expired or released); its slots are free."""

    status = 410


class Unsatisfiable(ApiError):
    """The request could never be granted as asked (more slots than the limit, or rate
    limiting a limit without decay)."""

    status = 422


class SlotsUnavailable(ApiError):
    status = 423

    @property
    def retry_after_seconds(self) -> float:
        return float(self.problem.get("retry_after_seconds", 1.0))

    @property
    def blocking_names(self) -> list[str]:
        return list(self.problem.get("blocking_names", []))


class ServerError(ApiError):
    status = 500


class StoreUnavailable(ServerError):
    status = 503


class ServerUnreachable(SlotgateError):
    """No answer from the server at all (refused, timed out, reset)."""


class AcquisitionError(SlotgateError):
    """Slots could not be taken within the caller's bounds."""


class AcquireTimeout(AcquisitionError, TimeoutError):
    """`timeout_seconds` passed before the slots were free."""


class RetriesExhausted(AcquisitionError):
    """`max_retries` retries were all denied."""


class LeaseLost(SlotgateError):
    """The lease ended while its block ran: the slots may be held by someone else now."""


# The server's `type` slugs, then plain statuses, to SDK classes (5xx without a known slug:
# ServerError).
_BY_SLUG: dict[str, type[ApiError]] = {
    "invalid-request": InvalidRequest,
    "unauthorized": Unauthorized,
    "forbidden": Forbidden,
    "not-found": NotFound,
    "missing-limits": MissingLimits,
    "conflict": Conflict,
    "idempotency-key-in-flight": IdempotencyKeyInFlight,
    "idempotency-key-reused": IdempotencyKeyReused,
    "lease-gone": LeaseGone,
    "unsatisfiable": Unsatisfiable,
    "slots-unavailable": SlotsUnavailable,
    "store-unavailable": StoreUnavailable,
}
_GENERIC = (InvalidRequest, Unauthorized, Forbidden, NotFound, Conflict, LeaseGone, Unsatisfiable, SlotsUnavailable)
_BY_STATUS: dict[int, type[ApiError]] = {cls.status: cls for cls in (*_GENERIC, StoreUnavailable)}


def from_response(status: int, content: bytes) -> ApiError:
    """The error for a non-2xx answer."""
    try:
        problem = json.loads(content)
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        problem = {"detail": content.decode(errors="replace")[:500] or f"HTTP {status}"}
    slug = str(problem.get("type", "")).rsplit("/", 1)[-1]
    cls = _BY_SLUG.get(slug) or _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    return cls(str(problem.get("detail") or problem.get("title") or f"HTTP {status}"), status=status, problem=problem)


def unreachable(url: str, error: httpx.TransportError) -> ServerUnreachable:
    return ServerUnreachable(f"The Slotgate server at {url} did not answer ({type(error).__name__}: {error}).")
