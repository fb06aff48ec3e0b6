"""Verification keys from one configured JWKS URL, looked up by `kid`.

Contract of `JwksCache`:
- keys come only from `jwks_url`, fetched with the injected `httpx.AsyncClient`; nothing in a
  token (`jku`, `x5u`, `jwk`, `x5c`) can add a key or a URL;
- only keys with a `kid`, an asymmetric `kty` (RSA, EC, OKP) and no `use` other than `sig` are
  kept, indexed by `kid` (the first of duplicate kids wins);
- the set is fetched on the first lookup and refetched when a `kid` is unknown, at most once per
  cooldown, so a flood of tokens with made-up kids costs at most one request per cooldown;
  concurrent misses wait on one lock and share that fetch;
- a failed fetch (network, status, size, JSON, no usable key) is logged and leaves the previous
  key set in place; it still counts against the cooldown so an unreachable issuer is not hammered.
"""

import asyncio
import json
import logging
import time
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

__all__ = ["JwksCache", "VerificationKey"]

logger = logging.getLogger(__name__)

VerificationKey = RSAKey | ECKey | OKPKey

_KEY_TYPES: dict[str, type[RSAKey] | type[ECKey] | type[OKPKey]] = {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}

#: A JWKS holds a handful of keys; anything far larger is a misconfiguration or an attack.
MAX_JWKS_BYTES = 256 * 1024


class JwksFetchError(Exception):
    """The JWKS could not be fetched or held no usable key."""


class JwksCache:
    """Keys of one JWKS URL by `kid`, refetched on a miss at most once per cooldown."""

    def __init__(
        self,
        jwks_url: str,
        http_client: httpx.AsyncClient,
        *,
        refetch_cooldown_seconds: float = 30.0,
    ) -> None:
        self._jwks_url = jwks_url
        self._http = http_client
        self._cooldown = refetch_cooldown_seconds
        self._keys: dict[str, VerificationKey] = {}
        self._lock = asyncio.Lock()
        self._last_fetch_started: float | None = None
        #: Fetch attempts so far, successful or not.
        self.fetch_count = 0

    async def get(self, kid: str) -> VerificationKey | None:
        """The key published under `kid`, or None if the JWKS does not (yet) have it."""
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            # Another task may have refreshed the set while this one waited for the lock.
            key = self._keys.get(kid)
            if key is not None:
                return key
            if self._in_cooldown():
                return None
            await self._refresh()
            return self._keys.get(kid)

    def _in_cooldown(self) -> bool:
        # A monotonic clock: wall-clock jumps must neither block refetching nor allow a storm.
        return self._last_fetch_started is not None and time.monotonic() - self._last_fetch_started < self._cooldown

    async def _refresh(self) -> None:
        self._last_fetch_started = time.monotonic()
        self.fetch_count += 1
        try:
            keys = _parse_jwks(await self._download())
        except (httpx.HTTPError, JwksFetchError) as exc:
            logger.warning("JWKS fetch from %s failed, keeping %d known keys: %s", self._jwks_url, len(self._keys), exc)
            return
        self._keys = keys
        logger.info("JWKS fetched from %s: %d usable keys", self._jwks_url, len(keys))

    async def _download(self) -> bytes:
        async with self._http.stream("GET", self._jwks_url, headers={"Accept": "application/json"}) as response:
            response.raise_for_status()
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise JwksFetchError(f"JWKS document exceeds {MAX_JWKS_BYTES} bytes")
        return bytes(body)


def _parse_jwks(body: bytes) -> dict[str, VerificationKey]:
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise JwksFetchError("JWKS document is not JSON") from exc
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise JwksFetchError("JWKS document has no `keys` list")
    keys: dict[str, VerificationKey] = {}
    for entry in entries:
        key = _import_entry(entry)
        if key is not None and key.kid is not None:
            keys.setdefault(key.kid, key)
    if not keys:
        raise JwksFetchError("JWKS document has no usable signing key")
    return keys


def _import_entry(entry: Any) -> VerificationKey | None:
    if not isinstance(entry, dict):
        return None
    kid, kty, use = entry.get("kid"), entry.get("kty"), entry.get("use")
    # Without a kid a key can never be selected; `oct` keys would turn a public JWKS into a
    # signing secret; `enc` keys are not for signatures.
    if not (isinstance(kid, str) and kid and isinstance(kty, str) and kty in _KEY_TYPES and use in (None, "sig")):
        return None
    try:
        return _KEY_TYPES[kty].import_key(entry)
    except (JoseError, ValueError, TypeError):
        logger.warning("Ignoring malformed %s key %r in the JWKS", kty, kid)
        return None
