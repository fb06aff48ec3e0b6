"""controlplane-mcp learns its own client's scopes at start-up: from the token response, else configuration."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from common.auth import ClientCredentials, TokenSource
from common.settings import SettingsSource
from servers.controlplane_mcp.own_scopes import own_scopes
from servers.controlplane_mcp.settings import ControlPlaneMcpSettings

pytestmark = pytest.mark.anyio

CONTROLPLANE = "http://127.0.0.1:8710"


def settings(**env: str) -> ControlPlaneMcpSettings:
    return ControlPlaneMcpSettings.from_source(SettingsSource({"CONTROLPLANE_URL": CONTROLPLANE, **env}))


def token_endpoint(answer: dict[str, Any], status: int = 200) -> tuple[TokenSource, list[httpx.Request]]:
    asked: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(status, json=answer)

    credentials = ClientCredentials(
        token_url="http://127.0.0.1:8700/oauth/token", client_id="controlplane-mcp", client_secret="s"
    )
    return TokenSource(credentials, httpx.AsyncClient(transport=httpx.MockTransport(respond))), asked


async def test_the_scopes_come_from_the_token_response() -> None:
    granted = "controlplane:read controlplane:write controlplane:admin"
    tokens, asked = token_endpoint({"access_token": "t", "token_type": "Bearer", "expires_in": 300, "scope": granted})
    held = await own_scopes(settings(), tokens)
    assert held == {"controlplane:read", "controlplane:write", "controlplane:admin"}
    assert b"resource=http%3A%2F%2F127.0.0.1%3A8710" in asked[0].content


async def test_without_scope_in_the_token_response_the_configured_scopes_count() -> None:
    tokens, _ = token_endpoint({"access_token": "t", "token_type": "Bearer", "expires_in": 300})
    held = await own_scopes(settings(CONTROLPLANE_MCP_TOKEN_SCOPES="controlplane:read"), tokens)
    assert held == {"controlplane:read"}


async def test_a_static_token_has_the_configured_scopes_read_and_write_by_default() -> None:
    assert await own_scopes(settings(), None) == {"controlplane:read", "controlplane:write"}
    configured = settings(CONTROLPLANE_MCP_TOKEN_SCOPES="controlplane:read controlplane:admin")
    assert await own_scopes(configured, None) == {"controlplane:read", "controlplane:admin"}


async def test_an_authorization_server_that_refuses_leaves_the_configured_scopes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tokens, _ = token_endpoint({"error": "invalid_client"}, status=401)
    assert await own_scopes(settings(), tokens) == {"controlplane:read", "controlplane:write"}
    assert "CONTROLPLANE_MCP_TOKEN_SCOPES" in caplog.text
