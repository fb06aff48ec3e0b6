"""Resources carry the label selector of their pods (`selector`), kept as rows too for lookups by it.

Resources already stored get an empty selector: none was declared, and none is guessed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = 64
SHORT = 200


def upgrade() -> None:
    # The default fills the rows already there; the schema, like `controlplane.tables`, keeps none.
    with op.batch_alter_table("resources") as batch:
        batch.add_column(sa.Column("selector", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
    with op.batch_alter_table("resources") as batch:
        batch.alter_column("selector", server_default=None)
    op.create_table(
        "resource_selectors",
        sa.Column("resource_id", sa.String(ID), primary_key=True, nullable=False),
        sa.Column("key", sa.String(SHORT), primary_key=True),
        sa.Column("value", sa.String(1000), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("resource_selectors")
    with op.batch_alter_table("resources") as batch:
        batch.drop_column("selector")
