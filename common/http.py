"""The one way to build outbound HTTP clients: pooled, with timeouts, retries and a User-Agent.

Retries cover what is safe to repeat: connection failures and 502/503/504 answers, for
idempotent requests only (GET/HEAD/OPTIONS, or any request marked with the `idempotent`
extension, like a Prometheus query sent as a POST form). Timeouts are never retried: a slow
query retried is a slower query.
"""

from __future__ import annotations

import logging
import random
import ssl
from collections.abc import Mapping

import anyio
import httpx

from common import __version__
from common.http1 import Http1Transport
from common.settings import Upstream

__all__ = ["IDEMPOTENT", "RetryTransport", "create_http_client", "upstream_client", "user_agent"]

logger = logging.getLogger(__name__)

IDEMPOTENT = "idempotent"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_RETRY_STATUSES = frozenset({502, 503, 504})


def user_agent() -> str:
    return f"sre-federation/{__version__}"


class RetryTransport(httpx.AsyncBaseTransport):
    """Retries idempotent requests on connection errors and 502/503/504, with jittered backoff."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, attempts: int = 3, backoff: float = 0.1) -> None:
        self._inner = inner
        self._attempts = max(1, attempts)
        self._backoff = backoff

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        retryable = request.method in _SAFE_METHODS or bool(request.extensions.get(IDEMPOTENT))
        attempts = self._attempts if retryable else 1
        for attempt in range(1, attempts + 1):
            try:
                response = await self._inner.handle_async_request(request)
            except (httpx.ConnectError, httpx.RemoteProtocolError):
                if attempt == attempts:
                    raise
            else:
                if response.status_code not in _RETRY_STATUSES or attempt == attempts:
                    return response
                await response.aclose()
            delay = self._backoff * 2 ** (attempt - 1) * (0.5 + random.random())  # noqa: S311 - jitter, not crypto
            logger.debug("Retrying %s %s in %.2fs (attempt %d)", request.method, request.url.path, delay, attempt + 1)
            await anyio.sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")

    async def aclose(self) -> None:
        await self._inner.aclose()


def create_http_client(
    *,
    base_url: str = "",
    timeout: float = 30.0,
    headers: Mapping[str, str] | None = None,
    auth: httpx.Auth | None = None,
    verify: ssl.SSLContext | bool = True,
    attempts: int = 3,
    max_connections: int = 50,
    lean: bool = False,
) -> httpx.AsyncClient:
    """`lean`: on `common.http1.Http1Transport` (HTTP/1.1 only, a fraction of httpcore's CPU per request)."""
    transport: httpx.AsyncBaseTransport
    if lean:
        transport = Http1Transport(ssl_context=httpx.create_ssl_context(verify=verify), max_connections=max_connections)
    else:
        transport = httpx.AsyncHTTPTransport(
            verify=verify,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        headers={"User-Agent": user_agent(), **(headers or {})},
        auth=auth,
        transport=RetryTransport(transport, attempts=attempts),
        follow_redirects=False,
    )


def upstream_client(
    upstream: Upstream, *, timeout: float = 30.0, attempts: int = 3, lean: bool = False
) -> httpx.AsyncClient:
    """A client for `upstream` carrying its credentials, tenant header and TLS settings."""
    headers = {name: value.get_secret_value() for name, value in upstream.headers.items()}
    if upstream.tenant:
        headers["X-Scope-OrgID"] = upstream.tenant
    if upstream.bearer_token is not None:
        headers["Authorization"] = f"Bearer {upstream.bearer_token.get_secret_value()}"
    auth: httpx.Auth | None = None
    if upstream.username is not None:
        password = upstream.password.get_secret_value() if upstream.password else ""
        auth = httpx.BasicAuth(upstream.username, password)
    verify: ssl.SSLContext | bool = True
    if upstream.insecure_skip_verify:
        verify = False
    elif upstream.ca_file is not None or upstream.cert_file is not None:
        verify = ssl.create_default_context(cafile=str(upstream.ca_file) if upstream.ca_file else None)
        if upstream.cert_file is not None:
            verify.load_cert_chain(str(upstream.cert_file), str(upstream.key_file) if upstream.key_file else None)
    return create_http_client(
        base_url=upstream.url, timeout=timeout, headers=headers, auth=auth, verify=verify, attempts=attempts, lean=lean
    )
