"""A component and the registry: announcing itself, and finding the others.

`registered()` is an async context manager around a component's serving. Registration uses the
component's own client-credentials token (scope `registry:write`, audience the registry). The
registry may start after the component, so failures are retried with backoff in the background
and never stop the component from serving; each success is re-sent every `refresh_seconds` so
the entry's `last_seen` stays fresh and a registry that lost its data learns it again.

`registered_url()` finds another component (an MCP server, a peer agent) by name, with any
valid token of the caller's own.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal
from urllib.parse import quote

import anyio
import httpx

from common.auth.token_source import TokenSource
from common.errors import BackendError, BackendUnavailable
from common.scopes import REGISTRY_WRITE
from common.task_groups import task_group

__all__ = ["RegistryClient", "registered", "registered_url"]

logger = logging.getLogger(__name__)

Kind = Literal["servers", "agents"]


class RegistryClient:
    def __init__(self, registry_url: str, tokens: TokenSource, http_client: httpx.AsyncClient) -> None:
        self.registry_url = registry_url.rstrip("/")
        self._http = http_client
        self._auth = tokens.bearer_auth(self.registry_url, [REGISTRY_WRITE])

    async def register(self, kind: Kind, body: Mapping[str, Any]) -> None:
        response = await self._http.post(f"{self.registry_url}/{kind}", json=dict(body), auth=self._auth)
        if response.status_code not in (200, 201):
            raise BackendError(
                f"The registry refused to register {body.get('name')!r} (HTTP {response.status_code}): "
                f"{response.text[:300]}",
                backend="registry",
                status_code=response.status_code,
            )

    async def deregister(self, kind: Kind, name: str) -> None:
        response = await self._http.delete(f"{self.registry_url}/{kind}/{name}", auth=self._auth)
        if response.status_code not in (200, 204, 404):
            raise BackendError(
                f"The registry refused to deregister {name!r} (HTTP {response.status_code}).",
                backend="registry",
                status_code=response.status_code,
            )


@asynccontextmanager
async def registered(
    client: RegistryClient,
    kind: Kind,
    body: Mapping[str, Any],
    *,
    refresh_seconds: float = 60.0,
    first_retry_seconds: float = 1.0,
) -> AsyncIterator[None]:
    name = str(body["name"])

    async def keep_registered() -> None:
        delay = first_retry_seconds
        while True:
            try:
                await client.register(kind, body)
            except (BackendError, httpx.HTTPError) as exc:
                logger.warning(
                    "Registering %s with %s failed (%s); retrying in %.0fs", name, client.registry_url, exc, delay
                )
                await anyio.sleep(delay)
                delay = min(delay * 2, refresh_seconds)
                continue
            delay = first_retry_seconds
            await anyio.sleep(refresh_seconds)

    # The served body's own error (a ConfigError, Ctrl-C) leaves as raised, not wrapped in a group.
    async with task_group() as tasks:
        tasks.start_soon(keep_registered)
        try:
            yield
        finally:
            tasks.cancel_scope.cancel()
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                try:
                    await client.deregister(kind, name)
                except (BackendError, httpx.HTTPError) as exc:
                    logger.warning("Deregistering %s from %s failed: %s", name, client.registry_url, exc)


async def registered_url(
    kind: Kind, name: str, *, tokens: TokenSource, http: httpx.AsyncClient, registry_url: str
) -> str:
    """The URL `name` registered under `kind`; BackendUnavailable saying why it cannot be found."""
    registry = registry_url.rstrip("/")
    try:
        response = await http.get(
            f"{registry}/{kind}/{quote(name, safe='')}", auth=tokens.bearer_auth(registry), timeout=10.0
        )
    except httpx.TransportError as exc:
        raise BackendUnavailable(
            f"the registry at {registry} could not be reached ({type(exc).__name__})", backend="registry"
        ) from None
    if response.status_code == 404:
        raise BackendUnavailable(f"{name} is not registered in the registry at {registry}", backend="registry")
    if response.status_code != 200:
        raise BackendUnavailable(f"the registry at {registry} answered HTTP {response.status_code}", backend="registry")
    url = response.json().get("url")
    if not isinstance(url, str) or not url:
        raise BackendUnavailable(f"the registry's entry for {name} has no URL", backend="registry")
    return url
