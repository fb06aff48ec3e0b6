from __future__ import annotations

import httpx
import pytest

from common.http import IDEMPOTENT, RetryTransport, upstream_client
from common.settings import Upstream

pytestmark = pytest.mark.anyio


def flaky(statuses: list[int], seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(statuses[min(len(seen) - 1, len(statuses) - 1)])

    return httpx.MockTransport(handle)


async def test_idempotent_requests_are_retried_on_503() -> None:
    seen: list[httpx.Request] = []
    async with httpx.AsyncClient(transport=RetryTransport(flaky([503, 503, 200], seen), backoff=0.001)) as client:
        response = await client.get("http://prom/api/v1/query")
    assert (response.status_code, len(seen)) == (200, 3)


async def test_a_post_is_sent_once_unless_marked_idempotent() -> None:
    seen: list[httpx.Request] = []
    async with httpx.AsyncClient(transport=RetryTransport(flaky([503, 503, 200], seen), backoff=0.001)) as client:
        once = await client.post("http://prom/x")
        marked = await client.post("http://prom/x", extensions={IDEMPOTENT: True})
    assert (once.status_code, marked.status_code, len(seen)) == (503, 200, 3)


async def test_retries_stop_after_the_last_attempt() -> None:
    seen: list[httpx.Request] = []
    transport = RetryTransport(flaky([502], seen), attempts=3, backoff=0.001)
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get("http://prom/")
    assert (response.status_code, len(seen)) == (502, 3)


async def test_connection_errors_are_retried_then_raised() -> None:
    calls = 0

    def refuse(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("refused", request=request)

    transport = RetryTransport(httpx.MockTransport(refuse), attempts=2, backoff=0.001)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://prom/")
    assert calls == 2


async def test_upstream_client_sends_credentials_tenant_and_user_agent() -> None:
    upstream = Upstream.model_validate(
        {"url": "http://mimir/prometheus", "bearer_token": "tok", "tenant": "team-a", "headers": {"X-Extra": "1"}}
    )
    client = upstream_client(upstream)
    request = client.build_request("GET", "/api/v1/query")
    await client.aclose()
    assert str(request.url) == "http://mimir/prometheus/api/v1/query"
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.headers["X-Scope-OrgID"] == "team-a"
    assert request.headers["X-Extra"] == "1"
    assert request.headers["User-Agent"].startswith("sre-federation/")


async def test_upstream_client_uses_basic_auth() -> None:
    client = upstream_client(Upstream.model_validate({"url": "http://p", "username": "u", "password": "p"}))
    request = client.build_request("GET", "/")
    assert client.auth is not None
    request = next(client.auth.auth_flow(request))
    await client.aclose()
    assert request.headers["Authorization"] == "Basic dTpw"
