"""source links and state: which user a source's person is, and a source's checkpoint

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_text = sqlmodel.sql.sqltypes.AutoString
_time = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "source_link",
        sa.Column("tenant_id", _text(length=64), nullable=False),
        sa.Column("connection", _text(length=100), nullable=False),
        sa.Column("source_id", _text(length=300), nullable=False),
        sa.Column("user_id", _text(length=36), nullable=False),
        sa.Column("digest", _text(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("due", _text(length=10), nullable=True),
        sa.Column("due_active", sa.Boolean(), nullable=True),
        sa.Column("updated", _time(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "connection", "source_id"),
    )
    op.create_index("ix_source_link_user", "source_link", ["tenant_id", "user_id"])
    op.create_table(
        "source_state",
        sa.Column("tenant_id", _text(length=64), nullable=False),
        sa.Column("connection", _text(length=100), nullable=False),
        sa.Column("checkpoint", _text(length=200), nullable=True),
        sa.Column("confirmed_until", _time(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "connection"),
    )


def downgrade() -> None:
    op.drop_table("source_state")
    op.drop_index("ix_source_link_user", table_name="source_link")
    op.drop_table("source_link")
