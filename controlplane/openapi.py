"""The control plane's OpenAPI 3.1 document, built from its models and `OPERATIONS`.

`OPERATIONS` is the API: `controlplane.api` serves exactly these routes, each with the handler
named by its `operationId` and the scope it lists. The document is also kept in the repository
as `controlplane/openapi.json` (`python -m controlplane.openapi > controlplane/openapi.json`;
a test checks it is current).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel

from common.openapi import ApiDescription, Operation
from common.openapi import openapi_document as build_document
from controlplane.models import (
    ActionRequest,
    AlertRule,
    AlertRuleCreate,
    Analysis,
    AnalysisCreate,
    Approval,
    ApprovalDecision,
    ApprovalRequest,
    ApprovalUse,
    AuditEntry,
    AuditEntryCreate,
    AutomationExecution,
    Deployment,
    DeploymentCreate,
    Incident,
    IncidentCreate,
    IncidentStatusUpdate,
    IncidentTransition,
    Page,
    Resource,
    ResourceCreate,
    ResourceDependencies,
    ResourceGroup,
    ResourceGroupCreate,
    ResourceUpdate,
    TimelineEntry,
    TimelineEntryCreate,
)
from controlplane.policy import ADMIN_SCOPE, READ_SCOPE, WRITE_POLICY, WRITE_SCOPE
from controlplane.queries import (
    AlertRuleQuery,
    AnalysisQuery,
    ApprovalQuery,
    AuditQuery,
    DeploymentQuery,
    ExecutionQuery,
    IncidentQuery,
    ListQuery,
    ResourceQuery,
)

__all__ = ["ADMIN_SCOPE", "API_PREFIX", "OPERATIONS", "READ_SCOPE", "WRITE_SCOPE", "openapi_document"]

API_PREFIX = "/api/v1"

_API = ApiDescription(
    title="SRE Federation control plane",
    description=(
        "The system of record for what runs and what changed: resources, deployments, the audit log, incidents, "
        "alert rules, approvals and the approved actions they allow, analyses. Every endpoint but /healthz and "
        f"/openapi.json needs a bearer token whose audience is this control plane's URL; reads need `{READ_SCOPE}`, "
        f"incident work, approval requests and actions `{WRITE_SCOPE}`, seeding and approving `{ADMIN_SCOPE}`. "
        "Actions and incident status changes also need an approval someone else granted (`x-approval` of each "
        "operation says which). "
        "Every successful write leaves exactly one audit log entry."
    ),
    errors={
        400: "Malformed request: the body is not JSON, or the Content-Type is not application/json.",
        401: "No bearer token, or one that is invalid for this control plane (see WWW-Authenticate).",
        403: (
            "The token lacks the operation's scope (`insufficient_scope`), or an approval rule refused the request "
            "(`approval_required` naming the approval needed, `approval_invalid` saying which rule, `self_approval`)."
        ),
        404: "No such item (or the item a filter names does not exist).",
        409: "The request conflicts with the current state (`conflict`, or `expired` for a decision too late).",
        413: "The request body is larger than the configured limit.",
        422: "A field or query parameter is missing, malformed or unknown; `errors` names each one.",
        429: "Too many requests from this caller; see Retry-After.",
    },
    path_parameters={"id": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[A-Za-z0-9_.:-]+$"}},
)

_AUTH = (401, 403, 429)
_LIST = (*_AUTH, 422)
_GET = (*_AUTH, 404)
_BODY = (400, *_AUTH, 413, 422)


def _collection(
    path: str,
    what: str,
    model: type[BaseModel],
    create: type[BaseModel] | None,
    *,
    query: type[BaseModel] = ListQuery,
    list_errors: tuple[int, ...] = _LIST,
    create_errors: tuple[int, ...] = _BODY,
    plural: str | None = None,
) -> list[Operation]:
    """List, create (when `create` is given) and get-by-id of one kind of item."""
    plural = plural or f"{what}s"
    operations = [
        _write(
            "get",
            path,
            f"List {plural.replace('_', ' ')}.",
            {200: Page[model]},  # type: ignore[valid-type]
            list_errors,
            query=query,
            operation_id=f"list_{plural}",
        ),
        _write(
            "get",
            f"{path}/{{id}}",
            f"One {what.replace('_', ' ')} by id.",
            {200: model},
            _GET,
            operation_id=f"get_{what}",
        ),
    ]
    if create is not None:
        operations.insert(
            1,
            _write(
                "post",
                path,
                f"Create a {what.replace('_', ' ')}.",
                {201: model},
                create_errors,
                body=create,
                operation_id=f"create_{what}",
            ),
        )
    return operations


def _write(
    method: Literal["get", "post", "patch"],
    path: str,
    summary: str,
    ok: dict[int, type[BaseModel] | None],
    errors: tuple[int, ...],
    *,
    operation_id: str,
    **fields: Any,
) -> Operation:
    """An operation of the API; a write's scope is the one `WRITE_POLICY` gives it."""
    scope = READ_SCOPE if method == "get" else WRITE_POLICY[operation_id].scope
    return Operation(
        method, f"{API_PREFIX}{path}", summary, ok, errors, scope=scope, operation_id=operation_id, **fields
    )


_ACTIONS = tuple(
    _write(
        "post",
        f"/actions/{action}",
        f"{summary} Needs an approval for exactly this (see ActionRequest); a failed execution answers 200 with "
        "status `failed`.",
        {200: AutomationExecution},
        (*_BODY, 404, 409),
        body=ActionRequest,
        operation_id=f"{action}_action",
    )
    for action, summary in (
        ("restart", "Restart a resource (arguments `{}`)."),
        ("rollback", 'Roll a resource back (`{"to_version": ...}`, or `{}` for the version before the latest).'),
        ("scale", 'Scale a resource (`{"replicas": N}`).'),
    )
)

OPERATIONS: tuple[Operation, ...] = (
    *_collection("/resources", "resource", Resource, ResourceCreate, query=ResourceQuery, create_errors=(*_BODY, 409)),
    _write(
        "patch",
        "/resources/{id}",
        "Change some fields of a resource.",
        {200: Resource},
        (*_BODY, 404),
        body=ResourceUpdate,
        operation_id="update_resource",
    ),
    _write(
        "get",
        "/resources/{id}/dependencies",
        "What a resource depends on, what depends on it, and the names that match nothing.",
        {200: ResourceDependencies},
        _GET,
        operation_id="get_resource_dependencies",
    ),
    *_collection("/resource-groups", "resource_group", ResourceGroup, ResourceGroupCreate),
    *_collection("/deployments", "deployment", Deployment, DeploymentCreate, query=DeploymentQuery)[:2],
    *_collection(
        "/audit-logs",
        "audit_log",
        AuditEntry,
        AuditEntryCreate,
        query=AuditQuery,
        list_errors=(*_LIST, 404),
    )[:2],
    *_collection("/incidents", "incident", Incident, IncidentCreate, query=IncidentQuery),
    _write(
        "patch",
        "/incidents/{id}",
        "Change an incident's status (open, acknowledged, resolved); needs an approved approval of that change "
        "(`reopen_incident`, `acknowledge_incident`, `resolve_incident`), which is consumed.",
        {200: Incident},
        (*_BODY, 404, 409),
        body=IncidentStatusUpdate,
        operation_id="update_incident",
    ),
    *(
        _write(
            "post",
            f"/incidents/{{id}}/{verb}",
            f"{verb.capitalize()} an incident; needs an approved `{verb}_incident` approval of it (`approval_id`), "
            "which is consumed.",
            {200: Incident},
            (*_BODY, 404, 409),
            body=IncidentTransition,
            operation_id=f"{verb}_incident",
        )
        for verb in ("acknowledge", "resolve")
    ),
    _write(
        "post",
        "/incidents/{id}/timeline",
        "Add an entry to an incident's timeline.",
        {201: TimelineEntry},
        (*_BODY, 404),
        body=TimelineEntryCreate,
        operation_id="add_incident_timeline_entry",
    ),
    *_collection("/alert-rules", "alert_rule", AlertRule, AlertRuleCreate, query=AlertRuleQuery),
    *_collection("/automation/executions", "automation_execution", AutomationExecution, None, query=ExecutionQuery),
    *_collection("/approvals", "approval", Approval, None, query=ApprovalQuery),
    _write(
        "post",
        "/approvals",
        "Request an approval (pending; the requester is the caller; at most 15 minutes).",
        {201: Approval},
        (*_BODY, 404),
        body=ApprovalRequest,
        operation_id="request_approval",
    ),
    *(
        _write(
            "post",
            f"/approvals/{{id}}/{verb}",
            f"{verb.capitalize()} a pending approval; someone other than its requester and its on_behalf_of user.",
            {200: Approval},
            (*_BODY, 404, 409),
            body=ApprovalDecision,
            operation_id=f"{verb}_approval",
        )
        for verb in ("approve", "reject")
    ),
    _write(
        "post",
        "/approvals/{id}/consume",
        "Use up an approved approval of an `operation:` action before sending the call it allows (the "
        "built-in actions use theirs themselves); 403 `approval_invalid` names the rule a use breaks.",
        {200: Approval},
        _BODY,
        body=ApprovalUse,
        operation_id="consume_approval",
    ),
    *_ACTIONS,
    *_collection(
        "/analyses",
        "analysis",
        Analysis,
        AnalysisCreate,
        query=AnalysisQuery,
        plural="analyses",
    ),
    Operation("get", "/openapi.json", "This document.", {200: None}, (429,), public=True, operation_id="get_openapi"),
    Operation("get", "/healthz", "Liveness; never rate-limited.", {200: None}, (), public=True, operation_id="healthz"),
    Operation(
        "get",
        "/metrics",
        "Request metrics in the Prometheus exposition format (any valid token).",
        {200: None},
        (401, 429),
        operation_id="get_metrics",
    ),
)


def openapi_document(base_url: str | None = None) -> dict[str, Any]:
    """The document, each API operation saying in `x-approval` whether it checks an approval itself.

    `{"required": true, "actions": [...], "why": ...}`: the call must carry an approved approval of
    one of these actions for exactly this call. `{"required": false, ...}`: the scope is enough.
    A client such as controlplane-mcp follows it, so the API and its tools keep one policy.
    """
    document = build_document(_API, OPERATIONS, base_url)
    for path, item in document["paths"].items():
        for operation in item.values():
            if not path.startswith(API_PREFIX):
                continue
            policy = WRITE_POLICY.get(operation["operationId"])
            if policy is not None and policy.approvals:
                operation["x-approval"] = {"required": True, "actions": list(policy.approvals), "why": policy.why}
            elif policy is not None:
                operation["x-approval"] = {"required": False, "why": policy.why}
            else:
                operation["x-approval"] = {"required": False}
    return document


if __name__ == "__main__":
    print(json.dumps(openapi_document(), indent=2, sort_keys=False))
