"""The Lokis loki-mcp's tools read, or its embedded log store when no Loki is configured.

The embedded store is served as Loki's API (`/loki/api/v1/`), and the tools reach it in process
through the same `LokiClient` a real Loki answers, so both paths behave alike. While it is open,
entries older than the retention are deleted every hour.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import anyio
import httpx
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp

from common.mcp.backends import Backends
from common.metrics import ServerMetrics
from common.settings import Upstream
from common.task_groups import task_group
from servers.loki_mcp.client import LokiClient
from servers.loki_mcp.local.api import loki_api_routes
from servers.loki_mcp.local.store import SqliteLogStore
from servers.loki_mcp.settings import LokiMcpSettings

__all__ = ["LOCAL_BACKEND", "LOKI_API_PATH", "LokiBackends", "open_backends"]

logger = logging.getLogger(__name__)

LOKI_API_PATH = "/loki/api/v1"
LOCAL_BACKEND = "local"
_RETENTION_EVERY_SECONDS = 3600.0


class LokiBackends(Backends[LokiClient]):
    """The clients the tools use, and the embedded store's Loki API when there is one."""

    def __init__(self, clients: Mapping[str, LokiClient], local_api: ASGIApp | None = None) -> None:
        super().__init__(clients)
        self.local_api = local_api


@asynccontextmanager
async def open_backends(settings: LokiMcpSettings, metrics: ServerMetrics | None = None) -> AsyncIterator[LokiBackends]:
    limits = settings.limits
    if not settings.uses_local_store:
        remote = {
            upstream.name: LokiClient(
                upstream, timeout=limits.timeout_seconds, max_response_bytes=limits.max_response_bytes, metrics=metrics
            )
            for upstream in settings.backends
        }
        async with LokiBackends(remote) as backends:
            yield backends
        return
    local = settings.local
    local.path.parent.mkdir(parents=True, exist_ok=True)
    async with SqliteLogStore(local.path) as store, task_group() as tasks:
        routes = loki_api_routes(
            store,
            max_push_bytes=local.max_push_bytes,
            max_line_chars=local.max_line_chars,
            query_timeout=local.query_timeout_seconds,
        )
        api = Starlette(routes=routes)
        in_process = Starlette(routes=[Mount(LOKI_API_PATH, app=api)])
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=in_process), base_url="http://embedded-store")
        client = LokiClient(
            Upstream(name=LOCAL_BACKEND, url="http://embedded-store"),
            timeout=limits.timeout_seconds,
            max_response_bytes=limits.max_response_bytes,
            http_client=http,
            metrics=metrics,
        )
        tasks.start_soon(_retention, store, local.retention_hours)
        logger.info("No LOKI_URL configured: serving the embedded log store at %s", local.path)
        try:
            async with LokiBackends({LOCAL_BACKEND: client}, api) as backends:
                yield backends
        finally:
            tasks.cancel_scope.cancel()


async def _retention(store: SqliteLogStore, hours: float) -> None:
    while True:
        deleted = await store.delete_before(int((time.time() - hours * 3600) * 1e9))
        if deleted:
            logger.info("Retention: deleted %d log entries older than %g h", deleted, hours)
        await anyio.sleep(_RETENTION_EVERY_SECONDS)
