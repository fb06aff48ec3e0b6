"""The `alerts` group: the alerts a backend's rules raise, and the rules themselves."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from common.contracts.prometheus import AlertsResult, RulesResult
from common.mcp.backends import BackendTools
from common.mcp.bounds import clamp_limit, page_bounds
from common.mcp.tool_parameters import Backend, Cursor, Limit
from common.mcp.tools import tool
from common.pagination import paginate
from servers.prometheus_mcp import promql, shaping
from servers.prometheus_mcp.client import PrometheusClient
from servers.prometheus_mcp.settings import Limits
from servers.prometheus_mcp.tools.parameters import Matchers

__all__ = ["AlertTools"]


class AlertTools(BackendTools[Limits, PrometheusClient]):
    group = "alerts"

    @tool("List active Prometheus alerts")
    async def prometheus_list_alerts(
        self,
        state: Annotated[Literal["firing", "pending"] | None, Field(description="Only alerts in this state.")] = None,
        name: Annotated[str | None, Field(description="Only alerts with this alertname.")] = None,
        matchers: Matchers | None = None,
        limit: Limit = None,
        cursor: Cursor = None,
        backend: Backend = None,
    ) -> AlertsResult:
        """Active (firing and pending) alerts evaluated by the backend's alerting rules, firing first."""
        notes: list[str] = []
        client = self.backends.pick(backend)
        answer = await client.alerts()
        alerts = [
            alert
            for alert in shaping.alerts(answer.data)
            if (not state or alert.state == state)
            and (not name or alert.name == name)
            and promql.matches(matchers or {}, alert.labels)
        ]
        alerts.sort(key=lambda a: (a.state != "firing", a.name, sorted(a.labels.items())))
        page = paginate(alerts, limit=clamp_limit(limit, self.limits.max_list_items, "alerts", notes), cursor=cursor)
        return AlertsResult(backend=client.name, alerts=page.items, **page_bounds(page, notes, answer.warnings))

    @tool("List Prometheus alerting and recording rules")
    async def prometheus_list_rules(
        self,
        type: Annotated[Literal["alerting", "recording"] | None, Field(description="Only rules of this type.")] = None,
        name: Annotated[str | None, Field(description="Only rules with this name (alert or record name).")] = None,
        unhealthy_only: Annotated[bool, Field(description="Only rules whose last evaluation failed.")] = False,
        limit: Limit = None,
        cursor: Cursor = None,
        backend: Backend = None,
    ) -> RulesResult:
        """Alerting and recording rules with their expression, health, last error and alert state."""
        notes: list[str] = []
        client = self.backends.pick(backend)
        answer = await client.rules({"alerting": "alert", "recording": "record"}.get(type or ""))
        rules = [
            rule
            for rule in shaping.rules(answer.data)
            if (not type or rule.type == type)
            and (not name or rule.name == name)
            and not (unhealthy_only and rule.health == "ok")
        ]
        page = paginate(rules, limit=clamp_limit(limit, self.limits.max_list_items, "rules", notes), cursor=cursor)
        return RulesResult(backend=client.name, rules=page.items, **page_bounds(page, notes, answer.warnings))
