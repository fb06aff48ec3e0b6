"""Credentials every resource server must refuse with 401 (security checklist rows 2 and 4-12), by case name.

One catalogue for every surface, so that a row is checked the same way on each: a test gives
`refused_authorization()` a case name and a `mint` that signs a valid token for the surface under
test (its audience, its scopes, its issuer's key) and gets back an `Authorization` header value
wrong in exactly that one way. Cases that offer a key in the token header point at `attacker`, a
`RecordingServer` the test asserts was never asked for anything (row 10).

    authorization = refused_authorization("alg-none", mint, issuer=issuer.issuer, audience=url, ...)
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from joserfc.jwk import RSAKey

from support.hostile_tokens import NOT_ACCESS_TOKENS, OMIT, UNTIMELY, RecordingServer, from_now, key_in_header

__all__ = ["REFUSED_CASES", "Mint", "refused_authorization", "within_leeway"]

#: `mint(*, key=None, alg="RS256", header=None, claims=None)`: a token the surface accepts, changed as told.
Mint = Callable[..., str]

#: The names of the cases `refused_authorization()` knows, for parametrizing tests before any server runs.
REFUSED_CASES = (
    "basic-scheme-with-a-valid-token",
    "bearer-alone",
    "garbage",
    "three-garbage-segments",
    "another-audience",
    "audience-with-a-trailing-slash",
    "no-aud",
    "aud-account",
    *UNTIMELY,
    "unknown-key-reusing-the-kid",
    "alg-none",
    "hs256-keyed-with-the-public-key",
    "embedded-jwk",
    "jku-header",
    "x5u-header",
    "iss-with-a-trailing-slash",
    "iss-upper-case",
    *NOT_ACCESS_TOKENS,
)


def refused_authorization(
    case: str,
    mint: Mint,
    *,
    issuer: str,
    audience: str,
    public_key: RSAKey,
    attacker: RecordingServer,
    attacker_key: RSAKey,
) -> str:
    """The `Authorization` value of `case` (one of `REFUSED_CASES`); `public_key` is the issuer's published RSA key."""
    kid = public_key.kid
    assert kid, "the issuer's key has no kid"

    def bearer(**changes: Any) -> str:
        return f"Bearer {mint(**changes)}"

    def in_header(way: str) -> str:
        return bearer(key=attacker_key, header=key_in_header(way, attacker_key, attacker, kid))

    cases: dict[str, Callable[[], str]] = {
        "basic-scheme-with-a-valid-token": lambda: f"Basic {mint()}",
        "bearer-alone": lambda: "Bearer",
        "garbage": lambda: "Bearer not-a-jwt",
        "three-garbage-segments": lambda: "Bearer a.b.c",
        "another-audience": lambda: bearer(claims={"aud": "http://127.0.0.1:9/mcp"}),
        "audience-with-a-trailing-slash": lambda: bearer(claims={"aud": audience + "/"}),
        "no-aud": lambda: bearer(claims={"aud": OMIT}),
        "aud-account": lambda: bearer(claims={"aud": "account"}),
        **{name: partial(bearer, claims=from_now(times)) for name, times in UNTIMELY.items()},
        "unknown-key-reusing-the-kid": lambda: bearer(key=_impostor(kid)),
        "alg-none": lambda: bearer(alg="none", header={"kid": kid}),
        "hs256-keyed-with-the-public-key": lambda: bearer(
            alg="HS256", key=public_key.as_pem(private=False), header={"kid": kid}
        ),
        "embedded-jwk": lambda: in_header("jwk-with-known-kid"),
        "jku-header": lambda: in_header("jku"),
        "x5u-header": lambda: in_header("x5u"),
        "iss-with-a-trailing-slash": lambda: bearer(claims={"iss": issuer + "/"}),
        "iss-upper-case": lambda: bearer(claims={"iss": issuer.upper()}),
        **{name: partial(bearer, header=header, claims=claims) for name, (header, claims) in NOT_ACCESS_TOKENS.items()},
    }
    assert tuple(cases) == REFUSED_CASES
    return cases[case]()


@functools.cache
def _impostor(kid: str) -> RSAKey:
    """A key nobody published, under a published `kid` (RSA key generation is slow: one per kid)."""
    return RSAKey.generate_key(2048, parameters={"kid": kid})


def within_leeway(mint: Mint) -> str:
    """A token that expired 10 s ago: inside any leeway of 30-60 s, so it must still be accepted (row 6)."""
    now = int(time.time())
    return mint(claims={"iat": now - 310, "exp": now - 10})
