"""Plain JSON REST APIs on Starlette, served the same way by the registry and the control plane.

Errors are `ErrorBody` JSON: `error` (a code), `error_description` (a sentence) and, for a 422,
`errors` naming each offending field. Request bodies must be `application/json` (400
otherwise), at most `max_body_bytes` (413, checked before parsing) and match their model
exactly (422; the models forbid unknown fields). Query strings are validated the same way:
an unknown parameter is a 422 naming it, and a parameter given several times is a list
(`?label=a=b&label=c=d`), which only list-typed fields accept.

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
from collections.abc import Awaitable, Callable, Collection, Sequence
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
    "error_response",
    "field_errors",
    "invalid",
    "parse_body",
    "parse_query",
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
    """An answer other than success, raised where the reason is found and turned into `ErrorBody` JSON."""

    def __init__(self, status: int, error: str, description: str, *, errors: list[FieldError] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.errors = errors

    def response(self) -> JSONResponse:
        return error_response(self.status, self.error, self.description, errors=self.errors)


def storable(value: str) -> str:
    """`value`, if PostgreSQL text and UTF-8 can hold it (no NUL, no lone surrogates); else ValueError."""
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(f"the text {problem}")
    return value


def error_response(
    status: int,
    error: str,
    description: str,
    *,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(error=error, error_description=description, errors=errors)
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=status, headers=headers)


def invalid(errors: list[FieldError]) -> Response:
    fields = ", ".join(error.field for error in errors)
    return error_response(422, "invalid_request", f"Invalid or unknown fields: {fields}.", errors=errors)


def field_errors(exc: ValidationError) -> list[FieldError]:
    return [
        FieldError(field=".".join(str(part) for part in error["loc"]) or "body", message=error["msg"])
        for error in exc.errors(include_url=False)
    ]


def server_error(request: Request, exc: Exception) -> Response:
    """The answer to an unexpected exception: generic, with a trace id tying it to the logged traceback."""
    trace_id = new_trace_id()
    logger.error("Unexpected error on %s %s [trace %s]", request.method, request.url.path, trace_id, exc_info=exc)
    return error_response(500, "server_error", f"Unexpected server error (trace id {trace_id}).")


async def parse_body(request: Request, model: type[ModelT], max_body_bytes: int) -> ModelT | Response:
    """The JSON body of `request` as `model`, or the 400/413/422 answer saying why it is not one."""
    data = await read_json(request, max_body_bytes)
    if isinstance(data, Response):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        return invalid(field_errors(exc))


async def read_json(request: Request, max_body_bytes: int) -> Any:
    """The JSON value of `request`'s body (not yet validated), or the 400/413/422 answer saying why there is none.

    The value obeys `common.json_bounds` (depth, finite numbers, integer digits, storable text); a
    value that does not is refused naming its field, before any model or store sees it.
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        return error_response(400, "invalid_request", "The body must be JSON with Content-Type: application/json.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body_bytes:
        return _too_large(max_body_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > max_body_bytes:  # chunked bodies declare no length
            return _too_large(max_body_bytes)
    try:
        return loads(bytes(body))
    except JsonBoundsError as exc:
        errors = [FieldError(field=exc.path or "body", message=str(exc))]
        if exc.not_json:  # NaN or Infinity: Python's json reads them, JSON has no such numbers
            return error_response(400, "invalid_request", f"The body is not valid JSON. {exc}", errors=errors)
        return error_response(422, "invalid_request", str(exc), errors=errors)
    except ValueError:
        return error_response(400, "invalid_request", "The body is not valid JSON.")


def parse_query(request: Request, model: type[ModelT]) -> ModelT | Response:
    """The query string of `request` as `model` (which forbids unknown parameters), or a 422."""
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
        return invalid(field_errors(exc))


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_list(arg) for arg in typing.get_args(annotation))
    return origin is list


def _too_large(limit: int) -> Response:
    return error_response(413, "request_too_large", f"The request body exceeds the limit of {limit} bytes.")


@dataclass(frozen=True)
class BearerGuard:
    """Requires a verified token (and a scope) of a route; `required=False` only with auth disabled (loopback)."""

    realm: str
    required: bool

    def __call__(self, handler: Handler, scope: str | None = None) -> Handler:
        async def guarded(request: Request) -> Response:
            refusal = self.refusal(request, scope)
            return refusal if refusal is not None else await handler(request)

        return guarded

    def refusal(self, request: Request, scope: str | None) -> Response | None:
        """The 401/403 answer for `request`, or None when it may proceed."""
        if not self.required:
            return None
        if ACCESS_KEY not in request.scope:
            # No credentials sent: the challenge names no error code (RFC 6750 §3.1).
            return error_response(
                401,
                "invalid_token",
                f"A bearer token for this {self.realm} is required.",
                headers={"WWW-Authenticate": bearer_challenge(realm=self.realm)},
            )
        access: AccessToken | None = request.scope[ACCESS_KEY]
        if access is None:
            return error_response(
                401,
                "invalid_token",
                f"The bearer token is invalid, expired, or not issued for this {self.realm}.",
                headers={"WWW-Authenticate": bearer_challenge(realm=self.realm, error="invalid_token")},
            )
        if scope is not None and scope not in access.scopes:
            return error_response(
                403,
                "insufficient_scope",
                f"This request needs the {scope} scope; get a token that grants it.",
                headers={
                    "WWW-Authenticate": bearer_challenge(realm=self.realm, error="insufficient_scope", scope=scope)
                },
            )
        return None


def rest_app(
    routes: Sequence[BaseRoute],
    lifespan: Lifespan[Starlette],
    verifier: TokenVerifier | None,
    metrics: ServerMetrics,
    metric_routes: tuple[str, ...],
    requests_per_second: int,
    exempt: Collection[str],
) -> ASGIApp:
    """The app of `routes` (unexpected errors answered by `server_error`) behind the layers in the module doc."""
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={Exception: server_error})
    limited = RateLimitMiddleware(app, requests_per_second, exempt=exempt)
    authenticated = BearerAuthMiddleware(limited, verifier, skip=frozenset(exempt))
    return HeaderLimitMiddleware(HttpMetricsMiddleware(authenticated, metrics, metric_routes))
