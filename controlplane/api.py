"""The control plane's routes: one per entry of `controlplane.openapi.OPERATIONS`, nothing else.

Each route requires what its operation says, in this order: a valid token for this control
plane (401) with the operation's scope (403 `insufficient_scope`); then a query string and a
body that match the operation's models (400/413/422); then the handler named by the operation
id runs, with the caller as a `Call`. Handlers live in modules named for what they manage
(`inventory`, `history`, `incidents`, `alerting`, `approvals`, `actions`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.metrics import CONTENT_TYPE_LATEST, ServerMetrics
from common.openapi import Operation
from common.rest import BearerGuard, FieldError, invalid, parse_body, parse_query
from controlplane import actions, alerting, approvals, history, incidents, inventory
from controlplane.calls import Call, Handler, Services
from controlplane.openapi import OPERATIONS
from controlplane.store import Actor

__all__ = ["ANONYMOUS", "HANDLERS", "ControlPlaneApi"]

#: The caller's name when authentication is disabled (loopback only).
ANONYMOUS = "anonymous"

HANDLERS: dict[str, Handler] = {
    **inventory.HANDLERS,
    **history.HANDLERS,
    **incidents.HANDLERS,
    **alerting.HANDLERS,
    **approvals.HANDLERS,
    **actions.HANDLERS,
}


class ControlPlaneApi:
    """The routes over one store and executor; `auth_required=False` only when auth is disabled (loopback)."""

    def __init__(
        self,
        services: Services,
        *,
        metrics: ServerMetrics,
        max_body_bytes: int,
        auth_required: bool,
        openapi: dict[str, Any],
    ) -> None:
        self.services = services
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.guard = BearerGuard("control plane", auth_required)
        self.openapi = openapi

    def routes(self) -> list[Route]:
        own: dict[str, Callable[[Request], Any]] = {
            "get_openapi": self.openapi_json,
            "healthz": self.healthz,
            "get_metrics": self.metrics_route,
        }
        routes = []
        for operation in OPERATIONS:
            endpoint = own.get(operation.id) or self._endpoint(operation, HANDLERS[operation.id])
            if not operation.public and operation.id in own:
                endpoint = self.guard(endpoint, operation.scope)
            routes.append(Route(operation.path, endpoint, methods=[operation.method.upper()]))
        return routes

    async def openapi_json(self, request: Request) -> Response:
        return JSONResponse(self.openapi)

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "component": "controlplane"})

    async def metrics_route(self, request: Request) -> Response:
        return Response(self.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    def _endpoint(self, operation: Operation, handler: Handler) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            access = self.guard.require(request, operation.scope)
            query = parse_query(request, operation.query) if operation.query is not None else None
            if operation.query is None and request.query_params:
                unknown = sorted(set(request.query_params))
                raise invalid([FieldError(field=name, message="Extra inputs are not permitted") for name in unknown])
            body = await parse_body(request, operation.body, self.max_body_bytes) if operation.body else None
            call = Call(request, self.services, Actor(access.client_id if access else ANONYMOUS), body, query)
            return await handler(call)

        return endpoint
