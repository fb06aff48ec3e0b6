"""The backend fixtures are real processes serving exactly the history tests/support/metrics_dataset.py
documents."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from support.backends import (
    SELF_SCRAPE_ALERT,
    SELF_SCRAPE_RECORD,
    PrometheusProcess,
    VictoriaMetricsProcess,
)
from support.eventually import eventually
from support.metrics_dataset import (
    ODD_TENANT,
    POINTS,
    Dataset,
    build_dataset,
    escape_label_value,
)

# Rules run every second; a few evaluations must fit, on a loaded CI machine too.
EVENTUALLY_TIMEOUT = 15.0


def instant(url: str, query: str, at: int) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/api/v1/query", params={"query": query, "time": at}, timeout=5.0)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]["result"]  # type: ignore[no-any-return]


def only_value(url: str, query: str, at: int) -> float:
    result = instant(url, query, at)
    assert len(result) == 1, result
    return float(result[0]["value"][1])


def test_dataset_covers_three_hours_at_one_minute_with_the_documented_edges() -> None:
    dataset = build_dataset(1_800_000_000 // 60 * 60)

    assert dataset.end - dataset.start == 10800
    assert dataset.split_at == dataset.end - 1800
    assert all(len(s.points) == POINTS == 181 for s in dataset.series)
    assert all(s.points[0][0] == dataset.start and s.points[-1][0] == dataset.end for s in dataset.series)
    checkout_errors = dataset.find("http_requests_total", service="checkout", code="500")
    assert checkout_errors.value_at(dataset.split_at) == 0
    assert checkout_errors.value_at(dataset.split_at + 60) == 30
    assert checkout_errors.value_at(dataset.end) == 900
    assert dataset.find("node_cpu_utilisation", service="search").value_at(dataset.end) == 0.50


def test_dataset_renders_one_family_per_type_line_and_ends_openmetrics_with_eof() -> None:
    dataset = build_dataset(1_800_000_000 // 60 * 60)

    openmetrics = dataset.openmetrics()
    exposition = dataset.prometheus_import_text()

    assert openmetrics.endswith("\n# EOF\n")
    assert "# TYPE http_requests counter\n" in openmetrics
    assert "# TYPE http_requests_total counter\n" in exposition
    assert f'queue_depth{{queue="orders"}} 180.0 {dataset.end}\n' in openmetrics
    assert f'queue_depth{{queue="orders"}} 180.0 {dataset.end * 1000}\n' in exposition
    assert 'tenant_info{tenant="a\\"}or vector(1)"} 1.0' in exposition
    assert exposition.count("# TYPE") == openmetrics.count("# TYPE") == 4


@pytest.mark.integration
def test_backend_serves_the_queue_depth_index_at_end(backend: Any, metrics_dataset: Dataset) -> None:
    assert only_value(backend.url, "queue_depth", metrics_dataset.end) == 180


@pytest.mark.integration
def test_backend_computes_the_checkout_success_rate_as_one_per_second(backend: Any, metrics_dataset: Dataset) -> None:
    rate = only_value(backend.url, 'rate(http_requests_total{service="checkout",code="200"}[5m])', metrics_dataset.end)

    assert rate == pytest.approx(1.0, abs=1e-9)


@pytest.mark.integration
def test_backend_shows_the_checkout_cpu_step_at_split(backend: Any, metrics_dataset: Dataset) -> None:
    query = 'node_cpu_utilisation{service="checkout"}'

    assert only_value(backend.url, query, metrics_dataset.split_at - 60) == 0.3
    assert only_value(backend.url, query, metrics_dataset.end) == 0.9


@pytest.mark.integration
def test_backend_matches_a_label_value_with_quotes_and_braces_exactly(backend: Any, metrics_dataset: Dataset) -> None:
    result = instant(backend.url, f'tenant_info{{tenant="{escape_label_value(ODD_TENANT)}"}}', metrics_dataset.end)

    assert [r["metric"]["tenant"] for r in result] == [ODD_TENANT]
    assert result[0]["value"][1] == "1"


@pytest.mark.integration
def test_backend_reports_a_version(backend: Any) -> None:
    assert backend.version[0].isdigit(), backend.version


@pytest.mark.integration
def test_prometheus_fires_the_self_scrape_alert(prometheus: PrometheusProcess) -> None:
    def firing() -> list[dict[str, Any]]:
        alerts = httpx.get(f"{prometheus.url}/api/v1/alerts", timeout=5.0).json()["data"]["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == SELF_SCRAPE_ALERT and a["state"] == "firing"]

    (alert,) = eventually(firing, timeout=EVENTUALLY_TIMEOUT, what=f"{SELF_SCRAPE_ALERT} to fire")

    assert alert["labels"]["severity"] == "info"
    assert alert["annotations"]["summary"] == "Prometheus scrapes itself"


@pytest.mark.integration
def test_prometheus_records_the_self_scrape_rule(prometheus: PrometheusProcess) -> None:
    def recorded() -> list[dict[str, Any]]:
        return instant(prometheus.url, f'{SELF_SCRAPE_RECORD}{{job="prometheus"}}', int(time.time()))

    (sample,) = eventually(recorded, timeout=EVENTUALLY_TIMEOUT, what=f"{SELF_SCRAPE_RECORD} to be recorded")

    assert sample["value"][1] == "1"


@pytest.mark.integration
def test_prometheus_lists_its_own_job_as_an_up_target(prometheus: PrometheusProcess) -> None:
    def up_targets() -> list[dict[str, Any]]:
        targets = httpx.get(f"{prometheus.url}/api/v1/targets", timeout=5.0).json()["data"]["activeTargets"]
        return [t for t in targets if t["labels"]["job"] == "prometheus" and t["health"] == "up"]

    (target,) = eventually(up_targets, timeout=EVENTUALLY_TIMEOUT, what="the prometheus job to be up")

    assert target["scrapeUrl"] == f"{prometheus.url}/metrics"


@pytest.mark.integration
def test_victoria_metrics_can_hang_die_and_come_back_on_the_same_port(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with VictoriaMetricsProcess(tmp_path_factory.mktemp("vm-lifecycle"), None) as vm:
        url, pid = vm.url, vm.pid

        vm.pause()
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{url}/health", timeout=0.3)
        vm.resume()
        assert httpx.get(f"{url}/health", timeout=5.0).text == "OK"

        vm.kill()
        assert not vm.running
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/health", timeout=5.0)

        vm.start()
        assert (vm.url, vm.running) == (url, True)
        assert vm.pid != pid

    assert not vm.running
