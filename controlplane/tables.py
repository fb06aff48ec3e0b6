"""The control plane's schema as SQLAlchemy tables: what the API stores, column for column.

Columns carry the names of the model fields they hold, so a row validates into its model as
it is. Lists that queries filter on are also kept as rows of their own (`resource_labels`,
`resource_selectors`, `incident_resources`) beside the JSON copy the answers are built from. Times are
`UtcDateTime`: timezone-aware UTC in and out, on SQLite (which keeps no offset) and PostgreSQL
(`timestamptz`) alike. Ids are opaque: a type prefix and 12 hex digits (`res_3f2a...`).

The schema itself is created and changed by Alembic (`controlplane/migrations`); a test checks
that the migrations produce exactly these tables.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

from controlplane.json_column import FreeFormJSON

__all__ = [
    "TABLES",
    "UtcDateTime",
    "alert_rules",
    "analyses",
    "approvals",
    "audit_log",
    "automation_executions",
    "deployments",
    "incident_resources",
    "incidents",
    "metadata",
    "new_id",
    "resource_groups",
    "resource_labels",
    "resource_selectors",
    "resources",
    "timeline_entries",
    "utc",
]

ID_LENGTH = 64
NAME_LENGTH = 63
SHORT = 200


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


def utc(value: datetime) -> datetime:
    """`value` in UTC; a naive time is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = utc(value)
        # SQLite stores the text of the time; without the offset, text order is time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else utc(value)


metadata = MetaData()


def _id(name: str = "id", **options: Any) -> Column[str]:
    return Column(name, String(ID_LENGTH), **options)


resources = Table(
    "resources",
    metadata,
    _id(primary_key=True),
    Column("namespace", String(NAME_LENGTH), nullable=False),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("version", String(SHORT), nullable=True),
    Column("replicas", Integer, nullable=True),
    Column("owner", String(SHORT), nullable=True),
    Column("dependencies", JSON, nullable=False),
    Column("labels", JSON, nullable=False),
    Column("selector", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("namespace", "name", name="uq_resources_namespace_name"),
)


def _pairs(name: str) -> Table:
    """The rows of one label map of each resource (its labels, its selector): `key=value` lookups."""
    return Table(
        name,
        metadata,
        _id("resource_id", primary_key=True),
        Column("key", String(SHORT), primary_key=True),
        Column("value", String(1000), nullable=False),
    )


resource_labels = _pairs("resource_labels")
resource_selectors = _pairs("resource_selectors")

resource_groups = Table(
    "resource_groups",
    metadata,
    _id(primary_key=True),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("description", Text, nullable=False),
    Column("members", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

deployments = Table(
    "deployments",
    metadata,
    _id(primary_key=True),
    _id("resource_id", nullable=False, index=True),
    Column("version", String(SHORT), nullable=False),
    Column("previous_version", String(SHORT), nullable=True),
    Column("actor", String(SHORT), nullable=False),
    Column("status", String(16), nullable=False),
    Column("trigger", String(100), nullable=False),
    Column("started_at", UtcDateTime, nullable=False, index=True),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("details", FreeFormJSON, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    _id(primary_key=True),
    Column("at", UtcDateTime, nullable=False, index=True),
    Column("type", String(32), nullable=False),
    Column("action", String(64), nullable=False),
    _id("resource_id", nullable=True, index=True),
    Column("actor", String(SHORT), nullable=False),
    Column("recorded_by", String(SHORT), nullable=False),
    Column("on_behalf_of", String(SHORT), nullable=True),
    Column("summary", Text, nullable=False),
    Column("details", FreeFormJSON, nullable=False),
)

incidents = Table(
    "incidents",
    metadata,
    _id(primary_key=True),
    Column("title", Text, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("resource_ids", JSON, nullable=False),
    Column("started_at", UtcDateTime, nullable=False, index=True),
    Column("labels", JSON, nullable=False),
    Column("summary", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("acknowledged_at", UtcDateTime, nullable=True),
    Column("acknowledged_by", String(SHORT), nullable=True),
    Column("resolved_at", UtcDateTime, nullable=True),
    Column("resolved_by", String(SHORT), nullable=True),
)

incident_resources = Table(
    "incident_resources",
    metadata,
    _id("incident_id", primary_key=True),
    _id("resource_id", primary_key=True),
    Index("ix_incident_resources_resource_id", "resource_id"),
)

timeline_entries = Table(
    "timeline_entries",
    metadata,
    _id(primary_key=True),
    _id("incident_id", nullable=False, index=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(SHORT), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("details", FreeFormJSON, nullable=False),
)

alert_rules = Table(
    "alert_rules",
    metadata,
    _id(primary_key=True),
    Column("name", String(SHORT), nullable=False),
    Column("expr", Text, nullable=False),
    Column("for_seconds", Integer, nullable=False),
    Column("severity", String(16), nullable=False),
    _id("resource_id", nullable=True),
    Column("labels", JSON, nullable=False),
    Column("annotations", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

automation_executions = Table(
    "automation_executions",
    metadata,
    _id(primary_key=True),
    Column("action", String(32), nullable=False),
    _id("resource_id", nullable=True, index=True),
    _id("incident_id", nullable=True),
    Column("parameters", FreeFormJSON, nullable=False),
    _id("approval_id", nullable=False),
    Column("executor", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Column("actor", String(SHORT), nullable=False),
    Column("on_behalf_of", String(SHORT), nullable=True),
    Column("started_at", UtcDateTime, nullable=False, index=True),
    Column("finished_at", UtcDateTime, nullable=False),
)

approvals = Table(
    "approvals",
    metadata,
    _id(primary_key=True),
    # Long enough for `operation:<operationId>` and an operation's request path.
    Column("action", String(128), nullable=False),
    Column("target", String(500), nullable=False, index=True),
    Column("arguments", FreeFormJSON, nullable=False),
    Column("arguments_hash", String(64), nullable=False),
    Column("requester", String(SHORT), nullable=False),
    Column("on_behalf_of", String(SHORT), nullable=True),
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("decided_by", String(SHORT), nullable=True),
    Column("decided_at", UtcDateTime, nullable=True),
    Column("decision_reason", Text, nullable=True),
    Column("consumed_at", UtcDateTime, nullable=True),
)

analyses = Table(
    "analyses",
    metadata,
    _id(primary_key=True),
    Column("kind", String(16), nullable=False),
    _id("incident_id", nullable=True, index=True),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("report", FreeFormJSON, nullable=False),
    Column("markdown", Text, nullable=False),
    Column("created_by", String(SHORT), nullable=False),
    Column("created_at", UtcDateTime, nullable=False, index=True),
)

TABLES: tuple[Table, ...] = tuple(metadata.tables.values())
