"""The Control Plane REST API's request and response bodies: the contract of `/api/v1`.

Over 400 lines on purpose: it is declarations only, the whole contract in one place, in sections
(resources, history, incidents, alerting, approvals, analyses) that share the field types above them.

Every model forbids unknown fields (a typo is a 422 naming the field, not a silent default).
Times are RFC 3339 UTC on the wire. Lists are paged with an opaque cursor and answer
`{"items": [...], "next_cursor": ..., "truncated": ...}`. The OpenAPI document is generated
from these models (`controlplane.openapi`) and kept in the repository (`controlplane/openapi.json`).

Who did what: `actor` is who made a change (for a change recorded from elsewhere, such as a
CI deploy, the body says; otherwise the caller's OAuth client id), `recorded_by` the client id
of the token that wrote the row. `on_behalf_of` is the end user a trusted intermediary (the
controlplane MCP server) acts for; it takes part in the approval rules.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from common.json_bounds import FreeForm
from common.rest import storable

__all__ = [
    "CHANGE_TYPES",
    "ActionRequest",
    "AlertRule",
    "AlertRuleCreate",
    "Analysis",
    "AnalysisCreate",
    "Approval",
    "ApprovalDecision",
    "ApprovalRequest",
    "ApprovalUse",
    "AuditEntry",
    "AuditEntryCreate",
    "AutomationExecution",
    "Deployment",
    "DeploymentCreate",
    "Incident",
    "IncidentCreate",
    "IncidentStatusUpdate",
    "IncidentTransition",
    "Moment",
    "Page",
    "Resource",
    "ResourceCreate",
    "ResourceDependencies",
    "ResourceGroup",
    "ResourceGroupCreate",
    "ResourceUpdate",
    "TimelineEntry",
    "TimelineEntryCreate",
    "storable_time",
]

Name = Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$", description="DNS-label-like name.")]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Text = Annotated[str, Field(max_length=4000)]
Labels = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=200)], Annotated[str, Field(max_length=1000)]],
    Field(max_length=64),
]
#: Free-form JSON within `common.json_bounds` (depth, finite numbers, storable text, size).
Details = Annotated[FreeForm, Field(description="Free-form JSON object kept as given.")]


def storable_time(value: datetime) -> datetime:
    """A time both databases store and compare: from 1970 on, convertible to UTC."""
    try:
        utc = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    except OverflowError:
        raise ValueError("the time is out of range; give one from 1970 on") from None
    if utc.year < 1970:
        raise ValueError("the time is before 1970; give one from 1970 on")
    return value


#: A time given by a caller (the records' own times are set by the control plane).
Moment = Annotated[datetime, AfterValidator(storable_time)]

ResourceKind = Literal["service", "deployment", "statefulset", "database", "queue", "external", "node"]
ChangeType = Literal["deployment", "rollback", "config_change", "feature_flag", "scale", "restart", "infrastructure"]
#: Audit types that are changes to what runs ("what changed?"); the others record API activity.
CHANGE_TYPES: tuple[str, ...] = get_args(ChangeType)
AuditType = Literal[
    "deployment",
    "rollback",
    "config_change",
    "feature_flag",
    "scale",
    "restart",
    "infrastructure",
    "resource",
    "resource_group",
    "incident",
    "alert_rule",
    "approval",
    "analysis",
]
Action = Literal["restart", "rollback", "scale", "acknowledge_incident", "resolve_incident", "reopen_incident"]
#: `operation:<operationId>`: a call of a further API operation through controlplane-mcp, which
#: consumes the approval (`POST /approvals/{id}/consume`) before it sends the call.
OperationAction = Annotated[str, Field(pattern=r"^operation:[A-Za-z0-9_.-]{1,100}$")]
ApprovalAction = Action | OperationAction
ApprovalTarget = Annotated[
    str,
    Field(
        min_length=1,
        max_length=500,
        pattern=r"^\S+$",
        description="A resource id (restart, rollback, scale), an incident id (acknowledge_incident), or the "
        "request path of an operation (`operation:...`).",
    ),
]
Severity = Literal["critical", "high", "medium", "low", "info"]
IncidentStatus = Literal["open", "acknowledged", "resolved"]
DeploymentStatus = Literal["pending", "running", "succeeded", "failed", "rolled_back"]
ApprovalStatus = Literal["pending", "approved", "rejected", "consumed", "expired"]

T = TypeVar("T")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        """Text PostgreSQL cannot store (NUL, lone surrogates) is a 422 naming the field, not a 500."""
        _check_storable(value)
        return value


def _check_storable(value: Any) -> None:
    if isinstance(value, str):
        storable(value)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_storable(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_storable(key)
            _check_storable(item)


class Page(_Model, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page.")
    truncated: bool = Field(description="True when more items follow.")


# --- resources ------------------------------------------------------------------------------


class ResourceCreate(_Model):
    name: Name
    namespace: Name = "default"
    kind: ResourceKind
    version: str | None = Field(default=None, max_length=200)
    replicas: int | None = Field(default=None, ge=0, le=10_000)
    owner: str | None = Field(default=None, max_length=200)
    dependencies: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list,
        max_length=200,
        description="Resources this one depends on, as `name` (same namespace) or `namespace/name`.",
    )
    labels: Labels = Field(
        default_factory=dict,
        description="The workload's own labels, keys as Kubernetes writes them (`app.kubernetes.io/name`, `app`).",
    )
    selector: Labels = Field(
        default_factory=dict,
        description="The label selector of its pods (Kubernetes `matchLabels`): a pod whose labels include all "
        "of these belongs to this resource. Empty: none declared.",
    )


class ResourceUpdate(_Model):
    """A partial update (PATCH): only the fields given change."""

    version: str | None = Field(default=None, max_length=200)
    replicas: int | None = Field(default=None, ge=0, le=10_000)
    owner: str | None = Field(default=None, max_length=200)
    dependencies: list[Annotated[str, Field(max_length=200)]] | None = Field(default=None, max_length=200)
    labels: Labels | None = None
    selector: Labels | None = None


class Resource(ResourceCreate):
    id: Id = Field(description="`namespace/name` is not an id: ids are opaque and stable.")
    created_at: datetime
    updated_at: datetime


class ResourceDependencies(_Model):
    resource: Resource
    dependencies: list[Resource] = Field(description="The resources this one names in `dependencies`, when found.")
    dependents: list[Resource] = Field(description="The resources that name this one in their `dependencies`.")
    unresolved: list[str] = Field(description="Names in `dependencies` that match no resource.")


class ResourceGroupCreate(_Model):
    name: Name
    description: Text = ""
    members: list[Id] = Field(default_factory=list, max_length=1000, description="Resource ids.")


class ResourceGroup(ResourceGroupCreate):
    id: Id
    created_at: datetime


# --- history ----------------------------------------------------------------------------------


class DeploymentCreate(_Model):
    """A deployment that happened (CI, a scenario): recorded, not performed."""

    resource_id: Id
    version: str = Field(max_length=200)
    previous_version: str | None = Field(default=None, max_length=200)
    actor: str = Field(max_length=200)
    status: DeploymentStatus = "succeeded"
    trigger: str = Field(default="ci", max_length=100)
    started_at: Moment
    finished_at: Moment | None = None
    details: Details = Field(default_factory=dict)


class Deployment(DeploymentCreate):
    id: Id


class AuditEntryCreate(_Model):
    """A change made elsewhere, recorded into the history (admin scope): config change, flag flip, ..."""

    type: ChangeType
    resource_id: Id | None = None
    actor: str = Field(max_length=200)
    at: Moment
    summary: Text = ""
    details: Details = Field(default_factory=dict)


class AuditEntry(_Model):
    id: Id
    at: datetime
    type: AuditType
    action: str = Field(description="What happened, e.g. `incident.acknowledged`, `approval.approved`, `scale`.")
    resource_id: Id | None
    actor: str
    recorded_by: str
    on_behalf_of: str | None = None
    summary: str
    details: Details


# --- incidents --------------------------------------------------------------------------------


class IncidentCreate(_Model):
    title: Text
    severity: Severity = "high"
    resource_ids: list[Id] = Field(default_factory=list, max_length=100)
    started_at: Moment | None = Field(default=None, description="Default: now.")
    labels: Labels = Field(default_factory=dict)
    summary: Text = ""


class IncidentStatusUpdate(_Model):
    status: IncidentStatus
    note: Text = ""
    approval_id: Id | None = Field(
        default=None,
        description="An approved approval of this change (`acknowledge_incident`, `resolve_incident` or "
        "`reopen_incident`) of this incident; required (403 `approval_required` without), consumed.",
    )
    on_behalf_of: str | None = Field(default=None, max_length=200, description="As the approval says, when given.")


class IncidentTransition(_Model):
    """Body of `POST /incidents/{id}/acknowledge` and `/resolve`."""

    note: Text = ""
    approval_id: Id | None = Field(
        default=None,
        description="An approved `acknowledge_incident` (or `resolve_incident`) approval of this incident; "
        "required (403 `approval_required` without), consumed.",
    )
    on_behalf_of: str | None = Field(default=None, max_length=200, description="As the approval says, when given.")


class TimelineEntryCreate(_Model):
    kind: Literal["note", "alert", "analysis", "action"] = "note"
    text: Text
    details: Details = Field(default_factory=dict)


class TimelineEntry(TimelineEntryCreate):
    id: Id
    at: datetime
    actor: str


class Incident(IncidentCreate):
    id: Id
    status: IncidentStatus
    created_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)


# --- alerting and automation ---------------------------------------------------------------


class AlertRuleCreate(_Model):
    name: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=200)]
    expr: Text
    for_seconds: int = Field(default=0, ge=0, le=604_800)
    severity: Severity = "high"
    resource_id: Id | None = None
    labels: Labels = Field(default_factory=dict)
    annotations: Labels = Field(default_factory=dict)


class AlertRule(AlertRuleCreate):
    id: Id
    created_at: datetime


class AutomationExecution(_Model):
    id: Id
    action: Action
    resource_id: Id | None
    incident_id: Id | None = None
    parameters: Details
    approval_id: Id
    executor: str = Field(description="`recording` (state changes only) or `kubernetes`.")
    status: Literal["succeeded", "failed"]
    detail: str
    actor: str
    on_behalf_of: str | None = None
    started_at: datetime
    finished_at: datetime


# --- approvals and actions --------------------------------------------------------------------


class ApprovalRequest(_Model):
    action: ApprovalAction
    target: ApprovalTarget
    arguments: Details = Field(
        default_factory=dict,
        description='The action\'s arguments, e.g. {"replicas": 5}; bound by their canonical hash.',
    )
    reason: Text = ""
    on_behalf_of: str | None = Field(default=None, max_length=200)
    ttl_seconds: int | None = Field(
        default=None,
        ge=1,
        le=900,
        description="At most 15 minutes; unset: the control plane's default (CONTROLPLANE_APPROVAL_TTL_SECONDS).",
    )


class ApprovalDecision(_Model):
    reason: Text = ""


class Approval(_Model):
    id: Id
    action: ApprovalAction
    target: ApprovalTarget
    arguments: Details
    arguments_hash: str = Field(description="sha256 of the arguments as canonical JSON (sorted keys, no spaces).")
    requester: str
    on_behalf_of: str | None
    reason: str
    status: ApprovalStatus
    created_at: datetime
    expires_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    consumed_at: datetime | None = None


class ApprovalUse(_Model):
    """`POST /approvals/{id}/consume`: use an approval of an `operation:` action up, before the call it allows."""

    action: OperationAction
    target: ApprovalTarget
    arguments: Details = Field(default_factory=dict)
    on_behalf_of: str | None = Field(default=None, max_length=200)


class ActionRequest(_Model):
    """`POST /actions/{action}`: `arguments` must be exactly those the approval was granted for."""

    target: Id
    arguments: Details = Field(default_factory=dict)
    approval_id: Id
    on_behalf_of: str | None = Field(default=None, max_length=200)


# --- analyses ---------------------------------------------------------------------------------


class AnalysisCreate(_Model):
    kind: Literal["diagnostic", "postmortem"]
    incident_id: Id | None = None
    title: Text
    summary: Text = ""
    report: Details = Field(description="The structured report (e.g. a DiagnosticReport).")
    markdown: Annotated[str, Field(max_length=200_000)] = ""


class Analysis(AnalysisCreate):
    id: Id
    created_by: str
    created_at: datetime
