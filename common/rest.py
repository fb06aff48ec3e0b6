"""Plain JSON REST APIs on Starlette, served the same way by the registry and the control plane.

Errors are `ErrorBody` JSON: `error` (a code), `error_description` (a sentence) and, for a 422,
`errors` naming each offending field. Whatever refuses a request raises `HttpError` where it finds
the reason (parsing, a guard, a store, a handler); the one exception handler `rest_app` registers
renders it, so handlers never test whether a helper gave them a value or an answer. Request
bodies must be `application/json` (400 otherwise), at most `max_body_bytes` (413, checked before
parsing) and match their model exactly (422; the models forbid unknown fields). Query strings
are validated the same way: an unknown parameter is a 422 naming it, and a parameter given
several times is a list (`?label=a=b&label=c=d`), which only list-typed fields accept.

`BearerGuard` requires what `BearerAuthMiddleware` verified: no or a refused token is 401 with
`WWW-Authenticate: Bearer realm=...`, a token without the route's scope 403 `insufficient_scope`
naming it. `rest_app` builds an app behind the layers every such API has, outermost first: header
limits (431), request metrics (refusals counted too), bearer verification (once, so the rate
limiter keys on the verified client), per-caller rate limiting (429).
"""

from __future__ import annotations

import logging
import types
import typing
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from mcp.server.auth.provider import AccessToken, TokenVerifier
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Lifespan

from common.auth.bearer import ACCESS_KEY, BearerAuthMiddleware, bearer_challenge
from common.http_guards import HeaderLimitMiddleware
from common.json_bounds import JsonBoundsError, loads, text_problem
from common.logging import new_trace_id
from common.metrics import HttpMetricsMiddleware, ServerMetrics
from common.rate_limit import RateLimitMiddleware

__all__ = [
    "BearerGuard",
    "ErrorBody",
    "FieldError",
    "Handler",
    "HttpError",
    "field_errors",
    "http_error",
    "invalid",
    "parse_body",
    "parse_query",
    "read_body",
    "read_json",
    "rest_app",
    "server_error",
    "storable",
]

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)
Handler = Callable[[Request], Awaitable[Response]]


class FieldError(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(description="Dotted path of the offending field, e.g. `skills.0.id`.")
    message: str


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error: str = Field(description="Machine-readable code, e.g. `invalid_request`, `insufficient_scope`.")
    error_description: str = Field(description="A sentence saying what was wrong and what to do.")
    errors: list[FieldError] | None = None


class HttpError(Exception):
    """An answer other than success, raised where the reason is found and rendered as `ErrorBody` JSON.

    `headers` are sent with it; a name may appear more than once (a 401 offering two challenges).
    """

    def __init__(
        self,
        status: int,
        error: str,
        description: str,
        *,
        errors: list[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.errors = errors
        self.headers: list[tuple[str, str]] = list((headers or {}).items())

    def response(self) -> JSONResponse:
        body = ErrorBody(error=self.error, error_description=self.description, errors=self.errors)
        response = JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=self.status)
        for name, value in self.headers:
            response.headers.append(name, value)
        return response


def storable(value: str) -> str:
    """`value`, if PostgreSQL text and UTF-8 can hold it (no NUL, no lone surrogates); else ValueError."""
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(f"the text {problem}")
    return value


def invalid(errors: list[FieldError]) -> HttpError:
    """The 422 naming each offending field."""
    fields = ", ".join(error.field for error in errors)
    return HttpError(422, "invalid_request", f"Invalid or unknown fields: {fields}.", errors=errors)


def field_errors(exc: ValidationError) -> list[FieldError]:
    return [
        FieldError(field=".".join(str(part) for part in error["loc"]) or "body", message=error["msg"])
        for error in exc.errors(include_url=False)
    ]


async def http_error(request: Request, exc: Exception) -> Response:
    """The answer to an `HttpError` raised while handling `request` (registered by `rest_app`)."""
    assert isinstance(exc, HttpError), exc  # registered for HttpError only
    return exc.response()


def server_error(request: Request, exc: Exception) -> Response:
    """The answer to an unexpected exception: generic, with a trace id tying it to the logged traceback."""
    trace_id = new_trace_id()
    logger.error("Unexpected error on %s %s [trace %s]", request.method, request.url.path, trace_id, exc_info=exc)
    return HttpError(500, "server_error", f"Unexpected server error (trace id {trace_id}).").response()


async def parse_body(request: Request, model: type[ModelT], max_body_bytes: int) -> ModelT:
    """The JSON body of `request` as `model`; `HttpError` 400/413/422 saying why it is not one."""
    data = await read_json(request, max_body_bytes)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(field_errors(exc)) from None


async def read_json(request: Request, max_body_bytes: int) -> Any:
    """The JSON value of `request`'s body (not yet validated); `HttpError` 400/413/422 saying why there is none.

    The value obeys `common.json_bounds` (depth, finite numbers, integer digits, storable text); a
    value that does not is refused naming its field, before any model or store sees it.
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise HttpError(400, "invalid_request", "The body must be JSON with Content-Type: application/json.")
    body = await read_body(request, max_body_bytes)
    try:
        return loads(body)
    except JsonBoundsError as exc:
        errors = [FieldError(field=exc.path or "body", message=str(exc))]
        if exc.not_json:  # NaN or Infinity: Python's json reads them, JSON has no such numbers
            raise HttpError(400, "invalid_request", f"The body is not valid JSON. {exc}", errors=errors) from None
        raise HttpError(422, "invalid_request", str(exc), errors=errors) from None
    except ValueError:
        raise HttpError(400, "invalid_request", "The body is not valid JSON.") from None


async def read_body(request: Request, max_body_bytes: int) -> bytes:
    """The bytes of `request`'s body; `HttpError` 413 once they exceed `max_body_bytes`, before reading them all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body_bytes:
        raise _too_large(max_body_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > max_body_bytes:  # chunked bodies declare no length
            raise _too_large(max_body_bytes)
    return bytes(body)


def parse_query(request: Request, model: type[ModelT]) -> ModelT:
    """The query string of `request` as `model` (which forbids unknown parameters); `HttpError` 422 if not one."""
    values: dict[str, Any] = {}
    for name, value in request.query_params.multi_items():
        if name in values:
            previous = values[name]
            values[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        elif name in model.model_fields and _is_list(model.model_fields[name].annotation):
            values[name] = [value]
        else:
            values[name] = value
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise invalid(field_errors(exc)) from None


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_list(arg) for arg in typing.get_args(annotation))
    return origin is list


def _too_large(limit: int) -> HttpError:
    return HttpError(413, "request_too_large", f"The request body exceeds the limit of {limit} bytes.")


@dataclass(frozen=True)
class BearerGuard:
    """Requires a verified token (and a scope) of a route; `required=False` only with auth disabled (loopback)."""

    realm: str
    required: bool

    def __call__(self, handler: Handler, scope: str | None = None) -> Handler:
        async def guarded(request: Request) -> Response:
            self.require(request, scope)
            return await handler(request)

        return guarded

    def require(self, request: Request, scope: str | None) -> AccessToken | None:
        """The verified token of `request` (None with auth disabled); `HttpError` 401/403 when it may not proceed."""
        if not self.required:
            return None
        if ACCESS_KEY not in request.scope:
            # No credentials sent: the challenge names no error code (RFC 6750 §3.1).
            raise HttpError(
                401,
                "invalid_token",
                f"A bearer token for this {self.realm} is required.",
                headers={"WWW-Authenticate": bearer_challenge(realm=self.realm)},
            )
        access: AccessToken | None = request.scope[ACCESS_KEY]
        if access is None:
            raise HttpError(
                401,
                "invalid_token",
                f"The bearer token is invalid, expired, or not issued for this {self.realm}.",
                headers={"WWW-Authenticate": bearer_challenge(realm=self.realm, error="invalid_token")},
            )
        if scope is not None and scope not in access.scopes:
            raise HttpError(
                403,
                "insufficient_scope",
                f"This request needs the {scope} scope; get a token that grants it.",
                headers={
                    "WWW-Authenticate": bearer_challenge(realm=self.realm, error="insufficient_scope", scope=scope)
                },
            )
        return access


def rest_app(
    routes: Sequence[BaseRoute],
    lifespan: Lifespan[Starlette],
    verifier: TokenVerifier | None,
    metrics: ServerMetrics,
    metric_routes: tuple[str, ...],
    requests_per_second: int,
    exempt: Collection[str],
) -> ASGIApp:
    """The app of `routes` behind the layers in the module doc.

    An `HttpError` is answered by `http_error`, any other exception by `server_error` (a 500).
    """
    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HttpError: http_error, Exception: server_error}
    )
    limited = RateLimitMiddleware(app, requests_per_second, exempt=exempt)
    authenticated = BearerAuthMiddleware(limited, verifier, skip=frozenset(exempt))
    return HeaderLimitMiddleware(HttpMetricsMiddleware(authenticated, metrics, metric_routes))
