"""sync schedules: when each connection's schedule was switched on

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_text = sqlmodel.sql.sqltypes.AutoString
_time = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "sync_schedule",
        sa.Column("tenant_id", _text(length=64), nullable=False),
        sa.Column("connection", _text(length=100), nullable=False),
        sa.Column("activated", _time(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "connection"),
    )


def downgrade() -> None:
    op.drop_table("sync_schedule")
