"""What a scenario puts in the control plane (resources and their history) and its ground truth.

Resource ids are the control plane's to assign, so history records name their resource as
`namespace/name` and `HistoryRecord.body(ids)` completes the request body once the resources
exist. Deployment and rollback events become deployments (`DeploymentCreate`; a rollback's
`trigger` is `rollback`), every other event an audit entry (`AuditEntryCreate`) whose details
are the event's further fields. Resources are created with the version before any event; each
succeeded deployment then moves it on, as the control plane does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scenarios.spec import Event, Scenario
from scenarios.timeline import Timeline, rfc3339

__all__ = ["ControlPlaneRecords", "GroundTruth", "HistoryRecord", "control_plane_records", "expected"]


@dataclass(frozen=True)
class HistoryRecord:
    """A deployment or audit entry body, but for the resource id the control plane assigned."""

    resource: str | None
    fields: dict[str, Any]

    def body(self, resource_ids: dict[str, str]) -> dict[str, Any]:
        """The request body, `resource_id` looked up in `{"namespace/name": id}`."""
        if self.resource is None:
            return dict(self.fields)
        return {"resource_id": resource_ids[self.resource], **self.fields}


@dataclass(frozen=True)
class ControlPlaneRecords:
    resources: list[dict[str, Any]] = field(default_factory=list)
    deployments: list[HistoryRecord] = field(default_factory=list)
    audit_entries: list[HistoryRecord] = field(default_factory=list)


@dataclass(frozen=True)
class GroundTruth:
    kind: str
    service: str | None
    namespace: str | None
    ref: str | None
    onset: datetime | None


def control_plane_records(scenario: Scenario, now: datetime) -> ControlPlaneRecords:
    timeline = Timeline.of(now, scenario.duration, scenario.step)
    namespaces = {service.name: service.namespace for service in scenario.services}
    records = ControlPlaneRecords()
    for service in scenario.services:
        dependencies = []
        for dependency in service.depends_on:
            name = dependency.rpartition("/")[2]
            same = namespaces[name] == service.namespace
            dependencies.append(name if same else f"{namespaces[name]}/{name}")
        resource: dict[str, Any] = {
            "name": service.name,
            "namespace": service.namespace,
            "kind": service.kind,
            "dependencies": dependencies,
            # What the scenario declares, and no more: the loader invents no Kubernetes labels.
            "labels": {**service.labels, "scenario": scenario.name},
            "selector": dict(service.selector),
        }
        if service.version is not None:
            resource["version"] = service.version
        if service.replicas is not None:
            resource["replicas"] = service.replicas
        records.resources.append(resource)
    versions = {service.name: service.version for service in scenario.services}
    for event in sorted(scenario.events, key=lambda event: event.at):
        resource_key = f"{namespaces[event.service]}/{event.service}" if event.service is not None else None
        at = timeline.datetime(event.at)
        if event.type in ("deployment", "rollback"):
            # Checked when the scenario loaded.
            assert event.service is not None
            assert event.version is not None
            records.deployments.append(HistoryRecord(resource_key, _deployment(event, at, versions[event.service])))
            if (event.status or "succeeded") == "succeeded":
                versions[event.service] = event.version
        else:
            summary = event.summary or _summary(event)
            body = {"type": event.type, "actor": event.actor, "at": rfc3339(at), "summary": summary}
            records.audit_entries.append(HistoryRecord(resource_key, {**body, "details": event.details}))
    return records


def _deployment(event: Event, at: datetime, previous: str | None) -> dict[str, Any]:
    status = event.status or "succeeded"
    details = {key: value for key, value in event.details.items() if key not in ("version", "status")}
    if event.summary:
        details["summary"] = event.summary
    body: dict[str, Any] = {
        "version": event.version,
        "previous_version": previous,
        "actor": event.actor,
        "status": status,
        "trigger": "rollback" if event.type == "rollback" else "ci",
        "started_at": rfc3339(at),
        "finished_at": None if status in ("pending", "running") else rfc3339(at),
        "details": details,
    }
    return body


def _summary(event: Event) -> str:
    extra = event.model_extra or {}
    subject = event.ref or event.service or "the platform"
    text = f"{event.type.replace('_', ' ')} of {subject}"
    if "from" in extra or "to" in extra:
        text += f": {extra.get('from', '?')} -> {extra.get('to', '?')}"
    elif event.replicas is not None:
        text += f": {event.replicas} replicas"
    return text


def expected(scenario: Scenario, now: datetime) -> GroundTruth:
    """The ground truth with the onset made absolute (None when there is no incident)."""
    timeline = Timeline.of(now, scenario.duration, scenario.step)
    truth = scenario.expected
    cause = truth.root_cause
    namespace = scenario.service(cause.service).namespace if cause.service is not None else None
    onset = timeline.datetime(truth.onset) if truth.onset is not None else None
    return GroundTruth(cause.kind, cause.service, namespace, cause.ref, onset)
