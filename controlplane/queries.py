"""Query parameters of the list endpoints, one model each: unknown parameters are a 422 naming them.

Every list takes `limit` (1..500) and `cursor` (the previous page's `next_cursor`). History
lists also take a window, `start` and `end`, as RFC 3339 with an offset or as unix seconds.
A parameter typed as a list is given once per value (`?label=team=a&label=tier=1`).
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import AfterValidator, AwareDatetime, Field, model_validator

from controlplane.models import (
    Action,
    ApprovalAction,
    ApprovalStatus,
    ApprovalTarget,
    AuditType,
    DeploymentStatus,
    Id,
    IncidentStatus,
    Name,
    ResourceKind,
    Severity,
    _Model,
    storable_time,
)

__all__ = [
    "AlertRuleQuery",
    "AnalysisQuery",
    "ApprovalQuery",
    "AuditQuery",
    "DeploymentQuery",
    "ExecutionQuery",
    "IncidentQuery",
    "ListQuery",
    "ResourceQuery",
]

Instant = Annotated[
    AwareDatetime, AfterValidator(storable_time), Field(description="RFC 3339 with an offset, or unix seconds.")
]


class ListQuery(_Model):
    limit: int = Field(default=100, ge=1, le=500, description="Most items to return.")
    cursor: str | None = Field(default=None, max_length=500, description="`next_cursor` of the previous page.")


class _Window(ListQuery):
    start: Instant | None = Field(default=None, description="Only from this time on (RFC 3339 or unix seconds).")
    end: Instant | None = Field(default=None, description="Only before this time (RFC 3339 or unix seconds).")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError("`end` is before `start`")
        return self


class ResourceQuery(ListQuery):
    namespace: Name | None = Field(default=None, description="Only resources in this namespace.")
    kind: ResourceKind | None = Field(default=None, description="Only resources of this kind.")
    name: Name | None = Field(default=None, description="Only resources with exactly this name.")
    q: str | None = Field(default=None, max_length=200, description="Only resources whose name contains this text.")
    label: list[Annotated[str, Field(pattern=r"^[^=]{1,200}=.{0,1000}$")]] = Field(
        default_factory=list,
        max_length=20,
        description="`key=value` among the resource's labels; repeat for several (all must match).",
    )
    selector: list[Annotated[str, Field(pattern=r"^[^=]{1,200}=.{0,1000}$")]] = Field(
        default_factory=list,
        max_length=20,
        description="`key=value` in the label selector of the resource's pods; repeat for several (all must match).",
    )


class DeploymentQuery(_Window):
    resource_id: Id | None = Field(default=None, description="Only deployments of this resource.")
    status: DeploymentStatus | None = Field(default=None, description="Only deployments with this status.")


class AuditQuery(_Window):
    resource_id: Id | None = Field(default=None, description="Only entries about this resource.")
    group_id: Id | None = Field(default=None, description="Only entries about the members of this group.")
    type: list[AuditType] = Field(default_factory=list, max_length=20, description="Only these types; repeatable.")
    changes_only: bool = Field(default=False, description="Only changes to what runs (deployments, scaling, ...).")
    actor: str | None = Field(default=None, max_length=200, description="Only entries by this actor.")


class IncidentQuery(_Window):
    status: IncidentStatus | None = Field(default=None, description="Only incidents with this status.")
    resource_id: Id | None = Field(default=None, description="Only incidents affecting this resource.")


class ExecutionQuery(_Window):
    resource_id: Id | None = Field(default=None, description="Only executions on this resource.")
    action: Action | None = Field(default=None, description="Only executions of this action.")


class ApprovalQuery(ListQuery):
    status: ApprovalStatus | None = Field(default=None, description="Only approvals with this status.")
    action: ApprovalAction | None = Field(default=None, description="Only approvals for this action.")
    target: ApprovalTarget | None = Field(default=None, description="Only approvals for this target.")


class AlertRuleQuery(ListQuery):
    resource_id: Id | None = Field(default=None, description="Only the rules that watch this resource.")
    severity: Severity | None = Field(default=None, description="Only rules of this severity.")


class AnalysisQuery(ListQuery):
    incident_id: Id | None = Field(default=None, description="Only analyses of this incident.")
    kind: Literal["diagnostic", "postmortem"] | None = Field(default=None, description="Only analyses of this kind.")
