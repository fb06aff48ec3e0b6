"""controlplane-mcp's time arguments: text or unix seconds as JSON numbers, within 1970-2262 (checklist row 44)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from support.controlplane_mcp_harness import Seeder, ago, serve_controlplane, serve_mcp, session
from support.issuer import TestIssuer
from support.mcp_session import call, call_error
from support.served import ServedComponent

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    with TestIssuer() as running:
        yield running


@pytest.fixture(scope="module")
def served(issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedComponent]:
    with serve_controlplane(issuer, tmp_path_factory, approval_ttl=60) as controlplane:
        seeder = Seeder(controlplane.url, issuer)
        api = seeder.resource("api", kind="service")
        seeder.ok(
            "POST",
            "/audit-logs",
            {"type": "config_change", "resource_id": api["id"], "actor": "bob", "at": ago(10), "summary": "pool"},
        )
        with serve_mcp(controlplane, issuer, tmp_path_factory) as component:
            yield component


async def test_start_and_end_take_unix_seconds_as_json_numbers(served: ServedComponent, issuer: TestIssuer) -> None:
    now = time.time()
    async with session(served, issuer) as client:
        changes = await call(client, "controlplane_list_changes", resource="api", start=int(now - 3600), end=now)
    assert [change["type"] for change in changes["changes"]] == ["config_change"]


async def test_a_time_past_2262_is_a_tool_error_naming_the_argument(
    served: ServedComponent, issuer: TestIssuer
) -> None:
    async with session(served, issuer) as client:
        message = await call_error(client, "controlplane_list_changes", start="now-1h", end="now+99999999d")
    assert "Invalid end" in message
    assert "2262-04-11T23:47:16Z" in message
