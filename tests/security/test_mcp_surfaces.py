"""Security checklist rows 1-14 and 18-24 on the `/mcp` endpoint of loki-mcp and controlplane-mcp, served for real
(and rows 13 and 22 on loki-mcp's embedded Loki API, which test_loki_http.py leaves out).

`test_mcp_http.py` runs these rows against prometheus-mcp; the same requests go here to the two
other MCP servers, each started with `sre serve` on 127.0.0.1 (controlplane-mcp beside a real
control plane), so that every MCP server is shown to refuse them, not only the one the
transport code was first written for. Row 18 (a session used with another client's token) runs
on all three. Row 25 (unknown tools and refused arguments are -32602) runs on all three in
tests/conformance/test_mcp_conformance.py. Servers start on first use and are shared by the module.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey
from support.backends import PrometheusProcess
from support.controlplane_mcp_harness import READ as CONTROLPLANE_READ
from support.controlplane_mcp_harness import serve_controlplane, serve_mcp
from support.hostile_tokens import RecordingServer, oversized_token_flood, oversized_token_status
from support.issuer import TestIssuer
from support.key_rotation import accepted_after_rotation
from support.mcp_http import INITIALIZE, MCP_HEADERS, PROTOCOL_VERSION, initialize, messages
from support.refused_tokens import REFUSED_CASES, refused_authorization, within_leeway
from support.served import ServedComponent

pytestmark = pytest.mark.integration

#: The servers whose rows 1-14 and 19-24 are not already in test_mcp_http.py.
OTHERS = ("loki-mcp", "controlplane-mcp")
ALL = ("prometheus-mcp", *OTHERS)
MODERN_PROTOCOL = {"MCP-Protocol-Version": "2026-07-28"}
#: Seconds between two JWKS fetches of a server, at least.
COOLDOWN = 2.0


@dataclass
class Surface:
    """An MCP server under test, with a read tool it serves."""

    name: str
    served: ServedComponent
    issuer: TestIssuer
    scope: str
    tool: str
    arguments: dict[str, Any]

    def token(self, client_id: str = "client-a", **changes: Any) -> str:
        claims = {"client_id": client_id, "sub": client_id, **changes.pop("claims", {})}
        return self.issuer.mint(self.served.mcp_url, [self.scope], claims=claims, **changes)

    def headers(self, token: str, **extra: str) -> dict[str, str]:
        return {**MCP_HEADERS, "Authorization": f"Bearer {token}", **extra}


SurfaceFactory = Callable[[str], Surface]


@pytest.fixture(scope="module")
def surface_of(
    request: pytest.FixtureRequest, issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SurfaceFactory]:
    """`surface_of(name)`: the MCP server `name`, started on first use and stopped with the module."""
    started: dict[str, Surface] = {}
    with ExitStack() as stack:

        def start(name: str) -> Surface:
            def served(component: ServedComponent) -> ServedComponent:
                return stack.enter_context(component)

            # Unlimited rate: attack rows send hundreds of requests. A short JWKS cooldown: row 13 rotates the key.
            unlimited = {"SRE_REQUESTS_PER_SECOND": "1000000", "SRE_AUTH_JWKS_REFETCH_COOLDOWN_SECONDS": str(COOLDOWN)}
            if name == "prometheus-mcp":
                prometheus: PrometheusProcess = request.getfixturevalue("prometheus")
                env = {"PROMETHEUS_URL": prometheus.url, "SRE_AUTH_ISSUER": issuer.issuer, **unlimited}
                env["SRE_AUTH_JWKS_URL"] = issuer.jwks_url
                component = served(ServedComponent(name, env, tmp_path_factory.mktemp("served")))
                return Surface(name, component, issuer, "metrics:read", "prometheus_query", {"query": "vector(1)"})
            if name == "loki-mcp":
                env = {
                    "LOKI_URL": "",
                    "SRE_DATA_DIR": str(tmp_path_factory.mktemp("loki-data")),
                    "SRE_AUTH_ISSUER": issuer.issuer,
                    "SRE_AUTH_JWKS_URL": issuer.jwks_url,
                    **unlimited,
                }
                component = served(ServedComponent(name, env, tmp_path_factory.mktemp("served")))
                return Surface(name, component, issuer, "logs:read", "loki_list_labels", {})
            controlplane = served(serve_controlplane(issuer, tmp_path_factory, approval_ttl=300))
            unstarted = serve_mcp(controlplane, issuer, tmp_path_factory)
            unstarted.env.update(unlimited)
            component = served(unstarted)
            return Surface(name, component, issuer, CONTROLPLANE_READ, "controlplane_list_incidents", {})

        def surface_of(name: str) -> Surface:
            if name not in started:
                started[name] = start(name)
            return started[name]

        yield surface_of


def post(http: httpx.Client, surface: Surface, body: Any, headers: dict[str, str]) -> httpx.Response:
    content = body if isinstance(body, str | bytes) else json.dumps(body)
    return http.post(surface.served.mcp_url, content=content, headers=headers)


def assert_initialized(response: httpx.Response, surface: Surface) -> None:
    assert response.status_code == 200, response.text
    (message,) = messages(response)
    assert message["result"]["serverInfo"]["name"] == surface.name


def assert_unauthorized(response: httpx.Response, surface: Surface) -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer")
    assert f'resource_metadata="{surface.served.url}/.well-known/oauth-protected-resource/mcp"' in challenge


def error_of(response: httpx.Response) -> dict[str, Any]:
    (message,) = messages(response)
    assert "result" not in message, message
    error = message["error"]
    assert isinstance(error, dict)
    return error


class Session:
    """An initialized MCP session of one client on one server, over plain HTTP.

    The servers are stateless: `initialize` issues no `Mcp-Session-Id`, and every request stands alone.
    """

    def __init__(self, http: httpx.Client, surface: Surface, token: str) -> None:
        self.http, self.surface = http, surface
        response = post(http, surface, INITIALIZE, surface.headers(token))
        assert_initialized(response, surface)
        assert "Mcp-Session-Id" not in response.headers
        self.headers = self.with_token(token)
        assert self.send({"jsonrpc": "2.0", "method": "notifications/initialized"}).status_code == 202

    def with_token(self, token: str, **headers: str) -> dict[str, str]:
        return self.surface.headers(token, **{"Mcp-Protocol-Version": PROTOCOL_VERSION, **headers})

    def send(self, message: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
        return post(self.http, self.surface, message, headers or self.headers)

    def call(self, tool: str, arguments: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
        message = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
        return self.send(message, headers)

    def close(self) -> None:
        self.http.delete(self.surface.served.mcp_url, headers=self.headers)


# --- rows 1-3: no or misplaced credentials ---------------------------------------------------


@pytest.mark.parametrize("name", OTHERS)
def test_row_01_no_authorization_is_401_with_resource_metadata_challenge(
    http: httpx.Client, surface_of: SurfaceFactory, name: str
) -> None:
    surface = surface_of(name)

    assert_unauthorized(initialize(http, surface.served, None), surface)


@pytest.mark.parametrize("name", OTHERS)
def test_row_03_token_only_in_access_token_query_parameter_is_401(
    http: httpx.Client, surface_of: SurfaceFactory, name: str
) -> None:
    surface = surface_of(name)

    response = http.post(
        surface.served.mcp_url,
        params={"access_token": surface.token()},
        content=json.dumps(INITIALIZE),
        headers=MCP_HEADERS,
    )

    assert_unauthorized(response, surface)


# --- rows 2 and 4-12: credentials that must not be accepted ----------------------------------


@pytest.mark.parametrize("name", OTHERS)
def test_rows_04_to_12_a_valid_token_and_one_expired_within_the_leeway_are_accepted(
    http: httpx.Client, surface_of: SurfaceFactory, name: str
) -> None:
    surface = surface_of(name)

    assert_initialized(initialize(http, surface.served, surface.token()), surface)
    assert_initialized(initialize(http, surface.served, within_leeway(surface.token)), surface)


@pytest.mark.parametrize("case", REFUSED_CASES)
@pytest.mark.parametrize("name", OTHERS)
def test_rows_02_04_to_12_a_wrong_or_hostile_credential_is_401_and_no_key_is_fetched(
    http: httpx.Client,
    surface_of: SurfaceFactory,
    key_host: tuple[RecordingServer, RSAKey],
    name: str,
    case: str,
) -> None:
    surface = surface_of(name)
    host, attacker_key = key_host
    authorization = refused_authorization(
        case,
        surface.token,
        issuer=surface.issuer.issuer,
        audience=surface.served.mcp_url,
        public_key=surface.issuer.signing_key,
        attacker=host,
        attacker_key=attacker_key,
    )

    response = initialize(http, surface.served, None, {"Authorization": authorization})

    assert_unauthorized(response, surface)
    assert host.requests == []


# --- row 13: random kids do not storm the JWKS -----------------------------------------------


@pytest.mark.parametrize("name", OTHERS)
def test_row_13_tokens_with_random_kids_cost_at_most_one_jwks_fetch_per_cooldown(
    http: httpx.Client, surface_of: SurfaceFactory, name: str
) -> None:
    surface = surface_of(name)
    tokens = [surface.token(header={"kid": f"rsa-{secrets.token_hex(8)}"}) for _ in range(200)]
    fetches_before = surface.issuer.fetch_count

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda token: initialize(http, surface.served, token).status_code, tokens))
    elapsed = time.monotonic() - started

    assert statuses == [401] * len(tokens)
    # One refetch per cooldown at most, whatever the number of unknown kids.
    assert surface.issuer.fetch_count - fetches_before <= 1 + elapsed / COOLDOWN, elapsed
    assert_initialized(initialize(http, surface.served, surface.token()), surface)


# --- row 14: oversized header ----------------------------------------------------------------


@pytest.mark.parametrize("name", OTHERS)
def test_row_14_oversized_authorization_headers_are_refused_fast_with_bounded_memory(
    http: httpx.Client, surface_of: SurfaceFactory, name: str
) -> None:
    surface = surface_of(name)

    def send(headers: dict[str, str]) -> httpx.Response:
        return initialize(http, surface.served, None, headers)

    started = time.monotonic()
    status = oversized_token_status(send, 300)
    elapsed = time.monotonic() - started
    statuses, growth = oversized_token_flood(send, surface.served.pid)

    assert status == 431
    assert elapsed < 1.0
    assert statuses == [431] * len(statuses)
    assert growth < 16 * 1024 * 1024, growth
    assert http.get(f"{surface.served.url}/healthz").status_code == 200


# --- row 18: a session belongs to the client that opened it ----------------------------------


@pytest.mark.parametrize("name", ALL)
def test_row_18_a_session_id_is_refused_whoever_sends_it_as_the_servers_keep_none(
    http: httpx.Client, surface_of: SurfaceFactory, name: str
) -> None:
    surface = surface_of(name)
    session = Session(http, surface, surface.token("client-a"))
    # No session is ever issued, so any id is another's or made up: refused, never served as the sender's.
    named = session.with_token(surface.token("client-b"), **{"Mcp-Session-Id": secrets.token_hex(16)})
    try:
        stolen = session.call(surface.tool, surface.arguments, named)
        owned = session.call(surface.tool, surface.arguments)
    finally:
        session.close()

    assert stolen.status_code == 404, stolen.text
    assert "result" not in stolen.text
    assert owned.status_code == 200, owned.text
    (reply,) = messages(owned)
    assert reply["result"]["isError"] is False, reply


# --- row 19: protected resource metadata -----------------------------------------------------


@pytest.mark.parametrize("name", OTHERS)
def test_row_19_protected_resource_metadata_names_the_canonical_url_and_issuer(
    http: httpx.Client, surface_of: SurfaceFactory, name: str
) -> None:
    surface = surface_of(name)

    response = http.get(f"{surface.served.url}/.well-known/oauth-protected-resource/mcp")

    assert response.status_code == 200
    metadata = response.json()
    assert metadata["resource"] == surface.served.mcp_url
    assert metadata["authorization_servers"] == [surface.issuer.issuer]
    assert surface.scope in metadata["scopes_supported"]


# --- rows 20-23: transport checks ------------------------------------------------------------


@pytest.mark.parametrize("era", [{}, MODERN_PROTOCOL], ids=["2025-11-25", "2026-07-28"])
@pytest.mark.parametrize("name", OTHERS)
def test_row_20_foreign_origin_is_403_and_a_local_one_works(
    http: httpx.Client, surface_of: SurfaceFactory, name: str, era: dict[str, str]
) -> None:
    surface = surface_of(name)

    foreign = initialize(http, surface.served, surface.token(), {"Origin": "https://evil.example", **era})
    local = initialize(http, surface.served, surface.token(), {"Origin": surface.served.url})

    assert foreign.status_code == 403, foreign.text
    assert_initialized(local, surface)


@pytest.mark.parametrize("host", ["evil.example.com", "evil.example.com:{port}", "127.0.0.1.evil.example.com:{port}"])
@pytest.mark.parametrize("name", OTHERS)
def test_row_21_foreign_host_header_is_421(
    http: httpx.Client, surface_of: SurfaceFactory, name: str, host: str
) -> None:
    surface = surface_of(name)

    response = initialize(http, surface.served, surface.token(), {"Host": host.format(port=surface.served.port)})

    assert response.status_code == 421, response.text


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Type": "text/plain"}, 400),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 400),
        # The servers answer JSON (stateless, JSON responses): a client that takes only events cannot read it.
        ({"Accept": "text/event-stream"}, 406),
        ({"Accept": "text/html"}, 406),
    ],
    ids=["text-plain", "form", "accept-events-only", "accept-html"],
)
@pytest.mark.parametrize("name", OTHERS)
def test_row_22_wrong_content_type_is_400_and_wrong_accept_406(
    http: httpx.Client, surface_of: SurfaceFactory, name: str, headers: dict[str, str], status: int
) -> None:
    surface = surface_of(name)

    response = initialize(http, surface.served, surface.token(), headers)

    assert response.status_code == status, response.text


@pytest.mark.parametrize("chunked", [False, True], ids=["with-length", "chunked"])
@pytest.mark.parametrize("name", OTHERS)
def test_row_23_5_mib_body_is_413_and_the_server_stays_up(
    http: httpx.Client, surface_of: SurfaceFactory, name: str, chunked: bool
) -> None:
    surface = surface_of(name)

    def chunks() -> Iterator[bytes]:
        for _ in range(5 * 16):
            yield b" " * 64 * 1024

    body: Any = chunks() if chunked else json.dumps({**INITIALIZE, "padding": "x" * 5 * 1024 * 1024})
    response = http.post(surface.served.mcp_url, content=body, headers=surface.headers(surface.token()))

    assert response.status_code == 413, response.text
    assert_initialized(initialize(http, surface.served, surface.token()), surface)


# --- rows 24-25: JSON-RPC errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (json.dumps(INITIALIZE)[:-7], -32700),
        ('{"hello": "world"}', -32600),
        ('{"jsonrpc": "1.0", "id": 1, "method": "initialize"}', -32600),
        ('{"jsonrpc": "2.0", "id": 1, "method": 7}', -32600),
        ('"initialize"', -32600),
        (json.dumps([INITIALIZE]), -32600),
        ("[]", -32600),
    ],
    ids=["truncated", "object", "jsonrpc-1.0", "method-a-number", "string", "batch", "empty-batch"],
)
@pytest.mark.parametrize("name", OTHERS)
def test_row_24_truncated_json_is_a_parse_error_and_what_is_not_one_json_rpc_request_is_invalid(
    http: httpx.Client, surface_of: SurfaceFactory, name: str, body: str, code: int
) -> None:
    surface = surface_of(name)

    response = post(http, surface, body, surface.headers(surface.token()))

    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == code


# --- loki-mcp's embedded Loki API: the rows test_loki_http.py leaves out ------------------------


def test_row_13_tokens_with_random_kids_on_the_loki_api_cost_at_most_one_jwks_fetch_per_cooldown(
    http: httpx.Client, surface_of: SurfaceFactory
) -> None:
    surface = surface_of("loki-mcp")
    tokens = [surface.token(header={"kid": f"rsa-{secrets.token_hex(8)}"}) for _ in range(200)]
    url = f"{surface.served.url}/loki/api/v1/query_range"
    fetches_before = surface.issuer.fetch_count

    def status(token: str) -> int:
        params = {"query": '{service="x"}'}
        return http.get(url, params=params, headers={"Authorization": f"Bearer {token}"}).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(status, tokens))
    elapsed = time.monotonic() - started

    assert statuses == [401] * len(tokens)
    assert surface.issuer.fetch_count - fetches_before <= 1 + elapsed / COOLDOWN, elapsed
    assert status(surface.token()) == 200


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_row_22_a_push_with_a_content_type_loki_does_not_read_is_refused_and_nothing_is_stored(
    http: httpx.Client, surface_of: SurfaceFactory, content_type: str
) -> None:
    surface = surface_of("loki-mcp")
    token = surface.issuer.mint(surface.served.mcp_url, ["logs:read", "logs:write"])
    service = f"ct-{secrets.token_hex(4)}"
    line = [[str(time.time_ns()), "a line"]]
    body = json.dumps({"streams": [{"stream": {"service": service}, "values": line}]})
    api = f"{surface.served.url}/loki/api/v1"

    response = http.post(
        f"{api}/push", content=body, headers={"Content-Type": content_type, "Authorization": f"Bearer {token}"}
    )
    stored = http.get(
        f"{api}/query_range", params={"query": f'{{service="{service}"}}'}, headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code in (400, 415), response.text
    assert response.text.strip()
    assert stored.status_code == 200, stored.text
    assert stored.json()["data"]["result"] == []


# --- row 13, second half: a real key rotation, last because it changes the module's signing key --


def test_row_13_a_rotated_key_is_accepted_without_a_restart_on_mcp_and_the_loki_api(
    http: httpx.Client, surface_of: SurfaceFactory
) -> None:
    surfaces = [surface_of(name) for name in OTHERS]
    for surface in surfaces:
        assert_initialized(initialize(http, surface.served, surface.token()), surface)
    issuer = surfaces[0].issuer
    pids = [surface.served.pid for surface in surfaces]

    issuer.rotate()

    loki = surface_of("loki-mcp")
    for surface in surfaces:
        response = accepted_after_rotation(
            lambda surface=surface: initialize(http, surface.served, surface.token()),
            timeout=COOLDOWN + 10,
            what=surface.name,
        )
        assert_initialized(response, surface)
    logs = http.get(
        f"{loki.served.url}/loki/api/v1/query_range",
        params={"query": '{service="x"}'},
        headers={"Authorization": f"Bearer {loki.token()}"},
    )
    assert logs.status_code == 200, logs.text
    assert [surface.served.pid for surface in surfaces] == pids
