"""Fixtures shared by the whole suite: real metrics backends loaded with a known history."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from support.backends import PrometheusProcess, VictoriaMetricsProcess
from support.metrics_dataset import Dataset, build_dataset
from support.postgres import PostgresProcess


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresProcess]:
    """A real PostgreSQL server for the tests of one module (storage tests run on SQLite and on it)."""
    if PostgresProcess.binaries() is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed: apt-get install postgresql")
    with PostgresProcess() as server:
        yield server


@pytest.fixture(scope="session")
def metrics_dataset() -> Dataset:
    return build_dataset(int(time.time()) // 60 * 60)


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory, metrics_dataset: Dataset) -> Iterator[PrometheusProcess]:
    with PrometheusProcess(tmp_path_factory.mktemp("prometheus"), metrics_dataset, default_rules=True) as backend:
        yield backend


@pytest.fixture(scope="session")
def victoria_metrics(
    tmp_path_factory: pytest.TempPathFactory, metrics_dataset: Dataset
) -> Iterator[VictoriaMetricsProcess]:
    with VictoriaMetricsProcess(tmp_path_factory.mktemp("victoria-metrics"), metrics_dataset) as backend:
        yield backend


@pytest.fixture(params=["prometheus", "victoria_metrics"])
def backend(request: pytest.FixtureRequest) -> PrometheusProcess | VictoriaMetricsProcess:
    """Each test using it runs against a real Prometheus and a real VictoriaMetrics."""
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]
