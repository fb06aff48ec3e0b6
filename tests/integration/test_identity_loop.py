"""The identity loop end to end, with real processes: registry + embedded authorization server,
prometheus-mcp registering itself with its own token, and a caller that finds it through the
registry and calls it with a token of its own. Key rotation needs no restart anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from joserfc import jws
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from support.eventually import eventually_async
from support.identity_platform import Platform, tokens
from support.served import ServedComponent

from common.auth import TokenSource

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]


async def find_server(platform: Platform, source: TokenSource, name: str) -> dict[str, Any] | None:
    async with httpx.AsyncClient(timeout=10, auth=source.bearer_auth(platform.registry.url)) as http:
        response = await http.get(f"{platform.registry.url}/servers")
    assert response.status_code == 200, response.text
    return next((entry for entry in response.json()["servers"] if entry["name"] == name), None)


async def query(url: str, auth: httpx2.Auth) -> float:
    async with (
        httpx2.AsyncClient(auth=auth, timeout=10) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        result = await client.call_tool("prometheus_query", {"query": "vector(1)"})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return float(result.structured_content["samples"][0]["value"])


def kid_of(token: str) -> str:
    return str(jws.extract_compact(token.encode()).headers()["kid"])


async def test_a_caller_finds_prometheus_mcp_in_the_registry_and_calls_it_with_its_own_token(
    platform: Platform, prometheus_mcp: ServedComponent
) -> None:
    async with tokens(platform) as source:
        entry = await eventually_async(
            lambda: find_server(platform, source, "prometheus-mcp"), timeout=30, what="prometheus-mcp registered"
        )
        assert entry["url"] == prometheus_mcp.mcp_url
        assert "prometheus_query" in {tool["name"] for tool in entry["tools"]}
        assert entry["scopes"] == ["metrics:read"]
        assert await query(entry["url"], source.bearer_auth2(entry["url"], ["metrics:read"])) == 1.0

        token = await source.token(entry["url"], ["metrics:read"])
        async with httpx.AsyncClient(timeout=10) as http:
            elsewhere = await http.get(f"{platform.registry.url}/servers", headers={"Authorization": f"Bearer {token}"})
    assert elsewhere.status_code == 401


async def test_after_a_key_rotation_old_and_new_tokens_verify_without_restarts(
    platform: Platform, prometheus_mcp: ServedComponent
) -> None:
    url = prometheus_mcp.mcp_url
    async with tokens(platform) as source:
        await eventually_async(
            lambda: find_server(platform, source, "prometheus-mcp"), timeout=30, what="prometheus-mcp registered"
        )
        old = await source.token(url, ["metrics:read"])
        rotated = subprocess.run(
            [sys.executable, "-m", "cli.main", "auth", "rotate-keys"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "SRE_DATA_DIR": str(platform.data_dir), "REGISTRY_KEY_PUBLISH_DELAY_SECONDS": "2"},
            check=True,
        )

        async def signed_with_another_key() -> str | None:
            source.invalidate(url, ["metrics:read"])
            new = await source.token(url, ["metrics:read"])
            return new if kid_of(new) != kid_of(old) else None

        new = await eventually_async(
            signed_with_another_key, timeout=20, interval=0.3, what="a token signed with the new key"
        )
        assert kid_of(new) in rotated.stdout
        assert await query(url, _Bearer(old)) == 1.0
        assert await query(url, _Bearer(new)) == 1.0
    assert prometheus_mcp.running


async def test_a_stopped_component_deregisters(platform: Platform, prometheus_mcp: ServedComponent) -> None:
    prometheus_mcp.stop()
    async with tokens(platform) as source:

        async def deregistered() -> bool:
            return await find_server(platform, source, "prometheus-mcp") is None

        await eventually_async(deregistered, timeout=20, what="prometheus-mcp deregistered")


class _Bearer(httpx2.Auth):
    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx2.Request) -> Iterator[httpx2.Request]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request
