"""Run loki-mcp: `python -m servers.loki_mcp [stdio|http]` (or `sre stdio|serve loki-mcp`).

With no Loki configured it opens the embedded store (SQLite under SRE_DATA_DIR). Over HTTP the
store's Loki API is served at `/loki/api/v1/` beside `/mcp`, with the same tokens: a push needs
`logs:write`, everything else `logs:read`. The tools reach the store in process, through the same
`LokiClient` and Loki API a real Loki would answer, so both paths behave alike.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp

from common.mcp.serving import ScopedMount, Transport, serve_mcp
from common.metrics import ServerMetrics
from common.scopes import LOGS_READ, LOGS_WRITE
from common.settings import SettingsSource, Upstream
from common.task_groups import task_group
from servers.loki_mcp.analyze import LogAnalyzer
from servers.loki_mcp.client import LokiClient
from servers.loki_mcp.local.api import loki_api_routes
from servers.loki_mcp.local.store import SqliteLogStore
from servers.loki_mcp.server import SERVER_NAME, create_server
from servers.loki_mcp.settings import LokiMcpSettings

logger = logging.getLogger(__name__)

READ_SCOPE = LOGS_READ
WRITE_SCOPE = LOGS_WRITE
LOKI_API_PATH = "/loki/api/v1"
LOCAL_BACKEND = "local"
_RETENTION_EVERY_SECONDS = 3600.0


def needed_scope(method: str, path: str) -> str:
    return WRITE_SCOPE if method == "POST" and path.rstrip("/").endswith("/push") else READ_SCOPE


class Backends:
    """The clients the tools use, and the embedded store's Loki API when there is one."""

    def __init__(self, clients: dict[str, LokiClient], local_api: ASGIApp | None) -> None:
        self.clients = clients
        self.local_api = local_api


@asynccontextmanager
async def open_backends(settings: LokiMcpSettings, metrics: ServerMetrics) -> AsyncIterator[Backends]:
    limits = settings.limits
    if not settings.uses_local_store:
        clients = {
            upstream.name: LokiClient(
                upstream, timeout=limits.timeout_seconds, max_response_bytes=limits.max_response_bytes, metrics=metrics
            )
            for upstream in settings.backends
        }
        try:
            yield Backends(clients, None)
        finally:
            for client in clients.values():
                await client.aclose()
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
            yield Backends({LOCAL_BACKEND: client}, api)
        finally:
            tasks.cancel_scope.cancel()
            await client.aclose()


async def _retention(store: SqliteLogStore, hours: float) -> None:
    while True:
        deleted = await store.delete_before(int((time.time() - hours * 3600) * 1e9))
        if deleted:
            logger.info("Retention: deleted %d log entries older than %g h", deleted, hours)
        await anyio.sleep(_RETENTION_EVERY_SECONDS)


async def serve(transport: Transport, source: SettingsSource) -> None:
    settings = LokiMcpSettings.from_source(source)
    metrics = ServerMetrics(SERVER_NAME)
    roots = settings.local.analysis_roots
    if transport == "stdio" and not roots:
        # A stdio server is the user's own child process: their working directory is theirs to read.
        roots = (Path.cwd(),)
    analyzer = LogAnalyzer(roots, max_bytes=settings.limits.max_upload_bytes)
    async with open_backends(settings, metrics) as backends:
        mounts = [] if backends.local_api is None else [ScopedMount(LOKI_API_PATH, backends.local_api, needed_scope)]
        await serve_mcp(
            transport,
            lambda auth: create_server(
                settings,
                backends.clients,
                analyzer=analyzer,
                metrics=metrics,
                token_verifier=auth.verifier,
                auth=auth.settings,
            ),
            settings.serve,
            metrics,
            default_name=SERVER_NAME,
            scopes=(READ_SCOPE,),
            mounts=mounts,
        )


if __name__ == "__main__":
    from cli.main import main

    sys.exit(main(["serve" if sys.argv[1:2] == ["http"] else "stdio", SERVER_NAME]))
