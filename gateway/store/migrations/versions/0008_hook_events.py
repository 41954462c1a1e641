"""hook events: inbound webhook events (Taleez "candidate hired"), kept until processed

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_text = sqlmodel.sql.sqltypes.AutoString
_time = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "hook_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", _text(length=64), nullable=False),
        sa.Column("connection", _text(length=100), nullable=False),
        sa.Column("subject", _text(length=300), nullable=False),
        sa.Column("job", _text(length=100), nullable=False),
        sa.Column("hints", sa.JSON(), nullable=False),
        sa.Column("received", _time(), nullable=False),
        sa.Column("status", _text(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", _time(), nullable=False),
        sa.Column("run_id", _text(length=36), nullable=True),
        sa.Column("message", _text(length=2000), nullable=True),
        sa.Column("finished", _time(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_hook_event_subject",
        "hook_event",
        ["tenant_id", "connection", "subject", "job"],
        unique=True,
    )
    op.create_index("ix_hook_event_due", "hook_event", ["status", "next_at"])


def downgrade() -> None:
    op.drop_index("ix_hook_event_due", table_name="hook_event")
    op.drop_index("uq_hook_event_subject", table_name="hook_event")
    op.drop_table("hook_event")
