"""Run controlplane-mcp: `sre stdio|serve controlplane-mcp [--read-only]`.

The server calls the control plane with its own token (client credentials for the control
plane's URL, from SRE_CLIENT_*), or the static CONTROLPLANE_MCP_BEARER_TOKEN. At start it learns
the scopes of that token (`own_scopes`) and reads the control plane's OpenAPI document, to offer
its further operations as tools, those its own client can carry out; if the control plane is not
reachable yet, it starts with the curated tools only and says so in its log.
"""

from __future__ import annotations

import logging
import sys
from contextlib import aclosing

from common.auth import ClientCredentials, TokenSource
from common.errors import BackendError
from common.http import create_http_client, upstream_client
from common.mcp.serving import Transport, serve_mcp
from common.mcp.tools import tool_scopes
from common.metrics import ServerMetrics
from common.settings import SettingsSource
from servers.controlplane_mcp.client import ControlPlaneClient
from servers.controlplane_mcp.generic import GenericOperations, OfferedTools
from servers.controlplane_mcp.own_scopes import own_scopes
from servers.controlplane_mcp.server import CURATED_OPERATIONS, READ_SCOPE, SERVER_NAME, create_server, tool_specs
from servers.controlplane_mcp.settings import ControlPlaneMcpSettings

logger = logging.getLogger(__name__)


async def serve(transport: Transport, source: SettingsSource) -> None:
    settings = ControlPlaneMcpSettings.from_source(source)
    metrics = ServerMetrics(SERVER_NAME)
    async with create_http_client(timeout=10.0) as token_http:
        http = upstream_client(settings.backend, timeout=settings.limits.timeout_seconds)
        credentials = ClientCredentials.of_component(settings.serve)
        tokens = None
        if settings.backend.bearer_token is None and credentials is not None:
            # The control plane is its own OAuth resource: this server's token for it, never a caller's.
            tokens = TokenSource(credentials, token_http)
            http.auth = tokens.bearer_auth(settings.backend.url)
        client = ControlPlaneClient(
            settings.backend,
            timeout=settings.limits.timeout_seconds,
            max_response_bytes=settings.limits.max_response_bytes,
            http_client=http,
            metrics=metrics,
        )
        async with aclosing(client):
            held = await own_scopes(settings, tokens)
            extra = await _operation_tools(settings, client, held)
            # A caller needs the scope the control plane demands for each tool: the server lends its own to nobody.
            scopes = tool_scopes(tool_specs(settings, client, held)) | extra.scopes
            await serve_mcp(
                transport,
                lambda auth: create_server(
                    settings, client, extra_tools=extra.tools, client_scopes=held, metrics=metrics, auth=auth
                ),
                settings.serve,
                metrics,
                default_name=SERVER_NAME,
                scopes=(READ_SCOPE,),
                tool_scopes=scopes,
            )


async def _operation_tools(
    settings: ControlPlaneMcpSettings, client: ControlPlaneClient, held: frozenset[str]
) -> OfferedTools:
    if not settings.operations:
        return OfferedTools(tools=[], scopes={})
    try:
        document = await client.openapi()
    except BackendError as exc:
        logger.warning("No further operations as tools: the control plane's OpenAPI document is unavailable (%s)", exc)
        return OfferedTools(tools=[], scopes={})
    generic = GenericOperations(client, read_only=settings.read_only)
    return generic.tools(document, exclude=CURATED_OPERATIONS, client_scopes=held)


if __name__ == "__main__":
    from cli.main import main

    sys.exit(main(["serve" if sys.argv[1:2] == ["http"] else "stdio", SERVER_NAME]))
