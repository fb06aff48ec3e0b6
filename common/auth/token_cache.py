"""Verified bearer tokens remembered until they expire, so a client's every request is not verified anew.

`CachedVerifier` wraps a `TokenVerifier` (the `JwtVerifier` of one resource, so one audience):
a token it accepted is answered from memory, by the SHA-256 of the token, until the token's
`expires_at` (the end of the leeway the verifier grants past `exp`, the moment it would refuse
the token itself). A refused token is never remembered, so a flood of bad tokens costs what it
costs without the cache and cannot crowd out good ones any more than the LRU bound allows. At
most `max_entries` tokens are kept, least recently used forgotten first; forgetting a token only
means verifying it again.

What the cache does not change: there is no revocation list to consult (tokens are
self-contained JWTs, valid until `exp`), and the keys a token was checked against are never
withdrawn from the verifier's JWKS cache either, so an answer from memory is the answer the
verifier would give again, at any moment until `expires_at`.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

from mcp.server.auth.provider import AccessToken, TokenVerifier

__all__ = ["DEFAULT_MAX_ENTRIES", "CachedVerifier"]

#: Distinct live tokens remembered: a server's clients hold one token each at a time.
DEFAULT_MAX_ENTRIES = 1024


class CachedVerifier:
    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.verifier = verifier
        self.max_entries = max_entries
        self._clock = clock
        # SHA-256 of the token -> the access it grants; most recently used last.
        self._accepted: OrderedDict[bytes, AccessToken] = OrderedDict()

    async def verify_token(self, token: str) -> AccessToken | None:
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        access = self._accepted.get(key)
        if access is not None:
            if access.expires_at is not None and self._clock() < access.expires_at:
                self._accepted.move_to_end(key)
                return access
            del self._accepted[key]
        access = await self.verifier.verify_token(token)
        # A token without an expiry is never remembered: nothing would ever end its entry.
        if access is not None and access.expires_at is not None:
            self._accepted[key] = access
            while len(self._accepted) > self.max_entries:
                self._accepted.popitem(last=False)
        return access
