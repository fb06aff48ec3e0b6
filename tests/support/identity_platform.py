"""A real registry (embedded authorization server) for integration tests, and tokens from it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from common.auth import ClientCredentials, TokenSource
from support.eventually import eventually_async
from support.served import ServedComponent

__all__ = ["Platform", "tokens", "wait_registered"]


class Platform:
    def __init__(self, data_dir: Path, registry: ServedComponent, caller_secret: str) -> None:
        self.data_dir = data_dir
        self.registry = registry
        self.caller_secret = caller_secret

    def credentials(self) -> ClientCredentials:
        return ClientCredentials.model_validate(
            {
                "token_url": f"{self.registry.url}/oauth/token",
                "client_id": "caller",
                "client_secret": self.caller_secret,
            }
        )


@asynccontextmanager
async def tokens(platform: Platform) -> AsyncIterator[TokenSource]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield TokenSource(platform.credentials(), http)


async def wait_registered(platform: Platform, name: str) -> None:
    """Until the MCP server `name` is registered: from then on the authorization server issues tokens for it."""
    async with tokens(platform) as source, httpx.AsyncClient(timeout=10) as http:

        async def registered() -> bool:
            url = f"{platform.registry.url}/servers/{name}"
            return (await http.get(url, auth=source.bearer_auth(platform.registry.url))).status_code == 200

        await eventually_async(registered, timeout=30, interval=0.2, what=f"{name} registered")
