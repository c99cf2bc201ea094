from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.lease import Lease
from ...models.lease_request import LeaseRequest
from ...models.missing_limits_problem import MissingLimitsProblem
from ...models.problem import Problem
from ...models.slots_unavailable_problem import SlotsUnavailableProblem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: LeaseRequest,
    idempotency_key: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v1/leases",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Lease | MissingLimitsProblem | Problem | SlotsUnavailableProblem | None:
    if response.status_code == 201:
        response_201 = Lease.from_dict(response.json())

        return response_201

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
) -> Response[Lease | MissingLimitsProblem | Problem | SlotsUnavailableProblem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: LeaseRequest,
    idempotency_key: str | Unset = UNSET,
) -> Response[Lease | MissingLimitsProblem | Problem | SlotsUnavailableProblem]:
    """Take concurrency slots on one or more limits under a lease

     All or nothing: either every named active limit has the slots and all are taken, or
    none is. Inactive limits never block and are not occupied. Limits are never created
    here: names that do not exist are reported in `missing_names` of a 404.

    A request that waits (`wait_seconds`) and whose client goes away is withdrawn: nothing
    is granted to it, and a grant that raced the departure is released at once.

    With an `Idempotency-Key`, a request whose answer was lost can be sent again: the
    repeat gets the first request's answer (the same lease and fencing token) and takes
    nothing twice.

    Args:
        idempotency_key (str | Unset):
        body (LeaseRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Lease | MissingLimitsProblem | Problem | SlotsUnavailableProblem]
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
    body: LeaseRequest,
    idempotency_key: str | Unset = UNSET,
) -> Lease | MissingLimitsProblem | Problem | SlotsUnavailableProblem | None:
    """Take concurrency slots on one or more limits under a lease

     All or nothing: either every named active limit has the slots and all are taken, or
    none is. Inactive limits never block and are not occupied. Limits are never created
    here: names that do not exist are reported in `missing_names` of a 404.

    A request that waits (`wait_seconds`) and whose client goes away is withdrawn: nothing
    is granted to it, and a grant that raced the departure is released at once.

    With an `Idempotency-Key`, a request whose answer was lost can be sent again: the
    repeat gets the first request's answer (the same lease and fencing token) and takes
    nothing twice.

    Args:
        idempotency_key (str | Unset):
        body (LeaseRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Lease | MissingLimitsProblem | Problem | SlotsUnavailableProblem
    """

    return sync_detailed(
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: LeaseRequest,
    idempotency_key: str | Unset = UNSET,
) -> Response[Lease | MissingLimitsProblem | Problem | SlotsUnavailableProblem]:
    """Take concurrency slots on one or more limits under a lease

     All or nothing: either every named active limit has the slots and all are taken, or
    none is. Inactive limits never block and are not occupied. Limits are never created
    here: names that do not exist are reported in `missing_names` of a 404.

    A request that waits (`wait_seconds`) and whose client goes away is withdrawn: nothing
    is granted to it, and a grant that raced the departure is released at once.

    With an `Idempotency-Key`, a request whose answer was lost can be sent again: the
    repeat gets the first request's answer (the same lease and fencing token) and takes
    nothing twice.

    Args:
        idempotency_key (str | Unset):
        body (LeaseRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Lease | MissingLimitsProblem | Problem | SlotsUnavailableProblem]
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
    body: LeaseRequest,
    idempotency_key: str | Unset = UNSET,
) -> Lease | MissingLimitsProblem | Problem | SlotsUnavailableProblem | None:
    """Take concurrency slots on one or more limits under a lease

     All or nothing: either every named active limit has the slots and all are taken, or
    none is. Inactive limits never block and are not occupied. Limits are never created
    here: names that do not exist are reported in `missing_names` of a 404.

    A request that waits (`wait_seconds`) and whose client goes away is withdrawn: nothing
    is granted to it, and a grant that raced the departure is released at once.

    With an `Idempotency-Key`, a request whose answer was lost can be sent again: the
    repeat gets the first request's answer (the same lease and fencing token) and takes
    nothing twice.

    Args:
        idempotency_key (str | Unset):
        body (LeaseRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Lease | MissingLimitsProblem | Problem | SlotsUnavailableProblem
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed
