"""The router's OpenAPI 3.1 document (its REST facade and webhooks), built from the pydantic models.

`OPERATIONS` lists every documented (method, path); the router serves exactly these besides
A2A (`POST /`, the card) and `/metrics` (a test compares the two). The webhooks also accept HTTP
basic credentials when the router is configured with them (`basicAuth`). The webhooks and
`/diagnostics/*` are queued (`agents.router.delivery`): a failing agent shows on the task, so
they answer no 502 or 504, and 503 only when the router cannot record the request.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from agents.router.models import AlertsRequestBody, DeploymentEvent, ExecuteRequest, StartedTasks, TaskView
from common.agents import AGENTS_INVOKE
from common.alertmanager import AlertmanagerWebhook
from common.openapi import ApiDescription, Operation
from common.openapi import openapi_document as build_document

__all__ = ["OPERATIONS", "WEBHOOK_PATHS", "openapi_document"]

WEBHOOK_PATHS = ("/webhooks/alertmanager", "/webhooks/deployment")
#: A start that waits for the agent (`/execute`), and one that is queued (the webhooks, `/diagnostics/*`).
_STARTS = (400, 401, 403, 413, 422, 429, 502, 503, 504)
_QUEUED = (400, 401, 403, 413, 422, 429, 503)

_API = ApiDescription(
    title="SRE Federation router",
    description=(
        "Starts investigations from Alertmanager and deployment webhooks and from REST requests, and follows them. "
        f"Every endpoint but /openapi.json and /healthz needs a bearer token whose audience is the router's URL, with "
        f"the `{AGENTS_INVOKE}` scope; the webhooks also take HTTP basic credentials when configured. The router is "
        "an A2A agent as well (`POST /`, card at /.well-known/agent-card.json, skill `route`)."
    ),
    errors={
        400: "The body is not JSON, or the Content-Type is not application/json.",
        401: "No credentials, or invalid ones (see WWW-Authenticate).",
        403: f"The token lacks the `{AGENTS_INVOKE}` scope (`insufficient_scope`).",
        404: "No such task among the caller's (another client's task is not revealed).",
        413: "The body, or the number of alerts in it, is over the limit.",
        422: "A field is missing, malformed or unknown; `errors` names each one.",
        429: "Too many requests from this caller; see Retry-After.",
        502: "The agent answered an error, or something that is not A2A; the message names it and what it said.",
        503: "The agent (or the registry that finds it) cannot be reached (`/execute`, reading a task), or the "
        "router cannot record the request; nothing was started. See Retry-After. A queued start (the webhooks, "
        "`/diagnostics/*`) does not wait for the agent: its task reads `submitted` until the agent takes it, or "
        "`failed` with the reason.",
        504: "The agent did not answer in time; nothing was recorded. See Retry-After.",
    },
    path_parameters={"id": {"type": "string", "maxLength": 64}},
    ok_descriptions={
        200: "OK (a start: the delivery was seen before, or every alert has resolved; nothing new started).",
        202: "Started: the tasks run on; follow them at `url`.",
    },
)


def _start(
    path: str, summary: str, body: type[BaseModel], *, answers_resends: bool = False, queued: bool = True
) -> Operation:
    """A POST that starts tasks: 202, or 200 when nothing new started (a re-send, resolved alerts)."""
    ok: dict[int, type[BaseModel] | None] = (
        {202: StartedTasks, 200: StartedTasks} if answers_resends else {202: StartedTasks}
    )
    return Operation("post", path, summary, ok, _QUEUED if queued else _STARTS, body=body, scope=AGENTS_INVOKE)


OPERATIONS: tuple[Operation, ...] = (
    _start(
        "/webhooks/alertmanager",
        "Alertmanager webhook (v4): a new delivery is recorded as one triage task, sent to triage in the "
        "background; a re-send returns it.",
        AlertmanagerWebhook,
        answers_resends=True,
    ),
    _start(
        "/webhooks/deployment",
        "A failed or rolled-back deployment: recorded as one triage task, sent in the background; a re-send "
        "returns it.",
        DeploymentEvent,
        answers_resends=True,
    ),
    _start("/execute", "A question, sent to the agent whose skill fits it best.", ExecuteRequest, queued=False),
    _start("/diagnostics/deployment", "Investigate a deployment (triage).", DeploymentEvent),
    _start(
        "/diagnostics/alerts",
        "Investigate alerts (triage): the alerts alone, or a whole webhook payload.",
        AlertsRequestBody,
        answers_resends=True,
    ),
    Operation(
        "get",
        "/tasks/{id}",
        "A task the caller started, as its agent reports it now.",
        {200: TaskView},
        (401, 403, 404, 429, 502, 503, 504),
        scope=AGENTS_INVOKE,
    ),
    Operation(
        "get",
        "/tasks/{id}/stream",
        "The task's progress as Server-Sent Events: `status`, `artifact`, then `done`.",
        {200: None},
        (401, 403, 404, 429, 502, 503, 504),
        scope=AGENTS_INVOKE,
    ),
    Operation("get", "/openapi.json", "This document.", {200: None}, (429,), public=True),
    Operation("get", "/healthz", "Liveness; never rate-limited.", {200: None}, (), public=True),
)


def openapi_document(base_url: str | None = None) -> dict[str, Any]:
    document = build_document(_API, OPERATIONS, base_url)
    document["components"]["securitySchemes"]["basicAuth"] = {"type": "http", "scheme": "basic"}
    for path in WEBHOOK_PATHS:
        document["paths"][path]["post"]["security"].append({"basicAuth": []})
    stream = document["paths"]["/tasks/{id}/stream"]["get"]["responses"]["200"]
    stream["content"] = {"text/event-stream": {"schema": {"type": "string"}}}
    return document
