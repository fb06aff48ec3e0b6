"""Fixtures for the control plane: the app served on 127.0.0.1 over SQLite and a real PostgreSQL.

`controlplane` is module-scoped and parametrized: every test of a module that uses it runs
once against SQLite and once against PostgreSQL (skipped when PostgreSQL is not installed).
The app runs in-process (uvicorn in a thread) so tests can move its clock and make its
executor fail; tokens come from a test issuer whose audience is the app's URL.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from support.asgi_server import ServedApp
from support.backends import free_port
from support.controlplane_harness import Clock, ControlPlane, SwitchableExecutor, settings_for
from support.issuer import TestIssuer
from support.postgres import PostgresProcess

from common.http import create_http_client
from controlplane.app import create_app


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    with TestIssuer() as running:
        yield running


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('controlplane') / 'controlplane.db'}"
    postgres: PostgresProcess = request.getfixturevalue("postgres")
    return postgres.fresh_database()


@pytest.fixture(scope="module")
def controlplane(
    issuer: TestIssuer, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    from common.auth.resource import resource_verifier

    port = free_port()
    settings = settings_for(
        issuer, port, tmp_path_factory.mktemp("controlplane-data"), CONTROLPLANE_DATABASE_URL=database_url
    )
    clock = Clock()
    executor = SwitchableExecutor()
    verifier = resource_verifier(settings.serve, settings.serve.base_url, create_http_client(timeout=10.0))
    app = create_app(settings, verifier=verifier, executor=executor, clock=clock)
    with ServedApp(app, port=port), httpx.Client(timeout=20.0, trust_env=False) as http:
        name = "postgresql" if database_url.startswith("postgresql") else "sqlite"
        yield ControlPlane(settings.serve.base_url, issuer, clock, executor, http, name)
