"""Fixtures of the integration tests: a real registry with its embedded authorization server, and
prometheus-mcp registering itself with its own client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.backends import PrometheusProcess
from support.identity_platform import Platform
from support.served import ServedComponent

from registry.clients import ClientStore


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data_dir = tmp_path_factory.mktemp("sre-data")
    clients = ClientStore(data_dir / "clients.toml")
    mcp_secret = clients.add_client("prometheus-mcp", ["registry:write"])
    caller_secret = clients.add_client("caller", ["metrics:read"])
    # A rotated key must be published for longer than verifiers wait between JWKS fetches;
    # both are shortened together so the test does not wait a minute.
    env = {
        "SRE_DATA_DIR": str(data_dir),
        "REGISTRY_KEY_PUBLISH_DELAY_SECONDS": "2",
        "SRE_AUTH_JWKS_REFETCH_COOLDOWN_SECONDS": "1",
    }
    with ServedComponent("registry", env, tmp_path_factory.mktemp("logs")) as registry:
        (data_dir / "prometheus-mcp.secret").write_text(mcp_secret)
        yield Platform(data_dir, registry, caller_secret)


@pytest.fixture(scope="module")
def prometheus_mcp(
    platform: Platform, prometheus: PrometheusProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedComponent]:
    env = {
        "PROMETHEUS_URL": prometheus.url,
        "SRE_AUTH_ISSUER": platform.registry.url,
        "REGISTRY_URL": platform.registry.url,
        "SRE_CLIENT_ID": "prometheus-mcp",
        "SRE_CLIENT_SECRET": (platform.data_dir / "prometheus-mcp.secret").read_text(),
        "SRE_AUTH_JWKS_REFETCH_COOLDOWN_SECONDS": "1",
    }
    with ServedComponent("prometheus-mcp", env, tmp_path_factory.mktemp("logs")) as component:
        yield component
