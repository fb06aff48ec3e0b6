"""The registry as an operator sees it: restarts, health probing, stale expiry, rate limiting (row 38).

Each test starts its own `sre serve registry` with the settings it needs (a short probe interval,
a short staleness, a low rate) and real HTTP servers for it to probe.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from support.asgi_server import ServedApp, loopback_socket
from support.backends import free_port
from support.eventually import eventually
from support.issuer import TestIssuer
from support.served import ServedComponent

from registry.clients import ClientStore

pytestmark = pytest.mark.integration

ServeRegistry = Callable[..., ServedComponent]
WRITE = "registry:write"
DEADLINE_SECONDS = 15.0


class TinyComponent:
    """A real HTTP server standing in for a component: /healthz and an agent card, with a set status."""

    def __init__(self) -> None:
        self.status = 200

        async def answer(request: Request) -> Response:
            known = request.url.path in ("/healthz", "/.well-known/agent-card.json")
            return Response(b'{"name": "tiny"}', self.status if known else 404, media_type="application/json")

        self._served = ServedApp(Starlette(routes=[Route("/{path:path}", answer)]), sock=loopback_socket()).start()
        self.url = self._served.url

    def stop(self) -> None:
        self._served.stop()


@pytest.fixture
def tiny() -> Iterator[TinyComponent]:
    component = TinyComponent()
    yield component
    component.stop()


def headers(issuer: TestIssuer, registry: ServedComponent, client_id: str = "test-client") -> dict[str, str]:
    token = issuer.mint(registry.url, [WRITE], claims={"client_id": client_id, "sub": client_id})
    return {"Authorization": f"Bearer {token}"}


def test_entries_survive_a_restart(serve_registry: ServeRegistry, issuer: TestIssuer) -> None:
    with serve_registry() as registry, httpx.Client(trust_env=False, timeout=10) as http:
        auth = headers(issuer, registry)
        body = {"name": "durable", "url": "http://127.0.0.1:9/mcp", "tools": [{"name": "t", "description": "d"}]}
        before = http.post(f"{registry.url}/servers", json=body, headers=auth).json()
        registry.stop()
        registry.start()  # same port, same SRE_DATA_DIR
        after = http.get(f"{registry.url}/servers/durable", headers=auth)
        assert after.status_code == 200
        assert {key: after.json()[key] for key in ("tools", "registered_at", "last_seen")} == {
            key: before[key] for key in ("tools", "registered_at", "last_seen")
        }


def test_health_probes_mark_entries_healthy_then_unhealthy_with_the_error(
    serve_registry: ServeRegistry, issuer: TestIssuer, tiny: TinyComponent
) -> None:
    with serve_registry(REGISTRY_HEALTH_INTERVAL_SECONDS="0.2") as registry, httpx.Client(trust_env=False) as http:
        auth = headers(issuer, registry)
        http.post(f"{registry.url}/servers", json={"name": "probed", "url": f"{tiny.url}/mcp"}, headers=auth)
        http.post(f"{registry.url}/agents", json={"name": "probed", "url": f"{tiny.url}/a2a"}, headers=auth)

        def health(kind: str) -> dict[str, Any]:
            return http.get(f"{registry.url}/{kind}/probed", headers=auth).json()["health"]  # type: ignore[no-any-return]

        for kind in ("servers", "agents"):
            healthy = eventually(
                lambda kind=kind: (h := health(kind))["status"] == "healthy" and h,
                timeout=DEADLINE_SECONDS,
                what=f"{kind} healthy",
            )
            assert healthy["last_error"] is None
            assert healthy["last_checked"] is not None

        tiny.status = 503
        failing = eventually(
            lambda: (h := health("servers"))["status"] == "unhealthy" and h,
            timeout=DEADLINE_SECONDS,
            what="the HTTP 503 noticed",
        )
        assert failing["last_error"] == f"{tiny.url}/healthz answered HTTP 503"

        tiny.stop()
        gone = eventually(
            lambda: "connect" in ((h := health("agents"))["last_error"] or "") and h,
            timeout=DEADLINE_SECONDS,
            what="the refusal noticed",
        )
        assert gone["status"] == "unhealthy"
        assert gone["last_error"].startswith(f"cannot connect to {tiny.url}/.well-known/agent-card.json")


def test_stale_entries_expire_while_healthy_ones_stay(
    serve_registry: ServeRegistry, issuer: TestIssuer, tiny: TinyComponent
) -> None:
    settings = {"REGISTRY_HEALTH_INTERVAL_SECONDS": "0.2", "REGISTRY_STALE_AFTER_SECONDS": "1"}
    with serve_registry(**settings) as registry, httpx.Client(trust_env=False) as http:
        auth = headers(issuer, registry)
        dead = f"http://127.0.0.1:{free_port()}/mcp"
        http.post(f"{registry.url}/servers", json={"name": "dead", "url": dead}, headers=auth)
        http.post(f"{registry.url}/servers", json={"name": "alive", "url": f"{tiny.url}/mcp"}, headers=auth)
        registered_at = time.monotonic()

        eventually(
            lambda: http.get(f"{registry.url}/servers/dead", headers=auth).status_code == 404,
            timeout=DEADLINE_SECONDS,
            what="the stale entry to expire",
        )
        assert time.monotonic() - registered_at >= 0.9  # not before the staleness period
        listing = http.get(f"{registry.url}/servers", headers=auth).json()
        assert [entry["name"] for entry in listing["servers"]] == ["alive"]
        assert listing["servers"][0]["health"]["status"] == "healthy"


def test_a_burst_from_one_client_is_429_after_the_rate_while_the_server_stays_responsive(
    serve_registry: ServeRegistry, issuer: TestIssuer
) -> None:
    rate = 20
    with (
        serve_registry(SRE_REQUESTS_PER_SECOND=str(rate)) as registry,
        httpx.Client(trust_env=False, timeout=10, limits=httpx.Limits(max_connections=32)) as http,
    ):
        flooder = headers(issuer, registry, "flooder")
        started = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(lambda _: http.get(f"{registry.url}/agents", headers=flooder), range(400)))
            # While the flooder is refused, liveness and other callers are served.
            assert http.get(f"{registry.url}/healthz").status_code == 200
            assert http.get(f"{registry.url}/agents", headers=headers(issuer, registry, "bystander")).status_code == 200
        elapsed = time.monotonic() - started

        statuses = [response.status_code for response in responses]
        assert set(statuses) == {200, 429}
        # One second's burst, plus what refilled while the burst lasted (and a margin for timing).
        assert statuses.count(200) <= rate + rate * elapsed + 2
        limited = next(response for response in responses if response.status_code == 429)
        assert limited.json()["error"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1

        # Without a token the caller is its address; a burst of garbage tokens is limited too.
        garbage = [http.get(f"{registry.url}/agents", headers={"Authorization": "Bearer x"}) for _ in range(rate * 2)]
        assert {response.status_code for response in garbage} == {401, 429}
        quick = time.monotonic()
        assert http.get(f"{registry.url}/healthz").status_code == 200
        assert time.monotonic() - quick < 1.0


def test_with_no_issuer_configured_the_registry_trusts_its_own_authorization_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data_dir = tmp_path_factory.mktemp("embedded-issuer")
    secret = ClientStore(data_dir / "clients.toml").add_client("prometheus-mcp", [WRITE])
    registry = ServedComponent("registry", {"SRE_DATA_DIR": str(data_dir)}, data_dir)
    with registry, httpx.Client(trust_env=False, timeout=10) as http:

        def token(resource: str) -> httpx.Response:
            form = {"grant_type": "client_credentials", "resource": resource, "scope": WRITE}
            return http.post(f"{registry.url}/oauth/token", data=form, auth=("prometheus-mcp", secret))

        issued = token(registry.url)
        assert issued.status_code == 200, issued.text
        auth = {"Authorization": f"Bearer {issued.json()['access_token']}"}
        body = {"name": "prometheus-mcp", "url": "http://127.0.0.1:8701/mcp"}
        assert http.post(f"{registry.url}/servers", json=body, headers=auth).status_code == 201
        # Once registered, the server is a resource the authorization server issues tokens for.
        assert token("http://127.0.0.1:8701/mcp").status_code == 200
        assert token("http://127.0.0.1:8799/mcp").json()["error"] == "invalid_target"
