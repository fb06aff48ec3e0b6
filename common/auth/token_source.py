"""Access tokens for calling other components: OAuth2 client credentials, one token per audience.

`TokenSource` asks the authorization server's token endpoint for a token whose audience is the
resource being called (RFC 8707 `resource`), caches it per (audience, scopes) and renews it
`refresh_margin` seconds before it expires; concurrent callers share one request. A token the
resource refuses (401) is dropped and fetched again once. A component only ever sends tokens it
obtained itself: nothing here reads or forwards a token it received (the checklist's rule).

`bearer_auth()` gives an `httpx.Auth` (a2a-sdk, ADK, our own clients) and `bearer_auth2()` an
`httpx2.Auth` (the mcp client).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import httpx
import httpx2
from pydantic import Field, SecretStr

from common.errors import BackendRejected, BackendUnavailable
from common.settings import FrozenModel, ServeSettings

__all__ = ["ClientCredentials", "TokenSource"]

logger = logging.getLogger(__name__)


class ClientCredentials(FrozenModel):
    """This component's identity at the authorization server."""

    token_url: str = Field(description="Token endpoint, e.g. http://127.0.0.1:8700/oauth/token.")
    client_id: str
    client_secret: SecretStr
    auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"

    @classmethod
    def of_component(cls, serve: ServeSettings) -> ClientCredentials | None:
        """The component's own client (SRE_CLIENT_*), at `<issuer>/oauth/token` unless told; None without one."""
        identity = serve.identity
        if identity is None:
            return None
        issuer = (serve.auth.issuer or serve.registry_url).rstrip("/")
        return cls(
            token_url=identity.token_url or f"{issuer}/oauth/token",
            client_id=identity.id,
            client_secret=identity.secret,
        )


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: float
    #: The scopes granted, when the token response lists them (RFC 6749 5.1 lets it leave them out).
    scopes: frozenset[str] | None = None


class TokenSource:
    def __init__(
        self,
        credentials: ClientCredentials,
        http_client: httpx.AsyncClient,
        *,
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.credentials = credentials
        self._http = http_client
        self._margin = refresh_margin
        self._clock = clock
        self._tokens: dict[tuple[str, tuple[str, ...]], _Token] = {}
        self._locks: dict[tuple[str, tuple[str, ...]], asyncio.Lock] = {}
        #: Token requests sent so far (for tests and metrics).
        self.requests = 0

    async def token(self, audience: str, scopes: Sequence[str] = ()) -> str:
        """A valid access token for `audience` with `scopes` (all the client's scopes when empty)."""
        key = (audience, tuple(sorted(scopes)))
        cached = self._tokens.get(key)
        if cached is not None and cached.expires_at - self._margin > self._clock():
            return cached.value
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(key)
            if cached is not None and cached.expires_at - self._margin > self._clock():
                return cached.value
            token = await self._request(audience, key[1])
            self._tokens[key] = token
            return token.value

    async def granted_scopes(self, audience: str, scopes: Sequence[str] = ()) -> frozenset[str] | None:
        """The scopes of the client's token for `audience`, as the token response listed them; None if it did not."""
        await self.token(audience, scopes)
        token = self._tokens.get((audience, tuple(sorted(scopes))))  # None if invalidated meanwhile
        return token.scopes if token is not None else None

    def invalidate(self, audience: str, scopes: Sequence[str] = ()) -> None:
        self._tokens.pop((audience, tuple(sorted(scopes))), None)

    def bearer_auth(self, audience: str, scopes: Sequence[str] = ()) -> httpx.Auth:
        return _HttpxBearer(self, audience, tuple(scopes))

    def bearer_auth2(self, audience: str, scopes: Sequence[str] = ()) -> httpx2.Auth:
        return _Httpx2Bearer(self, audience, tuple(scopes))

    async def _request(self, audience: str, scopes: tuple[str, ...]) -> _Token:
        creds = self.credentials
        form = {"grant_type": "client_credentials", "resource": audience}
        if scopes:
            form["scope"] = " ".join(scopes)
        headers = {}
        if creds.auth_method == "client_secret_basic":
            headers["Authorization"] = _basic(creds.client_id, creds.client_secret.get_secret_value())
        else:
            form |= {"client_id": creds.client_id, "client_secret": creds.client_secret.get_secret_value()}
        self.requests += 1
        try:
            response = await self._http.post(creds.token_url, data=form, headers=headers)
        except httpx.TransportError as exc:
            raise BackendUnavailable(
                f"The authorization server at {creds.token_url} could not be reached ({type(exc).__name__}). "
                "Check that the registry is running (REGISTRY_URL) or that SRE_AUTH_ISSUER is right.",
                backend="authorization-server",
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or "access_token" not in body:
            error = body.get("error", f"HTTP {response.status_code}") if isinstance(body, dict) else "invalid response"
            described = str(body.get("error_description", "")).rstrip(".") if isinstance(body, dict) else ""
            raise BackendRejected(
                f"The authorization server refused a token for client {creds.client_id!r} and audience {audience!r}: "
                f"{error}{': ' + described if described else ''}. Check the client's secret and allowed scopes "
                "(sre auth list-clients) and that the audience is a registered resource.",
                backend="authorization-server",
                status_code=response.status_code,
            )
        lifetime = float(body.get("expires_in", 300))
        granted = body.get("scope")
        return _Token(
            value=str(body["access_token"]),
            expires_at=self._clock() + lifetime,
            scopes=frozenset(granted.split()) if isinstance(granted, str) else None,
        )


def _basic(client_id: str, secret: str) -> str:
    # RFC 6749 2.3.1: both parts are form-urlencoded before the Basic encoding.
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


class _BearerFlow:
    """The auth flow shared by the httpx and httpx2 adapters (their request types differ only in name)."""

    def __init__(self, source: TokenSource, audience: str, scopes: tuple[str, ...]) -> None:
        self._source, self._audience, self._scopes = source, audience, scopes

    async def async_auth_flow(self, request: Any) -> AsyncGenerator[Any, Any]:
        request.headers["Authorization"] = f"Bearer {await self._source.token(self._audience, self._scopes)}"
        response = yield request
        if response.status_code == 401:
            # The resource may have seen a key rotation or a revoked token: one fresh try.
            self._source.invalidate(self._audience, self._scopes)
            request.headers["Authorization"] = f"Bearer {await self._source.token(self._audience, self._scopes)}"
            yield request


class _HttpxBearer(_BearerFlow, httpx.Auth):
    pass


class _Httpx2Bearer(_BearerFlow, httpx2.Auth):
    pass
