"""Fixtures for the security checklist: components served for real on 127.0.0.1, an issuer, a client.

Tests that rotate keys, count JWKS fetches or need another auth profile start their own issuer
and served component (`serve_prometheus_mcp`, `serve_registry`), so the shared ones stay
predictable.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator

import httpx
import pytest
from joserfc.jwk import RSAKey
from support.backends import PrometheusProcess
from support.hostile_tokens import RecordingServer
from support.issuer import TestIssuer
from support.served import ServedComponent

ServeFactory = Callable[..., ServedComponent]


@pytest.fixture(scope="module")
def serve_prometheus_mcp(prometheus: PrometheusProcess, tmp_path_factory: pytest.TempPathFactory) -> ServeFactory:
    """`serve_prometheus_mcp(issuer, **env)`: a prometheus-mcp (not yet started) trusting `issuer`.

    `env` adds or overrides settings (`SRE_AUTH_PROFILE="keycloak"`); use it as a context manager.
    """

    def serve(issuer: TestIssuer, **env: str) -> ServedComponent:
        settings = {
            "PROMETHEUS_URL": prometheus.url,
            "SRE_AUTH_ISSUER": issuer.issuer,
            "SRE_AUTH_JWKS_URL": issuer.jwks_url,
            # Attack rows send hundreds of requests from one address; row 38 sets its own rate.
            "SRE_REQUESTS_PER_SECOND": "1000000",
            **env,
        }
        return ServedComponent("prometheus-mcp", settings, tmp_path_factory.mktemp("served"))

    return serve


@pytest.fixture(scope="module")
def serve_registry(tmp_path_factory: pytest.TempPathFactory) -> ServeFactory:
    """`serve_registry(**env)`: a registry (not yet started) with its own data directory and embedded issuer.

    Its per-caller request rate is unlimited unless `env` sets `SRE_REQUESTS_PER_SECOND`, so
    that floods of hostile tokens meet the token checks rather than the rate limit.
    """

    def serve(**env: str) -> ServedComponent:
        settings = {
            "SRE_DATA_DIR": str(tmp_path_factory.mktemp("registry-data")),
            "SRE_REQUESTS_PER_SECOND": "1000000",
            **env,
        }
        return ServedComponent("registry", settings, tmp_path_factory.mktemp("served"))

    return serve


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    """The issuer the shared `served` component trusts; never rotated."""
    with TestIssuer() as running:
        yield running


@pytest.fixture(scope="module")
def served(serve_prometheus_mcp: ServeFactory, issuer: TestIssuer) -> Iterator[ServedComponent]:
    """prometheus-mcp with default auth settings (rfc9068 profile, 30 s leeway)."""
    with serve_prometheus_mcp(issuer) as component:
        yield component


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    # trust_env=False: a proxy from the environment must not sit between us and 127.0.0.1.
    with httpx.Client(timeout=10.0, trust_env=False) as client:
        yield client


@pytest.fixture
def attacker() -> Iterator[tuple[RecordingServer, RSAKey]]:
    """A key no issuer published, and a server on 127.0.0.1 publishing it as a JWKS."""
    key = RSAKey.generate_key(2048, parameters={"kid": f"attacker-{secrets.token_hex(4)}"})
    server = RecordingServer(json.dumps({"keys": [key.as_dict(private=False)]}).encode())
    yield server, key
    server.close()


@pytest.fixture(scope="module")
def key_host() -> Iterator[tuple[RecordingServer, RSAKey]]:
    """A key no issuer published, offered in token headers, and the host that must never be asked for it."""
    key = RSAKey.generate_key(2048, parameters={"kid": f"attacker-{secrets.token_hex(4)}"})
    server = RecordingServer(json.dumps({"keys": [key.as_dict(private=False)]}).encode())
    yield server, key
    server.close()
