"""Run prometheus-mcp: `python -m servers.prometheus_mcp [stdio|http]` (or `sre stdio|serve prometheus-mcp`)."""

from __future__ import annotations

import sys
from typing import Literal

from common.mcp.serving import serve_mcp_http
from common.metrics import ServerMetrics
from common.scopes import METRICS_READ
from common.settings import SettingsSource
from servers.prometheus_mcp.server import SERVER_NAME, create_clients, create_server
from servers.prometheus_mcp.settings import PrometheusMcpSettings

SCOPES = (METRICS_READ,)


async def serve(transport: Literal["stdio", "http"], source: SettingsSource) -> None:
    settings = PrometheusMcpSettings.from_source(source)
    metrics = ServerMetrics(SERVER_NAME)
    clients = create_clients(settings, metrics)

    async def close_clients() -> None:
        for client in clients.values():
            await client.aclose()

    if transport == "stdio":
        # stdio is a local child process of the user's own client: no token.
        try:
            await create_server(settings, clients, metrics=metrics).run_stdio_async()
        finally:
            await close_clients()
        return
    await serve_mcp_http(
        lambda auth: create_server(
            settings, clients, metrics=metrics, token_verifier=auth.verifier, auth=auth.settings
        ),
        settings.serve,
        metrics,
        default_name=SERVER_NAME,
        scopes=SCOPES,
        on_shutdown=[close_clients],
    )


if __name__ == "__main__":
    from cli.main import main

    sys.exit(main(["serve" if sys.argv[1:2] == ["http"] else "stdio", SERVER_NAME]))
