"""What triage is asked to investigate, read from the A2A message.

Three kinds of request, as JSON (an A2A data part, or text holding JSON) or as plain text:

- an Alertmanager webhook payload (version 4): the alerts' resources, firing ones first, earliest
  first, each named by its labels as `identity.subject_of` reads them (`service`, `service_name`,
  `app_kubernetes_io_name`, `app`, `job`, `deployment`, ..., a pod's workload, a node exporter's host,
  with the environment's label aliases), so that an alert without a `service` label names its workload;
- a deployment event `{"type": "deployment", "service", "namespace", "deployment_id", "status",
  "version", "at"}` (a deployment failed or was rolled back);
- a question `{"question": "...", "service": ..., "namespace": ..., "start": ..., "end": ...}`,
  or the question as plain text, whose resources are looked up by name later; a service alone,
  `{"service": ..., "namespace": ...}`, asks what is wrong with it.

Anything else is an `InputError` saying which forms are accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from common.agents.executor import json_value
from common.alertmanager import AlertmanagerWebhook
from common.diagnostic_report import Trigger
from common.errors import InputError
from common.investigation.identity import ROLES, LabelAliases, subject_of
from common.investigation.scope import Subject
from common.timerange import parse_time

__all__ = ["InvestigationRequest", "Subject", "parse_request"]

#: Labels naming the workload that made the calls an alert counts, as Istio's standard metrics carry them: such
#: an alert is about calls to its subject as that caller saw them (`unknown`: a caller outside the mesh).
_CALLER_LABELS = ("source_workload", "source_canonical_service", "source_app")
_WORD = re.compile(r"[a-z0-9][a-z0-9._-]{1,62}", re.IGNORECASE)
_MAX_WORDS = 6
#: Every example here is accepted as written (a test sends each): a refusal's hint must work when followed.
_FORMS = (
    "Send an Alertmanager webhook payload (version 4), a deployment event "
    '{"type": "deployment", "service": "checkout", "namespace": "prod"}, a service '
    '{"service": "checkout", "namespace": "prod"}, or a question '
    '{"question": "why is checkout failing?", "service": "checkout"} (plain text works too).'
)


@dataclass(frozen=True)
class InvestigationRequest:
    trigger: Trigger
    subjects: tuple[Subject, ...]
    #: Words of a free-text question that may name a resource (looked up in the control plane).
    words: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    alerts: tuple[dict[str, Any], ...] = field(default=())
    #: The environment's label aliases, with which the alerts were read and the resources' series are found.
    aliases: LabelAliases = field(default_factory=LabelAliases)


def parse_request(texts: list[str], aliases: LabelAliases | None = None) -> InvestigationRequest:
    """The request in the message's texts (a data part arrives as its JSON text); `aliases` are the
    environment's extra label names (TRIAGE_LABEL_ALIASES)."""
    aliases = aliases or LabelAliases()
    joined = "\n".join(text for text in texts if text.strip())
    if not joined.strip():
        raise InputError(f"The message is empty. {_FORMS}")
    for text in texts:
        value = json_value(text)
        if isinstance(value, dict):
            return replace(_structured(value, aliases), aliases=aliases)
    return replace(_question(joined, {}), aliases=aliases)


def _structured(value: dict[str, Any], aliases: LabelAliases) -> InvestigationRequest:
    if "alerts" in value and "version" in value:
        return _alerts(value, aliases)
    if value.get("type") == "deployment":
        return _deployment(value)
    if isinstance(value.get("question"), str):
        return _question(value["question"], value)
    if isinstance(value.get("service"), str) and value["service"]:
        return _question(f"What is wrong with {value['service']}?", value)
    raise InputError(f"The JSON has neither alerts, a deployment event, a service nor a question. {_FORMS}")


def _alerts(value: dict[str, Any], aliases: LabelAliases) -> InvestigationRequest:
    try:
        webhook = AlertmanagerWebhook.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise InputError(f"The Alertmanager payload is invalid: {problems}.") from None
    alerts = sorted(webhook.alerts, key=lambda a: (a.status != "firing", a.starts_at))
    subjects: dict[tuple[str, str | None], Subject] = {}
    for alert in alerts:
        ref = subject_of(alert.labels, aliases)
        if ref is None:
            continue
        subjects.setdefault(
            (ref.name, ref.namespace),
            Subject(
                ref.name,
                ref.namespace,
                alert.starts_at,
                ref.kind,
                ref.other_names,
                ref.label,
                address=ref.address,
                callers=_callers(alert.labels),
            ),
        )
    if not subjects:
        raise InputError(
            f"No alert names a resource: give one of the labels {', '.join(ROLES)} "
            f"(or an alias of one in TRIAGE_LABEL_ALIASES)."
        )
    first = alerts[0]
    summary = first.annotations.get("summary") or first.annotations.get("description") or ""
    names = sorted({alert.name for alert in webhook.alerts})
    return InvestigationRequest(
        trigger=Trigger(
            kind="alert",
            summary=f"{', '.join(names)}: {summary}".rstrip(": "),
            details={
                "group_key": webhook.group_key,
                "status": webhook.status,
                "alerts": len(webhook.alerts),
                "firing": len(webhook.firing),
            },
        ),
        subjects=tuple(subjects.values()),
        alerts=tuple(
            {"name": a.name, "status": a.status, "labels": a.labels, "starts_at": a.starts_at.isoformat()}
            for a in alerts
        ),
    )


def _callers(labels: dict[str, str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for key in _CALLER_LABELS if (v := labels.get(key)) and v != "unknown"))


def _deployment(value: dict[str, Any]) -> InvestigationRequest:
    service = value.get("service")
    if not isinstance(service, str) or not service:
        raise InputError("The deployment event has no `service`: name the service whose deployment failed.")
    namespace = value.get("namespace") if isinstance(value.get("namespace"), str) else None
    at = _time(value.get("at"), "at")
    status = str(value.get("status") or "failed")
    what = " ".join(str(value[key]) for key in ("version", "deployment_id") if value.get(key))
    return InvestigationRequest(
        trigger=Trigger(
            kind="deployment",
            summary=f"Deployment of {service} {what} {status.replace('_', ' ')}".replace("  ", " "),
            details={k: v for k, v in value.items() if k != "type" and isinstance(v, str | int | float | None)},
        ),
        subjects=(Subject(service, namespace, at),),
    )


def _question(text: str, context: dict[str, Any]) -> InvestigationRequest:
    service = context.get("service")
    namespace = context.get("namespace") if isinstance(context.get("namespace"), str) else None
    subjects = (Subject(service, namespace),) if isinstance(service, str) and service else ()
    words = () if subjects else tuple(dict.fromkeys(w.lower() for w in _WORD.findall(text)))[: _MAX_WORDS * 4]
    return InvestigationRequest(
        trigger=Trigger(kind="question", summary=text.strip()[:500]),
        subjects=subjects,
        words=words,
        start=_time(context.get("start"), "start"),
        end=_time(context.get("end"), "end"),
    )


def _time(value: object, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return datetime.fromtimestamp(parse_time(str(value)), UTC)
    except (InputError, ValueError, OverflowError):
        raise InputError(f"`{name}` ({value!r}) is not a time: give RFC 3339, unix seconds or 'now-1h'.") from None
