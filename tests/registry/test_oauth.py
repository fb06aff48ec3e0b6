"""The embedded authorization server over real HTTP on 127.0.0.1 (security checklist rows 13, 37, 38)."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata  # type: ignore[import-untyped]
from support.authorization_server import AuthorizationServer
from support.eventually import eventually, eventually_async

from common.auth import JwtVerifier, TokenValidation
from common.errors import ConfigError
from common.settings import ServeSettings
from registry.clients import KNOWN_SCOPES, ClientStore
from registry.keys import KeyStore
from registry.oauth import authorization_routes
from registry.settings import RegistrySettings

PROMETHEUS_MCP = "http://127.0.0.1:8701/mcp"
LOKI_MCP = "http://127.0.0.1:8702/mcp"
TRIAGE_AGENT = "http://127.0.0.1:8721"
TRIAGE_SCOPES = ["agents:invoke", "logs:read", "metrics:read"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthorizationServer]:
    async def registered() -> set[str]:
        return {TRIAGE_AGENT}

    data_dir = tmp_path_factory.mktemp("oauth")
    with AuthorizationServer(data_dir, resources=[PROMETHEUS_MCP, LOKI_MCP], known_resources=registered) as running:
        yield running


@pytest.fixture(scope="module")
def triage(server: AuthorizationServer) -> str:
    """The secret of client `triage`."""
    return server.clients.add_client("triage", TRIAGE_SCOPES)


def decode(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, claims, _ = (base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in token.split("."))
    return json.loads(header), json.loads(claims)


def verifier(server: AuthorizationServer, http: httpx.AsyncClient, audience: str, **policy: Any) -> JwtVerifier:
    validation = TokenValidation(issuer=server.issuer, jwks_url=server.jwks_url, audience=audience, **policy)
    return JwtVerifier(validation, http)


@pytest.mark.parametrize("method", ["basic", "post"])
def test_a_client_gets_a_token_with_basic_or_post_authentication(
    server: AuthorizationServer, triage: str, method: str
) -> None:
    response = server.request_token("triage", triage, PROMETHEUS_MCP, method=method)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == server.settings.token_ttl_seconds
    assert "refresh_token" not in body
    assert response.headers["cache-control"] == "no-store"


def test_the_token_is_an_rfc9068_jwt_whose_audience_is_exactly_the_requested_resource(
    server: AuthorizationServer, triage: str
) -> None:
    token = server.request_token("triage", triage, PROMETHEUS_MCP).json()["access_token"]
    header, claims = decode(token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    assert header["kid"] in {key["kid"] for key in server.http.get("/jwks.json").json()["keys"]}
    assert claims["iss"] == server.issuer
    assert claims["aud"] == PROMETHEUS_MCP
    assert claims["sub"] == claims["client_id"] == "triage"
    assert claims["scope"] == " ".join(TRIAGE_SCOPES)
    assert claims["exp"] - claims["iat"] == server.settings.token_ttl_seconds
    assert abs(claims["iat"] - time.time()) < 60
    assert (
        claims["jti"] != decode(server.request_token("triage", triage, PROMETHEUS_MCP).json()["access_token"])[1]["jti"]
    )


@pytest.mark.anyio
async def test_the_token_verifies_for_its_resource_and_is_refused_by_another(
    server: AuthorizationServer, triage: str
) -> None:
    token = server.request_token("triage", triage, PROMETHEUS_MCP, scope="metrics:read").json()["access_token"]
    async with httpx.AsyncClient(trust_env=False) as http:
        access = await verifier(server, http, PROMETHEUS_MCP).verify_token(token)
        assert access is not None
        assert access.client_id == "triage"
        assert access.scopes == ["metrics:read"]
        assert await verifier(server, http, LOKI_MCP).verify_token(token) is None


def test_registered_servers_and_agents_are_valid_resources(server: AuthorizationServer, triage: str) -> None:
    response = server.request_token("triage", triage, TRIAGE_AGENT)
    assert response.status_code == 200, response.text
    assert decode(response.json()["access_token"])[1]["aud"] == TRIAGE_AGENT


@pytest.mark.parametrize(
    "resource",
    ["http://127.0.0.1:9999/mcp", PROMETHEUS_MCP + "/", "http://127.0.0.1:8701", "https://evil.example/mcp"],
)
def test_a_resource_the_server_does_not_know_is_invalid_target(
    server: AuthorizationServer, triage: str, resource: str
) -> None:
    response = server.request_token("triage", triage, resource)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


def test_one_token_is_for_one_resource(server: AuthorizationServer, triage: str) -> None:
    form = {"grant_type": "client_credentials", "resource": [PROMETHEUS_MCP, LOKI_MCP]}
    response = server.http.post("/oauth/token", data=form, auth=("triage", triage))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


def test_the_resource_parameter_is_required(server: AuthorizationServer, triage: str) -> None:
    response = server.request_token("triage", triage, None)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "resource" in response.json()["error_description"]


def test_requested_scopes_are_limited_to_the_clients_scopes(server: AuthorizationServer, triage: str) -> None:
    narrowed = server.request_token("triage", triage, PROMETHEUS_MCP, scope="metrics:read  logs:read")
    assert narrowed.json()["scope"] == "logs:read metrics:read"
    assert decode(narrowed.json()["access_token"])[1]["scope"] == "logs:read metrics:read"
    for scope in ("metrics:read controlplane:write", "registry:write", "admin"):
        refused = server.request_token("triage", triage, PROMETHEUS_MCP, scope=scope)
        assert refused.status_code == 400, scope
        assert refused.json()["error"] == "invalid_scope"


def test_wrong_secret_and_unknown_client_get_the_same_401_invalid_client(
    server: AuthorizationServer, triage: str
) -> None:
    answers = [
        server.request_token("triage", triage[:-2] + "xx", PROMETHEUS_MCP),
        server.request_token("nobody", triage, PROMETHEUS_MCP),
        server.request_token("triage", "", PROMETHEUS_MCP),
        server.request_token("triage", triage + "x", PROMETHEUS_MCP, method="post"),
        server.request_token("nobody", "secret", PROMETHEUS_MCP, method="post"),
        server.http.post("/oauth/token", data={"grant_type": "client_credentials", "resource": PROMETHEUS_MCP}),
    ]
    for response in answers:
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Basic ")
        assert response.json() == answers[0].json()
    assert answers[0].json()["error"] == "invalid_client"


def test_client_authentication_comes_before_the_resource_check(server: AuthorizationServer) -> None:
    response = server.request_token("nobody", "secret", "https://evil.example/mcp")
    assert response.status_code == 401


@pytest.mark.parametrize("grant_type", ["authorization_code", "password", "refresh_token", "urn:x"])
def test_only_the_client_credentials_grant_is_served(server: AuthorizationServer, triage: str, grant_type: str) -> None:
    form = {"grant_type": grant_type, "resource": PROMETHEUS_MCP, "code": "x", "refresh_token": "x"}
    response = server.http.post("/oauth/token", data=form, auth=("triage", triage))
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_malformed_token_requests_are_refused_before_authentication(server: AuthorizationServer, triage: str) -> None:
    post, auth = server.http.post, ("triage", triage)
    big = {"grant_type": "client_credentials", "resource": PROMETHEUS_MCP, "pad": "x" * 17_000}
    assert post("/oauth/token", data=big, auth=auth).status_code == 413
    assert post("/oauth/token", json={"grant_type": "client_credentials"}, auth=auth).status_code == 400
    repeated = "grant_type=client_credentials&scope=metrics:read&scope=logs:read"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert post("/oauth/token", content=repeated, headers=headers, auth=auth).json()["error"] == "invalid_request"
    both = {"grant_type": "client_credentials", "client_id": "triage", "client_secret": triage}
    assert post("/oauth/token", data=both, auth=auth).status_code == 400
    assert server.http.get("/oauth/token").status_code == 405


def test_the_metadata_document_describes_the_server(server: AuthorizationServer) -> None:
    response = server.http.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    document = response.json()
    assert document == {
        "issuer": server.issuer,
        "token_endpoint": server.token_url,
        "jwks_uri": server.jwks_url,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": list(KNOWN_SCOPES),
        "response_types_supported": [],
    }
    metadata = AuthorizationServerMetadata(document)
    # authlib's checks of RFC 8414, but the one insisting on a response type (there is no
    # authorization endpoint, so the list is empty).
    for check in ("issuer", "token_endpoint", "jwks_uri", "grant_types_supported", "scopes_supported"):
        getattr(metadata, f"validate_{check}")()
    metadata.validate_token_endpoint_auth_methods_supported()


def test_the_jwks_publishes_public_keys_only(server: AuthorizationServer) -> None:
    keys = server.http.get("/jwks.json").json()["keys"]
    assert keys
    for key in keys:
        assert {"kid", "kty", "n", "e", "alg", "use"} <= key.keys()
        assert not {"d", "p", "q", "dp", "dq", "qi"} & key.keys()


def test_token_requests_are_rate_limited_per_client_id_and_the_server_stays_responsive(tmp_path: Path) -> None:
    with (
        AuthorizationServer(tmp_path, resources=[PROMETHEUS_MCP], token_requests_per_minute=3) as server,
        server.client_from("127.0.0.2") as elsewhere,
    ):
        secret = server.clients.add_client("busy", ["metrics:read"])
        other = server.clients.add_client("other", ["metrics:read"])
        assert [server.request_token("busy", secret, PROMETHEUS_MCP).status_code for _ in range(3)] == [200] * 3
        # Same client from another address: its own limit is spent.
        limited = server.request_token("busy", secret, PROMETHEUS_MCP, http=elsewhere)
        assert limited.status_code == 429
        assert limited.json()["error"] == "too_many_requests"
        assert 1 <= int(limited.headers["retry-after"]) <= 20
        # Another client from that address is not affected, and the server still answers.
        assert server.request_token("other", other, PROMETHEUS_MCP, http=elsewhere).status_code == 200
        assert server.http.get("/jwks.json").status_code == 200


def test_guessing_secrets_is_rate_limited_per_address_whatever_the_client_id(tmp_path: Path) -> None:
    with AuthorizationServer(tmp_path, resources=[PROMETHEUS_MCP], token_failures_per_minute=4) as server:
        statuses = [server.request_token(f"guess-{n}", "x", PROMETHEUS_MCP).status_code for n in range(6)]
        assert statuses == [401, 401, 401, 401, 429, 429]
        with server.client_from("127.0.0.3") as elsewhere:
            assert server.request_token("guess-9", "x", PROMETHEUS_MCP, http=elsewhere).status_code == 401


def test_a_client_added_by_another_process_gets_tokens_without_restart(server: AuthorizationServer) -> None:
    secret = ClientStore(server.settings.clients_path).add_client("late", ["logs:read"])
    response = server.request_token("late", secret, LOKI_MCP)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "logs:read"


def test_neither_secrets_nor_tokens_are_logged(
    server: AuthorizationServer, triage: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = server.request_token("triage", triage, PROMETHEUS_MCP, method="post").json()["access_token"]
    server.request_token("triage", triage + "x", PROMETHEUS_MCP)
    assert "Issued a token to client 'triage'" in caplog.text
    assert triage not in caplog.text
    assert token.split(".")[2] not in caplog.text


@pytest.mark.anyio
async def test_key_rotation_publishes_before_use_and_verifiers_follow_without_restart(tmp_path: Path) -> None:
    """Checklist row 13, second half: a real rotation, seen by a verifier that was already running."""
    with AuthorizationServer(tmp_path, resources=[PROMETHEUS_MCP], publish_delay=2.0) as server:
        secret = server.clients.add_client("rotating", ["metrics:read"])

        def new_token() -> str:
            return str(server.request_token("rotating", secret, PROMETHEUS_MCP).json()["access_token"])

        async with httpx.AsyncClient(trust_env=False) as http:
            running = verifier(server, http, PROMETHEUS_MCP, jwks_refetch_cooldown_seconds=0.2)
            old_token = new_token()
            old_kid = decode(old_token)[0]["kid"]
            assert await running.verify_token(old_token) is not None

            rotated = server.keys.rotate()
            published = {key["kid"] for key in server.http.get("/jwks.json").json()["keys"]}
            assert published == {old_kid, rotated.kid}
            assert decode(new_token())[0]["kid"] == old_kid  # published, not used yet

            token = eventually(
                lambda: signed if decode(signed := new_token())[0]["kid"] == rotated.kid else None,
                what="the new key to start signing",
            )
            await eventually_async(
                lambda: running.verify_token(token), what="the running verifier to accept the new key"
            )
            assert await running.verify_token(old_token) is not None  # still published until it expires
            assert old_kid in {key["kid"] for key in server.http.get("/jwks.json").json()["keys"]}


@pytest.mark.parametrize("public_url", ["http://registry.example:8700", "http://10.0.0.5:8700"])
def test_plain_http_on_a_network_address_is_refused_at_start(tmp_path: Path, public_url: str) -> None:
    settings = RegistrySettings(serve=ServeSettings(port=8700, public_url=public_url), data_dir=tmp_path)
    keys = KeyStore(settings.keys_dir, settings.signing_algorithm, settings.token_ttl_seconds)
    with pytest.raises(ConfigError, match="clear text"):
        authorization_routes(settings, keys, ClientStore(settings.clients_path))
    https = settings.model_copy(update={"serve": ServeSettings(port=8700, public_url="https://registry.example")})
    assert len(authorization_routes(https, keys, ClientStore(settings.clients_path))) == 3
