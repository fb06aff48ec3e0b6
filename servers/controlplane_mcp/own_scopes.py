"""The control plane scopes this server's own client holds, which decide the tools it offers.

A tool that needs a scope the server's own token lacks could only end in 403 after its caller
went through an approval, so it is not offered. The scopes are learnt at start-up from the token
response's `scope` (RFC 6749 5.1) when the server gets its own tokens by client credentials;
otherwise (a static CONTROLPLANE_MCP_BEARER_TOKEN, or an authorization server that leaves
`scope` out) they are the configured CONTROLPLANE_MCP_TOKEN_SCOPES.
"""

from __future__ import annotations

import logging

from common.auth import TokenSource
from common.errors import BackendError
from servers.controlplane_mcp.settings import ControlPlaneMcpSettings

__all__ = ["own_scopes"]

logger = logging.getLogger(__name__)


async def own_scopes(settings: ControlPlaneMcpSettings, tokens: TokenSource | None) -> frozenset[str]:
    configured = frozenset(settings.token_scopes)
    if tokens is None:
        return configured
    audience = settings.backend.url
    try:
        granted = await tokens.granted_scopes(audience)
    except BackendError as exc:
        logger.warning(
            "No token for the control plane at start-up (%s); offering the tools of CONTROLPLANE_MCP_TOKEN_SCOPES "
            "(%s).",
            exc,
            " ".join(sorted(configured)),
        )
        return configured
    if granted is None:
        logger.info("The token response does not list its scopes; using CONTROLPLANE_MCP_TOKEN_SCOPES.")
        return configured
    logger.info("This server's own client holds %s at the control plane.", " ".join(sorted(granted)) or "no scope")
    return granted
