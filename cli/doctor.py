"""`sre doctor`: is every component's configuration valid, and does every configured backend answer?"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from common.auth import ClientCredentials, TokenSource
from common.components import COMPONENTS
from common.errors import SreError
from common.http import create_http_client
from common.settings import ServeSettings, SettingsSource
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
    """Every component's configuration, in its records' order, each followed by probes of what it reaches;
    then the token issuer and, when configured, the component client's token."""
    checks: list[Check] = []
    for component in COMPONENTS.values():
        try:
            settings = component.load_settings(source)
        except SreError as exc:
            checks.append(Check(f"{component.name} configuration", False, str(exc)))
            continue
        probe = _PROBES.get(component.name)
        checks += await probe(settings) if probe else [Check(f"{component.name} configuration", True, "valid")]
    # Every HTTP component reads the same SRE_AUTH_* and SRE_CLIENT_* keys: prometheus-mcp's stand for all.
    try:
        serve = ServeSettings.from_source(source, default_port=COMPONENTS["prometheus-mcp"].port)
    except SreError as exc:
        return [*checks, Check("token validation and client (SRE_AUTH_*, SRE_CLIENT_*)", False, str(exc))]
    auth = serve.auth
    if auth.disabled:
        checks.append(Check("token issuer", True, "authentication disabled (loopback only)"))
    else:
        jwks_url = auth.jwks_url or f"{(auth.issuer or '').rstrip('/')}/jwks.json"
        checks.append(
            await _probe(f"token issuer JWKS ({jwks_url})", _fetch_jwks(jwks_url), required=False),
        )
    credentials = ClientCredentials.of_component(serve)
    if credentials is not None:
        checks.append(
            await _probe(
                f"client {credentials.client_id!r} gets a token for the registry ({credentials.token_url})",
                _token(credentials, serve.registry_url),
            )
        )
    return checks


async def _prometheus_checks(prometheus: PrometheusMcpSettings) -> list[Check]:
    checks = [
        Check(
            "prometheus-mcp configuration",
            True,
            f"{len(prometheus.backends)} backend(s), serving on {prometheus.serve.base_url}/mcp",
        )
    ]
    for upstream in prometheus.backends:
        client = PrometheusClient(upstream, timeout=_CHECK_TIMEOUT)
        checks.append(await _probe(f"prometheus backend {upstream.name!r} ({upstream.url})", _query_one(client)))
        await client.aclose()
    return checks


async def _loki_checks(loki: LokiMcpSettings) -> list[Check]:
    if loki.uses_local_store:
        return [Check("loki-mcp configuration", True, f"no LOKI_URL: embedded log store at {loki.local.path}")]
    checks = [Check("loki-mcp configuration", True, f"{len(loki.backends)} Loki backend(s)")]
    for upstream in loki.backends:
        client = LokiClient(upstream, timeout=_CHECK_TIMEOUT)
        checks.append(await _probe(f"loki backend {upstream.name!r} ({upstream.url})", _loki_labels(client)))
        await client.aclose()
    return checks


async def _controlplane_checks(settings: ControlPlaneMcpSettings) -> list[Check]:
    url = settings.backend.url
    # Not required: metrics and logs work without a control plane, only "what changed?" does not.
    return [await _probe(f"control plane ({url})", _openapi_operations(url), required=False)]


#: What a component reaches, probed once its configuration is valid; any other component's check is its settings.
_PROBES: dict[str, Callable[[Any], Awaitable[list[Check]]]] = {
    "prometheus-mcp": _prometheus_checks,
    "loki-mcp": _loki_checks,
    "controlplane-mcp": _controlplane_checks,
}


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
