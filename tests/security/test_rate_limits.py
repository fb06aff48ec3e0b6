"""Security checklist row 38 on the surfaces whose flood test was missing: the control plane's REST
API, controlplane-mcp, loki-mcp's `/mcp`, triage and the router, each served for real with a low
per-client rate.

One client's flood gets 429 (with `Retry-After`) once its bucket is spent; the server stays
responsive, and another client is not limited by it. (prometheus-mcp: test_mcp_rate_limit.py;
the registry and loki-mcp's push API: test_registry_http.py and test_loki_http.py.)
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import httpx
import pytest
from support.controlplane_mcp_harness import READ, serve_controlplane, serve_mcp
from support.flood import first_refusal
from support.hostile_tokens import access_token
from support.issuer import TestIssuer
from support.router_federation import federation
from support.served import ServedComponent

from common.agents import AGENTS_INVOKE
from common.settings import SettingsSource
from registry.keys import KeyStore
from registry.settings import RegistrySettings

pytestmark = pytest.mark.integration

# Low, so a refilled token is rare between two requests however slow the machine is.
RATE = 2
LIMITED = {"SRE_REQUESTS_PER_SECOND": str(RATE)}
MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


@dataclass
class Limited:
    """A served surface and one cheap authenticated request to it, as a given client."""

    health_url: str
    send: Callable[[httpx.Client, str], httpx.Response]


def _controlplane(stack: ExitStack, issuer: TestIssuer, factory: pytest.TempPathFactory) -> Limited:
    served = serve_controlplane(issuer, factory, approval_ttl=300)
    served.env.update(LIMITED)
    stack.enter_context(served)

    def send(http: httpx.Client, client_id: str) -> httpx.Response:
        token = issuer.mint(served.url, [READ], claims={"client_id": client_id, "sub": client_id})
        return http.get(f"{served.url}/api/v1/resources", headers={"Authorization": f"Bearer {token}"})

    return Limited(f"{served.url}/healthz", send)


def _mcp(served: ServedComponent, issuer: TestIssuer, scope: str) -> Limited:
    def send(http: httpx.Client, client_id: str) -> httpx.Response:
        token = issuer.mint(served.mcp_url, [scope], claims={"client_id": client_id, "sub": client_id})
        return http.post(served.mcp_url, json=PING, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"})

    return Limited(f"{served.url}/healthz", send)


def _controlplane_mcp(stack: ExitStack, issuer: TestIssuer, factory: pytest.TempPathFactory) -> Limited:
    controlplane = stack.enter_context(serve_controlplane(issuer, factory, approval_ttl=300))
    served = serve_mcp(controlplane, issuer, factory)
    served.env.update(LIMITED)
    return _mcp(stack.enter_context(served), issuer, READ)


def _loki_mcp(stack: ExitStack, issuer: TestIssuer, factory: pytest.TempPathFactory) -> Limited:
    env = {
        "LOKI_URL": "",
        "SRE_DATA_DIR": str(factory.mktemp("loki-data")),
        "SRE_AUTH_ISSUER": issuer.issuer,
        "SRE_AUTH_JWKS_URL": issuer.jwks_url,
        **LIMITED,
    }
    return _mcp(stack.enter_context(ServedComponent("loki-mcp", env, factory.mktemp("served"))), issuer, "logs:read")


def _a2a(url: str, sign: Callable[[str], str]) -> Limited:
    def send(http: httpx.Client, client_id: str) -> httpx.Response:
        body = {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": uuid.uuid4().hex}}
        headers = {"A2A-Version": "1.0", "Authorization": f"Bearer {sign(client_id)}"}
        return http.post(f"{url}/", json=body, headers=headers)

    return Limited(f"{url}/healthz", send)


def _triage(stack: ExitStack, issuer: TestIssuer, factory: pytest.TempPathFactory) -> Limited:
    env = {
        "SRE_AUTH_ISSUER": issuer.issuer,
        "SRE_AUTH_JWKS_URL": issuer.jwks_url,
        "SRE_DATA_DIR": str(factory.mktemp("triage-data")),
        "REGISTRY_URL": issuer.issuer,
        **LIMITED,
    }
    served = stack.enter_context(ServedComponent("triage", env, factory.mktemp("served")))
    return _a2a(served.url, lambda client_id: issuer.mint(served.url, [AGENTS_INVOKE], claims={"client_id": client_id}))


def _router(stack: ExitStack, issuer: TestIssuer, factory: pytest.TempPathFactory) -> Limited:
    fed = stack.enter_context(federation(factory.mktemp("router-federation"), **LIMITED))
    key = KeyStore.for_settings(RegistrySettings.from_source(SettingsSource.load(fed.registry.env))).signing_key().key

    def sign(client_id: str) -> str:
        claims = {"client_id": client_id, "sub": client_id}
        return access_token(fed.registry.url, fed.router.url, [AGENTS_INVOKE], key=key, claims=claims)

    return _a2a(fed.router.url, sign)


SURFACES = {
    "controlplane": _controlplane,
    "controlplane-mcp": _controlplane_mcp,
    "loki-mcp": _loki_mcp,
    "triage": _triage,
    "router": _router,
}


@pytest.fixture
def surface(
    request: pytest.FixtureRequest, issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Limited]:
    with ExitStack() as stack:
        yield SURFACES[request.param](stack, issuer, tmp_path_factory)


@pytest.mark.parametrize("surface", list(SURFACES), indirect=True)
def test_row_38_a_flood_from_one_client_is_429_after_the_rate_and_the_server_stays_responsive(
    http: httpx.Client, surface: Limited
) -> None:
    statuses: Counter[int] = Counter()
    started = time.monotonic()
    for _ in range(200):
        statuses[surface.send(http, "flooder").status_code] += 1
    elapsed = time.monotonic() - started
    limited = first_refusal(lambda: surface.send(http, "flooder"))
    unaffected = surface.send(http, "bystander")
    health = http.get(surface.health_url)

    assert statuses[429] > 0, statuses
    # A bucket of RATE requests plus what refills while the flood lasts.
    assert sum(n for status, n in statuses.items() if status != 429) <= RATE + RATE * elapsed + 1, (statuses, elapsed)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert unaffected.status_code != 429, unaffected.text
    assert unaffected.status_code < 500, unaffected.text
    assert health.status_code == 200
