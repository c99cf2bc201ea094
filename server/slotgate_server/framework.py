"""Connexion's asynchronous app, with each operation's handler wrapped once instead of for
every request.

Connexion 3.3 builds an operation's decorators anew for each request: the parameter and
response decorators, the sync/async wrapper, an inspection of the handler's signature, and a
parser of the operation's parameters.
None of that depends on the request (the request reaches them through connexion's context),
and building it cost about a sixth of a health check. Here it is built on the operation's
first request and kept. Connexion is pinned (pyproject.toml): these classes are its own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from connexion import AsyncApp
from connexion.apps.abstract import AbstractApp
from connexion.apps.asynchronous import AsyncApi, AsyncASGIApp, AsyncOperation
from connexion.context import receive, scope
from connexion.decorators import StarletteDecorator
from connexion.operations import AbstractOperation
from connexion.uri_parsing import AbstractURIParser


class _DecoratedOnce(StarletteDecorator):
    """The decorators of one operation."""

    @functools.cached_property
    def uri_parser(self) -> AbstractURIParser:
        # Read on the operation's first request, from connexion's context: that operation's.
        return super().uri_parser

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        decorated = self.decorate(function)

        @functools.wraps(function)
        async def wrapper(*_args: Any, **_kwargs: Any) -> Any:
            request = self.framework.get_request(uri_parser=self.uri_parser, scope=scope, receive=receive)
            return await decorated(request)

        return wrapper


class _Operation(AsyncOperation):
    @functools.cached_property
    def fn(self) -> Callable[..., Any]:
        return _DecoratedOnce(pythonic_params=self.pythonic_params, jsonifier=self.jsonifier)(self._fn)


class _Api(AsyncApi):
    def make_operation(self, operation: AbstractOperation) -> AsyncOperation:
        return _Operation.from_operation(operation, pythonic_params=self.pythonic_params, jsonifier=self.jsonifier)


class _ASGIApp(AsyncASGIApp):
    api_cls = _Api


class App(AsyncApp):
    """`connexion.AsyncApp`, taking the same options."""

    def __init__(self, import_name: str, **options: Any) -> None:
        self._middleware_app = _ASGIApp()
        AbstractApp.__init__(self, import_name, **options)
