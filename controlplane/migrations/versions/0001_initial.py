"""The control plane's first schema: inventory, history, incidents, alerting, automation, approvals, analyses.

Revision ID: 0001
Revises:
Create Date: 2026-11-20
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = 64
NAME = 63
SHORT = 200


def _id(name: str = "id", *, primary_key: bool = False, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(ID), primary_key=primary_key, nullable=nullable)


def _time(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "resources",
        _id(primary_key=True),
        sa.Column("namespace", sa.String(NAME), nullable=False),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("version", sa.String(SHORT), nullable=True),
        sa.Column("replicas", sa.Integer(), nullable=True),
        sa.Column("owner", sa.String(SHORT), nullable=True),
        sa.Column("dependencies", sa.JSON(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        sa.UniqueConstraint("namespace", "name", name="uq_resources_namespace_name"),
    )
    op.create_table(
        "resource_labels",
        _id("resource_id", primary_key=True),
        sa.Column("key", sa.String(SHORT), primary_key=True),
        sa.Column("value", sa.String(1000), nullable=False),
    )
    op.create_table(
        "resource_groups",
        _id(primary_key=True),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("members", sa.JSON(), nullable=False),
        _time("created_at"),
    )
    op.create_table(
        "deployments",
        _id(primary_key=True),
        _id("resource_id", nullable=False),
        sa.Column("version", sa.String(SHORT), nullable=False),
        sa.Column("previous_version", sa.String(SHORT), nullable=True),
        sa.Column("actor", sa.String(SHORT), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(100), nullable=False),
        _time("started_at"),
        _time("finished_at", nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_deployments_resource_id", "deployments", ["resource_id"])
    op.create_index("ix_deployments_started_at", "deployments", ["started_at"])
    op.create_table(
        "audit_log",
        _id(primary_key=True),
        _time("at"),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        _id("resource_id", nullable=True),
        sa.Column("actor", sa.String(SHORT), nullable=False),
        sa.Column("recorded_by", sa.String(SHORT), nullable=False),
        sa.Column("on_behalf_of", sa.String(SHORT), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_resource_id", "audit_log", ["resource_id"])
    op.create_table(
        "incidents",
        _id(primary_key=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resource_ids", sa.JSON(), nullable=False),
        _time("started_at"),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        _time("created_at"),
        _time("acknowledged_at", nullable=True),
        sa.Column("acknowledged_by", sa.String(SHORT), nullable=True),
        _time("resolved_at", nullable=True),
        sa.Column("resolved_by", sa.String(SHORT), nullable=True),
    )
    op.create_index("ix_incidents_status", "incidents", ["status"])
    op.create_index("ix_incidents_started_at", "incidents", ["started_at"])
    op.create_table(
        "incident_resources",
        _id("incident_id", primary_key=True),
        _id("resource_id", primary_key=True),
    )
    op.create_index("ix_incident_resources_resource_id", "incident_resources", ["resource_id"])
    op.create_table(
        "timeline_entries",
        _id(primary_key=True),
        _id("incident_id", nullable=False),
        _time("at"),
        sa.Column("actor", sa.String(SHORT), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_timeline_entries_incident_id", "timeline_entries", ["incident_id"])
    op.create_table(
        "alert_rules",
        _id(primary_key=True),
        sa.Column("name", sa.String(SHORT), nullable=False),
        sa.Column("expr", sa.Text(), nullable=False),
        sa.Column("for_seconds", sa.Integer(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        _id("resource_id", nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        _time("created_at"),
    )
    op.create_table(
        "automation_executions",
        _id(primary_key=True),
        sa.Column("action", sa.String(32), nullable=False),
        _id("resource_id", nullable=True),
        _id("incident_id", nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=False),
        _id("approval_id", nullable=False),
        sa.Column("executor", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(SHORT), nullable=False),
        sa.Column("on_behalf_of", sa.String(SHORT), nullable=True),
        _time("started_at"),
        _time("finished_at"),
    )
    op.create_index("ix_automation_executions_resource_id", "automation_executions", ["resource_id"])
    op.create_index("ix_automation_executions_started_at", "automation_executions", ["started_at"])
    op.create_table(
        "approvals",
        _id(primary_key=True),
        sa.Column("action", sa.String(128), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("arguments", sa.JSON(), nullable=False),
        sa.Column("arguments_hash", sa.String(64), nullable=False),
        sa.Column("requester", sa.String(SHORT), nullable=False),
        sa.Column("on_behalf_of", sa.String(SHORT), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _time("created_at"),
        _time("expires_at"),
        sa.Column("decided_by", sa.String(SHORT), nullable=True),
        _time("decided_at", nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        _time("consumed_at", nullable=True),
    )
    op.create_index("ix_approvals_target", "approvals", ["target"])
    op.create_index("ix_approvals_status", "approvals", ["status"])
    op.create_table(
        "analyses",
        _id(primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        _id("incident_id", nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("markdown", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(SHORT), nullable=False),
        _time("created_at"),
    )
    op.create_index("ix_analyses_incident_id", "analyses", ["incident_id"])
    op.create_index("ix_analyses_created_at", "analyses", ["created_at"])


def downgrade() -> None:
    for table in (
        "analyses",
        "approvals",
        "automation_executions",
        "alert_rules",
        "timeline_entries",
        "incident_resources",
        "incidents",
        "audit_log",
        "deployments",
        "resource_groups",
        "resource_labels",
        "resources",
    ):
        op.drop_table(table)
