"""`sre doctor`: is the configuration valid, and does every configured backend answer?"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass

import anyio

from common.auth import ClientCredentials, TokenSource
from common.errors import SreError
from common.http import create_http_client
from common.settings import SettingsSource
from servers.controlplane_mcp.settings import ControlPlaneMcpSettings
from servers.loki_mcp.client import LokiClient
from servers.loki_mcp.settings import LokiMcpSettings
from servers.prometheus_mcp.client import PrometheusClient
from servers.prometheus_mcp.settings import PrometheusMcpSettings

__all__ = ["Check", "run_checks"]

_CHECK_TIMEOUT = 5.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True

    def line(self) -> str:
        mark = "ok  " if self.ok else ("FAIL" if self.required else "warn")
        return f"[{mark}] {self.name}: {self.detail}"


async def run_checks(source: SettingsSource) -> list[Check]:
    checks: list[Check] = []
    try:
        prometheus = PrometheusMcpSettings.from_source(source)
    except SreError as exc:
        return [Check("prometheus-mcp configuration", False, str(exc))]
    checks.append(
        Check(
            "prometheus-mcp configuration",
            True,
            f"{len(prometheus.backends)} backend(s), serving on {prometheus.serve.base_url}/mcp",
        )
    )
    for upstream in prometheus.backends:
        client = PrometheusClient(upstream, timeout=_CHECK_TIMEOUT)
        checks.append(await _probe(f"prometheus backend {upstream.name!r} ({upstream.url})", _query_one(client)))
        await client.aclose()
    checks += await _loki_checks(source)
    checks += await _controlplane_checks(source)
    auth = prometheus.serve.auth
    if auth.disabled:
        checks.append(Check("token issuer", True, "authentication disabled (loopback only)"))
    else:
        jwks_url = auth.jwks_url or f"{(auth.issuer or '').rstrip('/')}/jwks.json"
        checks.append(
            await _probe(f"token issuer JWKS ({jwks_url})", _fetch_jwks(jwks_url), required=False),
        )
    credentials = ClientCredentials.of_component(prometheus.serve)
    if credentials is not None:
        registry = prometheus.serve.registry_url
        checks.append(
            await _probe(
                f"client {credentials.client_id!r} gets a token for the registry ({credentials.token_url})",
                _token(credentials, registry),
            )
        )
    return checks


async def _loki_checks(source: SettingsSource) -> list[Check]:
    try:
        loki = LokiMcpSettings.from_source(source)
    except SreError as exc:
        return [Check("loki-mcp configuration", False, str(exc))]
    if loki.uses_local_store:
        return [Check("loki-mcp configuration", True, f"no LOKI_URL: embedded log store at {loki.local.path}")]
    checks = [Check("loki-mcp configuration", True, f"{len(loki.backends)} Loki backend(s)")]
    for upstream in loki.backends:
        client = LokiClient(upstream, timeout=_CHECK_TIMEOUT)
        checks.append(await _probe(f"loki backend {upstream.name!r} ({upstream.url})", _loki_labels(client)))
        await client.aclose()
    return checks


async def _controlplane_checks(source: SettingsSource) -> list[Check]:
    try:
        settings = ControlPlaneMcpSettings.from_source(source)
    except SreError as exc:
        return [Check("controlplane-mcp configuration", False, str(exc))]
    url = settings.backend.url
    # Not required: metrics and logs work without a control plane, only "what changed?" does not.
    return [await _probe(f"control plane ({url})", _openapi_operations(url), required=False)]


async def _openapi_operations(url: str) -> str:
    async with create_http_client(timeout=_CHECK_TIMEOUT, attempts=1) as http:
        response = await http.get(f"{url}/openapi.json")
        response.raise_for_status()
        paths = response.json().get("paths", {})
    return f"answers, {sum(len(item) for item in paths.values())} API operations in its OpenAPI document"


async def _loki_labels(client: LokiClient) -> str:
    end_ns = time.time_ns()
    labels = await client.labels(start_ns=end_ns - 3600 * 10**9, end_ns=end_ns)
    return f"answers queries ({len(labels)} label names in the last hour)"


async def _token(credentials: ClientCredentials, audience: str) -> str:
    async with create_http_client(timeout=_CHECK_TIMEOUT, attempts=1) as http:
        token = await TokenSource(credentials, http).token(audience)
    return f"token issued ({len(token)} bytes)"


async def _query_one(client: PrometheusClient) -> str:
    answer = await client.query("vector(1)", time=time.time())
    return f"answers queries ({len(answer.data.get('result', []))} sample for vector(1))"


async def _fetch_jwks(url: str) -> str:
    async with create_http_client(timeout=_CHECK_TIMEOUT, attempts=1) as http:
        response = await http.get(url)
        response.raise_for_status()
        keys = response.json().get("keys", [])
    return f"{len(keys)} signing key(s) published"


async def _probe(name: str, probe: Awaitable[str], *, required: bool = True) -> Check:
    try:
        with anyio.fail_after(_CHECK_TIMEOUT + 1):
            return Check(name, True, await probe, required)
    except SreError as exc:
        return Check(name, False, str(exc), required)
    except TimeoutError:
        return Check(name, False, f"no answer within {_CHECK_TIMEOUT:g}s", required)
    except Exception as exc:
        return Check(name, False, f"{type(exc).__name__}: {exc}", required)
