"""Bearer-token verification for every MCP server and agent (mcp's `TokenVerifier` protocol).

`JwtVerifier.verify_token` returns an `AccessToken` for a JWT that passes every rule below, and
None for anything else. It never raises on hostile input and logs each rejection at INFO with a
fixed reason, never the token. Rules, in order (cheap structural checks before any key lookup):

1. at most `max_token_bytes`, ASCII, exactly three canonical base64url segments (padding bits
   zero, as joserfc decodes them);
2. header: `alg` in the configured allowlist (never taken from the token), a `kid`, no `crit`
   (no extension is understood), and the profile's `typ`
   (rfc9068: `at+jwt` / `application/at+jwt`; keycloak: `JWT`);
3. key: only the configured JWKS entry for `kid` (`jku`, `x5u`, `jwk`, `x5c` are ignored);
   the signature is checked by joserfc, which also refuses a key whose type, `use` or `alg`
   does not fit the header `alg`;
4. claims: `iss` equals the issuer exactly; `aud` (string or list) contains the audience; `exp`
   required and not past beyond the leeway; `nbf` not ahead beyond the leeway; `iat` not more
   than `max_iat_skew_seconds` ahead; rfc9068 requires `sub` and `client_id`; keycloak requires
   payload `typ: Bearer` (refusing ID and refresh tokens) and takes the client from `azp` or
   `client_id`;
5. scopes from `scope` (space-separated) or else `scp` (list).
"""

import binascii
import json
import logging
import math
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.util import urlsafe_b64decode
from mcp.server.auth.provider import AccessToken

from common.auth.jwks import JwksCache
from common.auth.validation import TokenValidation

__all__ = ["JwtVerifier"]

logger = logging.getLogger(__name__)

_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_RFC9068_TYPES = frozenset({"at+jwt", "application/at+jwt"})


class _Rejected(Exception):
    """Why a token is refused; the message is logged, so it never contains token content."""


class JwtVerifier:
    """Verifies JWT access tokens against one `TokenValidation` policy."""

    def __init__(
        self,
        validation: TokenValidation,
        http_client: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.validation = validation
        self._clock = clock
        self._jwks = JwksCache(
            validation.jwks_url, http_client, refetch_cooldown_seconds=validation.jwks_refetch_cooldown_seconds
        )
        # Not strict about unregistered header names: real issuers add their own, and none of
        # them influences verification here.
        self._registry = jws.JWSRegistry(algorithms=list(validation.algorithms), strict_check_header=False)

    async def verify_token(self, token: str) -> AccessToken | None:
        """The access this token grants, or None if it is not valid for this resource."""
        try:
            return await self._verify(token)
        except _Rejected as rejection:
            logger.info("Bearer token rejected: %s", rejection)
            return None

    async def _verify(self, token: str) -> AccessToken:
        header = self._check_structure_and_header(token)
        key = await self._jwks.get(header["kid"])
        if key is None:
            raise _Rejected("no key with this kid in the JWKS")
        try:
            signed = jws.deserialize_compact(token, key, registry=self._registry)
        except JoseError as exc:
            raise _Rejected(f"signature verification failed ({type(exc).__name__})") from None
        except Exception:  # hostile input must never turn into a server error
            raise _Rejected("signature verification failed") from None
        claims = _json_object(signed.payload, "payload")
        return self._access_from_claims(token, claims)

    def _check_structure_and_header(self, token: str) -> dict[str, Any]:
        policy = self.validation
        # Compare the character count first so an oversized token is refused before any copy;
        # once it is ASCII, characters and bytes are the same count.
        if len(token) > policy.max_token_bytes or not token.isascii():
            raise _Rejected("token too large or not ASCII")
        segments = token.split(".")
        if len(segments) != 3 or not all(_SEGMENT.fullmatch(segment) for segment in segments):
            raise _Rejected("not three base64url segments")
        try:
            # joserfc's decoder refuses non-zero padding bits, so one signature has one encoding.
            header = _json_object(urlsafe_b64decode(segments[0].encode("ascii")), "header")
        except binascii.Error:
            raise _Rejected("header is not base64url") from None

        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in policy.algorithms:
            raise _Rejected("algorithm not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _Rejected("no kid in header")
        # No JWS extension is understood here, so any critical one must fail (RFC 7515 4.1.11).
        if "crit" in header:
            raise _Rejected("critical header")
        typ = header.get("typ")
        typ = typ.lower() if isinstance(typ, str) else None
        if policy.profile == "rfc9068" and typ not in _RFC9068_TYPES:
            raise _Rejected("header typ is not at+jwt")
        if policy.profile == "keycloak" and typ != "jwt":
            raise _Rejected("header typ is not JWT")
        return header

    def _access_from_claims(self, token: str, claims: dict[str, Any]) -> AccessToken:
        policy = self.validation
        now = self._clock()

        issuer = claims.get("iss")
        if issuer != policy.issuer:
            raise _Rejected("issuer mismatch")
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or policy.audience not in audiences:
            raise _Rejected("audience does not include this resource")

        expires_at = _numeric_date(claims, "exp")
        if expires_at is None:
            raise _Rejected("no exp claim")
        if now >= expires_at + policy.leeway_seconds:
            raise _Rejected("token expired")
        not_before = _numeric_date(claims, "nbf")
        if not_before is not None and not_before > now + policy.leeway_seconds:
            raise _Rejected("token not yet valid (nbf)")
        issued_at = _numeric_date(claims, "iat")
        if issued_at is not None and issued_at > now + policy.max_iat_skew_seconds:
            raise _Rejected("token issued in the future (iat)")

        subject = _optional_str(claims, "sub")
        if policy.profile == "rfc9068":
            client_id = _optional_str(claims, "client_id")
            if client_id is None or subject is None:
                raise _Rejected("client_id or sub claim missing")
        else:
            if claims.get("typ") != "Bearer":
                raise _Rejected("payload typ is not Bearer")
            client_id = _optional_str(claims, "azp") or _optional_str(claims, "client_id")
            if client_id is None:
                raise _Rejected("azp or client_id claim missing")

        return AccessToken(
            token=token,
            client_id=client_id,
            scopes=_scopes(claims),
            expires_at=int(expires_at),
            resource=policy.audience,
            subject=subject,
            claims={"iss": issuer, "sub": subject, "jti": _optional_str(claims, "jti")},
        )


def _json_object(raw: bytes, part: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # deep nesting fits in a few KiB
        raise _Rejected(f"{part} is not JSON") from None
    if not isinstance(value, dict):
        raise _Rejected(f"{part} is not a JSON object")
    return value


def _numeric_date(claims: dict[str, Any], name: str) -> int | float | None:
    value = claims.get(name)
    if value is None:
        return None
    # bool is an int subclass, and JSON allows Infinity/NaN through Python's parser.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Rejected(f"{name} is not a NumericDate")
    if isinstance(value, float) and not math.isfinite(value):
        raise _Rejected(f"{name} is not a NumericDate")
    return value


def _optional_str(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _Rejected(f"{name} is not a non-empty string")
    return value


def _scopes(claims: dict[str, Any]) -> list[str]:
    scope = claims.get("scope")
    if isinstance(scope, str):
        return scope.split()
    scp = claims.get("scp")
    if scope is None and scp is None:
        return []
    if scope is None and isinstance(scp, list) and all(isinstance(item, str) for item in scp):
        return list(scp)
    raise _Rejected("scope claim is malformed")
