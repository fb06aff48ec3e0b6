"""Reading Alertmanager deliveries, on payloads a real Alertmanager sent, and which of them are one incident."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from support.backends import AlertmanagerProcess
from support.eventually import eventually
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
        eventually(lambda: len(hook.received) >= 3, timeout=20, what="Alertmanager to re-send the group twice")
        first = list(hook.received)
        httpx.post(
            f"{am.url}/api/v2/alerts", json=[alert("HighErrorRate", pod="checkout-2")], timeout=5
        ).raise_for_status()
        grown = eventually(
            lambda: next((body for _, body in hook.received if len(body["alerts"]) == 2), None),
            timeout=20,
            what="the group grown to two alerts",
        )
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
