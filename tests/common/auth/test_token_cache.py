"""CachedVerifier over a real JwtVerifier and real tokens: verified once, refused when expired, bounded."""

import time

import httpx
import pytest
from mcp.server.auth.provider import AccessToken
from support.issuer import TestIssuer

from common.auth import JwtVerifier, TokenValidation
from common.auth.token_cache import CachedVerifier

pytestmark = pytest.mark.anyio

AUDIENCE = "http://127.0.0.1:8703/mcp"
LEEWAY = 30


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class Counted:
    """The real verifier, counting the tokens that reach it."""

    def __init__(self, verifier: JwtVerifier) -> None:
        self.verifier = verifier
        self.calls = 0

    async def verify_token(self, token: str) -> AccessToken | None:
        self.calls += 1
        return await self.verifier.verify_token(token)


def verifiers(
    issuer: TestIssuer, http_client: httpx.AsyncClient, clock: Clock, **cache: int
) -> tuple[Counted, CachedVerifier]:
    validation = TokenValidation(
        issuer=issuer.issuer, jwks_url=issuer.jwks_url, audience=AUDIENCE, leeway_seconds=LEEWAY
    )
    inner = Counted(JwtVerifier(validation, http_client, clock=clock))
    return inner, CachedVerifier(inner, clock=clock, **cache)


async def test_a_token_is_verified_once_while_it_is_valid(issuer: TestIssuer, http_client: httpx.AsyncClient) -> None:
    inner, cached = verifiers(issuer, http_client, Clock())
    token = issuer.mint(AUDIENCE, ["metrics:read"])

    answers = [await cached.verify_token(token) for _ in range(5)]

    assert inner.calls == 1
    assert answers[0] is not None
    assert answers[0].scopes == ["metrics:read"]
    assert all(answer == answers[0] for answer in answers)


async def test_an_expired_token_is_refused_by_the_verifier_again(
    issuer: TestIssuer, http_client: httpx.AsyncClient
) -> None:
    clock = Clock()
    inner, cached = verifiers(issuer, http_client, clock)
    token = issuer.mint(AUDIENCE, ["metrics:read"], lifetime=60)
    accepted = await cached.verify_token(token)
    assert accepted is not None
    assert accepted.expires_at is not None

    # JwtVerifier's answer says when it stops accepting the token: `exp`; past it and the leeway, it refuses.
    clock.now = accepted.expires_at + LEEWAY + 1

    assert await cached.verify_token(token) is None
    assert inner.calls == 2
    assert await cached.verify_token(token) is None
    assert inner.calls == 3


async def test_a_refused_token_is_not_remembered(issuer: TestIssuer, http_client: httpx.AsyncClient) -> None:
    inner, cached = verifiers(issuer, http_client, Clock())
    wrong_audience = issuer.mint("http://127.0.0.1:8704/mcp", ["metrics:read"])

    assert await cached.verify_token(wrong_audience) is None
    assert await cached.verify_token(wrong_audience) is None
    assert inner.calls == 2


async def test_the_least_recently_used_token_is_forgotten_past_the_bound(
    issuer: TestIssuer, http_client: httpx.AsyncClient
) -> None:
    inner, cached = verifiers(issuer, http_client, Clock(), max_entries=2)
    first, second, third = (issuer.mint(AUDIENCE, [f"scope:{n}"]) for n in range(3))
    for token in (first, second, first, third):  # `first` again from memory; `third` pushes out `second`
        await cached.verify_token(token)
    assert inner.calls == 3

    await cached.verify_token(first)
    await cached.verify_token(third)
    assert inner.calls == 3
    await cached.verify_token(second)
    assert inner.calls == 4
