"""Run the registry: `sre serve registry` (or `python -m registry`); HTTP only, port 8700.

The registry protects its own API with tokens whose audience is its canonical URL
(`SRE_PUBLIC_URL`, default `http://SRE_HOST:SRE_PORT`). Unless `SRE_AUTH_ISSUER` names another
issuer, those tokens come from the registry's embedded authorization server, so the issuer is
the registry itself and its keys are at `<its URL>/jwks.json` (no discovery: it is not serving
yet at start-up). Another issuer's keys are found by RFC 8414 / OIDC discovery unless
`SRE_AUTH_JWKS_URL` is set.

Several replicas behind one load balancer share one PostgreSQL database (`REGISTRY_DATABASE_URL`)
and one `SRE_PUBLIC_URL` (the balancer's, hence one issuer): registrations are rows of that
database, and so are signing keys and OAuth clients (`registry.auth_storage`), so a token issued
by one replica verifies with the JWKS of any other. Each replica probes every entry's health
and expires stale ones, with conditions re-checked in the UPDATE or DELETE (`registry.store`): a
probe of an old URL never marks a re-registered entry, and an entry re-registered or found
healthy by any replica meanwhile is not expired. Replicas' probes of one entry interleave (the
last one written wins, as between one replica's rounds), and N replicas probe each entry N
times per interval.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import httpx
from mcp.server.auth.provider import TokenVerifier
from starlette.routing import BaseRoute

from common.auth.discovery import with_discovered_jwks
from common.auth.resource import resource_verifier
from common.errors import ConfigError
from common.http import create_http_client
from common.serving import run_http
from common.settings import SettingsSource
from registry.app import COMPONENT, create_app
from registry.auth_storage import serving_auth
from registry.clients import ClientDirectory
from registry.keys import SigningKeys
from registry.settings import RegistrySettings
from registry.store import RegistryStore

__all__ = ["registry_verifier", "serve"]

logger = logging.getLogger(__name__)


async def serve(transport: Literal["stdio", "http"], source: SettingsSource) -> None:
    if transport != "http":
        raise ConfigError("The registry is served over HTTP only: run `sre serve registry`.")
    settings = RegistrySettings.from_source(source)
    async with create_http_client(timeout=10.0) as http:
        explicit_issuer = source.get("SRE_AUTH_ISSUER") is not None
        verifier = await registry_verifier(settings, http, issuer=None if explicit_issuer else settings.issuer)
        store = RegistryStore.for_settings(settings)
        async with serving_auth(settings) as (keys, clients):
            routes = _authorization_routes(settings, store, keys, clients)
            app = create_app(settings, verifier=verifier, authorization_routes=routes, store=store)
            await run_http(app, settings.serve)


async def registry_verifier(
    settings: RegistrySettings, http: httpx.AsyncClient, *, issuer: str | None = None
) -> TokenVerifier | None:
    """The verifier of tokens for the registry's own API; None when auth is disabled (loopback only).

    `issuer` overrides `SRE_AUTH_ISSUER` (the embedded server's URL when none is configured).
    """
    config = settings.serve.auth
    issuer = issuer or config.issuer or settings.issuer
    if issuer == settings.issuer:
        config = config.model_copy(update={"issuer": issuer, "jwks_url": config.jwks_url or f"{issuer}/jwks.json"})
    else:
        config = await with_discovered_jwks(config.model_copy(update={"issuer": issuer}), http)
    serve = settings.serve.model_copy(update={"auth": config})
    return resource_verifier(serve, serve.base_url, http)


def _authorization_routes(
    settings: RegistrySettings, store: RegistryStore, keys: SigningKeys, clients: ClientDirectory
) -> list[BaseRoute]:
    """The embedded OAuth2 authorization server; tokens may name any registered server or agent."""
    from registry.oauth import authorization_routes

    async def known_resources() -> set[str]:
        # The registry is a resource too: components need `registry:write` tokens for it.
        return {settings.issuer, *await store.resource_urls()}

    return list(authorization_routes(settings, keys, clients, known_resources))


if __name__ == "__main__":
    from cli.main import main

    sys.exit(main(["serve", COMPONENT]))
