"""Run prometheus-mcp: `python -m servers.prometheus_mcp [stdio|http]` (or `sre stdio|serve prometheus-mcp`)."""

from __future__ import annotations

import sys

from common.mcp.serving import Transport, serve_mcp
from common.metrics import ServerMetrics
from common.scopes import METRICS_READ
from common.settings import SettingsSource
from servers.prometheus_mcp.server import SERVER_NAME, create_server, open_backends
from servers.prometheus_mcp.settings import PrometheusMcpSettings

SCOPES = (METRICS_READ,)


async def serve(transport: Transport, source: SettingsSource) -> None:
    settings = PrometheusMcpSettings.from_source(source)
    metrics = ServerMetrics(SERVER_NAME)
    async with open_backends(settings, metrics) as backends:
        await serve_mcp(
            transport,
            lambda auth: create_server(settings, backends, metrics=metrics, auth=auth),
            settings.serve,
            metrics,
            default_name=SERVER_NAME,
            scopes=SCOPES,
        )


if __name__ == "__main__":
    from cli.main import main

    sys.exit(main(["serve" if sys.argv[1:2] == ["http"] else "stdio", SERVER_NAME]))
