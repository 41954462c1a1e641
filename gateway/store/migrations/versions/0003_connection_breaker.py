"""provisioning: a circuit breaker per target connection

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_text = sqlmodel.sql.sqltypes.AutoString
_time = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "connection_breaker",
        sa.Column("tenant_id", _text(length=64), nullable=False),
        sa.Column("connection", _text(length=100), nullable=False),
        sa.Column("state", _text(length=8), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("opened_at", _time(), nullable=True),
        sa.Column("retry_at", _time(), nullable=True),
        sa.Column("probe_by", _text(length=80), nullable=True),
        sa.Column("probe_until", _time(), nullable=True),
        sa.Column("last_error", _text(length=600), nullable=True),
        sa.Column("closed_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "connection"),
    )


def downgrade() -> None:
    op.drop_table("connection_breaker")
