"""Alerts: the alerts firing now on each resource in scope (prometheus-mcp).

They are context for the reader, not a cause: an alert fires after its symptom began. One
evidence item per resource with firing alerts; a failed listing is noted as degrading the report.
"""

from __future__ import annotations

from common.investigation.evidence import EvidenceLog
from common.investigation.scope import ResolvedScope, Resource, label_matchers
from common.investigation.sources import PROMETHEUS, call, for_each
from common.mcp.toolbox import Toolbox

__all__ = ["read_firing_alerts"]


async def read_firing_alerts(toolbox: Toolbox, scope: ResolvedScope, evidence: EvidenceLog) -> None:
    """One evidence item per resource in scope with firing alerts (Prometheus' own rule evaluation)."""

    async def read(resource: Resource) -> None:
        matchers = label_matchers(resource, scope.series_namespace(resource))
        arguments = {"state": "firing", "matchers": matchers, "limit": 50}
        answer = await call(
            toolbox, PROMETHEUS, "prometheus_list_alerts", arguments, evidence, f"firing alerts of {resource.name}"
        )
        if answer is None:
            return
        alerts = answer.get("alerts") or []
        if not alerts:
            return
        listed = "; ".join(
            f"{a.get('name')} since {a.get('active_at') or '?'}"
            + (f" ({a['annotations']['summary']})" if (a.get("annotations") or {}).get("summary") else "")
            for a in alerts[:5]
        )
        evidence.add(
            "prometheus",
            f"prometheus_list_alerts(state=firing, matchers={matchers})",
            f"{len(alerts)} alert(s) firing on {resource.name}: {listed}",
            data={"alerts": [{k: a.get(k) for k in ("name", "labels", "active_at")} for a in alerts[:20]]},
        )

    await for_each([scope.primary, *scope.dependencies], read)
