"""Real Alertmanager delivering to a webhook, alone and behind a real Prometheus: the payloads the
router's Alertmanager webhook receives (version 4), with the credentials `http_config` sends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_server import ServedApp
from backends import SELF_SCRAPE_ALERT, AlertmanagerProcess, PrometheusProcess
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

pytestmark = pytest.mark.integration

TOKEN = "webhook-secret-token"


class Webhook:
    """Records every POST it receives (headers and JSON body)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], Any]] = []

        async def record(request: Request) -> Response:
            self.received.append((dict(request.headers), await request.json()))
            return Response(status_code=200)

        self.app = Starlette(routes=[Route("/webhooks/alertmanager", record, methods=["POST"])])

    def wait_for(self, alertname: str, timeout: float = 20.0) -> tuple[dict[str, str], Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for headers, body in self.received:
                if any(alert["labels"].get("alertname") == alertname for alert in body.get("alerts", [])):
                    return headers, body
            time.sleep(0.1)
        raise AssertionError(f"no webhook carrying {alertname} within {timeout}s; got {self.received}")


@pytest.fixture
def webhook() -> Iterator[tuple[Webhook, str]]:
    hook = Webhook()
    with ServedApp(hook.app) as served:
        yield hook, f"{served.url}/webhooks/alertmanager"


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
