"""Reading Alertmanager deliveries, on payloads a real Alertmanager sent, and which of them are one incident."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from support.backends import AlertmanagerProcess
from support.webhook_recorder import recording_webhook

from common.alertmanager import AlertmanagerWebhook, delivery_key


def alert(name: str, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "service": "checkout", **labels},
        "annotations": {"summary": f"{name} on checkout"},
        "startsAt": datetime.now(UTC).isoformat(),
    }


@pytest.mark.integration
def test_resends_of_one_group_are_one_incident_and_a_new_alert_is_another(tmp_path: Path) -> None:
    with recording_webhook() as (hook, url), AlertmanagerProcess(tmp_path, url, repeat_interval="1s") as am:
        httpx.post(f"{am.url}/api/v2/alerts", json=[alert("HighErrorRate")], timeout=5).raise_for_status()
        hook.wait_for("HighErrorRate")
        deadline = time.monotonic() + 20
        while len(hook.received) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        first = list(hook.received)
        httpx.post(
            f"{am.url}/api/v2/alerts", json=[alert("HighErrorRate", pod="checkout-2")], timeout=5
        ).raise_for_status()
        deadline = time.monotonic() + 20
        while not any(len(body["alerts"]) == 2 for _, body in hook.received) and time.monotonic() < deadline:
            time.sleep(0.2)
        grown = next(body for _, body in hook.received if len(body["alerts"]) == 2)
    assert len(first) >= 3, "Alertmanager should have re-sent the group"
    keys = [delivery_key(AlertmanagerWebhook.model_validate(body)) for _, body in first]
    assert len(set(keys)) == 1
    webhook = AlertmanagerWebhook.model_validate(grown)
    assert delivery_key(webhook) != keys[0]
    assert [a.name for a in webhook.firing] == ["HighErrorRate", "HighErrorRate"]
    assert webhook.common_labels["service"] == "checkout"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"version": "3"}, "version"),
        ({"alerts": []}, "alerts"),
        ({"alerts": "not a list"}, "alerts"),
        ({"groupKey": ""}, "groupKey"),
    ],
)
def test_a_malformed_delivery_is_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    body = {
        "version": "4",
        "groupKey": '{}:{alertname="X"}',
        "status": "firing",
        "receiver": "router",
        "alerts": [{**alert("X"), "status": "firing", "fingerprint": "0123456789abcdef"}],
        **change,
    }
    with pytest.raises(ValidationError) as refused:
        AlertmanagerWebhook.model_validate(body)
    assert field in str(refused.value)
