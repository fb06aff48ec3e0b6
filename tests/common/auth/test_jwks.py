"""JwksCache against a real JWKS endpoint on 127.0.0.1."""

import asyncio
import logging

import anyio
import httpx
import pytest
from joserfc.jwk import OctKey, RSAKey
from support.issuer import TestIssuer

from common.auth import JwksCache

pytestmark = pytest.mark.anyio


async def test_known_kid_is_served_from_one_fetch(http_client: httpx.AsyncClient) -> None:
    with TestIssuer() as issuer:
        cache = JwksCache(issuer.jwks_url, http_client)

        rsa = await cache.get(issuer.signing_key.kid or "")
        ec = await cache.get(issuer.ec_key.kid or "")

        assert rsa is not None
        assert rsa.as_dict() == issuer.signing_key.as_dict(private=False)
        assert not rsa.is_private
        assert ec is not None
        assert issuer.fetch_count == cache.fetch_count == 1


async def test_unknown_kids_refetch_at_most_once_per_cooldown(http_client: httpx.AsyncClient) -> None:
    with TestIssuer() as issuer:
        cache = JwksCache(issuer.jwks_url, http_client, refetch_cooldown_seconds=30)

        assert await cache.get("unknown-1") is None
        assert await cache.get("unknown-2") is None

        assert issuer.fetch_count == 1


async def test_concurrent_misses_share_a_single_fetch(http_client: httpx.AsyncClient) -> None:
    with TestIssuer() as issuer:
        cache = JwksCache(issuer.jwks_url, http_client)
        kid = issuer.signing_key.kid or ""

        keys = await asyncio.gather(*(cache.get(kid) for _ in range(100)))

        assert all(key is not None for key in keys)
        assert issuer.fetch_count == 1


async def test_failed_fetch_keeps_the_previous_keys_and_is_logged(
    http_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="common.auth.jwks")
    with TestIssuer() as issuer:
        kid = issuer.signing_key.kid or ""
        cache = JwksCache(issuer.jwks_url, http_client, refetch_cooldown_seconds=0.01)
        assert await cache.get(kid) is not None
        issuer.stop()
        await anyio.sleep(0.05)  # one bounded wait: just past the cooldown

        assert await cache.get("unknown") is None

        assert cache.fetch_count == 2
        assert await cache.get(kid) is not None
        assert "JWKS fetch from" in caplog.text


async def test_only_asymmetric_signing_keys_with_a_kid_are_kept(http_client: httpx.AsyncClient) -> None:
    with TestIssuer() as issuer:
        issuer.publish(OctKey.generate_key(256).as_dict(kid="oct-1"))
        issuer.publish(RSAKey.generate_key(2048).as_dict(private=False))
        issuer.publish(RSAKey.generate_key(2048).as_dict(private=False, kid="enc-1", use="enc"))
        issuer.publish({"kty": "RSA", "kid": "broken-1", "n": "AQAB"})
        issuer.publish({"kty": ["RSA"], "kid": "odd-1"})
        cache = JwksCache(issuer.jwks_url, http_client)

        assert await cache.get(issuer.signing_key.kid or "") is not None
        assert [await cache.get(kid) for kid in ("oct-1", "enc-1", "broken-1", "odd-1")] == [None] * 4
        assert issuer.fetch_count == 1
