"""HTTP details that connexion leaves open: how a request's path and body are read before the
contract validates them, and what a 405 answer allows."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import AsyncGenerator, Callable
from typing import Any
from urllib.parse import unquote

import jsonschema_rs
from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem
from connexion.json_schema import Draft4RequestValidator
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.utils import is_null, is_nullable
from connexion.validators import JSONRequestBodyValidator, ParameterValidator
from jsonschema import Draft4Validator, ValidationError
from starlette.exceptions import HTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from slotgate_server import errors

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Percent-escapes that routing must not see decoded: a slash would split a path parameter in
# two, and a line break ends the match of a route. Kept encoded, they reach the parameter's
# validation, which refuses them (a name may contain neither `/`, `%` nor control characters).
_KEPT_ENCODED = re.compile(r"(%(?:2[fF]|[01][0-9a-fA-F]|7[fF]))")


def routable_path(raw_path: bytes) -> str:
    """The request path with every escape decoded except those in `_KEPT_ENCODED`."""
    pieces = _KEPT_ENCODED.split(raw_path.decode("ascii", errors="replace"))
    return "".join(piece if index % 2 else unquote(piece) for index, piece in enumerate(pieces))


class KeepEncodedSeparators:
    """Route on a path where an encoded `/` or control character stays encoded, so that
    `/api/v1/limits/a%2Fb` is the limit name `a%2Fb` (refused as a name: 400) rather than a
    path that matches no operation (404)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and isinstance(scope.get("raw_path"), bytes):
            scope = {**scope, "path": routable_path(scope["raw_path"])}
        await self.app(scope, receive, send)


class AssumeJsonBody:
    """Connexion validates a body sent without a Content-Type as JSON; saying so in the request
    makes the handler read it as JSON too (instead of as bytes)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in {"POST", "PUT", "PATCH"}
            and not any(key == b"content-type" for key, _ in scope["headers"])
        ):
            scope = {**scope, "headers": [*scope["headers"], (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _is_uuid(value: Any) -> bool:
    return not isinstance(value, str) or _UUID.fullmatch(value) is not None


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Draft 4's formats, and the contract's `uuid` (lease ids), which neither validator checks
# under draft 4 by itself.
FORMAT_CHECKER = copy.deepcopy(Draft4Validator.FORMAT_CHECKER)
FORMAT_CHECKER.checks("uuid")(_is_uuid)
_QUICK_FORMATS = {"uuid": _is_uuid}


class CheckedSchema:
    """A schema's validator that asks jsonschema-rs first. It accepts no value that jsonschema
    refuses (tests/unit/test_protocol_schemas.py checks the contract's schemas for that) and
    costs a fraction as much, which counts on every acquire. A value it does not accept goes
    on to jsonschema, which gives the verdict and the message people read: it is stricter in
    places (formats, a line break before the end of a pattern, `nullable`), never looser."""

    def __init__(self, schema: dict[str, Any], validator_class: Any) -> None:
        self.full = validator_class(schema, format_checker=FORMAT_CHECKER)
        self.quick = jsonschema_rs.Draft4Validator(schema, validate_formats=True, formats=_QUICK_FORMATS)

    def accepts_quickly(self, instance: Any) -> bool:
        try:
            return bool(self.quick.is_valid(instance))
        except Exception:  # a value it cannot take in, such as a lone surrogate: ask jsonschema
            return False
        except BaseException as error:  # a panic inside jsonschema-rs (pyo3's PanicException)
            if type(error).__name__ != "PanicException":
                raise
            return False

    def validate(self, instance: Any) -> None:
        if not self.accepts_quickly(instance):
            self.full.validate(instance)


class SchemaValidators:
    """One validator per schema, built on first use and kept. Connexion builds a new validator
    for every parameter and body of every request; building one costs more than validating a
    small body with it. The contract's schemas live as long as the app, and a validator is
    immutable, so one serves every request."""

    def __init__(self, validator_class: Any) -> None:
        self._validator_class = validator_class
        self._built: dict[int, tuple[dict[str, Any], CheckedSchema]] = {}

    def __call__(self, schema: dict[str, Any]) -> CheckedSchema:
        # Keyed by identity; the schema is kept with its validator so that its id stays its own.
        kept = self._built.get(id(schema))
        if kept is None or kept[0] is not schema:
            kept = (schema, CheckedSchema(schema, self._validator_class))
            self._built[id(schema)] = kept
        return kept[1]


_body_validators = SchemaValidators(Draft4RequestValidator)
_parameter_validators = SchemaValidators(Draft4Validator)


class Parameters(ParameterValidator):
    """Connexion's parameter validation, with each parameter's validator built once."""

    @staticmethod
    def validate_parameter(parameter_type: str, value: Any, param: dict[str, Any], param_name: Any = None) -> Any:
        if is_nullable(param) and is_null(value):
            return None
        if value is not None:
            try:
                _parameter_validators(param.get("schema", param)).validate(value)
            except ValidationError as error:
                return str(error)
            return None
        if param.get("required"):
            return f"Missing {parameter_type} parameter '{param['name']}'"
        return None


class JsonBody(JSONRequestBodyValidator):
    """Connexion's JSON body validator, with every body that is not JSON text answered 400: bytes
    that are not text in the request's charset, the `NaN` and `Infinity` that Python's parser
    would otherwise let through to the schema (where `NaN` passes every bound), and strings with
    lone surrogates (which no database driver can encode). Its schema validator is built once."""

    @property
    def _validator(self) -> Any:
        return _body_validators(self._schema)

    async def _parse(self, stream: AsyncGenerator[bytes, None], scope: Scope) -> Any:
        raw = b"".join([chunk async for chunk in stream])
        try:
            text = raw.decode(self._encoding)
        except (UnicodeDecodeError, LookupError):
            raise BadRequestProblem(
                detail=f"The request body is not {self._encoding} text; send JSON encoded as UTF-8."
            ) from None
        if not text:
            return None
        try:
            body = json.loads(text, parse_constant=_refuse_constant)
            # A `\ud800` escape alone parses, but is no character any store can keep. Only an
            # escape can make one: UTF-8 text cannot hold a surrogate.
            if "\\u" in text:
                json.dumps(body, ensure_ascii=False).encode()
        except RecursionError:
            raise _too_deep() from None
        except UnicodeEncodeError:
            raise BadRequestProblem(
                detail="The request body has a string with a lone surrogate escape (such as \\ud800), "
                "which is not a character; send text as UTF-8."
            ) from None
        except ValueError as error:
            raise BadRequestProblem(detail=f"The request body is not JSON: {error}.") from None
        if nesting_exceeds(body, MAX_BODY_NESTING):
            raise _too_deep()
        return body


# No body of the contract nests deeper than a few levels; deeper ones are refused before the
# schema's validation, which recurses once per level.
MAX_BODY_NESTING = 32


def nesting_exceeds(value: Any, most: int) -> bool:
    """Whether arrays and objects in `value` nest deeper than `most` levels (without recursing)."""
    level: list[Any] = [value]
    for _ in range(most + 1):
        level = [
            inner
            for outer in level
            for inner in (outer.values() if isinstance(outer, dict) else outer if isinstance(outer, list) else ())
            if isinstance(inner, dict | list)
        ]
        if not level:
            return False
    return True


def _too_deep() -> BadRequestProblem:
    return BadRequestProblem(
        detail=f"The request body nests arrays or objects more than {MAX_BODY_NESTING} levels deep; "
        "no request of this API needs that many."
    )


# For `add_api(validator_map=...)`: JSON bodies are read by `JsonBody` (the API takes no others).
VALIDATORS = {"body": MediaTypeDict({"*/*json": JsonBody}), "parameter": Parameters}


def method_not_allowed(spec: dict[str, Any]) -> Callable[[ConnexionRequest, Exception], ConnexionResponse]:
    """A 405 handler whose `Allow` lists every method the contract has for the path (routing
    alone would name only the methods of the first operation it tried)."""
    routes = [(compile_path(path)[0], _methods(item)) for path, item in spec["paths"].items()]

    def render(request: ConnexionRequest, error: Exception) -> ConnexionResponse:
        path = request.scope["path"]
        allowed = next((methods for regex, methods in routes if regex.match(path)), None)
        if allowed:
            allow = ", ".join(allowed)
            detail = f"{request.method} is not an operation of this path; it allows {allow}."
            error = HTTPException(405, detail=detail, headers={"Allow": allow})
        return errors.render_http_error(request, error)

    return render


def _methods(path_item: dict[str, Any]) -> list[str]:
    methods = [method.upper() for method in HTTP_METHODS if method in path_item]
    if "GET" in methods and "HEAD" not in methods:
        methods.insert(methods.index("GET") + 1, "HEAD")  # answered like GET, without the body
    return methods
