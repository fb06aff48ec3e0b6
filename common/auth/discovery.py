"""Where an issuer publishes its keys: RFC 8414 / OpenID Connect discovery.

An external identity provider (Keycloak: `https://kc.example/realms/sre`) is configured by its
issuer URL alone; the JWKS location comes from its metadata document. The document's `issuer`
must equal the configured one exactly, or the metadata is refused (RFC 8414 section 3.3).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

import httpx

from common.settings import AuthConfig

__all__ = ["discover_jwks_url", "metadata_urls", "with_discovered_jwks"]

logger = logging.getLogger(__name__)

_MAX_METADATA_BYTES = 64 * 1024


def metadata_urls(issuer: str) -> list[str]:
    """RFC 8414 inserts the well-known segment before the issuer's path; OIDC appends it."""
    parts = urlsplit(issuer.rstrip("/"))
    path = parts.path
    rfc8414 = urlunsplit((parts.scheme, parts.netloc, f"/.well-known/oauth-authorization-server{path}", "", ""))
    oidc = urlunsplit((parts.scheme, parts.netloc, f"{path}/.well-known/openid-configuration", "", ""))
    return [rfc8414, oidc]


async def discover_jwks_url(issuer: str, http: httpx.AsyncClient) -> str:
    """The `jwks_uri` of `issuer`'s metadata; raises `LookupError` saying what was tried."""
    problems = []
    for url in metadata_urls(issuer):
        try:
            response = await http.get(url, headers={"Accept": "application/json"})
            if response.status_code != 200 or len(response.content) > _MAX_METADATA_BYTES:
                problems.append(f"{url}: HTTP {response.status_code}")
                continue
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            problems.append(f"{url}: {type(exc).__name__}")
            continue
        if not isinstance(document, dict) or document.get("issuer") != issuer:
            problems.append(f"{url}: names issuer {document.get('issuer') if isinstance(document, dict) else None!r}")
            continue
        jwks_uri = document.get("jwks_uri")
        if isinstance(jwks_uri, str) and jwks_uri.startswith(("https://", "http://")):
            return jwks_uri
        problems.append(f"{url}: no jwks_uri")
    raise LookupError("; ".join(problems))


async def with_discovered_jwks(config: AuthConfig, http: httpx.AsyncClient) -> AuthConfig:
    """`config` with `jwks_url` filled in from the issuer's metadata when it was not configured.

    When discovery fails (the registry may start after this component), `<issuer>/jwks.json`, the
    embedded authorization server's location, is used and a warning names the setting to set.
    """
    if config.jwks_url or config.disabled or not config.issuer:
        return config
    try:
        jwks_url = await discover_jwks_url(config.issuer, http)
    except LookupError as exc:
        jwks_url = config.issuer.rstrip("/") + "/jwks.json"
        logger.warning(
            "Could not discover the JWKS of issuer %s (%s); using %s. Set SRE_AUTH_JWKS_URL if that is wrong.",
            config.issuer,
            exc,
            jwks_url,
        )
    return config.model_copy(update={"jwks_url": jwks_url})
