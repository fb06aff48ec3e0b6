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


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresProcess]:
    """A real PostgreSQL server for the whole run (storage tests run on SQLite and on it): one `initdb` and start,
    5-10 s on a busy 2-core machine, rather than one per module. Tests stay apart by database: each takes a
    `fresh_database()` or a `create_database()` of a name of its own."""
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
