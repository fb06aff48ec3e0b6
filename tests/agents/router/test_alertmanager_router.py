"""A real Alertmanager (0.25) notifying the served router: one investigation per incident, whatever the re-sends.

Alertmanager authenticates as configured in its receiver's `http_config`: HTTP basic, or OAuth2
client credentials from the registry's authorization server (its own client, the router's URL
as the RFC 8707 `resource`), which is how it gets bearer tokens that do not expire under it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.backends import AlertmanagerProcess
from support.eventually import eventually
from support.router_federation import Federation

pytestmark = pytest.mark.integration


def fire(am: AlertmanagerProcess, name: str) -> None:
    alert = {
        "labels": {"alertname": name, "service": "checkout", "severity": "page"},
        "annotations": {"summary": f"{name} on checkout"},
        "startsAt": datetime.now(UTC).isoformat(),
    }
    httpx.post(f"{am.url}/api/v2/alerts", json=[alert], timeout=5).raise_for_status()


def notifications(am: AlertmanagerProcess) -> tuple[int, int]:
    """(sent, failed) webhook notifications so far, from Alertmanager's own metrics."""
    counts = {"alertmanager_notifications": 0.0, "alertmanager_notifications_failed": 0.0}
    for family in text_string_to_metric_families(httpx.get(f"{am.url}/metrics", timeout=5).text):
        for sample in family.samples:
            name = sample.name.removesuffix("_total")
            if name in counts and sample.labels.get("integration") == "webhook":
                counts[name] += sample.value
    return int(counts["alertmanager_notifications"]), int(counts["alertmanager_notifications_failed"])


def investigations(fed: Federation, name: str) -> list[Any]:
    return [value for value in fed.triage.inputs() if isinstance(value, dict) and _names(value) == {name}]


def _names(payload: dict[str, Any]) -> set[str]:
    return {alert["labels"].get("alertname") for alert in payload.get("alerts", [])}


@pytest.mark.parametrize("auth", ["basic", "oauth2"])
def test_alertmanager_starts_one_investigation_and_its_resends_start_no_more(
    fed: Federation, tmp_path: Path, auth: str
) -> None:
    name = f"Checkout{auth.capitalize()}{uuid.uuid4().hex[:6]}"
    if auth == "basic":
        http_config: dict[str, Any] = {"basic_auth": {"username": fed.basic[0], "password": fed.basic[1]}}
    else:
        http_config = {
            "oauth2": {
                "client_id": "alertmanager",
                "client_secret": fed._secrets["alertmanager"],
                "token_url": f"{fed.registry.url}/oauth/token",
                "scopes": ["agents:invoke"],
                "endpoint_params": {"resource": fed.url},
            }
        }
    webhook = f"{fed.url}/webhooks/alertmanager"
    with AlertmanagerProcess(tmp_path, webhook, http_config=http_config, repeat_interval="1s") as am:
        fire(am, name)
        eventually(
            lambda: investigations(fed, name),
            timeout=20,
            what=lambda: f"an investigation; {notifications(am)}\n{fed.router.log_tail()}",
        )
        eventually(
            lambda: notifications(am)[0] >= 3, timeout=20, what=lambda: f"Alertmanager to re-send: {notifications(am)}"
        )
        sent, failed = notifications(am)
    fed.settled()  # a re-send that had started an investigation would have reached triage by now

    assert failed == 0
    assert sent >= 3
    (payload,) = investigations(fed, name)
    assert payload["version"] == "4"
    assert payload["receiver"] == "router"
    assert payload["commonLabels"]["service"] == "checkout"
