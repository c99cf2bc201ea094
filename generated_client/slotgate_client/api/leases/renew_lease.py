from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.lease import Lease
from ...models.lease_renewal import LeaseRenewal
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    lease_id: UUID,
    *,
    body: LeaseRenewal | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v1/leases/{lease_id}/renew".format(
            lease_id=quote(str(lease_id), safe=""),
        ),
    }

    if not isinstance(body, Unset):
        _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Lease | Problem | None:
    if response.status_code == 200:
        response_200 = Lease.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

    if response.status_code == 410:
        response_410 = Problem.from_dict(response.json())

        return response_410

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Lease | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    lease_id: UUID,
    *,
    client: AuthenticatedClient | Client,
    body: LeaseRenewal | Unset = UNSET,
) -> Response[Lease | Problem]:
    """Extend a held lease

     The lease then expires `lease_duration` seconds from now (by default its own duration).

    Args:
        lease_id (UUID):
        body (LeaseRenewal | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Lease | Problem]
    """

    kwargs = _get_kwargs(
        lease_id=lease_id,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    lease_id: UUID,
    *,
    client: AuthenticatedClient | Client,
    body: LeaseRenewal | Unset = UNSET,
) -> Lease | Problem | None:
    """Extend a held lease

     The lease then expires `lease_duration` seconds from now (by default its own duration).

    Args:
        lease_id (UUID):
        body (LeaseRenewal | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Lease | Problem
    """

    return sync_detailed(
        lease_id=lease_id,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    lease_id: UUID,
    *,
    client: AuthenticatedClient | Client,
    body: LeaseRenewal | Unset = UNSET,
) -> Response[Lease | Problem]:
    """Extend a held lease

     The lease then expires `lease_duration` seconds from now (by default its own duration).

    Args:
        lease_id (UUID):
        body (LeaseRenewal | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Lease | Problem]
    """

    kwargs = _get_kwargs(
        lease_id=lease_id,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    lease_id: UUID,
    *,
    client: AuthenticatedClient | Client,
    body: LeaseRenewal | Unset = UNSET,
) -> Lease | Problem | None:
    """Extend a held lease

     The lease then expires `lease_duration` seconds from now (by default its own duration).

    Args:
        lease_id (UUID):
        body (LeaseRenewal | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Lease | Problem
    """

    return (
        await asyncio_detailed(
            lease_id=lease_id,
            client=client,
            body=body,
        )
    ).parsed
