from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.limit_page import LimitPage
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    name_prefix: str | Unset = UNSET,
    active: bool | Unset = UNSET,
    page_size: int | Unset = 100,
    after: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["name_prefix"] = name_prefix

    params["active"] = active

    params["page_size"] = page_size

    params["after"] = after

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/limits",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> LimitPage | Problem | None:
    if response.status_code == 200:
        response_200 = LimitPage.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[LimitPage | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    name_prefix: str | Unset = UNSET,
    active: bool | Unset = UNSET,
    page_size: int | Unset = 100,
    after: str | Unset = UNSET,
) -> Response[LimitPage | Problem]:
    """List limits, ordered by name

    Args:
        name_prefix (str | Unset):
        active (bool | Unset):
        page_size (int | Unset):  Default: 100.
        after (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[LimitPage | Problem]
    """

    kwargs = _get_kwargs(
        name_prefix=name_prefix,
        active=active,
        page_size=page_size,
        after=after,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    name_prefix: str | Unset = UNSET,
    active: bool | Unset = UNSET,
    page_size: int | Unset = 100,
    after: str | Unset = UNSET,
) -> LimitPage | Problem | None:
    """List limits, ordered by name

    Args:
        name_prefix (str | Unset):
        active (bool | Unset):
        page_size (int | Unset):  Default: 100.
        after (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        LimitPage | Problem
    """

    return sync_detailed(
        client=client,
        name_prefix=name_prefix,
        active=active,
        page_size=page_size,
        after=after,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    name_prefix: str | Unset = UNSET,
    active: bool | Unset = UNSET,
    page_size: int | Unset = 100,
    after: str | Unset = UNSET,
) -> Response[LimitPage | Problem]:
    """List limits, ordered by name

    Args:
        name_prefix (str | Unset):
        active (bool | Unset):
        page_size (int | Unset):  Default: 100.
        after (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[LimitPage | Problem]
    """

    kwargs = _get_kwargs(
        name_prefix=name_prefix,
        active=active,
        page_size=page_size,
        after=after,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    name_prefix: str | Unset = UNSET,
    active: bool | Unset = UNSET,
    page_size: int | Unset = 100,
    after: str | Unset = UNSET,
) -> LimitPage | Problem | None:
    """List limits, ordered by name

    Args:
        name_prefix (str | Unset):
        active (bool | Unset):
        page_size (int | Unset):  Default: 100.
        after (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        LimitPage | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            name_prefix=name_prefix,
            active=active,
            page_size=page_size,
            after=after,
        )
    ).parsed
