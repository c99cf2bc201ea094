"""The server's error vocabulary and its one mapping to RFC 9457 problem responses."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from http import HTTPStatus
from typing import Any

import psycopg
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from slotgate_server import slots

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"


class SlotgateError(Exception):
    """Base of every error the server answers deliberately."""

    status = 500
    slug = "internal"
    title = "Internal Server Error"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions

    @property
    def headers(self) -> dict[str, str]:
        return {}


class InvalidRequest(SlotgateError):
    status, slug, title = 400, "invalid-request", "Bad Request"


class Unauthorized(SlotgateError):
    status, slug, title = 401, "unauthorized", "Unauthorized"

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="slotgate"'}


class Forbidden(SlotgateError):
    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(SlotgateError):
    status, slug, title = 404, "not-found", "Not Found"


class MissingLimits(NotFound):
    slug, title = "missing-limits", "Missing limits"

    def __init__(self, missing_names: list[str]) -> None:
        quoted = ", ".join(repr(name) for name in missing_names)
        noun = "limit is" if len(missing_names) == 1 else "limits are"
        super().__init__(
            f"No {noun} named {quoted}; limits are never created implicitly, create them first. Nothing was taken.",
            missing_names=missing_names,
        )


class Conflict(SlotgateError):
    status, slug, title = 409, "conflict", "Conflict"


class IdempotencyKeyInFlight(Conflict):
    slug, title = "idempotency-key-in-flight", "Request in progress"

    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still being decided (it waits for slots); "
            "retry with the same key once it is answered."
        )


class LeaseGone(SlotgateError):
    status, slug, title = 410, "lease-gone", "Lease gone"


class Unsatisfiable(SlotgateError):
    status, slug, title = 422, "unsatisfiable", "Unsatisfiable request"


class IdempotencyKeyReused(SlotgateError):
    status, slug, title = 422, "idempotency-key-reused", "Idempotency key reused"

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was first sent with another request (other names, slots, holder or "
            "lease duration, or another operation); make a new key for every new request."
        )


class SlotsUnavailable(SlotgateError):
    status, slug, title = 423, "slots-unavailable", "Slots unavailable"

    def __init__(self, detail: str, *, retry_after_seconds: float, blocking_names: list[str]) -> None:
        super().__init__(detail, retry_after_seconds=retry_after_seconds, blocking_names=blocking_names)
        self.retry_after_seconds = retry_after_seconds

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(slots.retry_after_header(self.retry_after_seconds))}


class ClientDeparted(SlotgateError):
    """The client of a waiting request went away: nothing was granted to it, and nobody reads
    this answer (499 is the status proxies log for it)."""

    status, slug, title = 499, "client-departed", "Client closed request"

    def __init__(self) -> None:
        super().__init__("The client went away before the request was decided; nothing was taken.")


class Replayed(SlotgateError):
    """The refusal first answered to a request with the same Idempotency-Key, again."""

    def __init__(self, problem: dict[str, Any]) -> None:
        extensions = {k: v for k, v in problem.items() if k not in ("type", "title", "status", "detail")}
        super().__init__(problem["detail"], **extensions)
        self.status = problem["status"]
        self.slug = problem["type"].removeprefix("/problems/")
        self.title = problem["title"]

    @property
    def headers(self) -> dict[str, str]:
        return {REPLAYED_HEADER: "true"}


# Marks an answer repeated for an Idempotency-Key.
REPLAYED_HEADER = "Idempotent-Replayed"


class StoreUnavailable(SlotgateError):
    status, slug, title = 503, "store-unavailable", "Store unavailable"


# Errors raised by the framework (validation, routing, authentication) keep their status and
# detail but take the same `type` vocabulary as ours.
_SLUG_BY_STATUS = {
    400: "invalid-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    415: "unsupported-media-type",
}


def problem_body(*, status: int, slug: str, title: str, detail: str, **extensions: Any) -> dict[str, Any]:
    return {"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail, **extensions}


def problem_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> ConnexionResponse:
    return ConnexionResponse(
        status_code=status,
        mimetype=PROBLEM_MEDIA_TYPE,
        content_type=PROBLEM_MEDIA_TYPE,
        body=json.dumps(body),
        headers=headers or {},
    )


def problem_of(error: SlotgateError) -> dict[str, Any]:
    return problem_body(
        status=error.status, slug=error.slug, title=error.title, detail=error.detail, **error.extensions
    )


def render_slotgate_error(_request: ConnexionRequest, error: Exception) -> ConnexionResponse:
    assert isinstance(error, SlotgateError)
    if error.status >= 500:
        logger.error("%s: %s", error.title, error.detail)
    return problem_response(error.status, problem_of(error), error.headers)


def render_http_error(_request: ConnexionRequest, error: Exception) -> ConnexionResponse:
    assert isinstance(error, HTTPException)
    status = error.status_code
    detail = getattr(error, "detail", None) or "The request could not be processed."
    slug = _SLUG_BY_STATUS.get(status, "client-error" if status < 500 else "internal")
    title = getattr(error, "title", None) or _default_title(status)
    headers = dict(error.headers or {})
    extensions: dict[str, Any] = {}
    if status == 400:
        detail, field = readable_validation(str(detail))
        if field:
            extensions["field"] = field
    if status == 401:
        headers.update(Unauthorized("").headers)
        if detail == "No authorization token provided":
            detail = "This operation needs an API key: send it as 'Authorization: Bearer <key>'."
    body = problem_body(status=status, slug=slug, title=title, detail=str(detail), **extensions)
    return problem_response(status, body, headers)


# The contract's pattern for limit names, as a person would say it.
_NAME_RULE = "a limit name has 1 to 255 characters, none of / % & > <, no control characters, and not only dots"
_DECAY_RULE = "0 for no decay, otherwise at least 0.000000001 slots per second (and at most 1000000000)"
_LEASE_ID_RULE = "lease ids are UUIDs, as the acquire that granted the lease answered"
_FIELD_SUFFIX = re.compile(r" - '(?P<path>[^']+)'$")
# How much of a refused value a message repeats.
_SHOWN_CHARACTERS = 60


def _short(shown: str) -> str:
    return shown if len(shown) <= _SHOWN_CHARACTERS else shown[: _SHOWN_CHARACTERS - 1] + "…"


def readable_validation(detail: str) -> tuple[str, str | None]:
    """A validation message as people read it, and the body field it is about (if any).

    The validator says which field failed as a trailing " - 'path'", may append the whole
    schema it checked against, and states the name rule as a regular expression."""
    message = detail.split("\n\nFailed validating", 1)[0].strip()
    field = None
    if suffix := _FIELD_SUFFIX.search(message):
        message, field = message[: suffix.start()], suffix["path"].split(".", 1)[0]
    if " does not match '^[^/%&<>" in message:
        message = f"{_short(message.split(' does not match ', 1)[0])} is not a valid limit name: {_NAME_RULE}"
    elif message.endswith(" is not a 'uuid'"):
        message = f"{_short(message.removesuffix(' is not a ' + repr('uuid')))} is not a lease id: {_LEASE_ID_RULE}"
    elif " should not be valid under {'exclusiveMinimum'" in message:
        message = f"{message.split(' should not be valid', 1)[0]} is not a slot decay rate: {_DECAY_RULE}"
    return (f"{message} (field '{field}')" if field else message), field


def render_unexpected_error(_request: ConnexionRequest, error: Exception) -> ConnexionResponse:
    if is_store_outage(error):
        logger.error("The database did not answer: %s", error)
        body = problem_body(
            status=503,
            slug="store-unavailable",
            title="Store unavailable",
            detail="The database did not answer; retry shortly.",
        )
        return problem_response(503, body, {"Retry-After": "1"})
    logger.exception("Unexpected error", exc_info=error)
    body = problem_body(
        status=500,
        slug="internal",
        title="Internal Server Error",
        detail="An unexpected error occurred; it has been logged.",
    )
    return problem_response(500, body)


def is_store_outage(error: BaseException) -> bool:
    """The database is down, unreachable, or gave up on the statement (a deadlock, say): the
    errors SQLAlchemy raises, and those of the drivers, which the hot path uses directly."""
    return isinstance(
        error,
        (
            OperationalError,
            InterfaceError,
            psycopg.OperationalError,
            psycopg.InterfaceError,
            sqlite3.OperationalError,  # locked by another process too long, a full disk
            ConnectionError,
            TimeoutError,
        ),
    )


def _default_title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
