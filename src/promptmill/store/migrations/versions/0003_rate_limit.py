"""The rate limit shared by every process using the database: buckets and their hits.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_buckets",
        sa.Column("bucket", sa.String(200), primary_key=True),
        sa.Column("touched_at", sa.Float, nullable=False),
    )
    op.create_table(
        "rate_limit_hits",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("bucket", sa.String(200), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_rate_limit_hits_bucket_at", "rate_limit_hits", ["bucket", "at"])


def downgrade() -> None:
    op.drop_index("ix_rate_limit_hits_bucket_at", table_name="rate_limit_hits")
    op.drop_table("rate_limit_hits")
    op.drop_table("rate_limit_buckets")
