"""The router's REST contract: request and response bodies of its webhooks and facade.

Requests reject unknown fields (422 naming them), except Alertmanager's own payloads, which may
grow fields in later versions (`common.alertmanager`).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, RootModel

from common.alertmanager import MAX_ALERTS, AlertmanagerWebhook
from common.json_bounds import FreeForm

__all__ = [
    "AlertsRequest",
    "AlertsRequestBody",
    "DeploymentEvent",
    "ExecuteRequest",
    "StartedTasks",
    "SubmittedAlert",
    "TaskLink",
    "TaskState",
    "TaskView",
    "TriggerView",
]

TaskState = Literal[
    "submitted", "working", "completed", "failed", "canceled", "rejected", "input-required", "auth-required"
]
TriggerKind = Literal["alert", "deployment", "question"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeploymentEvent(_Request):
    """Body of `POST /webhooks/deployment` and `POST /diagnostics/deployment`: a deployment that went wrong."""

    service: str = Field(min_length=1, max_length=200, description="The deployed service.")
    namespace: str | None = Field(default=None, max_length=200, description="Its namespace, when it has one.")
    deployment_id: str | None = Field(default=None, max_length=200, description="The deployment system's id.")
    status: Literal["failed", "rolled_back"] = Field(description="What happened to the deployment.")
    version: str | None = Field(default=None, max_length=200, description="The version that was deployed.")
    at: AwareDatetime | None = Field(default=None, description="When it happened (RFC 3339); unset: now.")

    def payload(self) -> dict[str, Any]:
        """The triage input: `{"type": "deployment", ...}` with the fields given."""
        return {"type": "deployment", **self.model_dump(mode="json", exclude_none=True)}

    def summary(self) -> str:
        where = f"{self.namespace}/{self.service}" if self.namespace else self.service
        version = f" {self.version}" if self.version else ""
        return f"Deployment of {where}{version} {self.status.replace('_', ' ')}"


class ExecuteRequest(_Request):
    """Body of `POST /execute`: a question, routed to the agent whose skill fits best."""

    user_query: str = Field(min_length=1, max_length=4000, description="The question, in plain words.")
    context: FreeForm = Field(
        default_factory=dict,
        description="What the question is about (`service`, `namespace`, `start`, `end`, ...), sent along with it.",
    )

    def payload(self) -> dict[str, Any]:
        """The agent's input: `{"question": user_query, **context}` (the question wins over a `question` key)."""
        return {**self.context, "question": self.user_query}


class AlertStatus(BaseModel):
    """Alertmanager API v2's alert status object (`GET /api/v2/alerts`)."""

    model_config = ConfigDict(extra="ignore")
    state: Literal["active", "suppressed", "unprocessed"]


class SubmittedAlert(BaseModel):
    """An alert as Alertmanager's webhook or its API v2 shows it; only `labels` is required."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    labels: dict[str, str] = Field(min_length=1, description="At least `alertname`, and labels naming the resource.")
    annotations: dict[str, str] = Field(default_factory=dict)
    status: Literal["firing", "resolved"] | AlertStatus = Field(
        default="firing", description='"firing" or "resolved" (webhook), or the API v2 status object.'
    )
    starts_at: datetime | None = Field(default=None, alias="startsAt", description="Unset: now.")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str | None = Field(
        default=None, min_length=1, max_length=64, description="Unset: derived from the labels."
    )

    def webhook_alert(self) -> dict[str, Any]:
        """The alert as a webhook (v4) alert."""
        status = self.status if isinstance(self.status, str) else "firing"
        alert: dict[str, Any] = {
            "status": status,
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": (self.starts_at or datetime.now(UTC)).isoformat(),
            "generatorURL": self.generator_url,
            "fingerprint": self.fingerprint or _fingerprint(self.labels),
        }
        if self.ends_at is not None:
            alert["endsAt"] = self.ends_at.isoformat()
        return alert


#: The labels a wrapped group is keyed by, as a usual Alertmanager route's `group_by`.
_GROUP_LABELS = ("alertname", "service", "namespace")


def _fingerprint(labels: dict[str, str]) -> str:
    canonical = "\n".join(f"{name}={value}" for name, value in sorted(labels.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class AlertsRequest(_Request):
    """Body of `POST /diagnostics/alerts` when it is not a whole webhook payload: the alerts alone."""

    alerts: list[SubmittedAlert] = Field(min_length=1, max_length=MAX_ALERTS)

    def webhook(self, receiver: str) -> dict[str, Any]:
        """A webhook (v4) payload grouping these alerts, as Alertmanager would send it."""
        alerts = [alert.webhook_alert() for alert in self.alerts]
        common_labels = {
            name: value
            for name, value in alerts[0]["labels"].items()
            if all(alert["labels"].get(name) == value for alert in alerts)
        }
        group_labels = {name: value for name, value in common_labels.items() if name in _GROUP_LABELS}
        fingerprints = ",".join(sorted(alert["fingerprint"] for alert in alerts))
        return {
            "version": "4",
            "groupKey": f"{receiver}:{hashlib.sha256(fingerprints.encode()).hexdigest()[:16]}",
            "truncatedAlerts": 0,
            "status": "firing" if any(alert["status"] == "firing" for alert in alerts) else "resolved",
            "receiver": receiver,
            "groupLabels": group_labels,
            "commonLabels": common_labels,
            "commonAnnotations": {},
            "externalURL": "",
            "alerts": alerts,
        }


class AlertsRequestBody(RootModel[AlertsRequest | AlertmanagerWebhook]):
    """`POST /diagnostics/alerts`: `{"alerts": [...]}`, or a whole webhook payload (it has `version`)."""


class TaskLink(BaseModel):
    id: str = Field(description="The router's task id: GET /tasks/{id} and /tasks/{id}/stream follow it.")
    url: str = Field(description="`<router>/tasks/<id>`.")
    agent: str = Field(description="The agent doing the work.")


class StartedTasks(BaseModel):
    """The answer of the webhooks and the facade: the tasks started (202) or already started (200)."""

    tasks: list[TaskLink]
    duplicate: bool = Field(
        default=False, description="True when this delivery was seen before: `tasks` are the ones it started then."
    )
    ignored: Literal["resolved"] | None = Field(
        default=None, description="Why nothing was started: `resolved` when every alert has resolved."
    )


class TriggerView(BaseModel):
    kind: TriggerKind
    summary: str


class TaskView(BaseModel):
    """`GET /tasks/{id}`: the task as the agent reports it now."""

    id: str
    agent: str
    state: TaskState
    trigger: TriggerView
    message: str | None = Field(description="The text of the latest status, e.g. the stage running or why it failed.")
    result: dict[str, Any] | None = Field(description="The result artifact's JSON data (triage: a DiagnosticReport).")
    markdown: str | None = Field(description="The result rendered as Markdown.")
    created_at: datetime
    updated_at: datetime
    grouped_into: str | None = Field(
        default=None,
        description="The router task this delivery was grouped into (related alerts of one outage): the "
        "investigation shown is that task's.",
    )
