"""The 401 challenge on every HTTP surface, as RFC 6750 §3.1 words it (issue 11, Conformance).

A request that sent no credentials gets `WWW-Authenticate: Bearer ...` with no `error=` code (the
client could not know authentication was needed); a request whose bearer token is refused gets
`error="invalid_token"`. Each surface is served for real on 127.0.0.1, as users start it. The A2A
agents and the router's webhooks and REST facade (one `BearerGuard`, the REST one here) are held
to the same rule on every route in tests/agents/router/test_security.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import httpx
import pytest
from support.backends import PrometheusProcess
from support.controlplane_mcp_harness import serve_controlplane
from support.issuer import TestIssuer
from support.served import ServedComponent

pytestmark = pytest.mark.integration

MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


@dataclass(frozen=True)
class Surface:
    """One protected request of a served component, sent with the given extra headers."""

    component: str
    send: Callable[[httpx.Client, ServedComponent, dict[str, str]], httpx.Response]


def _mcp(http: httpx.Client, served: ServedComponent, headers: dict[str, str]) -> httpx.Response:
    return http.post(served.mcp_url, json=PING, headers={**MCP_HEADERS, **headers})


SURFACES = {
    "prometheus-mcp /mcp": Surface("prometheus-mcp", _mcp),
    "prometheus-mcp /metrics": Surface("prometheus-mcp", lambda http, s, h: http.get(f"{s.url}/metrics", headers=h)),
    "loki-mcp /mcp": Surface("loki-mcp", _mcp),
    "loki-mcp Loki API": Surface("loki-mcp", lambda http, s, h: http.get(f"{s.url}/loki/api/v1/labels", headers=h)),
    "controlplane REST": Surface("controlplane", lambda http, s, h: http.get(f"{s.url}/api/v1/resources", headers=h)),
    "registry REST": Surface("registry", lambda http, s, h: http.get(f"{s.url}/agents", headers=h)),
}


@pytest.fixture(scope="module")
def served_components(
    issuer: TestIssuer, prometheus: PrometheusProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], ServedComponent]]:
    """`served(name)`: the component `name` trusting `issuer`, started on first use, stopped after the module."""
    trust = {"SRE_AUTH_ISSUER": issuer.issuer, "SRE_AUTH_JWKS_URL": issuer.jwks_url}
    started: dict[str, ServedComponent] = {}
    with ExitStack() as stack:

        def served(name: str) -> ServedComponent:
            if name not in started:
                data = str(tmp_path_factory.mktemp(f"{name}-data"))
                if name == "controlplane":
                    component = serve_controlplane(issuer, tmp_path_factory, approval_ttl=300)
                elif name == "registry":  # its own embedded issuer
                    component = ServedComponent("registry", {"SRE_DATA_DIR": data}, tmp_path_factory.mktemp("logs"))
                else:
                    env = {**trust, "SRE_DATA_DIR": data, "PROMETHEUS_URL": prometheus.url, "LOKI_URL": ""}
                    component = ServedComponent(name, env, tmp_path_factory.mktemp("logs"))
                started[name] = stack.enter_context(component)
            return started[name]

        yield served


@pytest.mark.parametrize("surface", list(SURFACES))
def test_401_without_credentials_names_no_error_code(
    http: httpx.Client, served_components: Callable[[str], ServedComponent], surface: str
) -> None:
    served = served_components(SURFACES[surface].component)

    response = SURFACES[surface].send(http, served, {})

    assert response.status_code == 401, response.text
    challenges = response.headers.get_list("WWW-Authenticate")
    bearer = [challenge for challenge in challenges if challenge.startswith("Bearer")]
    assert bearer, challenges
    assert all("error=" not in challenge for challenge in challenges), challenges


@pytest.mark.parametrize("surface", list(SURFACES))
def test_401_for_a_refused_bearer_token_says_invalid_token(
    http: httpx.Client, served_components: Callable[[str], ServedComponent], surface: str
) -> None:
    served = served_components(SURFACES[surface].component)

    response = SURFACES[surface].send(http, served, {"Authorization": "Bearer not-a-token"})

    assert response.status_code == 401, response.text
    (bearer,) = [c for c in response.headers.get_list("WWW-Authenticate") if c.startswith("Bearer")]
    assert 'error="invalid_token"' in bearer
