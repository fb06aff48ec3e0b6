from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from support.asgi_server import ServedApp
from support.backends import free_port

from common.auth.discovery import discover_jwks_url, metadata_urls, with_discovered_jwks
from common.settings import AuthConfig

pytestmark = pytest.mark.anyio


def test_metadata_urls_follow_rfc8414_and_oidc_for_an_issuer_with_a_path() -> None:
    assert metadata_urls("https://kc.example/realms/sre") == [
        "https://kc.example/.well-known/oauth-authorization-server/realms/sre",
        "https://kc.example/realms/sre/.well-known/openid-configuration",
    ]


@pytest.fixture(scope="module")
def keycloak_like() -> Iterator[str]:
    """A server publishing OIDC metadata the way Keycloak does for realm `sre` (and a lying realm)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    async def oidc(request: Request) -> Response:
        realm = request.path_params["realm"]
        issuer = f"{base}/realms/{realm}" if realm == "sre" else "https://elsewhere.example/realms/sre"
        return JSONResponse({"issuer": issuer, "jwks_uri": f"{base}/realms/{realm}/protocol/openid-connect/certs"})

    app = Starlette(routes=[Route("/realms/{realm}/.well-known/openid-configuration", oidc)])
    with ServedApp(app, port=port):
        yield base


async def test_the_jwks_location_comes_from_the_issuers_metadata(keycloak_like: str) -> None:
    async with httpx.AsyncClient() as http:
        url = await discover_jwks_url(f"{keycloak_like}/realms/sre", http)
    assert url == f"{keycloak_like}/realms/sre/protocol/openid-connect/certs"


async def test_metadata_naming_another_issuer_is_refused(keycloak_like: str) -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(LookupError, match=re.escape("names issuer 'https://elsewhere.example/realms/sre'")):
            await discover_jwks_url(f"{keycloak_like}/realms/liar", http)


async def test_without_metadata_the_embedded_servers_location_is_used_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    issuer = f"http://127.0.0.1:{free_port()}"
    async with httpx.AsyncClient() as http:
        config = await with_discovered_jwks(AuthConfig(issuer=issuer), http)
    assert config.jwks_url == f"{issuer}/jwks.json"
    assert "Set SRE_AUTH_JWKS_URL" in caplog.text


async def test_a_configured_jwks_url_is_kept() -> None:
    config = AuthConfig(issuer="https://kc.example/realms/sre", jwks_url="https://kc.example/certs")
    async with httpx.AsyncClient() as http:
        assert await with_discovered_jwks(config, http) == config
