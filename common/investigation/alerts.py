"""Alerts: the alerts firing now on each resource in scope (prometheus-mcp).

They are context for the reader, not a cause: an alert fires after its symptom began. One
evidence item per resource with firing alerts; a failed listing is noted as degrading the report.
The firing alerts are listed once and each is given to the resource its labels name by the identity
rules (`identity.subject_of`), so an alert that carries a pod, a job or a deployment rather than a
`service` label is found too.
"""

from __future__ import annotations

from common.contracts.prometheus import LIST_ALERTS, PrometheusMcp
from common.investigation.evidence import EvidenceLog
from common.investigation.identity import LabelAliases, subject_of
from common.investigation.scope import ResolvedScope, Resource
from common.investigation.sources import noted
from common.mcp.toolbox import Toolbox

__all__ = ["read_firing_alerts"]

#: Firing alerts read, at most: all of them, for a federation's size, so none is missed for lack of a label.
MAX_ALERTS = 500


async def read_firing_alerts(toolbox: Toolbox, scope: ResolvedScope, evidence: EvidenceLog) -> None:
    """One evidence item per resource in scope with firing alerts (Prometheus' own rule evaluation)."""

    resources = [scope.primary, *scope.dependencies]
    answer = await noted(
        PrometheusMcp(toolbox).list_alerts(state="firing", limit=MAX_ALERTS),
        evidence,
        f"firing alerts of {', '.join(r.name for r in resources)}",
    )
    if answer is None:
        return
    for resource in resources:
        namespace = scope.series_namespace(resource)
        alerts = [a for a in answer.alerts if _names(a.labels, resource, namespace, scope.aliases)]
        if not alerts:
            continue
        listed = "; ".join(
            f"{a.name} since {a.active_at or '?'}"
            + (f" ({a.annotations['summary']})" if a.annotations.get("summary") else "")
            for a in alerts[:5]
        )
        evidence.add(
            "prometheus",
            f"{LIST_ALERTS.name}(state=firing)",
            f"{len(alerts)} alert(s) firing on {resource.name}: {listed}",
            data={"alerts": [a.model_dump(include={"name", "labels", "active_at"}) for a in alerts[:20]]},
        )


def _names(labels: dict[str, str], resource: Resource, namespace: str | None, aliases: LabelAliases) -> bool:
    """Whether an alert's labels name `resource` (in its series' namespace, when both say one)."""
    ref = subject_of(labels, aliases)
    if ref is None or resource.name not in (ref.name, *ref.other_names):
        return False
    return namespace is None or ref.namespace is None or ref.namespace == namespace
