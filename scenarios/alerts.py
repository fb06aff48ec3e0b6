"""Alertmanager webhook payloads (version 4) for a scenario's alerts.

Alerts are grouped by `alertname` (Alertmanager's usual `group_by`), one payload per group in
the order the alerts first appear, as Alertmanager 0.25 would post them to `receiver`. An alert
with `ends_at` is resolved; a group is firing while any of its alerts is. The fingerprint is
Prometheus' own (64-bit FNV-1a over the sorted label names and values), so it matches what a
real Alertmanager sends for the same labels.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from scenarios.spec import Alert, Scenario
from scenarios.timeline import Timeline, rfc3339

__all__ = [
    "DEFAULT_EXTERNAL_URL",
    "DEFAULT_GENERATOR_URL",
    "alertmanager_payloads",
    "fingerprint",
    "first_notification",
]

DEFAULT_EXTERNAL_URL = "http://127.0.0.1:9093"
DEFAULT_GENERATOR_URL = "http://127.0.0.1:9090"
_ZERO_TIME = "0001-01-01T00:00:00Z"
_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_SEPARATOR = 0xFF


def fingerprint(labels: dict[str, str]) -> str:
    """Prometheus' `LabelSet.Fingerprint()` as Alertmanager prints it: 16 hex digits."""
    value = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in [*part.encode(), _SEPARATOR]:
                value = ((value ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def alertmanager_payloads(
    scenario: Scenario,
    now: datetime,
    *,
    receiver: str = "router",
    external_url: str = DEFAULT_EXTERNAL_URL,
    generator_url: str = DEFAULT_GENERATOR_URL,
) -> list[dict[str, Any]]:
    timeline = Timeline.of(now, scenario.duration, scenario.step)
    groups: dict[str, list[Alert]] = {}
    for alert in scenario.alerts:
        groups.setdefault(alert.alertname, []).append(alert)
    payloads = []
    for alertname, alerts in groups.items():
        rendered = [_alert(alert, timeline, generator_url) for alert in alerts]
        group_labels = {"alertname": alertname}
        payloads.append(
            {
                "version": "4",
                "groupKey": "{}:" + _matchers(group_labels),
                "truncatedAlerts": 0,
                "status": "firing" if any(a["status"] == "firing" for a in rendered) else "resolved",
                "receiver": receiver,
                "groupLabels": group_labels,
                "commonLabels": _common([a["labels"] for a in rendered]),
                "commonAnnotations": _common([a["annotations"] for a in rendered]),
                "externalURL": external_url,
                "alerts": rendered,
            }
        )
    return payloads


def first_notification(payload: dict[str, Any]) -> dict[str, Any]:
    """The group's payload as Alertmanager first sent it, when it began firing: no alert ended yet.

    A scenario's payloads show the groups as they stand at the end of its history; a group that
    fired and resolved since (a flap) was paged while it fired, which is what an investigation saw.
    """
    alerts = [{**alert, "status": "firing", "endsAt": _ZERO_TIME} for alert in payload["alerts"]]
    return {**payload, "status": "firing", "alerts": alerts}


def _alert(alert: Alert, timeline: Timeline, generator_url: str) -> dict[str, Any]:
    labels = {"alertname": alert.alertname, **alert.labels}
    annotations = {"summary": alert.summary, **alert.annotations}
    if alert.description is not None:
        annotations["description"] = alert.description
    if alert.runbook_url is not None:
        annotations["runbook_url"] = alert.runbook_url
    expression = quote(f"ALERTS{_matchers(labels)}", safe="")
    return {
        "status": "resolved" if alert.ends_at is not None else "firing",
        "labels": labels,
        "annotations": annotations,
        "startsAt": rfc3339(timeline.datetime(alert.starts_at)),
        "endsAt": rfc3339(timeline.datetime(alert.ends_at)) if alert.ends_at is not None else _ZERO_TIME,
        "generatorURL": f"{generator_url.rstrip('/')}/graph?g0.expr={expression}&g0.tab=1",
        "fingerprint": fingerprint(labels),
    }


def _matchers(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{name}="{value}"' for name, value in sorted(labels.items())) + "}"


def _common(mappings: list[dict[str, str]]) -> dict[str, str]:
    first, *rest = mappings
    return {key: value for key, value in first.items() if all(other.get(key) == value for other in rest)}
