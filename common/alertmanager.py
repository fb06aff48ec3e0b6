"""Alertmanager's webhook (version 4), as the router receives it and triage reads it, and which deliveries are new.

Alertmanager re-sends a group's notification every `repeat_interval` and whenever the group
changes; each delivery carries the group key and every alert's fingerprint. The same group key
with the same set of firing fingerprints is the same incident: it must not start a second
investigation. A new alert in the group, or the group firing again after it resolved, is new.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MAX_ALERTS", "AlertmanagerAlert", "AlertmanagerWebhook", "delivery_key"]

#: Most alerts one delivery may carry; Alertmanager's own `max_alerts` is unlimited by default.
MAX_ALERTS = 1000


class _Model(BaseModel):
    # Alertmanager may add fields in later versions: they are ignored, not refused.
    model_config = ConfigDict(extra="ignore")


class AlertmanagerAlert(_Model):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = Field(min_length=1, max_length=64)

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


class AlertmanagerWebhook(_Model):
    version: Literal["4"]
    group_key: str = Field(alias="groupKey", min_length=1, max_length=4000)
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts", ge=0)
    status: Literal["firing", "resolved"]
    receiver: str
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[AlertmanagerAlert] = Field(min_length=1, max_length=MAX_ALERTS)

    @property
    def firing(self) -> list[AlertmanagerAlert]:
        return [alert for alert in self.alerts if alert.status == "firing"]


def delivery_key(webhook: AlertmanagerWebhook) -> str:
    """The incident a delivery is about: its group and the fingerprints firing in it."""
    fingerprints = ",".join(sorted(alert.fingerprint for alert in webhook.firing))
    return hashlib.sha256(f"{webhook.group_key}\n{fingerprints}".encode()).hexdigest()
