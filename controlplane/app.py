"""The control plane's ASGI app: the API of `controlplane.openapi.OPERATIONS`, guards and lifespan.

Layers (see `common.rest.rest_app`): header limits, request metrics, bearer verification, rate
limiting, then the routes (`controlplane.api`). The lifespan migrates the database to the
newest schema before serving, and closes the store and the executor at the end.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from mcp.server.auth.provider import TokenVerifier
from starlette.applications import Starlette
from starlette.types import ASGIApp

from common.metrics import ServerMetrics
from common.rest import rest_app
from common.settings import build
from controlplane.api import ControlPlaneApi
from controlplane.calls import Services
from controlplane.executor import Executor, RecordingExecutor
from controlplane.openapi import openapi_document
from controlplane.settings import ControlPlaneSettings
from controlplane.store import ControlPlaneStore

__all__ = ["COMPONENT", "create_app", "create_executor"]

logger = logging.getLogger(__name__)

COMPONENT = "controlplane"
RATE_EXEMPT = ("/healthz",)
_METRIC_ROUTES = (
    "/api/v1/resources",
    "/api/v1/resource-groups",
    "/api/v1/deployments",
    "/api/v1/audit-logs",
    "/api/v1/incidents",
    "/api/v1/alert-rules",
    "/api/v1/automation",
    "/api/v1/approvals",
    "/api/v1/actions",
    "/api/v1/analyses",
    "/openapi.json",
    "/healthz",
    "/metrics",
)


def create_executor(settings: ControlPlaneSettings) -> Executor:
    """The configured executor; the Kubernetes one is imported only when chosen."""
    if settings.executor == "kubernetes":
        from controlplane.kubernetes import KubernetesExecutor
        from controlplane.kubernetes_api import KubernetesSettings

        return KubernetesExecutor(build(KubernetesSettings, settings.kubernetes, prefix="CONTROLPLANE_KUBERNETES_"))
    return RecordingExecutor()


def create_app(
    settings: ControlPlaneSettings,
    *,
    verifier: TokenVerifier | None,
    store: ControlPlaneStore | None = None,
    executor: Executor | None = None,
    metrics: ServerMetrics | None = None,
    clock: Callable[[], datetime] | None = None,
) -> ASGIApp:
    """The control plane app; `verifier=None` means authentication is disabled (loopback only, checked by the caller).

    `clock` (tests) is the time of every record and of approval expiry.
    """
    store = store or (
        ControlPlaneStore(settings.database, clock=clock) if clock else ControlPlaneStore(settings.database)
    )
    executor = executor or create_executor(settings)
    metrics = metrics or ServerMetrics(COMPONENT)
    api = ControlPlaneApi(
        Services(store, executor, settings.approval_ttl_seconds),
        metrics=metrics,
        max_body_bytes=settings.serve.max_body_bytes,
        auth_required=verifier is not None,
        openapi=openapi_document(settings.serve.base_url),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.start()
        logger.info("Control plane executor: %s", executor.name)
        try:
            yield
        finally:
            await executor.aclose()
            await store.close()

    rate = settings.serve.requests_per_second
    return rest_app(api.routes(), lifespan, verifier, metrics, _METRIC_ROUTES, rate, RATE_EXEMPT)
