"""sync runs: one row per run of a source or target connection, and its failures

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_text = sqlmodel.sql.sqltypes.AutoString
_time = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "sync_run",
        sa.Column("id", _text(length=36), nullable=False),
        sa.Column("tenant_id", _text(length=64), nullable=False),
        sa.Column("connection", _text(length=100), nullable=False),
        sa.Column("direction", _text(length=8), nullable=False),
        sa.Column("trigger", _text(length=10), nullable=False),
        sa.Column("slot", _text(length=40), nullable=True),
        sa.Column("status", _text(length=10), nullable=False),
        sa.Column("runner", _text(length=80), nullable=False),
        sa.Column("started", _time(), nullable=False),
        sa.Column("finished", _time(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("message", _text(length=2000), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sync_run_connection", "sync_run", ["tenant_id", "connection", "started"])
    op.create_index(
        "uq_sync_run_slot", "sync_run", ["tenant_id", "connection", "slot"], unique=True
    )
    op.create_index(
        "uq_sync_run_running",
        "sync_run",
        ["tenant_id", "connection"],
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_table(
        "sync_run_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", _text(length=36), nullable=False),
        sa.Column("person", _text(length=300), nullable=False),
        sa.Column("reason", _text(length=1000), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sync_run_failure_run", "sync_run_failure", ["run_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_sync_run_failure_run", table_name="sync_run_failure")
    op.drop_table("sync_run_failure")
    op.drop_index("uq_sync_run_running", table_name="sync_run")
    op.drop_index("uq_sync_run_slot", table_name="sync_run")
    op.drop_index("ix_sync_run_connection", table_name="sync_run")
    op.drop_table("sync_run")
