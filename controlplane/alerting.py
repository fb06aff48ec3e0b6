"""Alert rules and the analyses (diagnostic reports, postmortems) written about incidents."""

from __future__ import annotations

from sqlalchemy import insert
from starlette.responses import Response

from controlplane.calls import Call, Handler, getter, lister, model_response, require_ids
from controlplane.models import AlertRule, AlertRuleCreate, Analysis, AnalysisCreate
from controlplane.tables import alert_rules, analyses, incidents, new_id, resources

__all__ = ["HANDLERS"]


async def create_alert_rule(call: Call) -> Response:
    body: AlertRuleCreate = call.body
    row = {"id": new_id("rule"), **body.model_dump(mode="json"), "created_at": call.store.now()}
    async with call.store.write() as connection:
        if body.resource_id is not None:
            await require_ids(connection, resources, "resource_id", body.resource_id)
        await connection.execute(insert(alert_rules).values(**row))
        await call.store.audit(
            connection,
            call.actor,
            "alert_rule",
            "alert_rule.created",
            resource_id=body.resource_id,
            summary=f"created alert rule {body.name}: {body.expr[:200]}",
            details={"alert_rule_id": row["id"]},
        )
    return model_response(AlertRule.model_validate(row), 201)


async def create_analysis(call: Call) -> Response:
    body: AnalysisCreate = call.body
    row = {
        "id": new_id("ana"),
        **body.model_dump(mode="json"),
        "created_by": call.actor.client_id,
        "created_at": call.store.now(),
    }
    async with call.store.write() as connection:
        if body.incident_id is not None:
            await require_ids(connection, incidents, "incident_id", body.incident_id)
        await connection.execute(insert(analyses).values(**row))
        await call.store.audit(
            connection,
            call.actor,
            "analysis",
            "analysis.created",
            summary=f"{body.kind} analysis: {body.title[:200]}",
            details={"analysis_id": row["id"], "incident_id": body.incident_id},
        )
    return model_response(Analysis.model_validate(row), 201)


HANDLERS: dict[str, Handler] = {
    "list_alert_rules": lister(
        alert_rules, AlertRule, order=alert_rules.c.created_at, newest_first=False, filters=("resource_id", "severity")
    ),
    "create_alert_rule": create_alert_rule,
    "get_alert_rule": getter(alert_rules, AlertRule, "alert rule"),
    "list_analyses": lister(analyses, Analysis, order=analyses.c.created_at, filters=("incident_id", "kind")),
    "create_analysis": create_analysis,
    "get_analysis": getter(analyses, Analysis, "analysis"),
}
