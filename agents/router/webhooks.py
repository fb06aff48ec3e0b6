"""The webhooks that start investigations on their own: Alertmanager's and a deployment system's.

    POST /webhooks/alertmanager   Alertmanager webhook payload (version 4)
    POST /webhooks/deployment     {"service", "namespace", "deployment_id", "status", "version", "at"}

Both take a bearer token (audience the router, scope `agents:invoke`) or, when configured, HTTP
basic credentials (`callers`). A body is at most `max_body_bytes` (413 before parsing) and must
match its model (422 naming the field); a payload of more than `max_alerts` alerts is 413.

A new delivery is recorded as one triage task and answered 202 `{"tasks": [{"id", "url",
"agent"}], "duplicate": false}` at once, without waiting for triage: the router sends it in the
background (`agents.router.delivery`), so a storm of deliveries is answered while triage is busy
creating tasks. Whatever then goes wrong with triage shows on the task (`GET /tasks/{id}`:
`submitted` while it waits for triage, `failed` with the reason), not on the webhook's answer; a
503 means only that the router could not record the delivery. A re-send of the same delivery
(same group and firing fingerprints; same service, namespace, deployment id and status) within
the TTL answers 200 with the same tasks and `"duplicate": true`. A payload whose alerts have all
resolved starts nothing (200 `{"tasks": [], "ignored": "resolved"}`) and ends the group's
incident: the same alerts firing again start a new one. A re-send whose earlier task failed, was
rejected or canceled starts a new one (202).

Back-pressure: while `ROUTER_MAX_PENDING_DELIVERIES` deliveries wait to be sent to triage, a new
delivery is refused with 429 and `Retry-After` (`agents.router.backlog`; Alertmanager retries it);
re-sends of recorded deliveries and resolved groups are still answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agents.router.backlog import BacklogLimit
from agents.router.callers import Callers
from agents.router.dispatch import Dedup, Dispatcher, Trigger, dedup_hash
from agents.router.models import DeploymentEvent, StartedTasks
from agents.router.tasks import RouterTask
from common.alertmanager import AlertmanagerWebhook, delivery_key
from common.errors import BackendError, BackendTimeout, BackendUnavailable
from common.rest import FieldError, HttpError, field_errors, invalid, parse_body, read_json

__all__ = ["WebhookApi", "alert_summary", "peer_failed", "read_alerts", "started"]


@dataclass(frozen=True)
class WebhookApi:
    dispatcher: Dispatcher
    callers: Callers
    max_body_bytes: int
    max_alerts: int
    backlog: BacklogLimit

    def routes(self) -> list[Route]:
        return [
            Route("/webhooks/alertmanager", self.alertmanager, methods=["POST"]),
            Route("/webhooks/deployment", self.deployment, methods=["POST"]),
        ]

    async def alertmanager(self, request: Request) -> Response:
        owner = self.callers.owner(request, basic=True)
        raw = await read_alerts(request, self.max_body_bytes, self.max_alerts)
        try:
            webhook = AlertmanagerWebhook.model_validate(raw)
        except ValidationError as exc:
            raise invalid(field_errors(exc)) from None
        group = dedup_hash(owner, "alertmanager-group", webhook.group_key)
        if not webhook.firing:
            await self.dispatcher.records.release_group(group)
            return started([], self.dispatcher, ignored=True)
        dedup = Dedup(dedup_hash(owner, "alertmanager", delivery_key(webhook)), group)
        trigger = Trigger("alert", alert_summary(webhook))
        return await self._once(owner, dedup, raw, trigger)

    async def deployment(self, request: Request) -> Response:
        owner = self.callers.owner(request, basic=True)
        event = await parse_body(request, DeploymentEvent, self.max_body_bytes)
        key = dedup_hash(owner, "deployment", event.service, event.namespace, event.deployment_id, event.status)
        return await self._once(owner, Dedup(key), event.payload(), Trigger("deployment", event.summary()))

    async def _once(self, owner: str, dedup: Dedup, payload: dict[str, Any], trigger: Trigger) -> Response:
        async def start() -> list[RouterTask]:
            await self.backlog.admit()  # only a delivery not recorded yet adds to the backlog
            return [await self.dispatcher.submit(owner, payload, trigger, dedup)]

        try:
            tasks, duplicate = await self.dispatcher.once(dedup.key, start)
        except BackendError as exc:
            raise peer_failed(exc) from exc
        return started(tasks, self.dispatcher, duplicate=duplicate)


async def read_alerts(request: Request, max_body_bytes: int, max_alerts: int) -> dict[str, Any]:
    """The JSON object of an alerts body; `HttpError` 400/413/422 when it is not one or carries too many alerts."""
    raw = await read_json(request, max_body_bytes)
    if not isinstance(raw, dict):
        raise invalid([FieldError(field="body", message="expected a JSON object")])
    alerts = raw.get("alerts")
    if isinstance(alerts, list) and len(alerts) > max_alerts:
        raise HttpError(
            413,
            "too_many_alerts",
            f"The payload carries {len(alerts)} alerts; at most {max_alerts} are accepted (ROUTER_MAX_ALERTS). "
            "Set Alertmanager's max_alerts on the receiver, or send fewer.",
        )
    return raw


def alert_summary(webhook: AlertmanagerWebhook) -> str:
    firing = webhook.firing
    names = ", ".join(sorted({alert.name or "unnamed alert" for alert in firing}))
    where = webhook.common_labels.get("service") or webhook.group_labels.get("service")
    count = f" ({len(firing)} alerts)" if len(firing) > 1 else ""
    return f"{names} firing{f' on {where}' if where else ''}{count}"


def started(
    tasks: list[RouterTask], dispatcher: Dispatcher, *, duplicate: bool = False, ignored: bool = False
) -> JSONResponse:
    """202 with newly started tasks; 200 for a duplicate or an ignored delivery."""
    body = StartedTasks(
        tasks=[dispatcher.link(task) for task in tasks], duplicate=duplicate, ignored="resolved" if ignored else None
    )
    status = 202 if tasks and not duplicate else 200
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=status)


def peer_failed(exc: BackendError) -> HttpError:
    """The refusal when an agent, the registry or the router's own store failed (checklist row 43): never a 500.

    503 when it could not be reached (to be re-sent later), 504 when it did not answer in time,
    502 when it answered with an error or with something that is not A2A; the message names it.
    Queued starts (the webhooks, `/diagnostics/*`) meet only the 503 of a router that cannot record.
    """
    if isinstance(exc, BackendTimeout):
        return HttpError(504, "agent_timeout", str(exc), headers={"Retry-After": "30"})
    if isinstance(exc, BackendUnavailable):
        return HttpError(503, "agent_unavailable", str(exc), headers={"Retry-After": "30"})
    return HttpError(502, "agent_failed", str(exc))
