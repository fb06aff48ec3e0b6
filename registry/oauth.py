"""HTTP surface of the embedded OAuth2 authorization server: token endpoint, JWKS, RFC 8414 metadata.

`authorization_routes()` returns the Starlette routes the registry mounts:

- `POST /oauth/token`: the client-credentials grant of `registry.issuer` (client auth by
  `client_secret_basic` or `client_secret_post`, never both; `resource` required, the token's
  `aud` is exactly that resource, one of `settings.resources` or `known_resources()` (the
  registered servers and agents), else 400 `invalid_target`; scopes limited to the client's; a
  wrong secret and an unknown client both 401 `invalid_client`). The body must be a form of at
  most `MAX_FORM_BYTES` (else 413) with no repeated parameter (else 400 `invalid_request`).
  Before any secret is checked, `registry.token_limits` admits the request or answers 429 with
  `Retry-After`: failed authentications are limited per claimed client id and per address,
  apart from the requests of authenticated clients, so a flooder does not starve the clients
  sharing its address.
  The errors are raised as `common.rest.HttpError` with `Cache-Control: no-store` (RFC 6749
  5.2): the app mounting these routes renders them (`rest_app` does).
- `GET /jwks.json`: the public keys of the `SigningKeys` (pending, active and retired ones).
- `GET /.well-known/oauth-authorization-server`: RFC 8414 metadata.

No OpenID configuration is served: this is not an OpenID provider, and verifiers of this
project find the keys at `<issuer>/jwks.json` (or by this metadata).
"""

# authlib ships no type information; its functions are Any here.
# mypy: disable-error-code="import-untyped"

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import anyio
from authlib.common.security import is_secure_transport
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.errors import ConfigError
from common.rest import HttpError
from registry.clients import KNOWN_SCOPES, ClientDirectory
from registry.issuer import AUTH_METHODS, TokenIssuer, TokenRequest
from registry.keys import SigningKeys
from registry.settings import RegistrySettings
from registry.token_limits import Admission, TokenRequestLimits

__all__ = ["AUTH_METHODS", "MAX_FORM_BYTES", "KnownResources", "authorization_routes", "metadata"]

logger = logging.getLogger(__name__)

#: A token request is a handful of short parameters; anything larger is not one.
MAX_FORM_BYTES = 16 * 1024
_MAX_FIELDS = 32

KnownResources = Callable[[], Awaitable[set[str]]]


def metadata(issuer: str) -> dict[str, Any]:
    """The RFC 8414 authorization server metadata of `issuer`."""
    return {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/jwks.json",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "scopes_supported": list(KNOWN_SCOPES),
        # No authorization endpoint: client credentials only.
        "response_types_supported": [],
    }


def authorization_routes(
    settings: RegistrySettings,
    keys: SigningKeys,
    clients: ClientDirectory,
    known_resources: KnownResources | None = None,
) -> list[Route]:
    """Routes of the token endpoint, the JWKS and the metadata document for `settings.issuer`."""
    issuer = settings.issuer
    if not is_secure_transport(issuer):
        # Client secrets travel in every token request: never in clear text over a network.
        raise ConfigError(
            f"The authorization server's URL {issuer} is plain http on a non-loopback address, which would send "
            "client secrets in clear text. Set SRE_PUBLIC_URL to an https URL (TLS terminated in front of the "
            "registry), or set AUTHLIB_INSECURE_TRANSPORT=1 on a trusted private network."
        )
    server = TokenIssuer(settings, keys, clients)
    keys.signing_key()  # first start: the key is published before the first token request
    limits = TokenRequestLimits(
        requests_per_minute=settings.token_requests_per_minute,
        failures_per_minute=settings.token_failures_per_minute,
        is_known_client=lambda client_id: clients.get(client_id) is not None,
    )
    document = metadata(issuer)
    static_resources = frozenset(settings.resources)

    async def token(request: Request) -> Response:
        address = request.client.host if request.client else "unknown"
        form = await _read_form(request)
        claimed = _claimed_client_id(request, form)
        admission = limits.admit(address, claimed)
        if not isinstance(admission, Admission):
            raise _too_many(admission, address, claimed)
        resources = static_resources | await _registered(known_resources)
        oauth_request = TokenRequest(f"{issuer}/oauth/token", request.headers, form, resources, address)
        response: Response = await anyio.to_thread.run_sync(server.create_token_response, oauth_request)
        limits.settle(admission, authenticated=oauth_request.authenticated)
        return response

    async def jwks(request: Request) -> Response:
        # Short caching: a rotated key must reach verifiers well within the publication delay.
        return JSONResponse(keys.jwks(), headers={"Cache-Control": "public, max-age=15"})

    async def server_metadata(request: Request) -> Response:
        return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})

    return [
        Route("/oauth/token", token, methods=["POST"]),
        Route("/jwks.json", jwks, methods=["GET"]),
        Route("/.well-known/oauth-authorization-server", server_metadata, methods=["GET"]),
    ]


async def _registered(known_resources: KnownResources | None) -> frozenset[str]:
    if known_resources is None:
        return frozenset()
    try:
        return frozenset(await known_resources())
    except Exception:
        # The configured resources still work when the registry's store is unavailable.
        logger.exception("Could not list the registered resources; only configured resources are accepted")
        return frozenset()


async def _read_form(request: Request) -> dict[str, list[str]]:
    """The form of a token request; `HttpError` 400/413 `invalid_request` saying why there is none."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise _error(400, "invalid_request", "The body must be application/x-www-form-urlencoded.")
    too_large = _error(413, "invalid_request", f"The request body exceeds {MAX_FORM_BYTES} bytes.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise too_large
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=False, errors="strict", max_num_fields=_MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise _error(400, "invalid_request", "The body is not a valid form.") from None
    form: dict[str, list[str]] = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    # RFC 6749 3.2: parameters must not repeat; several resources are RFC 8707's, refused later.
    if any(len(values) > 1 for name, values in form.items() if name != "resource"):
        raise _error(400, "invalid_request", "A request parameter is repeated.")
    if "client_secret" in form and request.headers.get("authorization"):
        raise _error(400, "invalid_request", "Use one client authentication method, not two.")
    return form


def _claimed_client_id(request: Request, form: dict[str, list[str]]) -> str | None:
    client_id, _ = extract_basic_authorization(request.headers)
    if client_id:
        return str(client_id)
    return form.get("client_id", [None])[0]


def _too_many(wait: float, address: str, claimed: str | None) -> HttpError:
    logger.warning("Token requests from %s for client %r exceed the rate limit", address, claimed)
    return _error(
        429, "too_many_requests", "Too many token requests; retry later.", {"Retry-After": str(math.ceil(wait))}
    )


def _error(status: int, error: str, description: str, headers: Mapping[str, str] | None = None) -> HttpError:
    return HttpError(status, error, description, headers={"Cache-Control": "no-store", **(headers or {})})
