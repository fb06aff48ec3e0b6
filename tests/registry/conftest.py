"""Fixtures for the registry: `sre serve registry` as a real process trusting a test issuer."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from support.issuer import TestIssuer
from support.served import ServedComponent

ServeRegistry = Callable[..., ServedComponent]

WRITE = "registry:write"  # fixtures only: test modules cannot import this conftest by name


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    with TestIssuer() as running:
        yield running


@pytest.fixture(scope="module")
def serve_registry(issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory) -> ServeRegistry:
    """`serve_registry(**env)`: a registry (not yet started) with its own SQLite file, trusting `issuer`."""

    def serve(**env: str) -> ServedComponent:
        settings = {
            "SRE_AUTH_ISSUER": issuer.issuer,
            "SRE_AUTH_JWKS_URL": issuer.jwks_url,
            "SRE_DATA_DIR": str(tmp_path_factory.mktemp("registry-data")),
            **env,
        }
        return ServedComponent("registry", settings, tmp_path_factory.mktemp("served"))

    return serve


@pytest.fixture(scope="module")
def registry(serve_registry: ServeRegistry) -> Iterator[ServedComponent]:
    """A registry with default settings, shared by the tests of a module."""
    with serve_registry() as component:
        yield component


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    # trust_env=False: a proxy from the environment must not sit between us and 127.0.0.1.
    with httpx.Client(timeout=10.0, trust_env=False) as client:
        yield client


@pytest.fixture(scope="module")
def writer(issuer: TestIssuer, registry: ServedComponent) -> dict[str, str]:
    """Headers of a caller allowed to register (scope registry:write, audience the registry)."""
    return {"Authorization": f"Bearer {issuer.mint(registry.url, [WRITE])}"}


@pytest.fixture(scope="module")
def reader(issuer: TestIssuer, registry: ServedComponent) -> dict[str, str]:
    """Headers of a caller with a valid registry token but no scope."""
    return {"Authorization": f"Bearer {issuer.mint(registry.url, [], claims={'client_id': 'reader'})}"}
