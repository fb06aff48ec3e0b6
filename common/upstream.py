"""What every client of a backend's HTTP API shares: one deadline per call, bounded reads,
transport failures as `BackendError`s that say what to do, and a metric per request.

A client subclasses `UpstreamClient`, names its backend kind and settings in the class
attributes, and parses each answer in the `parse` callable it hands to `_request`; parsing
raises `BackendError`s for answers the API calls errors. Whoever opens a client closes it, in
`async with` (a server's `common.mcp.backends.Backends`, or `contextlib.aclosing` for one client).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import anyio
import httpx

from common.errors import BackendError, BackendRejected, BackendTimeout, BackendUnavailable
from common.http import IDEMPOTENT, upstream_client
from common.metrics import ServerMetrics
from common.redaction import redact
from common.settings import Upstream

__all__ = ["UpstreamClient"]

T = TypeVar("T")


class UpstreamClient:
    #: How messages name the backend ("Prometheus", "Loki").
    kind: ClassVar[str]
    #: The settings a person changes to fix a failure (e.g. "PROMETHEUS_MCP", "PROMETHEUS_URL").
    settings_prefix: ClassVar[str]
    url_setting: ClassVar[str]
    #: How to make a query cheaper, for timeouts and oversized answers.
    narrowing: ClassVar[str]

    def __init__(
        self,
        upstream: Upstream,
        *,
        timeout: float,
        max_response_bytes: int = 64_000_000,
        http_client: httpx.AsyncClient | None = None,
        metrics: ServerMetrics | None = None,
    ) -> None:
        self.upstream = upstream
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self._http = http_client or upstream_client(upstream, timeout=timeout)
        self._metrics = metrics

    @property
    def name(self) -> str:
        return self.upstream.name

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        parse: Callable[[httpx.Response, bytes], T],
        *,
        endpoint: str,
        params: Sequence[tuple[str, str]] = (),
        data: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        slack: float = 0.0,
        idempotent: bool = True,
    ) -> T:
        """Send one request and parse its answer, all within `timeout` (+ `slack`, for backends
        that are told the timeout themselves and should be the first to give up).

        Only an `idempotent` request is retried after a transport failure: a write that may have
        reached the backend (an approval request) must not be sent twice.
        """
        deadline = self.timeout + slack
        started = time.perf_counter()
        outcome = "error"
        try:
            # The deadline covers retries and reading the whole body.
            with anyio.fail_after(deadline):
                request = self._http.build_request(
                    method,
                    path,
                    params=list(params),
                    data=data,
                    content=content,
                    headers=dict(headers or {}),
                    timeout=deadline,
                    extensions={IDEMPOTENT: idempotent},
                )
                response = await self._http.send(request, stream=True)
                try:
                    raw = await self._read_bounded(response)
                finally:
                    await response.aclose()
            answer = parse(response, raw)
            outcome = "ok"
            return answer
        except (TimeoutError, httpx.TimeoutException):
            outcome = "timeout"
            raise BackendTimeout(
                f"{self.kind} backend {self.name!r} did not answer within {self.timeout:g}s. {self.narrowing} "
                f"or raise {self.settings_prefix}_TIMEOUT_SECONDS.",
                backend=self.name,
            ) from None
        except ssl.SSLError as exc:
            # Under TLS 1.3 a server refusing our client certificate says so in an alert that
            # arrives after the handshake, while the response is read: httpx does not wrap it.
            outcome = "unavailable"
            raise BackendUnavailable(
                f"{self.kind} backend {self.name!r} at {self.upstream.url} could not be reached: it ended the TLS "
                f"session ({exc.reason or exc}). {self._client_certificate_hint()}",
                backend=self.name,
            ) from None
        except httpx.TransportError as exc:
            outcome = "unavailable"
            detail = redact(str(exc)) or "no detail"
            if "CERTIFICATE_VERIFY_FAILED" in detail:
                hint = (
                    f"Its TLS certificate is not trusted: set the backend's CA file ({self.settings_prefix}_CA_FILE)."
                )
            elif "ALERT_CERTIFICATE_REQUIRED" in detail or "ALERT_BAD_CERTIFICATE" in detail:
                hint = self._client_certificate_hint()
            else:
                hint = (
                    f"Check that it is running and that its URL is right ({self.url_setting} or "
                    f"{self.settings_prefix}_BACKENDS)."
                )
                if self.upstream.url.startswith("https:") and self.upstream.cert_file is None:
                    # A server that requires a client certificate may just close the connection.
                    hint += f" If it requires a client certificate: {self._client_certificate_hint()}"
            raise BackendUnavailable(
                f"{self.kind} backend {self.name!r} at {self.upstream.url} could not be reached "
                f"({type(exc).__name__}: {detail}). {hint}",
                backend=self.name,
            ) from None
        except BackendError as exc:
            outcome = f"http_{exc.status_code}" if exc.status_code else "invalid"
            raise
        finally:
            if self._metrics is not None:
                self._metrics.record_upstream(self.name, endpoint, outcome, time.perf_counter() - started)

    def _client_certificate_hint(self) -> str:
        return (
            "It wants a client certificate it accepts: set the backend's certificate and key "
            f"({self.settings_prefix}_CERT_FILE, {self.settings_prefix}_KEY_FILE)."
        )

    async def _read_bounded(self, response: httpx.Response) -> bytes:
        # A careless query can make the backend answer gigabytes; stop reading well before that
        # threatens this process.
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > self.max_response_bytes:
                raise BackendRejected(
                    f"{self.kind} backend {self.name!r} answered with more than {self.max_response_bytes:,} bytes; "
                    f"the answer was dropped. {self.narrowing} or aggregate it (sum by, topk).",
                    backend=self.name,
                    kind="limit",
                )
        return bytes(body)
