"""The verifier of one resource (an MCP server, an agent, the registry) from its serve settings."""

from __future__ import annotations

import logging

import httpx

from common.auth.validation import TokenValidation
from common.auth.verifier import JwtVerifier
from common.errors import ConfigError
from common.settings import ServeSettings, is_loopback

__all__ = ["resource_verifier"]

logger = logging.getLogger(__name__)


def resource_verifier(serve: ServeSettings, audience: str, http_client: httpx.AsyncClient) -> JwtVerifier | None:
    """Tokens for `audience` from the configured issuer; None when auth is disabled (loopback only)."""
    config = serve.auth
    if config.disabled:
        if not is_loopback(serve.host):
            raise ConfigError(
                f"Refusing to serve on {serve.host} without authentication: SRE_AUTH_DISABLED is only allowed "
                "on a loopback address. Configure SRE_AUTH_ISSUER instead."
            )
        logger.warning("Authentication is disabled (SRE_AUTH_DISABLED); serving on loopback only.")
        return None
    issuer = config.issuer or serve.registry_url
    validation = TokenValidation(
        issuer=issuer,
        jwks_url=config.jwks_url or issuer.rstrip("/") + "/jwks.json",
        audience=audience,
        algorithms=config.algorithms,
        leeway_seconds=config.leeway_seconds,
        profile=config.profile,
        jwks_refetch_cooldown_seconds=config.jwks_refetch_cooldown_seconds,
    )
    return JwtVerifier(validation, http_client)
