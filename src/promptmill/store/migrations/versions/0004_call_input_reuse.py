"""Per-call input reuse and model time: tokens reused from a cache, evaluated, and seconds.

Nullable: calls recorded before this revision, and backends that do not say, have none.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("reused_input_tokens", sa.Integer, nullable=True))
        batch.add_column(sa.Column("evaluated_input_tokens", sa.Integer, nullable=True))
        batch.add_column(sa.Column("model_seconds", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("model_seconds")
        batch.drop_column("evaluated_input_tokens")
        batch.drop_column("reused_input_tokens")
