"""Connexion's asynchronous app, with each operation's handler wrapped once, and its request
validators built once, instead of for every request.

Connexion 3.3 builds an operation's decorators anew for each request: the parameter and
response decorators, the sync/async wrapper, an inspection of the handler's signature, and a
parser of the operation's parameters.
None of that depends on the request (the request reaches them through connexion's context),
and building it cost about a sixth of a health check. Its request validation likewise builds,
for each request, two parsers of the operation's parameters, a validator of its parameters,
a table of the media types it consumes, and a validator of its body; none of them keeps
anything of a request. Here both are built on the operation's first request and kept.
Connexion is pinned (pyproject.toml): these classes are its own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from connexion import AsyncApp, utils
from connexion.apps.abstract import AbstractApp
from connexion.apps.asynchronous import AsyncApi, AsyncASGIApp, AsyncOperation
from connexion.context import receive, scope
from connexion.decorators import StarletteDecorator
from connexion.middleware.request_validation import (
    RequestValidationAPI,
    RequestValidationMiddleware,
    RequestValidationOperation,
)
from connexion.operations import AbstractOperation
from connexion.uri_parsing import AbstractURIParser
from connexion.validators import AbstractRequestBodyValidator, ParameterValidator
from starlette.types import Receive, Scope, Send


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


# Body validators kept per operation, one per media type and charset a request named: no more
# than this many, whatever names clients send.
_KEPT_BODY_VALIDATORS = 8


class _ValidatedOnce(RequestValidationOperation):
    """The request validation of one operation, as connexion's, with its validators kept."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._body_validators: dict[tuple[str, str], AbstractRequestBodyValidator | None] = {}

    @functools.cached_property
    def _parameter_validator(self) -> ParameterValidator:
        operation = self._operation
        uri_parser = operation.uri_parser_class(operation.parameters, operation.body_definition())
        validator: ParameterValidator = self._validator_map["parameter"](
            operation.parameters,
            uri_parser=uri_parser,
            strict_validation=self.strict_validation,
            security_query_params=self.security_query_params,
        )
        return validator

    def _body_validator(self, mime_type: str, encoding: str) -> AbstractRequestBodyValidator | None:
        """The validator of a body of this type (None: not validated), once the operation is
        known to consume the type (otherwise 415, raised here)."""
        key = (mime_type, encoding)
        if key in self._body_validators:
            return self._body_validators[key]
        self.validate_mime_type(mime_type)
        operation = self._operation
        schema = operation.body_schema(mime_type)
        validator = None
        try:
            # A table of media ranges: only its lookup matches a type to a range.
            validator_class = self._validator_map["body"][mime_type] if schema else None
        except KeyError:
            validator_class = None  # not validated, as connexion does
        if validator_class is not None:
            validator = validator_class(
                schema=schema,
                required=operation.request_body.get("required", False),
                nullable=utils.is_nullable(operation.body_definition(mime_type)),
                encoding=encoding,
                strict_validation=self.strict_validation,
                uri_parser=operation.uri_parser_class(operation.parameters, operation.body_definition()),
            )
        if len(self._body_validators) < _KEPT_BODY_VALIDATORS:
            self._body_validators[key] = validator
        return validator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._parameter_validator.validate(scope)
        body_validator = self._body_validator(*self.extract_content_type(scope["headers"]))
        if body_validator is not None:
            receive, scope = await body_validator.wrap_receive(receive, scope=scope)
        await self.next_app(scope, receive, send)


class _RequestValidationApi(RequestValidationAPI):
    def make_operation(self, operation: AbstractOperation) -> RequestValidationOperation:
        return _ValidatedOnce(
            self.next_app,
            operation=operation,
            strict_validation=self.strict_validation,
            validator_map=self.validator_map,
        )


class RequestValidation(RequestValidationMiddleware):
    """`connexion.middleware.RequestValidationMiddleware`, with each operation's validators
    built once (for `middlewares=`, in its place)."""

    api_cls = _RequestValidationApi
