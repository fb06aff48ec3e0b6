"""The registry's ASGI app: the API, the authorization server's routes, /metrics, guards and lifespan.

Layers, outermost first, and why in this order:

1. `HeaderLimitMiddleware`: 431 for oversized heads before anything reads them;
2. `HttpMetricsMiddleware`: every answer is counted, refusals included;
3. `BearerAuthMiddleware`: verifies the token once, so the next layer can key on the client;
4. `RateLimitMiddleware`: per-caller token buckets (429), before any route does work;
5. the routes: `RegistryApi`, the given `authorization_routes` (`/oauth/token`, `/jwks.json`,
   `/.well-known/oauth-authorization-server`) and `/metrics` (any valid registry token, like
   the MCP servers' `/metrics`).

The lifespan creates the schema, runs the `HealthMonitor` until shutdown, then closes the store
and the probe client.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import httpx
from mcp.server.auth.provider import TokenVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from common.http import create_http_client
from common.metrics import CONTENT_TYPE_LATEST, ServerMetrics
from common.rest import rest_app
from common.task_groups import task_group
from registry.api import RegistryApi
from registry.health import DEFAULT_TIMEOUT_SECONDS, HealthMonitor
from registry.openapi import openapi_document
from registry.settings import RegistrySettings
from registry.store import RegistryStore

__all__ = ["COMPONENT", "create_app"]

logger = logging.getLogger(__name__)

COMPONENT = "registry"
#: Answered however busy a caller is: liveness, and the keys every verifier needs.
RATE_EXEMPT = ("/healthz", "/jwks.json")
_METRIC_ROUTES = (
    "/agents",
    "/servers",
    "/search",
    "/openapi.json",
    "/healthz",
    "/metrics",
    "/oauth",
    "/jwks.json",
    "/.well-known",
)


def create_app(
    settings: RegistrySettings,
    *,
    verifier: TokenVerifier | None,
    authorization_routes: Sequence[BaseRoute] = (),
    store: RegistryStore | None = None,
    metrics: ServerMetrics | None = None,
    probe_client: httpx.AsyncClient | None = None,
) -> ASGIApp:
    """The registry app; `verifier=None` means authentication is disabled (loopback only, checked by the caller)."""
    store = store or RegistryStore.for_settings(settings)
    metrics = metrics or ServerMetrics(COMPONENT)
    probes = probe_client or create_http_client(timeout=DEFAULT_TIMEOUT_SECONDS, attempts=1)
    api = RegistryApi(
        store,
        max_body_bytes=settings.serve.max_body_bytes,
        auth_required=verifier is not None,
        openapi=openapi_document(settings.serve.base_url),
    )
    monitor = HealthMonitor(
        store, probes, interval=settings.health_interval_seconds, stale_after=settings.stale_after_seconds
    )

    async def metrics_route(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.start()
        try:
            async with task_group() as tasks:
                tasks.start_soon(monitor.run)
                yield
                tasks.cancel_scope.cancel()
        finally:
            await store.close()
            await probes.aclose()

    routes: list[BaseRoute] = [
        *api.routes(),
        *authorization_routes,
        Route("/metrics", api.guard(metrics_route), methods=["GET"]),
    ]
    rate = settings.serve.requests_per_second
    return rest_app(routes, lifespan, verifier, metrics, _METRIC_ROUTES, rate, RATE_EXEMPT)
