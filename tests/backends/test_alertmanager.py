"""Real Alertmanager delivering to a webhook, alone and behind a real Prometheus: the payloads the
router's Alertmanager webhook receives (version 4), with the credentials `http_config` sends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from support.backends import SELF_SCRAPE_ALERT, AlertmanagerProcess, PrometheusProcess
from support.webhook_recorder import Webhook, recording_webhook

pytestmark = pytest.mark.integration


@pytest.fixture
def webhook() -> Iterator[tuple[Webhook, str]]:
    with recording_webhook() as recorded:
        yield recorded


TOKEN = "webhook-secret-token"


def test_alertmanager_posts_version_4_payloads_with_the_bearer_token(
    tmp_path: Path, webhook: tuple[Webhook, str]
) -> None:
    hook, url = webhook
    http_config = {"authorization": {"type": "Bearer", "credentials": TOKEN}}
    with AlertmanagerProcess(tmp_path, url, http_config=http_config) as alertmanager:
        alert = {
            "labels": {"alertname": "HighErrorRate", "service": "checkout", "severity": "critical"},
            "annotations": {"summary": "5xx ratio above 5%"},
            "startsAt": datetime.now(UTC).isoformat(),
            "generatorURL": "http://prometheus.example/graph?g0.expr=x",
        }
        httpx.post(f"{alertmanager.url}/api/v2/alerts", json=[alert], timeout=5).raise_for_status()
        headers, body = hook.wait_for("HighErrorRate")
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert body["version"] == "4"
    assert body["status"] == "firing"
    assert body["receiver"] == "router"
    assert body["groupLabels"] == {"alertname": "HighErrorRate", "service": "checkout"}
    assert body["commonLabels"]["severity"] == "critical"
    assert isinstance(body["groupKey"], str)
    assert body["groupKey"]
    (sent,) = body["alerts"]
    assert sent["status"] == "firing"
    assert sent["annotations"] == {"summary": "5xx ratio above 5%"}
    assert len(sent["fingerprint"]) == 16
    assert sent["endsAt"] == "0001-01-01T00:00:00Z"
    assert set(body) >= {"externalURL", "truncatedAlerts", "commonAnnotations"}


def test_a_prometheus_alert_reaches_the_webhook_through_alertmanager(
    tmp_path: Path, webhook: tuple[Webhook, str]
) -> None:
    hook, url = webhook
    with (
        AlertmanagerProcess(tmp_path / "am", url) as alertmanager,
        PrometheusProcess(tmp_path / "prom", None, default_rules=True, alertmanagers=[alertmanager.url]),
    ):
        _, body = hook.wait_for(SELF_SCRAPE_ALERT)
    (alert,) = [a for a in body["alerts"] if a["labels"]["alertname"] == SELF_SCRAPE_ALERT]
    assert alert["labels"]["job"] == "prometheus"
    assert alert["generatorURL"].startswith("http://")
