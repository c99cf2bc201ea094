from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.missing_limits_problem import MissingLimitsProblem
from ...models.problem import Problem
from ...models.rate_limit_grant import RateLimitGrant
from ...models.rate_limit_request import RateLimitRequest
from ...models.slots_unavailable_problem import SlotsUnavailableProblem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: RateLimitRequest,
    idempotency_key: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v1/rate-limit",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> MissingLimitsProblem | Problem | RateLimitGrant | SlotsUnavailableProblem | None:
    if response.status_code == 200:
        response_200 = RateLimitGrant.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 404:
        response_404 = MissingLimitsProblem.from_dict(response.json())

        return response_404

    if response.status_code == 409:
        response_409 = Problem.from_dict(response.json())

        return response_409

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())

        return response_422

    if response.status_code == 423:
        response_423 = SlotsUnavailableProblem.from_dict(response.json())

        return response_423

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[
    MissingLimitsProblem | Problem | RateLimitGrant | SlotsUnavailableProblem
]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: RateLimitRequest,
    idempotency_key: str | Unset = UNSET,
) -> Response[
    MissingLimitsProblem | Problem | RateLimitGrant | SlotsUnavailableProblem
]:
    """Take slots on decaying limits; they are never released, they drain

     All or nothing across the names. Every named active limit must have
    `slot_decay_per_second > 0`. A waiting request whose client goes away is withdrawn, and
    an `Idempotency-Key` makes a repeat get the first answer, as on `POST /api/v1/leases`.

    Args:
        idempotency_key (str | Unset):
        body (RateLimitRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[MissingLimitsProblem | Problem | RateLimitGrant | SlotsUnavailableProblem]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    body: RateLimitRequest,
    idempotency_key: str | Unset = UNSET,
) -> MissingLimitsProblem | Problem | RateLimitGrant | SlotsUnavailableProblem | None:
    """Take slots on decaying limits; they are never released, they drain

     All or nothing across the names. Every named active limit must have
    `slot_decay_per_second > 0`. A waiting request whose client goes away is withdrawn, and
    an `Idempotency-Key` makes a repeat get the first answer, as on `POST /api/v1/leases`.

    Args:
        idempotency_key (str | Unset):
        body (RateLimitRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        MissingLimitsProblem | Problem | RateLimitGrant | SlotsUnavailableProblem
    """

    return sync_detailed(
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: RateLimitRequest,
    idempotency_key: str | Unset = UNSET,
) -> Response[
    MissingLimitsProblem | Problem | RateLimitGrant | SlotsUnavailableProblem
]:
    """Take slots on decaying limits; they are never released, they drain

     All or nothing across the names. Every named active limit must have
    `slot_decay_per_second > 0`. A waiting request whose client goes away is withdrawn, and
    an `Idempotency-Key` makes a repeat get the first answer, as on `POST /api/v1/leases`.

    Args:
        idempotency_key (str | Unset):
        body (RateLimitRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[MissingLimitsProblem | Problem | RateLimitGrant | SlotsUnavailableProblem]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    body: RateLimitRequest,
    idempotency_key: str | Unset = UNSET,
) -> MissingLimitsProblem | Problem | RateLimitGrant | SlotsUnavailableProblem | None:
    """Take slots on decaying limits; they are never released, they drain

     All or nothing across the names. Every named active limit must have
    `slot_decay_per_second > 0`. A waiting request whose client goes away is withdrawn, and
    an `Idempotency-Key` makes a repeat get the first answer, as on `POST /api/v1/leases`.

    Args:
        idempotency_key (str | Unset):
        body (RateLimitRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        MissingLimitsProblem | Problem | RateLimitGrant | SlotsUnavailableProblem
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed
