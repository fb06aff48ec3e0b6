"""Alerts: the alerts firing now on each resource in scope (prometheus-mcp).

They are context for the reader, not a cause: an alert fires after its symptom began. One
evidence item per resource with firing alerts; a failed listing is noted as degrading the report.
"""

from __future__ import annotations

from common.contracts.prometheus import LIST_ALERTS, PrometheusMcp
from common.investigation.evidence import EvidenceLog
from common.investigation.scope import ResolvedScope, Resource, label_matchers
from common.investigation.sources import for_each, noted
from common.mcp.toolbox import Toolbox

__all__ = ["read_firing_alerts"]


async def read_firing_alerts(toolbox: Toolbox, scope: ResolvedScope, evidence: EvidenceLog) -> None:
    """One evidence item per resource in scope with firing alerts (Prometheus' own rule evaluation)."""

    prometheus = PrometheusMcp(toolbox)

    async def read(resource: Resource) -> None:
        matchers = label_matchers(resource, scope.series_namespace(resource))
        answer = await noted(
            prometheus.list_alerts(state="firing", matchers=matchers, limit=50),
            evidence,
            f"firing alerts of {resource.name}",
        )
        if answer is None or not answer.alerts:
            return
        alerts = answer.alerts
        listed = "; ".join(
            f"{a.name} since {a.active_at or '?'}"
            + (f" ({a.annotations['summary']})" if a.annotations.get("summary") else "")
            for a in alerts[:5]
        )
        evidence.add(
            "prometheus",
            f"{LIST_ALERTS.name}(state=firing, matchers={matchers})",
            f"{len(alerts)} alert(s) firing on {resource.name}: {listed}",
            data={"alerts": [a.model_dump(include={"name", "labels", "active_at"}) for a in alerts[:20]]},
        )

    await for_each([scope.primary, *scope.dependencies], read)
