"""A real registry (embedded authorization server) for integration tests, and tokens from it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from common.auth import ClientCredentials, TokenSource
from support.served import ServedComponent

__all__ = ["Platform", "tokens"]


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
