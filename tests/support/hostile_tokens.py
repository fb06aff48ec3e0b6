"""The attacker's side of token tests: hand-made JWTs and a host for keys that must never be fetched.

`access_token()` signs an RFC 9068 access token for any issuer with any key (or none), and
`header=` / `claims=` override or add fields, `OMIT` as a value removing one, so a hostile token
(`alg: none`, HS256 keyed with an RSA public key, a foreign key reusing a known `kid`, a bad
`typ`) is one call away. Nothing checks what it signs: it is meant to build wrong tokens.
`UNTIMELY`, `key_in_header()` and `NOT_ACCESS_TOKENS` are the claims and headers every verifier
must refuse (rows 6, 10 and 12 of the security checklist); `oversized_token_status()` and
`oversized_token_flood()` send bearer tokens far beyond any header limit (row 14).
`RecordingServer` answers every GET on 127.0.0.1 and records the paths, to prove a verifier never
followed a `jku` or `x5u` header.

    token = access_token("http://127.0.0.1:8700", "http://127.0.0.1:8700", [], key=my_key, claims={"aud": OMIT})
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psutil
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey
from joserfc.jws import JWSRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from support.asgi_server import ServedApp, loopback_socket

__all__ = [
    "CLIENT_ID",
    "KEYS_IN_HEADER",
    "NOT_ACCESS_TOKENS",
    "OMIT",
    "UNTIMELY",
    "RecordingServer",
    "access_token",
    "from_now",
    "key_in_header",
    "oversized_token_flood",
    "oversized_token_status",
]

#: `sub` and `client_id` of tokens unless overridden.
CLIENT_ID = "test-client"


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


#: Use as a value in `header=` or `claims=` to remove that field.
OMIT: Any = _Omit()


#: Times (seconds from now; `OMIT` removes the claim) a verifier with a leeway of at most 60 s refuses, by name.
UNTIMELY: dict[str, dict[str, Any]] = {
    "expired-beyond-leeway": {"iat": -400, "exp": -90},
    "expired-an-hour-ago": {"iat": -3700, "exp": -3600},
    "nbf-in-2-minutes": {"nbf": 120},
    "nbf-in-an-hour": {"nbf": 3600},
    "iat-in-an-hour": {"iat": 3600, "exp": 3900},
    "no-exp": {"exp": OMIT},
}

#: (header, claims) changes that make a token something other than an RFC 9068 access token, by name.
NOT_ACCESS_TOKENS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "id-token": ({"typ": "JWT"}, {"nonce": "n-0S6_WzA2Mj", "auth_time": 0, "azp": CLIENT_ID}),
    "refresh-token": ({"typ": "JWT"}, {"typ": "Refresh"}),  # as Keycloak issues them
    "keycloak-access-token": ({"typ": "JWT"}, {"typ": "Bearer"}),  # valid for the keycloak profile only
    "no-typ": ({"typ": OMIT}, {}),
    "dpop-proof": ({"typ": "dpop+jwt"}, {}),
    "application-jwt": ({"typ": "application/jwt"}, {}),
}


#: Ways a token's header can offer the verifier a key of the signer's choosing (`key_in_header()`).
KEYS_IN_HEADER = ("jwk", "jwk-with-known-kid", "jku", "x5u")


def key_in_header(way: str, key: RSAKey, host: RecordingServer, known_kid: str | None) -> dict[str, Any]:
    """Header fields offering `key` (published by `host`) in one of the `KEYS_IN_HEADER` ways."""
    ways: dict[str, dict[str, Any]] = {
        "jwk": {"jwk": key.as_dict(private=False)},
        "jwk-with-known-kid": {"jwk": key.as_dict(private=False), "kid": known_kid},
        "jku": {"jku": f"{host.url}/jwks.json"},
        "x5u": {"x5u": f"{host.url}/cert.pem"},
    }
    return ways[way]


def from_now(times: Mapping[str, Any]) -> dict[str, Any]:
    """`times` (seconds from now, as in `UNTIMELY`) as claims: UNIX times, `OMIT` kept."""
    now = int(time.time())
    return {name: value if value is OMIT else now + value for name, value in times.items()}


def access_token(
    issuer: str,
    audience: str | list[str],
    scopes: Iterable[str] = (),
    *,
    key: Key | bytes | None,
    alg: str = "RS256",
    lifetime: int = 300,
    header: Mapping[str, Any] | None = None,
    claims: Mapping[str, Any] | None = None,
) -> str:
    """A compact JWS of an RFC 9068 access token from `issuer`, signed with `key` as `alg` says.

    `key` is raw bytes for HS* algorithms and ignored for `alg="none"` (an empty signature); the
    header names the key's `kid` when it has one.
    """
    now = int(time.time())
    full_header: dict[str, Any] = {"alg": alg, "typ": "at+jwt"}
    if isinstance(key, RSAKey | ECKey | OKPKey) and key.kid:
        full_header["kid"] = key.kid
    full_claims: dict[str, Any] = {
        "iss": issuer,
        "sub": CLIENT_ID,
        "client_id": CLIENT_ID,
        "aud": audience,
        "scope": " ".join(scopes),
        "iat": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
    }
    _override(full_header, header)
    _override(full_claims, claims)
    signing_input = f"{_b64_json(full_header)}.{_b64_json(full_claims)}"
    signature = _sign(signing_input.encode("ascii"), key, alg)
    return f"{signing_input}.{_b64(signature)}"


#: Sends a request with the given extra headers, as a test of one server does.
Send = Callable[[dict[str, str]], httpx.Response]


def oversized_token_status(send: Send, kib: int) -> int | None:
    """The status answered to a request carrying a `kib` KiB bearer token; None: no answer."""
    try:
        return send({"Authorization": "Bearer " + "a" * kib * 1024}).status_code
    except httpx.TransportError:
        return None


def oversized_token_flood(send: Send, pid: int) -> tuple[list[int | None], int]:
    """Statuses of 40 requests with 0.3 and 1 MiB bearer tokens (26 MiB in all), 8 at a time, and the
    growth of the resident memory of process `pid` meanwhile, in bytes."""
    server = psutil.Process(pid)
    rss_before = server.memory_info().rss
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda kib: oversized_token_status(send, kib), [300, 1024] * 20))
    return statuses, server.memory_info().rss - rss_before


class RecordingServer:
    """An HTTP server on 127.0.0.1 that answers every GET with `body` and records the paths asked for."""

    def __init__(self, body: bytes) -> None:
        self.requests: list[str] = []

        async def record(request: Request) -> Response:
            query = request.url.query
            self.requests.append(f"{request.url.path}?{query}" if query else request.url.path)
            return Response(body, media_type="application/json")

        app = Starlette(routes=[Route("/{path:path}", record)])
        self._served = ServedApp(app, sock=loopback_socket()).start()
        self.url = self._served.url

    def close(self) -> None:
        self._served.stop()


def _override(target: dict[str, Any], changes: Mapping[str, Any] | None) -> None:
    for name, value in (changes or {}).items():
        if value is OMIT:
            target.pop(name, None)
        else:
            target[name] = value


def _sign(signing_input: bytes, key: Key | bytes | None, alg: str) -> bytes:
    if alg == "none":
        return b""
    if alg.startswith("HS"):
        if not isinstance(key, bytes):
            raise TypeError("HS* tokens need the secret as bytes")
        return hmac.new(key, signing_input, getattr(hashlib, f"sha{alg[2:]}")).digest()
    if key is None or isinstance(key, bytes):
        raise TypeError(f"{alg} tokens need a joserfc key")
    # Straight from the algorithm object, so no header check can stop a deliberately bad token.
    return JWSRegistry.algorithms[alg].sign(signing_input, key)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64_json(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def assert_oversized_tokens_refused_fast_in_bounded_memory(send: Send, pid: int) -> None:
    """Checklist row 14: a 300 KiB token is 431 within a second, and a flood of larger ones leaves process
    `pid` under 16 MiB of growth."""
    started = time.monotonic()
    status = oversized_token_status(send, 300)
    elapsed = time.monotonic() - started
    statuses, growth = oversized_token_flood(send, pid)

    assert status == 431
    assert elapsed < 1.0
    assert statuses == [431] * len(statuses)
    assert growth < 16 * 1024 * 1024, growth
