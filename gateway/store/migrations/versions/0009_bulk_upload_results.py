"""bulk upload results: the outcome of each POST /scim/v2/bulkUpload, read at its Location,
and the users whose manager (by externalId) is still to come

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_text = sqlmodel.sql.sqltypes.AutoString
_time = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "bulk_upload_result",
        sa.Column("id", _text(length=36), nullable=False),
        sa.Column("tenant_id", _text(length=64), nullable=False),
        sa.Column("caller", _text(length=100), nullable=False),
        sa.Column("received", _time(), nullable=False),
        sa.Column("completed", _time(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("operations", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_bulk_upload_result_received", "bulk_upload_result", ["tenant_id", "received"]
    )
    op.create_table(
        "bulk_upload_pending_manager",
        sa.Column("tenant_id", _text(length=64), nullable=False),
        sa.Column("user_id", _text(length=36), nullable=False),
        sa.Column("manager_external_id", _text(length=300), nullable=False),
        sa.Column("since", _time(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "user_id"),
    )
    op.create_index(
        "ix_pending_manager_external_id",
        "bulk_upload_pending_manager",
        ["tenant_id", "manager_external_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_pending_manager_external_id", table_name="bulk_upload_pending_manager")
    op.drop_table("bulk_upload_pending_manager")
    op.drop_index("ix_bulk_upload_result_received", table_name="bulk_upload_result")
    op.drop_table("bulk_upload_result")
