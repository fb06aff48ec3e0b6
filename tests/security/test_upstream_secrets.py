"""Security checklist row 36 on prometheus-mcp and loki-mcp as served: a secret in an upstream error
is redacted in the tool result and in the server's log.

Each server is started with `sre serve` in front of a broken gateway on 127.0.0.1 that answers
every request with a 503 whose body echoes credentials, as a misconfigured proxy does. A tool is
called over Streamable HTTP with a real MCP client. (controlplane-mcp's row 36 is in
test_controlplane_mcp.py.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from support.asgi_server import ServedApp
from support.issuer import TestIssuer
from support.mcp_session import token_session
from support.served import ServedComponent

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

PASSWORD = "hunter2-upstream-password"
TOKEN = "abcdefgh12345678ijkl"
ECHO = f"upstream connect error; retried with password={PASSWORD} and Authorization: Bearer {TOKEN}"
#: name -> (extra settings with the gateway's URL, scope, a tool and its arguments)
SERVERS = {
    "prometheus-mcp": ("PROMETHEUS_URL", "metrics:read", "prometheus_query", {"query": "up"}),
    "loki-mcp": ("LOKI_URL", "logs:read", "loki_query_logs", {"query": '{service="checkout"}'}),
}


@pytest.fixture(scope="module")
def gateway() -> Iterator[ServedApp]:
    async def broken(request: Request) -> Response:
        return PlainTextResponse(ECHO, status_code=503)

    app = Starlette(routes=[Route("/{rest:path}", broken, methods=["GET", "POST"])])
    with ServedApp(app) as served:
        yield served


@pytest.mark.parametrize("name", SERVERS)
async def test_row_36_a_secret_in_an_upstream_error_is_redacted_in_the_tool_result_and_the_log(
    issuer: TestIssuer, gateway: ServedApp, tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    url_key, scope, tool, arguments = SERVERS[name]
    env = {
        url_key: gateway.url,
        "SRE_AUTH_ISSUER": issuer.issuer,
        "SRE_AUTH_JWKS_URL": issuer.jwks_url,
        "SRE_DATA_DIR": str(tmp_path_factory.mktemp("data")),
    }
    with ServedComponent(name, env, tmp_path_factory.mktemp("served")) as served:
        token = issuer.mint(served.mcp_url, [scope])
        async with token_session(served.mcp_url, token) as client:
            result = await client.call_tool(tool, arguments)
        log = served.log_text()

    message = "".join(getattr(block, "text", "") for block in result.content)
    assert result.is_error, message
    assert "503" in message
    assert "[REDACTED]" in message
    for secret in (PASSWORD, TOKEN):
        assert secret not in message
        assert secret not in str(result.structured_content)
        assert secret not in log
