"""Security checklist rows 1-14 and 19-25 against prometheus-mcp served for real over Streamable HTTP.

Every test talks HTTP to `sre serve prometheus-mcp` running as a subprocess on 127.0.0.1
and asserts exactly the expected result of its row of the security checklist.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey, RSAKey
from support.backends import PrometheusProcess, free_port
from support.hostile_tokens import (
    KEYS_IN_HEADER,
    NOT_ACCESS_TOKENS,
    OMIT,
    UNTIMELY,
    RecordingServer,
    from_now,
    key_in_header,
    oversized_token_flood,
    oversized_token_status,
)
from support.issuer import TestIssuer
from support.key_rotation import accepted_after_rotation
from support.mcp_http import INITIALIZE, MCP_HEADERS, PROTOCOL_VERSION, assert_initialized, initialize, messages
from support.served import ServedComponent

pytestmark = pytest.mark.integration

SCOPE = "metrics:read"
#: A request carrying this header is served by the SDK's stateless 2026-07-28 transport, not the session one.
MODERN_PROTOCOL = {"MCP-Protocol-Version": "2026-07-28"}
REPO_ROOT = Path(__file__).resolve().parents[2]


# --- helpers -------------------------------------------------------------------------------


def error_code(response: httpx.Response) -> int:
    """The code of the single JSON-RPC error object in `response`."""
    (message,) = messages(response)
    assert "result" not in message, message
    code = message["error"]["code"]
    assert isinstance(code, int)
    return code


def assert_unauthorized(response: httpx.Response, served: ServedComponent) -> None:
    assert response.status_code == 401, response.text
    assert (
        f'resource_metadata="{served.url}/.well-known/oauth-protected-resource/mcp"'
        in (response.headers["WWW-Authenticate"])
    )


class McpSession:
    """An initialized MCP session over plain HTTP: initialize, notifications/initialized, then requests."""

    def __init__(self, http: httpx.Client, served: ServedComponent, token: str) -> None:
        self.http = http
        self.url = served.mcp_url
        response = initialize(http, served, token)
        assert_initialized(response)
        self.headers = {
            **MCP_HEADERS,
            "Authorization": f"Bearer {token}",
            "Mcp-Protocol-Version": PROTOCOL_VERSION,
        }
        self._next_id = 1
        notified = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert notified.status_code == 202, notified.text

    def post(self, message: dict[str, Any]) -> httpx.Response:
        return self.http.post(self.url, content=json.dumps(message), headers=self.headers)

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._next_id += 1
        response = self.post({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})
        replies = [message for message in messages(response) if message.get("id") == self._next_id]
        assert len(replies) == 1, response.text
        return replies[0]

    def close(self) -> None:
        self.http.delete(self.url, headers=self.headers)


@pytest.fixture(scope="module")
def token(issuer: TestIssuer, served: ServedComponent) -> str:
    return issuer.mint(served.mcp_url, [SCOPE])


@pytest.fixture
def session(http: httpx.Client, served: ServedComponent, token: str) -> Iterator[McpSession]:
    opened = McpSession(http, served, token)
    yield opened
    opened.close()


# --- a valid token works ---------------------------------------------------------------------


def test_valid_token_initializes_a_session(http: httpx.Client, served: ServedComponent, token: str) -> None:
    assert_initialized(initialize(http, served, token))


# --- rows 1-3: no or malformed credentials ---------------------------------------------------


def test_row_01_no_authorization_is_401_with_resource_metadata_challenge(
    http: httpx.Client, served: ServedComponent
) -> None:
    response = initialize(http, served, None)

    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{served.url}/.well-known/oauth-protected-resource/mcp"' in challenge


@pytest.mark.parametrize(
    "authorization",
    ["Basic dGVzdC1jbGllbnQ6c2VjcmV0", "Bearer", "Bearer not-a-jwt", "Bearer a.b.c", "Token abc"],
    ids=["basic", "bearer-alone", "garbage", "three-garbage-segments", "other-scheme"],
)
def test_row_02_non_bearer_or_garbage_credentials_are_401(
    http: httpx.Client, served: ServedComponent, authorization: str
) -> None:
    assert_unauthorized(initialize(http, served, None, {"Authorization": authorization}), served)


def test_row_02_valid_token_under_basic_scheme_is_401(http: httpx.Client, served: ServedComponent, token: str) -> None:
    assert_unauthorized(initialize(http, served, None, {"Authorization": f"Basic {token}"}), served)


def test_row_03_token_only_in_access_token_query_parameter_is_401(
    http: httpx.Client, served: ServedComponent, token: str
) -> None:
    response = http.post(
        served.mcp_url, params={"access_token": token}, content=json.dumps(INITIALIZE), headers=MCP_HEADERS
    )
    assert_unauthorized(response, served)


# --- rows 4-12: tokens that must not be accepted ---------------------------------------------


@pytest.mark.parametrize(
    "audience",
    [
        "http://127.0.0.1:8702/mcp",
        ["http://127.0.0.1:8702/mcp", "http://127.0.0.1:8703/mcp"],
        "{base}",
        "{base}/mcp/",
        "{base}/mcp/other",
    ],
    ids=["other-server", "other-servers-list", "base-url-without-path", "trailing-slash", "sub-path"],
)
def test_row_04_token_for_another_audience_is_401(
    http: httpx.Client, served: ServedComponent, issuer: TestIssuer, audience: str | list[str]
) -> None:
    if isinstance(audience, str):
        audience = audience.format(base=served.url)
    assert_unauthorized(initialize(http, served, issuer.mint(audience, [SCOPE])), served)


@pytest.mark.parametrize("claims", [{"aud": OMIT}, {"aud": "account"}, {"aud": []}, {"aud": None}])
def test_row_05_token_without_our_audience_is_401(
    http: httpx.Client, served: ServedComponent, issuer: TestIssuer, claims: dict[str, Any]
) -> None:
    assert_unauthorized(initialize(http, served, issuer.mint(served.mcp_url, [SCOPE], claims=claims)), served)


def test_row_06_token_expired_within_leeway_is_accepted(
    http: httpx.Client, served: ServedComponent, issuer: TestIssuer
) -> None:
    now = int(time.time())
    expired_10s_ago = issuer.mint(served.mcp_url, [SCOPE], claims={"iat": now - 310, "exp": now - 10})
    assert_initialized(initialize(http, served, expired_10s_ago))


@pytest.mark.parametrize("times", list(UNTIMELY.values()), ids=list(UNTIMELY))
def test_row_06_expired_not_yet_valid_or_future_issued_token_is_401(
    http: httpx.Client, served: ServedComponent, issuer: TestIssuer, times: dict[str, Any]
) -> None:
    token = issuer.mint(served.mcp_url, [SCOPE], claims=from_now(times))
    assert_unauthorized(initialize(http, served, token), served)


def test_row_07_rsa_token_signed_by_unknown_key_reusing_known_kid_is_401(
    http: httpx.Client, served: ServedComponent, issuer: TestIssuer
) -> None:
    impostor = RSAKey.generate_key(2048, parameters={"kid": issuer.signing_key.kid})
    assert_unauthorized(initialize(http, served, issuer.mint(served.mcp_url, [SCOPE], key=impostor)), served)


def test_row_07_ec_token_signed_by_unknown_key_reusing_known_kid_is_401(
    http: httpx.Client, served: ServedComponent, issuer: TestIssuer
) -> None:
    impostor = ECKey.generate_key("P-256", parameters={"kid": issuer.ec_key.kid})
    token = issuer.mint(served.mcp_url, [SCOPE], key=impostor, alg="ES256")
    assert_unauthorized(initialize(http, served, token), served)


def test_row_07_token_of_the_real_ec_key_is_accepted(
    http: httpx.Client, served: ServedComponent, issuer: TestIssuer
) -> None:
    assert_initialized(initialize(http, served, issuer.mint(served.mcp_url, [SCOPE], alg="ES256")))


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_row_08_unsigned_token_is_401(
    http: httpx.Client, served: ServedComponent, issuer: TestIssuer, alg: str
) -> None:
    token = issuer.mint(served.mcp_url, [SCOPE], alg="none", header={"alg": alg, "kid": issuer.signing_key.kid})
    assert token.endswith(".")
    assert_unauthorized(initialize(http, served, token), served)


@pytest.mark.parametrize("alg", ["HS256", "HS512"])
@pytest.mark.parametrize("encoding", ["pem", "jwk-json"])
def test_row_09_hmac_token_keyed_with_the_rsa_public_key_is_401(
    http: httpx.Client, served: ServedComponent, issuer: TestIssuer, alg: str, encoding: str
) -> None:
    public = issuer.signing_key
    secret = public.as_pem(private=False) if encoding == "pem" else json.dumps(public.as_dict(private=False)).encode()
    token = issuer.mint(served.mcp_url, [SCOPE], alg=alg, key=secret, header={"kid": public.kid})
    assert_unauthorized(initialize(http, served, token), served)


@pytest.mark.parametrize("way", KEYS_IN_HEADER)
def test_row_10_key_or_key_url_in_token_header_is_ignored_and_never_fetched(
    http: httpx.Client,
    served: ServedComponent,
    issuer: TestIssuer,
    attacker: tuple[RecordingServer, RSAKey],
    way: str,
) -> None:
    server, key = attacker
    header = key_in_header(way, key, server, issuer.signing_key.kid)
    token = issuer.mint(served.mcp_url, [SCOPE], key=key, header=header)

    response = initialize(http, served, token)

    assert_unauthorized(response, served)
    assert server.requests == []


@pytest.mark.parametrize("iss", ["{issuer}/", "{issuer}//", "{issuer_upper}", "https://127.0.0.1:{port}", ""])
def test_row_11_issuer_that_differs_slightly_is_401(
    http: httpx.Client, served: ServedComponent, issuer: TestIssuer, iss: str
) -> None:
    claimed = iss.format(issuer=issuer.issuer, issuer_upper=issuer.issuer.upper(), port=issuer.port)
    assert claimed != issuer.issuer
    assert_unauthorized(initialize(http, served, issuer.mint(served.mcp_url, [SCOPE], claims={"iss": claimed})), served)


@pytest.mark.parametrize(("header", "claims"), list(NOT_ACCESS_TOKENS.values()), ids=list(NOT_ACCESS_TOKENS))
def test_row_12_token_that_is_not_an_rfc9068_access_token_is_401(
    http: httpx.Client, served: ServedComponent, issuer: TestIssuer, header: dict[str, Any], claims: dict[str, Any]
) -> None:
    assert_unauthorized(
        initialize(http, served, issuer.mint(served.mcp_url, [SCOPE], header=header, claims=claims)), served
    )


def test_row_12_keycloak_profile_accepts_only_bearer_tokens(
    http: httpx.Client, serve_prometheus_mcp: Callable[..., ServedComponent]
) -> None:
    with TestIssuer() as keycloak, serve_prometheus_mcp(keycloak, SRE_AUTH_PROFILE="keycloak") as served:

        def mint(payload_typ: str | Any, header_typ: str = "JWT") -> str:
            claims = {"typ": payload_typ, "azp": "sre-agent", "client_id": OMIT}
            return keycloak.mint(served.mcp_url, [SCOPE], header={"typ": header_typ}, claims=claims)

        accepted = initialize(http, served, mint("Bearer"))
        refused = {
            name: initialize(http, served, token).status_code
            for name, token in {
                "id": mint("ID"),
                "refresh": mint("Refresh"),
                "offline": mint("Offline"),
                "no-payload-typ": mint(OMIT),
                "at+jwt-header": mint("Bearer", header_typ="at+jwt"),
            }.items()
        }

    assert_initialized(accepted)
    assert refused == dict.fromkeys(refused, 401)


# --- row 13: JWKS refetch storm and key rotation ---------------------------------------------


def test_row_13_random_kids_cost_at_most_one_jwks_fetch_per_cooldown_and_rotation_needs_no_restart(
    serve_prometheus_mcp: Callable[..., ServedComponent],
) -> None:
    cooldown = 2.0
    with (
        TestIssuer() as issuer,
        serve_prometheus_mcp(issuer, SRE_AUTH_JWKS_REFETCH_COOLDOWN_SECONDS=str(cooldown)) as served,
        httpx.Client(timeout=10.0, trust_env=False, limits=httpx.Limits(max_connections=16)) as http,
    ):
        assert_initialized(initialize(http, served, issuer.mint(served.mcp_url, [SCOPE])))
        tokens = [
            issuer.mint(served.mcp_url, [SCOPE], header={"kid": f"rsa-{secrets.token_hex(8)}"}) for _ in range(1000)
        ]
        fetches_before = issuer.fetch_count
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(lambda token: initialize(http, served, token).status_code, tokens))
        elapsed = time.monotonic() - started
        fetches = issuer.fetch_count - fetches_before

        assert statuses == [401] * len(tokens)
        assert elapsed < 20
        assert fetches <= 1 + elapsed / cooldown, (fetches, elapsed)

        issuer.rotate()
        rotated = issuer.mint(served.mcp_url, [SCOPE])
        response = accepted_after_rotation(
            lambda: initialize(http, served, rotated), timeout=cooldown + 10, what=served.name
        )

        assert_initialized(response)
        assert served.running


# --- row 14: oversized header ----------------------------------------------------------------


def test_row_14_300_kib_authorization_header_is_refused_fast_and_server_stays_up(
    http: httpx.Client, served: ServedComponent
) -> None:
    started = time.monotonic()
    status = oversized_token_status(lambda headers: initialize(http, served, None, headers), 300)
    elapsed = time.monotonic() - started

    assert status == 431
    assert elapsed < 1.0
    assert http.get(f"{served.url}/healthz").status_code == 200


def test_row_14_many_oversized_headers_get_4xx_with_bounded_server_memory(
    http: httpx.Client, served: ServedComponent
) -> None:
    statuses, growth = oversized_token_flood(lambda headers: initialize(http, served, None, headers), served.pid)

    assert statuses == [431] * 40
    # Each connection buffers at most 64 KiB of its head.
    assert growth < 16 * 1024 * 1024, growth
    assert http.get(f"{served.url}/healthz").status_code == 200


# --- row 19: protected resource metadata -----------------------------------------------------


def test_row_19_protected_resource_metadata_names_the_canonical_url_and_issuer(
    http: httpx.Client, served: ServedComponent, issuer: TestIssuer
) -> None:
    response = http.get(f"{served.url}/.well-known/oauth-protected-resource/mcp")

    assert response.status_code == 200
    metadata = response.json()
    assert metadata["resource"] == served.mcp_url
    assert metadata["authorization_servers"] == [issuer.issuer]
    assert metadata["scopes_supported"] == [SCOPE]


# --- rows 20-23: transport checks ------------------------------------------------------------


@pytest.mark.parametrize("era", [{}, MODERN_PROTOCOL], ids=["2025-11-25", "2026-07-28"])
def test_row_20_foreign_origin_is_403(
    http: httpx.Client, served: ServedComponent, token: str, era: dict[str, str]
) -> None:
    response = initialize(http, served, token, {"Origin": "https://evil.example", **era})
    assert response.status_code == 403


@pytest.mark.parametrize("origin", [None, "http://127.0.0.1:{port}", "http://localhost:{port}"])
def test_row_20_requests_without_or_with_a_local_origin_work(
    http: httpx.Client, served: ServedComponent, token: str, origin: str | None
) -> None:
    headers = {} if origin is None else {"Origin": origin.format(port=served.port)}
    assert_initialized(initialize(http, served, token, headers))


@pytest.mark.parametrize("era", [{}, MODERN_PROTOCOL], ids=["2025-11-25", "2026-07-28"])
@pytest.mark.parametrize("host", ["evil.example.com", "evil.example.com:{port}", "127.0.0.1.evil.example.com:{port}"])
def test_row_21_foreign_host_header_is_421(
    http: httpx.Client, served: ServedComponent, token: str, host: str, era: dict[str, str]
) -> None:
    response = initialize(http, served, token, {"Host": host.format(port=served.port), **era})
    assert response.status_code == 421


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_row_22_wrong_content_type_is_400(
    http: httpx.Client, served: ServedComponent, token: str, content_type: str
) -> None:
    response = initialize(http, served, token, {"Content-Type": content_type})
    assert response.status_code == 400


# The server answers JSON (stateless, JSON responses): Accept must allow it.
@pytest.mark.parametrize("accept", ["text/event-stream", "text/html"])
def test_row_22_wrong_accept_is_406(http: httpx.Client, served: ServedComponent, token: str, accept: str) -> None:
    response = initialize(http, served, token, {"Accept": accept})
    assert response.status_code == 406


def test_row_23_5_mib_body_is_413(http: httpx.Client, served: ServedComponent, token: str) -> None:
    body = json.dumps({**INITIALIZE, "padding": "x" * 5 * 1024 * 1024})
    response = http.post(served.mcp_url, content=body, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"})
    assert response.status_code == 413


def test_row_23_5_mib_chunked_body_without_length_is_413(
    http: httpx.Client, served: ServedComponent, token: str
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(5 * 16):
            yield b" " * 64 * 1024

    response = http.post(served.mcp_url, content=chunks(), headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"})
    assert response.status_code == 413


# --- rows 24-25: JSON-RPC errors -------------------------------------------------------------


def post_raw(http: httpx.Client, served: ServedComponent, token: str, body: str) -> httpx.Response:
    return http.post(served.mcp_url, content=body, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"})


def test_row_24_truncated_json_is_parse_error(http: httpx.Client, served: ServedComponent, token: str) -> None:
    response = post_raw(http, served, token, json.dumps(INITIALIZE)[:-7])
    assert response.status_code == 400
    assert error_code(response) == -32700


@pytest.mark.parametrize(
    "body",
    [
        {"hello": "world"},
        {"jsonrpc": "1.0", "id": 1, "method": "initialize"},
        {"id": 1, "method": "initialize"},
        {"jsonrpc": "2.0", "id": 1},
        {"jsonrpc": "2.0", "id": 1, "method": 7},
        "initialize",
        42,
        None,
    ],
    ids=["object", "jsonrpc-1.0", "no-jsonrpc", "no-method", "method-not-a-string", "string", "number", "null"],
)
def test_row_24_json_that_is_not_json_rpc_is_invalid_request(
    http: httpx.Client, served: ServedComponent, token: str, body: Any
) -> None:
    response = post_raw(http, served, token, json.dumps(body))
    assert response.status_code == 400
    assert error_code(response) == -32600


@pytest.mark.parametrize(
    "batch", [[INITIALIZE], [INITIALIZE, {**INITIALIZE, "id": 2}], []], ids=["one", "two", "empty"]
)
def test_row_24_batch_is_an_error_not_a_result(
    http: httpx.Client, served: ServedComponent, token: str, batch: list[Any]
) -> None:
    response = post_raw(http, served, token, json.dumps(batch))
    assert response.status_code == 400
    assert error_code(response) == -32600


@pytest.mark.parametrize("body", ['{"jsonrpc": "2.0", "id": 1, "meth', '{"hello": "world"}', "[]"])
def test_row_24_protocol_2026_bodies_that_are_not_one_message_are_parse_or_invalid_request_errors(
    http: httpx.Client, served: ServedComponent, token: str, body: str
) -> None:
    response = http.post(
        served.mcp_url, content=body, headers={**MCP_HEADERS, **MODERN_PROTOCOL, "Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 400
    assert error_code(response) == (-32700 if body.startswith('{"jsonrpc"') else -32600)


def call_tool_statelessly(
    http: httpx.Client, served: ServedComponent, token: str, name: str, arguments: dict[str, Any]
) -> httpx.Response:
    """tools/call in the 2026-07-28 era: no session, the envelope in `_meta`, routing headers."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN_PROTOCOL["MCP-Protocol-Version"],
        "io.modelcontextprotocol/clientInfo": {"name": "security-checklist", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments, "_meta": meta},
    }
    headers = {
        **MCP_HEADERS,
        **MODERN_PROTOCOL,
        "Authorization": f"Bearer {token}",
        "Mcp-Method": "tools/call",
        "Mcp-Name": name,
    }
    return http.post(served.mcp_url, content=json.dumps(message), headers=headers)


def test_row_25_unknown_tool_is_invalid_params_naming_the_tool(session: McpSession) -> None:
    # -32602, as the MCP specification's own example answers an unknown tool (issue 11 overrides
    # the -32601 the checklist's row 25 first named): the method exists, its `name` param is bad.
    reply = session.request("tools/call", {"name": "prometheus_delete_series", "arguments": {}})
    assert reply["error"]["code"] == -32602
    assert "prometheus_delete_series" in reply["error"]["message"]
    assert "tools/list" in reply["error"]["message"]


@pytest.mark.parametrize(
    "arguments",
    [
        {"query": "up", "drop_all": True},
        {"query": 42},
        {"query": ["up"]},
        {"query": "up", "limit": "many"},
        {"query": "up", "limit": 0},
        {},
    ],
    ids=["unknown-argument", "query-number", "query-list", "limit-string", "limit-zero", "query-missing"],
)
def test_row_25_unknown_or_wrongly_typed_argument_is_invalid_params(
    session: McpSession, arguments: dict[str, Any]
) -> None:
    reply = session.request("tools/call", {"name": "prometheus_query", "arguments": arguments})
    assert reply["error"]["code"] == -32602


def test_row_25_valid_call_in_the_same_session_succeeds(session: McpSession) -> None:
    reply = session.request("tools/call", {"name": "prometheus_query", "arguments": {"query": "vector(1)"}})
    assert reply["result"]["isError"] is False
    assert reply["result"]["structuredContent"]["samples"][0]["value"] == 1.0


@pytest.mark.parametrize(
    ("name", "arguments", "code"),
    [
        ("prometheus_delete_series", {}, -32602),
        ("prometheus_query", {"query": "up", "drop_all": True}, -32602),
        ("prometheus_query", {"query": 42}, -32602),
    ],
    ids=["unknown-tool", "unknown-argument", "query-number"],
)
def test_row_25_protocol_2026_unknown_tool_or_bad_argument_is_rejected(
    http: httpx.Client, served: ServedComponent, token: str, name: str, arguments: dict[str, Any], code: int
) -> None:
    response = call_tool_statelessly(http, served, token, name, arguments)
    assert error_code(response) == code


def test_row_25_protocol_2026_valid_call_succeeds(http: httpx.Client, served: ServedComponent, token: str) -> None:
    response = call_tool_statelessly(http, served, token, "prometheus_query", {"query": "vector(1)"})
    (message,) = messages(response)
    assert message["result"]["structuredContent"]["samples"][0]["value"] == 1.0


# --- scopes, /metrics, start-up rule ---------------------------------------------------------


@pytest.mark.parametrize("scopes", [[], ["logs:read"], ["metrics:write"], ["metrics:read:x"]])
def test_token_without_metrics_read_scope_is_403_insufficient_scope(
    http: httpx.Client, served: ServedComponent, issuer: TestIssuer, scopes: list[str]
) -> None:
    response = initialize(http, served, issuer.mint(served.mcp_url, scopes))

    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_metrics_endpoint_without_token_is_401(http: httpx.Client, served: ServedComponent) -> None:
    response = http.get(f"{served.url}/metrics")

    assert response.status_code == 401
    assert "resource_metadata=" in response.headers["WWW-Authenticate"]


def test_server_on_non_loopback_address_refuses_to_start_without_auth(prometheus: PrometheusProcess) -> None:
    env = {
        **os.environ,
        "PROMETHEUS_URL": prometheus.url,
        "SRE_HOST": "0.0.0.0",
        "SRE_PORT": str(free_port()),
        "SRE_AUTH_DISABLED": "true",
    }
    # A server that did start is killed by the timeout, which then fails the test.
    completed = subprocess.run(
        [sys.executable, "-m", "cli.main", "serve", "prometheus-mcp"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert completed.returncode != 0
    assert "SRE_AUTH_DISABLED" in completed.stderr
