"""Checklist row 38 for an MCP server: one client's flood gets 429 after the configured rate;
the server stays responsive and other clients are unaffected."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest
from support.flood import first_refusal
from support.issuer import TestIssuer
from support.served import ServedComponent

pytestmark = pytest.mark.integration

# Low, so a refilled token is rare between two requests however slow the machine is.
RATE = 2


def test_row_38_a_flood_from_one_client_is_limited_and_the_server_stays_responsive(
    serve_prometheus_mcp: Callable[..., ServedComponent],
) -> None:
    with TestIssuer() as issuer, serve_prometheus_mcp(issuer, SRE_REQUESTS_PER_SECOND=str(RATE)) as served:
        flood = {"Authorization": f"Bearer {issuer.mint(served.mcp_url, ['metrics:read'])}"}
        another = issuer.mint(served.mcp_url, ["metrics:read"], claims={"client_id": "other", "sub": "other"})
        other = {"Authorization": f"Bearer {another}"}
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        statuses: Counter[int] = Counter()
        started = time.monotonic()
        with httpx.Client(timeout=10) as http:
            for _ in range(200):
                statuses[http.post(served.mcp_url, json=ping, headers={**headers, **flood}).status_code] += 1
            elapsed = time.monotonic() - started
            limited = first_refusal(lambda: http.post(served.mcp_url, json=ping, headers={**headers, **flood}))
            unaffected = http.post(served.mcp_url, json=ping, headers={**headers, **other})
            health = http.get(f"{served.url}/healthz")
    assert statuses[429] > 0
    # A bucket of RATE requests plus what refills while the flood lasts.
    assert sum(n for status, n in statuses.items() if status != 429) <= RATE + RATE * elapsed + 1
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert unaffected.status_code != 429
    assert health.status_code == 200
