from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.lease_page import LeasePage
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    name: str,
    *,
    page_size: int | Unset = 100,
    after: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["page_size"] = page_size

    params["after"] = after

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/limits/{name}/leases".format(
            name=quote(str(name), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> LeasePage | Problem | None:
    if response.status_code == 200:
        response_200 = LeasePage.from_dict(response.json())

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

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[LeasePage | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    name: str,
    *,
    client: AuthenticatedClient | Client,
    page_size: int | Unset = 100,
    after: str | Unset = UNSET,
) -> Response[LeasePage | Problem]:
    """The open leases that hold slots of a limit, oldest first

    Args:
        name (str): 1 to 255 characters, none of `/ % & > <`, no control characters, and not only
            dots
            (`.` and `..` cannot be a segment of a URL's path).
             Example: database.
        page_size (int | Unset):  Default: 100.
        after (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[LeasePage | Problem]
    """

    kwargs = _get_kwargs(
        name=name,
        page_size=page_size,
        after=after,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    name: str,
    *,
    client: AuthenticatedClient | Client,
    page_size: int | Unset = 100,
    after: str | Unset = UNSET,
) -> LeasePage | Problem | None:
    """The open leases that hold slots of a limit, oldest first

    Args:
        name (str): 1 to 255 characters, none of `/ % & > <`, no control characters, and not only
            dots
            (`.` and `..` cannot be a segment of a URL's path).
             Example: database.
        page_size (int | Unset):  Default: 100.
        after (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        LeasePage | Problem
    """

    return sync_detailed(
        name=name,
        client=client,
        page_size=page_size,
        after=after,
    ).parsed


async def asyncio_detailed(
    name: str,
    *,
    client: AuthenticatedClient | Client,
    page_size: int | Unset = 100,
    after: str | Unset = UNSET,
) -> Response[LeasePage | Problem]:
    """The open leases that hold slots of a limit, oldest first

    Args:
        name (str): 1 to 255 characters, none of `/ % & > <`, no control characters, and not only
            dots
            (`.` and `..` cannot be a segment of a URL's path).
             Example: database.
        page_size (int | Unset):  Default: 100.
        after (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[LeasePage | Problem]
    """

    kwargs = _get_kwargs(
        name=name,
        page_size=page_size,
        after=after,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    name: str,
    *,
    client: AuthenticatedClient | Client,
    page_size: int | Unset = 100,
    after: str | Unset = UNSET,
) -> LeasePage | Problem | None:
    """The open leases that hold slots of a limit, oldest first

    Args:
        name (str): 1 to 255 characters, none of `/ % & > <`, no control characters, and not only
            dots
            (`.` and `..` cannot be a segment of a URL's path).
             Example: database.
        page_size (int | Unset):  Default: 100.
        after (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        LeasePage | Problem
    """

    return (
        await asyncio_detailed(
            name=name,
            client=client,
            page_size=page_size,
            after=after,
        )
    ).parsed
