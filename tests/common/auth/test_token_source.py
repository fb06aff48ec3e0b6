"""TokenSource against the registry's real embedded authorization server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from support.authorization_server import AuthorizationServer

from common.auth import ClientCredentials, JwtVerifier, TokenSource, TokenValidation
from common.errors import BackendRejected

pytestmark = pytest.mark.anyio

AUDIENCE = "http://127.0.0.1:8701/mcp"
OTHER = "http://127.0.0.1:8702/mcp"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthorizationServer]:
    with AuthorizationServer(tmp_path_factory.mktemp("as"), resources=[AUDIENCE, OTHER]) as running:
        yield running


def credentials(server: AuthorizationServer, secret: str, method: str = "client_secret_basic") -> ClientCredentials:
    return ClientCredentials.model_validate(
        {"token_url": server.token_url, "client_id": "caller", "client_secret": secret, "auth_method": method}
    )


@pytest.fixture(scope="module")
def secret(server: AuthorizationServer) -> str:
    return server.clients.add_client("caller", ["metrics:read", "logs:read"])


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_tokens_are_for_the_audience_asked_and_verify(
    server: AuthorizationServer, secret: str, method: str
) -> None:
    async with httpx.AsyncClient() as http:
        source = TokenSource(credentials(server, secret, method), http)
        token = await source.token(AUDIENCE, ["metrics:read"])
        verifier = JwtVerifier(TokenValidation(issuer=server.issuer, jwks_url=server.jwks_url, audience=AUDIENCE), http)
        other = JwtVerifier(TokenValidation(issuer=server.issuer, jwks_url=server.jwks_url, audience=OTHER), http)
        access = await verifier.verify_token(token)
        refused = await other.verify_token(token)
    assert access is not None
    assert (access.client_id, access.scopes) == ("caller", ["metrics:read"])
    assert refused is None


async def test_a_token_is_reused_per_audience_and_renewed_before_it_expires(
    server: AuthorizationServer, secret: str
) -> None:
    now = [1_000_000.0]
    async with httpx.AsyncClient() as http:
        source = TokenSource(credentials(server, secret), http, refresh_margin=60, clock=lambda: now[0])
        first = await source.token(AUDIENCE, ["metrics:read"])
        again = await source.token(AUDIENCE, ["metrics:read"])
        other = await source.token(OTHER, ["metrics:read"])
        assert (again, source.requests) == (first, 2)
        now[0] += server.settings.token_ttl_seconds - 59  # inside the renewal margin
        renewed = await source.token(AUDIENCE, ["metrics:read"])
    assert renewed != first
    assert other not in (first, renewed)
    assert source.requests == 3


async def test_a_wrong_secret_is_a_clear_error(server: AuthorizationServer, secret: str) -> None:
    async with httpx.AsyncClient() as http:
        source = TokenSource(credentials(server, "not-the-secret"), http)
        with pytest.raises(BackendRejected, match=r"refused a token for client 'caller'.*invalid_client"):
            await source.token(AUDIENCE)


async def test_the_httpx_adapter_retries_once_with_a_fresh_token_after_a_401(
    server: AuthorizationServer, secret: str
) -> None:
    seen: list[str] = []

    def resource(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(401 if len(seen) == 1 else 200)

    async with httpx.AsyncClient() as http:
        source = TokenSource(credentials(server, secret), http)
        async with httpx.AsyncClient(transport=httpx.MockTransport(resource)) as client:
            response = await client.get(AUDIENCE, auth=source.bearer_auth(AUDIENCE))
    assert response.status_code == 200
    assert len(seen) == 2
    assert seen[0] != seen[1]
    assert source.requests == 2
