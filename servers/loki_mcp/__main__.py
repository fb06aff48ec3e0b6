"""Run loki-mcp: `python -m servers.loki_mcp [stdio|http]` (or `sre stdio|serve loki-mcp`).

With no Loki configured it opens the embedded store (SQLite under SRE_DATA_DIR). Over HTTP the
store's Loki API is served at `/loki/api/v1/` beside `/mcp`, with the same tokens: a push needs
`logs:write`, everything else `logs:read`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from common.mcp.serving import ScopedMount, Transport, serve_mcp
from common.metrics import ServerMetrics
from common.scopes import LOGS_READ, LOGS_WRITE
from common.settings import SettingsSource
from servers.loki_mcp.analyze import LogAnalyzer
from servers.loki_mcp.backends import LOKI_API_PATH, open_backends
from servers.loki_mcp.server import SERVER_NAME, create_server
from servers.loki_mcp.settings import LokiMcpSettings

READ_SCOPE = LOGS_READ
WRITE_SCOPE = LOGS_WRITE


def needed_scope(method: str, path: str) -> str:
    return WRITE_SCOPE if method == "POST" and path.rstrip("/").endswith("/push") else READ_SCOPE


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
            lambda auth: create_server(settings, backends, analyzer=analyzer, metrics=metrics, auth=auth),
            settings.serve,
            metrics,
            default_name=SERVER_NAME,
            scopes=(READ_SCOPE,),
            mounts=mounts,
        )


if __name__ == "__main__":
    from cli.main import main

    sys.exit(main(["serve" if sys.argv[1:2] == ["http"] else "stdio", SERVER_NAME]))
